"""Ethereum JSON-RPC wire format, as geth and anvil answer: hex quantities without leading zeros,
0x-hex data, lower-case addresses, camelCase fields, ``null`` for what a pending object lacks.

Parsing helpers raise :class:`~chainplug.rpc.RpcError` (INVALID_PARAMS); formatting helpers take
py-evm objects and never fail on a well-formed chain.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import rlp
from eth.abc import BlockAPI, BlockHeaderAPI, LogAPI, ReceiptAPI, SignedTransactionAPI

from ...constants import TX_TYPE_PQC_ONLY
from ...rpc import INVALID_PARAMS, RpcError
from .fork import pqc_transaction

BLOCK_TAGS = frozenset({"latest", "earliest", "pending", "safe", "finalized"})


# --- parsing ----------------------------------------------------------------------------------------


def quantity(value: Any, name: str) -> int:
    """A 0x-hex quantity (geth also refuses JSON numbers here)."""
    if not isinstance(value, str) or not value.startswith(("0x", "0X")) or not 2 < len(value) <= 66:
        raise RpcError(INVALID_PARAMS, f"{name} must be a 0x-prefixed hex quantity")
    try:
        return int(value, 16)
    except ValueError as exc:
        raise RpcError(INVALID_PARAMS, f"{name} is not valid hex") from exc


def data(value: Any, name: str, *, size: int | None = None, max_bytes: int = 1 << 20) -> bytes:
    """0x-hex bytes, optionally of an exact size."""
    if not isinstance(value, str) or not value.startswith(("0x", "0X")) or len(value) % 2:
        raise RpcError(INVALID_PARAMS, f"{name} must be 0x-prefixed hex with an even number of digits")
    if len(value) > 2 + 2 * max_bytes:
        raise RpcError(INVALID_PARAMS, f"{name} is larger than {max_bytes} bytes")
    try:
        decoded = bytes.fromhex(value[2:])
    except ValueError as exc:
        raise RpcError(INVALID_PARAMS, f"{name} is not valid hex") from exc
    if size is not None and len(decoded) != size:
        raise RpcError(INVALID_PARAMS, f"{name} must be {size} bytes")
    return decoded


def address(value: Any, name: str = "address") -> bytes:
    return data(value, name, size=20)


def block_id(value: Any) -> str | int | bytes:
    """A block tag, a number, or (EIP-1898) ``{"blockHash": ...}`` / ``{"blockNumber": ...}``."""
    if value is None:
        return "latest"
    if isinstance(value, dict):
        if set(value) - {"blockHash", "blockNumber", "requireCanonical"} or ("blockHash" in value) == (
            "blockNumber" in value
        ):
            raise RpcError(INVALID_PARAMS, "a block object takes blockHash or blockNumber (EIP-1898)")
        if "blockHash" in value:
            return data(value["blockHash"], "blockHash", size=32)
        if value["blockNumber"] is None:
            raise RpcError(INVALID_PARAMS, "blockNumber must be a block number or tag")
        return block_id(value["blockNumber"])
    if isinstance(value, str) and value in BLOCK_TAGS:
        return value
    return quantity(value, "block number")


def param(params: Sequence[Any], index: int, default: Any = None) -> Any:
    return params[index] if len(params) > index else default


def flag(params: Sequence[Any], index: int) -> bool:
    """An optional boolean parameter (absent or null: false); anything else is refused, as geth does."""
    value = param(params, index)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise RpcError(INVALID_PARAMS, f"parameter {index} must be true or false")
    return value


# --- formatting -------------------------------------------------------------------------------------


def qty(value: int) -> str:
    return hex(value)


def hexdata(value: bytes) -> str:
    return "0x" + bytes(value).hex()


def addr(value: bytes) -> str | None:
    """Lower-case 0x address; None for the empty ``to`` of a contract creation."""
    return "0x" + bytes(value).hex() if value else None


def access_list(entries: Sequence[tuple[bytes, Sequence[int]]]) -> list[dict[str, Any]]:
    return [
        {"address": addr(account), "storageKeys": [hexdata(key.to_bytes(32, "big")) for key in keys]}
        for account, keys in entries
    ]


def type_id(tx: SignedTransactionAPI) -> int:
    return tx.type_id if tx.type_id is not None else 0


def base_fee(header: BlockHeaderAPI) -> int:
    """The header's EIP-1559 base fee (every block of this chain has one)."""
    return int(header.base_fee_per_gas or 0)


def effective_gas_price(tx: SignedTransactionAPI, base_fee: int) -> int:
    if type_id(tx) in (0, 1):
        return int(tx.gas_price)
    return min(tx.max_fee_per_gas, base_fee + tx.max_priority_fee_per_gas)


