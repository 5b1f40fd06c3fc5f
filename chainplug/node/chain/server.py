"""The chain's HTTP JSON-RPC server (docs/design.md, "Chain"): what web3.py needs for a normal session,
answered in geth's wire format, plus the chainplug methods of the upgraded chain.

* ``eth_*``, ``net_*``, ``web3_clientVersion``, ``evm_mine``; batches; errors with EIP-1474 codes, and
  reverts as geth reports them (code 3, message "execution reverted: ...", ``data`` = revert data).
* ``chainplug_sendEnvelope(envelope)``: the envelope becomes its transaction's PQC sidecar and the
  classical part is submitted; the chain rules verify it (UpgradedVerifier, registry read from the chain
  state). A HYBRID sender's bare ``eth_sendRawTransaction`` after activation is refused (code -32003).
* ``chainplug_getSidecar(tx_hash)``, ``chainplug_chainInfo()``.
* ``chainplug_getBlockBundle(block)``: a mined block as validators check it, in one call — hash, parent
  hash, and each transaction's hash, exact signed bytes and the sidecar the chain holds (or null).

Mining: one block per transaction (automine), one block every ``block_time`` seconds, or only on
``evm_mine`` (manual: the devnet's block clock).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from importlib.metadata import version
from typing import Any

import rlp
from aiohttp import web
from eth.exceptions import UnrecognizedTransactionType
from eth_abi.abi import decode as abi_decode
from eth_account import Account
from eth_utils.address import to_checksum_address
from eth_utils.exceptions import ValidationError
from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest

from ... import __version__
from ...constants import MAX_ENVELOPE_BYTES, MAX_RAW_TX_BYTES, PQC_TX_AUTH_GAS, TX_TYPE_PQC_ONLY
from ...crypto import get_backend
from ...envelope.fees import DEFAULT_PRIORITY_FEE, default_max_fee
from ...errors import ChainplugError
from ...rpc import (
    INVALID_PARAMS,
    SERVER_ERROR,
    TRANSACTION_REJECTED,
    JsonRpcEndpoint,
    Limits,
    RpcError,
    hex_bytes,
    json_application,
    param_count,
)
from ...types import Hash32
from . import queries, wire
from .backend import AlreadyKnown, ChainBackend
from .rules import PqcRuleViolation

LOG = logging.getLogger(__name__)
LIMITS = Limits(max_body_bytes=8 << 20, max_string=2 * MAX_ENVELOPE_BYTES + 2)
"""A batch of 100 calls with large call data fits; no string is longer than a hex envelope."""
MAX_MINE = 1000
"""Most blocks one evm_mine call mines (a client must not make the chain mine for hours)."""
EXECUTION_REVERTED = 3
"""geth's JSON-RPC code for a reverted eth_call / eth_estimateGas."""
BUNDLE_CACHE = 64
"""Block bundles kept, by block hash (every validator process asks for the same few recent blocks)."""


ARITY: dict[str, tuple[int, int]] = {
    "eth_getBlockByNumber": (1, 2), "eth_getBlockByHash": (1, 2), "eth_getBalance": (1, 2),
    "eth_getTransactionCount": (1, 2), "eth_getCode": (1, 2), "eth_getStorageAt": (2, 3), "eth_call": (1, 2),
    "eth_estimateGas": (1, 2), "eth_feeHistory": (2, 3), "eth_getLogs": (1, 1), "eth_getTransactionByHash": (1, 1),
    "eth_getRawTransactionByHash": (1, 1), "eth_getTransactionReceipt": (1, 1), "eth_sendRawTransaction": (1, 1),
    "eth_sendTransaction": (1, 1), "chainplug_sendEnvelope": (1, 1), "chainplug_getSidecar": (1, 1),
    "evm_mine": (0, 1), "chainplug_getBlockBundle": (1, 1),
}  # fmt: skip
"""(fewest, most) parameters of each method taking any; the others take none. As geth, more are refused."""


def _arity(handler: Callable[[list[Any]], Any], least: int, most: int) -> Callable[[list[Any]], Any]:
    def checked(params: list[Any]) -> Any:
        param_count(params, least, most)
        return handler(params)

    return checked


def _revert_message(output: bytes) -> str:
    if output[:4] == bytes.fromhex("08c379a0"):  # Error(string)
        with contextlib.suppress(Exception):
            return f"execution reverted: {abi_decode(['string'], output[4:])[0]}"
    return "execution reverted"


