"""Read-only questions to the chain: eth_call, eth_estimateGas, eth_getLogs, eth_feeHistory.

Calls and estimates run on a throw-away child of the requested block (py-evm's costless state: base fee
and gas price 0, like geth's eth_call without fees) from a spoofed sender, so no signature and no chain
rule is involved. A revert raises :class:`CallReverted` with the revert data, which the server returns
as geth does (code 3, ``data``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from eth._utils.calculations import fake_exponential
from eth.abc import BlockAPI, BlockHeaderAPI, SignedTransactionAPI
from eth.estimators.gas import binary_gas_search_1000_tolerance
from eth.exceptions import Revert, VMError
from eth.vm.forks.cancun.constants import MIN_BLOB_BASE_FEE
from eth.vm.forks.prague.constants import BLOB_BASE_FEE_UPDATE_FRACTION_PRAGUE, MAX_BLOB_GAS_PER_BLOCK
from eth.vm.spoof import SpoofTransaction
from eth_typing import Address as EvmAddress
from eth_typing import BlockNumber
from eth_utils.exceptions import ValidationError

from ...constants import PQC_TX_AUTH_GAS, TX_TYPE_PQC_ONLY
from ...rpc import INVALID_PARAMS, RpcError
from . import wire
from .backend import ChainBackend

MAX_LOG_BLOCK_RANGE = 10_000
"""Largest fromBlock..toBlock span eth_getLogs scans."""


class CallFailed(Exception):
    """An eth_call or estimate did not succeed; ``output`` is the revert data when ``reverted``."""

    def __init__(self, message: str, *, output: bytes = b"", reverted: bool = False) -> None:
        super().__init__(message)
        self.output = output
        self.reverted = reverted


@dataclass(frozen=True, slots=True)
class CallRequest:
    """The transaction object of eth_call / eth_estimateGas / eth_sendTransaction."""

    sender: bytes
    to: bytes
    gas: int | None
    value: int
    data: bytes
    nonce: int | None
    tx_type: int | None
    gas_price: int | None
    max_fee_per_gas: int | None
    max_priority_fee_per_gas: int | None


def call_request(obj: Any) -> CallRequest:
    if not isinstance(obj, dict):
        raise RpcError(INVALID_PARAMS, "transaction object must be a JSON object")

    def optional(name: str) -> int | None:
        return wire.quantity(obj[name], name) if obj.get(name) is not None else None

    def account(name: str, default: bytes) -> bytes:
        value = obj.get(name)
        return default if value is None or value == "" else wire.address(value, name)

    payload = obj.get("input", obj.get("data"))
    return CallRequest(
        sender=account("from", bytes(20)),
        to=account("to", b""),
        gas=optional("gas"),
        value=optional("value") or 0,
        data=wire.data(payload, "input") if payload is not None else b"",
        nonce=optional("nonce"),
        tx_type=optional("type"),
        gas_price=optional("gasPrice"),
        max_fee_per_gas=optional("maxFeePerGas"),
        max_priority_fee_per_gas=optional("maxPriorityFeePerGas"),
    )


def _state_header(backend: ChainBackend, ident: str | int | bytes) -> BlockHeaderAPI:
    header = backend.state_header(ident)
    if header is None:
        raise RpcError(-32000, "header not found")
    return header


def _spoof(backend: ChainBackend, request: CallRequest, nonce: int, gas: int) -> SignedTransactionAPI:
    builder = backend.chain.get_vm().get_transaction_builder()
    unsigned = builder.new_unsigned_dynamic_fee_transaction(  # type: ignore[attr-defined]
        chain_id=backend.chain_id,
        nonce=nonce,
        max_priority_fee_per_gas=0,
        max_fee_per_gas=0,
        gas=gas,
        to=request.to,
        value=request.value,
        data=request.data,
        access_list=(),
    )
    spoofed: SignedTransactionAPI = SpoofTransaction(unsigned, from_=EvmAddress(request.sender))  # type: ignore[assignment]
    return spoofed


def _raise(error: BaseException) -> None:
    if isinstance(error, Revert):
        output = bytes(error.args[0]) if error.args and isinstance(error.args[0], bytes) else b""
        raise CallFailed("execution reverted", output=output, reverted=True)
    raise CallFailed(str(error) or type(error).__name__)


def call(backend: ChainBackend, request: CallRequest, ident: str | int | bytes) -> bytes:
    """eth_call: the return data, or CallFailed."""
    header = _state_header(backend, ident)
    with backend.chain.get_vm(header).in_costless_state() as state:
        nonce = request.nonce if request.nonce is not None else state.get_nonce(EvmAddress(request.sender))
        transaction = _spoof(backend, request, nonce, request.gas or header.gas_limit)
        try:
            computation = state.apply_transaction(transaction)
        except ValidationError as exc:
            raise CallFailed(str(exc)) from exc
        if computation.is_error:
            _raise(computation.error)
        return bytes(computation.output)


def estimate_gas(backend: ChainBackend, request: CallRequest, ident: str | int | bytes) -> int:
    """eth_estimateGas: smallest gas (within 1,000) that does not fail. A call object with
    ``"type": "0x50"`` asks for a PQC-only transaction, which also pays PQC_TX_AUTH_GAS."""
    header = _state_header(backend, ident)
    with backend.chain.get_vm(header).in_costless_state() as state:
        nonce = request.nonce if request.nonce is not None else state.get_nonce(EvmAddress(request.sender))
        transaction = _spoof(backend, request, nonce, request.gas or header.gas_limit)
        try:
            estimate = int(binary_gas_search_1000_tolerance(state, transaction))
        except VMError as exc:
            _raise(exc)
            raise  # unreachable: _raise always raises
        except ValidationError as exc:
            raise CallFailed(str(exc)) from exc
    return estimate + (PQC_TX_AUTH_GAS if request.tx_type == TX_TYPE_PQC_ONLY else 0)


# --- logs -------------------------------------------------------------------------------------------


def _topic_matches(wanted: Any, topic: int | None) -> bool:
    if wanted is None:
        return True
    options = wanted if isinstance(wanted, list) else [wanted]
    if any(option is None for option in options):
        return True
    return topic is not None and any(wire.data(o, "topic", size=32) == topic.to_bytes(32, "big") for o in options)


def _block_range(backend: ChainBackend, query: dict[str, Any]) -> list[BlockAPI]:
    if query.get("blockHash") is not None:
        found = backend.block(wire.data(query["blockHash"], "blockHash", size=32))
        if found is None:
            raise RpcError(-32000, "unknown block")
        return [found[0]]
    head = backend.head.block_number

    def number(key: str) -> int:
        ident = wire.block_id(query.get(key, "latest"))
        if isinstance(ident, int):
            return min(ident, head)
        return 0 if ident == "earliest" else head

    start, stop = number("fromBlock"), number("toBlock")
    if stop - start >= MAX_LOG_BLOCK_RANGE:
        raise RpcError(-32005, f"query spans more than {MAX_LOG_BLOCK_RANGE} blocks")
    return [found[0] for n in range(start, stop + 1) if (found := backend.block(n)) is not None]


def logs(backend: ChainBackend, query: Any) -> list[dict[str, Any]]:
    """eth_getLogs over mined blocks: address (one or a list) and positional topics (null = any)."""
    if not isinstance(query, dict):
        raise RpcError(INVALID_PARAMS, "filter must be a JSON object")
    wanted_address = query.get("address")
    addresses = {
        wire.address(a)
        for a in (wanted_address if isinstance(wanted_address, list) else [wanted_address])
        if a is not None
    }
    topics = query.get("topics")
    topics = [] if topics is None else topics
    if not isinstance(topics, list):
        raise RpcError(INVALID_PARAMS, "topics must be an array")
    out = []
    for block in _block_range(backend, query):
        for info in backend.receipts(block):
            for offset, entry in enumerate(info.receipt.logs):
                if addresses and bytes(entry.address) not in addresses:
                    continue
                if len(topics) > len(entry.topics) and any(t is not None for t in topics[len(entry.topics) :]):
                    continue
                if all(
                    _topic_matches(w, entry.topics[i] if i < len(entry.topics) else None) for i, w in enumerate(topics)
                ):
                    out.append(
                        wire.log(
                            entry,
                            block=block,
                            tx=info.transaction,
                            tx_index=info.index,
                            log_index=info.first_log_index + offset,
                        )
                    )
    return out


# --- fee history ------------------------------------------------------------------------------------


def _rewards(backend: ChainBackend, block: BlockAPI, percentiles: Sequence[float]) -> list[str]:
    base_fee = wire.base_fee(block.header)
    tips = sorted(
        (wire.effective_gas_price(info.transaction, base_fee) - base_fee, info.gas_used)
        for info in backend.receipts(block)
    )
    if not tips:
        return [wire.qty(0) for _ in percentiles]
    total, rewards = sum(used for _, used in tips), []
    for percentile in percentiles:  # geth: the tip at which the cumulative gas share reaches p
        threshold, cumulative, chosen = total * percentile / 100, 0, tips[-1][0]
        for tip, used in tips:
            cumulative += used
            if cumulative >= threshold:
                chosen = tip
                break
        rewards.append(wire.qty(chosen))
    return rewards


def fee_history(backend: ChainBackend, count: int, newest: str | int | bytes, percentiles: Any) -> dict[str, Any]:
    if not isinstance(percentiles, list | type(None)) or not all(
        isinstance(p, int | float) and 0 <= p <= 100 for p in percentiles or []
    ):
        raise RpcError(INVALID_PARAMS, "rewardPercentiles must be an array of numbers in 0..100")
    found = backend.block("latest" if newest == "pending" else newest)
    if found is None:
        raise RpcError(-32000, "block not found")
    last = found[0].number
    oldest = max(0, last - max(1, min(count, 1024)) + 1)
    blocks = [backend.chain.get_canonical_block_by_number(BlockNumber(n)) for n in range(oldest, last + 1)]
    headers = [b.header for b in blocks]
    if last == backend.head.block_number:
        next_header = backend.chain.header  # the block being built
    else:
        next_header = backend.chain.get_canonical_block_by_number(BlockNumber(last + 1)).header
    result: dict[str, Any] = {
        "oldestBlock": wire.qty(oldest),
        "baseFeePerGas": [wire.qty(wire.base_fee(h)) for h in [*headers, next_header]],
        "gasUsedRatio": [h.gas_used / h.gas_limit for h in headers],
        "baseFeePerBlobGas": [
            wire.qty(fake_exponential(MIN_BLOB_BASE_FEE, h.excess_blob_gas, BLOB_BASE_FEE_UPDATE_FRACTION_PRAGUE))
            for h in [*headers, next_header]
        ],
        "blobGasUsedRatio": [h.blob_gas_used / MAX_BLOB_GAS_PER_BLOCK for h in headers],
    }
    if percentiles:
        result["reward"] = [_rewards(backend, b, percentiles) for b in blocks]
    return result


# --- block bundles ----------------------------------------------------------------------------------


def block_bundle(backend: ChainBackend, block: BlockAPI) -> dict[str, Any]:
    """chainplug_getBlockBundle: what a validator needs to check a mined block, in one answer — its hash
    and parent, and per transaction (in block order) its hash, its exact signed bytes and the PQC sidecar
    the chain holds for it (null if none)."""
    transactions = []
    for tx in block.transactions:
        sidecar = backend.sidecars.get(bytes(tx.hash))
        transactions.append(
            {
                "hash": wire.hexdata(tx.hash),
                "raw": wire.hexdata(tx.encode()),
                "sidecar": wire.hexdata(sidecar.encode()) if sidecar is not None else None,
            }
        )
    return {
        "number": wire.qty(block.number),
        "hash": wire.hexdata(block.hash),
        "parentHash": wire.hexdata(block.header.parent_hash),
        "transactions": transactions,
    }