def transaction(tx: SignedTransactionAPI, block: BlockAPI | None, index: int | None, base_fee: int) -> dict[str, Any]:
    """eth_getTransactionByHash / full-block transaction object. ``block`` None = not yet mined."""
    kind = type_id(tx)
    out: dict[str, Any] = {
        "blockHash": hexdata(block.hash) if block is not None else None,
        "blockNumber": qty(block.number) if block is not None else None,
        "transactionIndex": qty(index) if index is not None else None,
        "hash": hexdata(tx.hash),
        "type": qty(kind),
        "from": addr(tx.sender),
        "to": addr(tx.to),
        "nonce": qty(tx.nonce),
        "gas": qty(tx.gas),
        "value": qty(tx.value),
        "input": hexdata(tx.data),
    }
    if kind != 0 or tx.chain_id is not None:
        out["chainId"] = qty(tx.chain_id) if tx.chain_id is not None else None
    if kind in (0, 1):
        out["gasPrice"] = qty(tx.gas_price)
    else:
        out["maxFeePerGas"] = qty(tx.max_fee_per_gas)
        out["maxPriorityFeePerGas"] = qty(tx.max_priority_fee_per_gas)
        out["gasPrice"] = qty(effective_gas_price(tx, base_fee) if block is not None else tx.max_fee_per_gas)
    if kind != 0:
        out["accessList"] = access_list(tx.access_list)
    if kind == 3:
        out["maxFeePerBlobGas"] = qty(tx.max_fee_per_blob_gas)
        out["blobVersionedHashes"] = [hexdata(h) for h in tx.blob_versioned_hashes]
    if kind == 4:
        out["authorizationList"] = [
            {
                "chainId": qty(a.chain_id),
                "address": addr(a.address),
                "nonce": qty(a.nonce),
                "yParity": qty(a.y_parity),
                "r": qty(a.r),
                "s": qty(a.s),
            }
            for a in tx.authorization_list
        ]
    if kind == TX_TYPE_PQC_ONLY:
        pqc = pqc_transaction(tx)
        out["pqcPublicKey"] = hexdata(pqc.public_key)
        out["pqcSignature"] = hexdata(pqc.signature)
        # No ECDSA signature: zeros, as op-geth answers for its deposit transactions, so stock clients
        # (ethers' Signature.from needs r, s and v) parse the object; nothing reads a sender from them.
        out.update(v="0x0", yParity="0x0", r="0x0", s="0x0")
    elif kind == 0:
        out.update(v=qty(tx.v), r=qty(tx.r), s=qty(tx.s))  # type: ignore[attr-defined]
    else:
        out.update(v=qty(tx.y_parity), yParity=qty(tx.y_parity), r=qty(tx.r), s=qty(tx.s))
    return out


def log(entry: LogAPI, *, block: BlockAPI, tx: SignedTransactionAPI, tx_index: int, log_index: int) -> dict[str, Any]:
    return {
        "address": addr(entry.address),
        "topics": [hexdata(topic.to_bytes(32, "big")) for topic in entry.topics],
        "data": hexdata(entry.data),
        "blockNumber": qty(block.number),
        "blockHash": hexdata(block.hash),
        "blockTimestamp": qty(block.header.timestamp),
        "transactionHash": hexdata(tx.hash),
        "transactionIndex": qty(tx_index),
        "logIndex": qty(log_index),
        "removed": False,
    }


def receipt(
    tx: SignedTransactionAPI,
    rcpt: ReceiptAPI,
    *,
    block: BlockAPI,
    index: int,
    gas_used: int,
    first_log_index: int,
    contract_address: bytes | None,
) -> dict[str, Any]:
    fee = base_fee(block.header)
    return {
        "transactionHash": hexdata(tx.hash),
        "transactionIndex": qty(index),
        "blockHash": hexdata(block.hash),
        "blockNumber": qty(block.number),
        "from": addr(tx.sender),
        "to": addr(tx.to),
        "cumulativeGasUsed": qty(rcpt.gas_used),
        "gasUsed": qty(gas_used),
        "effectiveGasPrice": qty(effective_gas_price(tx, fee)),
        "contractAddress": addr(contract_address) if contract_address else None,
        "logs": [
            log(entry, block=block, tx=tx, tx_index=index, log_index=first_log_index + offset)
            for offset, entry in enumerate(rcpt.logs)
        ],
        "logsBloom": hexdata(rcpt.bloom.to_bytes(256, "big")),
        "status": qty(1 if rcpt.state_root == b"\x01" else 0),
        "type": qty(type_id(tx)),
    }


def block(blk: BlockAPI, *, full: bool, pending: bool) -> dict[str, Any]:
    """eth_getBlockBy*: ``full`` = transaction objects, else hashes; a pending block has no hash."""
    header = blk.header
    if full:
        txs: list[Any] = [
            transaction(tx, None if pending else blk, index, base_fee(header))
            for index, tx in enumerate(blk.transactions)
        ]
    else:
        txs = [hexdata(tx.hash) for tx in blk.transactions]
    return {
        "number": qty(header.block_number),
        "hash": None if pending else hexdata(header.hash),
        "parentHash": hexdata(header.parent_hash),
        "nonce": hexdata(header.nonce),
        "mixHash": hexdata(header.mix_hash),
        "sha3Uncles": hexdata(header.uncles_hash),
        "logsBloom": hexdata(header.bloom.to_bytes(256, "big")),
        "transactionsRoot": hexdata(header.transaction_root),
        "stateRoot": hexdata(header.state_root),
        "receiptsRoot": hexdata(header.receipt_root),
        "miner": addr(header.coinbase),
        "difficulty": qty(header.difficulty),
        "totalDifficulty": qty(header.difficulty),
        "extraData": hexdata(header.extra_data),
        "size": qty(len(rlp.encode(blk))),
        "gasLimit": qty(header.gas_limit),
        "gasUsed": qty(header.gas_used),
        "timestamp": qty(header.timestamp),
        "baseFeePerGas": qty(base_fee(header)),
        "withdrawalsRoot": hexdata(header.withdrawals_root or b""),
        "withdrawals": [],
        "blobGasUsed": qty(header.blob_gas_used),
        "excessBlobGas": qty(header.excess_blob_gas),
        "parentBeaconBlockRoot": hexdata(header.parent_beacon_block_root or b""),
        "requestsHash": hexdata(getattr(header, "requests_hash", b"")),
        "transactions": txs,
        "uncles": [],
    }