class ChainServer:
    """JSON-RPC front of one :class:`ChainBackend`; :meth:`app` builds the aiohttp application."""

    def __init__(self, backend: ChainBackend, *, block_time: float | None = None) -> None:
        self.backend = backend
        self.block_time = block_time
        backend.automine = block_time is None
        self.metrics = CollectorRegistry()
        self._submitted = Counter(
            "chainplug_chain_transactions", "submitted transactions", ["method", "result"], registry=self.metrics
        )
        self._height = Gauge("chainplug_chain_block_number", "latest mined block", registry=self.metrics)
        self._pqc_backend = get_backend().name  # resolved once, before serving (see ValidatorService)
        self._bundles: dict[bytes, dict[str, Any]] = {}
        self._methods: dict[str, Callable[[list[Any]], Any]] = {
            "web3_clientVersion": lambda _: f"chainplug/v{__version__}/py-evm-{version('py-evm')}",
            "net_version": lambda _: str(backend.chain_id),
            "net_listening": lambda _: True,
            "net_peerCount": lambda _: "0x0",
            "eth_chainId": lambda _: wire.qty(backend.chain_id),
            "eth_syncing": lambda _: False,
            "eth_blockNumber": lambda _: wire.qty(backend.head.block_number),
            "eth_accounts": lambda _: [wire.addr(a.address) for a in backend.accounts],
            "eth_gasPrice": lambda _: wire.qty(backend.next_base_fee() + DEFAULT_PRIORITY_FEE),
            "eth_maxPriorityFeePerGas": lambda _: wire.qty(DEFAULT_PRIORITY_FEE),
            "eth_getBlockByNumber": lambda p: self._block(wire.block_id(wire.param(p, 0)), wire.flag(p, 1)),
            "eth_getBlockByHash": lambda p: self._block(
                wire.data(wire.param(p, 0), "block hash", size=32), wire.flag(p, 1)
            ),
            "eth_getBalance": lambda p: wire.qty(self._state(p, 1).get_balance(wire.address(wire.param(p, 0)))),
            "eth_getTransactionCount": self._transaction_count,
            "eth_getCode": lambda p: wire.hexdata(self._state(p, 1).get_code(wire.address(wire.param(p, 0)))),
            "eth_getStorageAt": lambda p: wire.hexdata(
                self._state(p, 2)
                .get_storage(wire.address(wire.param(p, 0)), wire.quantity(wire.param(p, 1), "slot"))
                .to_bytes(32, "big")
            ),
            "eth_call": lambda p: wire.hexdata(self._execute(queries.call, p)),
            "eth_estimateGas": lambda p: wire.qty(self._execute(queries.estimate_gas, p)),
            "eth_feeHistory": self._fee_history,
            "eth_getLogs": lambda p: queries.logs(backend, wire.param(p, 0)),
            "eth_getTransactionByHash": self._transaction,
            "eth_getRawTransactionByHash": self._raw_transaction,
            "eth_getTransactionReceipt": self._receipt,
            "eth_sendRawTransaction": lambda p: self._submit("eth_sendRawTransaction", p),
            "eth_sendTransaction": lambda p: self._submit("eth_sendTransaction", p),
            "chainplug_sendEnvelope": lambda p: self._submit("chainplug_sendEnvelope", p),
            "chainplug_getSidecar": self._sidecar,
            "chainplug_chainInfo": lambda _: self.info(),
            "chainplug_getBlockBundle": self._bundle,
            "evm_mine": self._mine,
        }
        for name, handler in self._methods.items():
            self._methods[name] = _arity(handler, *ARITY.get(name, (0, 0)))

    def info(self) -> dict[str, Any]:
        """What the chain runs (also printed at start)."""
        registry = self.backend.rules.registry_address
        return {
            "chain_id": self.backend.chain_id,
            "activation_block": self.backend.rules.activation_block,
            "registry": to_checksum_address(registry) if registry else None,
            "pqc_tx_type": wire.qty(TX_TYPE_PQC_ONLY),
            "pqc_tx_auth_gas": PQC_TX_AUTH_GAS,
            "mining": self._mining(),
        }

    def _mining(self) -> str:
        if self.block_time:
            return f"interval {self.block_time}s"
        return "automine" if self.backend.automine else "manual (evm_mine)"

    # --- aiohttp ---------------------------------------------------------------------------------------

    def app(self) -> web.Application:
        application = json_application(LIMITS)
        application.router.add_post("/", JsonRpcEndpoint(self._methods, limits=LIMITS).handle)
        application.router.add_get("/health", self._health)
        application.router.add_get("/metrics", self._metrics_page)
        if self.block_time:
            application.cleanup_ctx.append(self._interval_miner)
        return application

    async def _interval_miner(self, _: web.Application) -> AsyncIterator[None]:
        async def loop() -> None:
            assert self.block_time
            loop_time = asyncio.get_running_loop().time
            due = loop_time()
            while True:
                due += self.block_time  # on a fixed cadence: sealing a full block does not stretch the interval
                await asyncio.sleep(max(0.0, due - loop_time()))
                try:
                    self.backend.mine()
                except Exception:  # keep mining: one failed block must not stop the chain
                    LOG.exception("mining a block failed")
                self._height.set(self.backend.head.block_number)
                due = max(due, loop_time() - self.block_time)  # after a long stall, do not mine a burst

        task = asyncio.create_task(loop())
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def _health(self, _: web.Request) -> web.Response:
        body = {"ok": True, "block": self.backend.head.block_number, **self.info(), "pqc_backend": self._pqc_backend}
        return web.json_response(body)

    async def _metrics_page(self, _: web.Request) -> web.Response:
        return web.Response(body=generate_latest(self.metrics), content_type="text/plain")

    # --- methods ---------------------------------------------------------------------------------------

    def _state(self, params: list[Any], index: int) -> Any:
        header = self.backend.state_header(wire.block_id(wire.param(params, index)))
        if header is None:
            raise RpcError(SERVER_ERROR, "header not found")
        return self.backend.chain.get_vm(header).state

    def _block(self, ident: str | int | bytes, full: Any) -> dict[str, Any] | None:
        found = self.backend.block(ident)
        return wire.block(found[0], full=bool(full), pending=found[1]) if found is not None else None

    def _execute(self, run: Callable[..., Any], params: list[Any]) -> Any:
        return self._run(run, queries.call_request(wire.param(params, 0)), wire.block_id(wire.param(params, 1)))

    def _run(self, run: Callable[..., Any], request: queries.CallRequest, ident: str | int | bytes) -> Any:
        try:
            return run(self.backend, request, ident)
        except queries.CallFailed as exc:
            if exc.reverted:
                raise RpcError(EXECUTION_REVERTED, _revert_message(exc.output), wire.hexdata(exc.output)) from exc
            raise RpcError(SERVER_ERROR, str(exc)) from exc

    def _fee_history(self, params: list[Any]) -> dict[str, Any]:
        count = wire.param(params, 0)
        plain = isinstance(count, int) and not isinstance(count, bool)  # geth also takes a JSON number here
        blocks = count if plain else wire.quantity(count, "blockCount")
        return queries.fee_history(self.backend, blocks, wire.block_id(wire.param(params, 1)), wire.param(params, 2))

    def _transaction_count(self, params: list[Any]) -> str:
        """The nonce at a block; at "pending", counting the sender's pending and queued transactions (geth)."""
        address = wire.address(wire.param(params, 0))
        if wire.block_id(wire.param(params, 1)) == "pending":
            return wire.qty(self.backend.pending_nonce(address))
        return wire.qty(self._state(params, 1).get_nonce(address))

    def _transaction(self, params: list[Any]) -> dict[str, Any] | None:
        found = self.backend.find_transaction(Hash32(wire.data(wire.param(params, 0), "transaction hash", size=32)))
        if found is None:
            return None
        return wire.transaction(found.transaction, found.block, found.index, found.base_fee)

    def _raw_transaction(self, params: list[Any]) -> str | None:
        """The exact signed bytes (geth's eth_getRawTransactionByHash): validators need them for PQC-only txs."""
        found = self.backend.find_transaction(Hash32(wire.data(wire.param(params, 0), "transaction hash", size=32)))
        return None if found is None else wire.hexdata(found.transaction.encode())

    def _receipt(self, params: list[Any]) -> dict[str, Any] | None:
        found = self.backend.find_transaction(Hash32(wire.data(wire.param(params, 0), "transaction hash", size=32)))
        if found is None or found.block is None or found.index is None:
            return None  # not mined yet
        info = self.backend.receipts(found.block)[found.index]
        return wire.receipt(
            info.transaction,
            info.receipt,
            block=found.block,
            index=info.index,
            gas_used=info.gas_used,
            first_log_index=info.first_log_index,
            contract_address=info.contract_address,
        )

    def _sidecar(self, params: list[Any]) -> str | None:
        stored = self.backend.sidecars.get(wire.data(wire.param(params, 0), "transaction hash", size=32))
        return wire.hexdata(stored.encode()) if stored is not None else None

    def _bundle(self, params: list[Any]) -> dict[str, Any] | None:
        """A mined block's bundle (queries.block_bundle); null for a block not mined yet. A mined block
        never changes, so bundles are kept by hash: validators in several processes ask for the same one."""
        ident = wire.block_id(wire.param(params, 0))
        if ident == "pending":
            raise RpcError(INVALID_PARAMS, "a bundle is of a mined block: give a number or a tag other than pending")
        found = self.backend.block(ident)
        if found is None:
            return None
        block = found[0]
        cached = self._bundles.get(bytes(block.hash))
        if cached is None:
            cached = self._bundles[bytes(block.hash)] = queries.block_bundle(self.backend, block)
            while len(self._bundles) > BUNDLE_CACHE:
                self._bundles.pop(next(iter(self._bundles)))
        return cached

    def _mine(self, params: list[Any]) -> str:
        count = wire.param(params, 0)
        blocks = wire.quantity(count, "blocks") if count is not None else 1
        if not 0 < blocks <= MAX_MINE:
            raise RpcError(INVALID_PARAMS, f"evm_mine mines 1..{MAX_MINE} blocks per call")
        self.backend.mine(blocks)
        self._height.set(self.backend.head.block_number)
        return "0x0"

    def _submit(self, method: str, params: list[Any]) -> str:
        try:
            if method == "eth_sendRawTransaction":
                raw = hex_bytes(wire.param(params, 0), "raw transaction", max_bytes=MAX_RAW_TX_BYTES)
                tx_hash = self.backend.send_raw(raw)
            elif method == "chainplug_sendEnvelope":
                data = hex_bytes(wire.param(params, 0), "envelope", max_bytes=MAX_ENVELOPE_BYTES)
                tx_hash = self.backend.send_envelope(data)
            else:
                tx_hash = self.backend.send_raw(self._sign_dev(queries.call_request(wire.param(params, 0))))
        except PqcRuleViolation as exc:
            self._submitted.labels(method=method, result=exc.reason.value).inc()
            raise RpcError(TRANSACTION_REJECTED, f"transaction rejected: {exc}", exc.error.to_json()) from exc
        except ChainplugError as exc:  # a malformed envelope
            self._submitted.labels(method=method, result=exc.reason.value).inc()
            raise RpcError(INVALID_PARAMS, str(exc), exc.to_json()) from exc
        except (
            AlreadyKnown,
            ValidationError,
            UnrecognizedTransactionType,
            rlp.DecodingError,
            rlp.DeserializationError,
        ) as exc:
            self._submitted.labels(method=method, result="invalid").inc()
            raise RpcError(SERVER_ERROR, str(exc) or type(exc).__name__) from exc
        self._submitted.labels(method=method, result="accepted").inc()
        if self.backend.automine:  # otherwise only mining moves the head (and sets the gauge)
            self._height.set(self.backend.head.block_number)
        return wire.hexdata(tx_hash)

    def _sign_dev(self, request: queries.CallRequest) -> bytes:
        """eth_sendTransaction: fill the defaults web3.py would, sign with the unlocked dev key."""
        key = self.backend.dev_key(request.sender)
        if key is None:
            raise RpcError(SERVER_ERROR, "unknown account")
        tx: dict[str, Any] = {
            "chainId": self.backend.chain_id,
            "nonce": request.nonce if request.nonce is not None else self._nonce(request.sender),
            "value": request.value,
            "data": request.data,
            "gas": request.gas if request.gas is not None else self._run(queries.estimate_gas, request, "pending"),
        }
        if request.to:
            tx["to"] = to_checksum_address(request.to)
        if request.gas_price is not None:
            tx["gasPrice"] = request.gas_price
        else:
            tip = (
                request.max_priority_fee_per_gas
                if request.max_priority_fee_per_gas is not None
                else DEFAULT_PRIORITY_FEE
            )
            tx["maxPriorityFeePerGas"] = tip
            tx["maxFeePerGas"] = request.max_fee_per_gas or default_max_fee(self.backend.next_base_fee(), tip)
        return bytes(Account.sign_transaction(tx, key).raw_transaction)

    def _nonce(self, sender: bytes) -> int:
        return self.backend.pending_nonce(sender)
