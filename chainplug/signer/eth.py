"""The Ethereum JSON-RPC face of the signer: transaction requests as wallets send them, their defaults
filled the way geth fills them, and signed transactions as geth shows them (docs/signer.md).

* :func:`transaction_request` checks a transaction object before anything is looked up or signed
  (the strict decoder's field rules; ``data`` and ``input`` merged as geth merges them).
* :func:`fill_defaults` is geth's ``TransactionArgs.setDefaults``: the nonce from the node's pending
  count, gas from ``eth_estimateGas``, ``maxPriorityFeePerGas`` from ``eth_maxPriorityFeePerGas`` and
  ``maxFeePerGas`` = tip + 2 × the latest base fee; the chain id checked against the node's. The
  look-ups run concurrently.
* :func:`transaction_json` is the ``tx`` half of geth's ``eth_signTransaction`` answer ``{raw, tx}``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from eth_utils.address import to_checksum_address

from ..constants import TX_TYPE_PQC_ONLY
from ..envelope import PqcTransaction, check_transaction_fields
from ..envelope.fees import DEFAULT_PRIORITY_FEE, default_max_fee
from ..envelope.transaction import LegacyTransaction
from ..errors import MalformedEnvelope
from ..rpc import (
    INVALID_PARAMS,
    SERVER_ERROR,
    UPSTREAM_UNAVAILABLE,
    AsyncRpcClient,
    RpcCallError,
    RpcError,
    hex_bytes,
)
from ..types import Address
from .backend import PQC_ONLY, Signed

FEE_FIELDS = ("gasPrice", "maxFeePerGas", "maxPriorityFeePerGas")


def address_param(value: Any, name: str = "address") -> Address:
    return Address(hex_bytes(value, name, max_bytes=20, size=20))


def transaction_request(tx: Any) -> dict[str, Any]:
    """A transaction object held to the strict decoder's field rules, with its ``from`` checked and
    ``input`` / ``data`` merged into ``data`` (geth: both may be given only if equal)."""
    if not isinstance(tx, dict):
        raise RpcError(INVALID_PARAMS, "the transaction must be a JSON object")
    if "from" not in tx:
        raise RpcError(INVALID_PARAMS, "the transaction needs a 'from' account of this signer")
    address_param(tx["from"], "from")
    pqc_type = tx.get("type") in (TX_TYPE_PQC_ONLY, hex(TX_TYPE_PQC_ONLY), str(TX_TYPE_PQC_ONLY))
    try:
        check_transaction_fields({key: value for key, value in tx.items() if key != "type"} if pqc_type else tx)
        if "input" in tx and "data" in tx:
            check_transaction_fields({"data": tx["input"]})
    except MalformedEnvelope as exc:
        raise RpcError(INVALID_PARAMS, str(exc), exc.to_json()) from exc
    request = {key: value for key, value in tx.items() if key != "input"}
    if "input" in tx:
        if "data" in tx and _hex_text(tx["data"]) != _hex_text(tx["input"]):
            raise RpcError(INVALID_PARAMS, 'both "data" and "input" are set and not equal; use "input"')
        request["data"] = tx["input"]
    if request.get("to") in (None, "", "0x", "0X"):
        request.pop("to", None)
        if _hex_text(request.get("data", "")) == "":
            raise RpcError(INVALID_PARAMS, "contract creation without any data provided")
    if "gasPrice" in request and ("maxFeePerGas" in request or "maxPriorityFeePerGas" in request):
        raise RpcError(INVALID_PARAMS, "both gasPrice and (maxFeePerGas or maxPriorityFeePerGas) specified")
    return request


def _hex_text(value: Any) -> str:
    text = value.hex() if isinstance(value, bytes | bytearray) else str(value)
    return text.lower().removeprefix("0x")


def _int(value: Any) -> int:
    if isinstance(value, str):
        return int(value, 16) if value.lower().startswith("0x") else int(value)
    return int(value)


def check_type(request: Mapping[str, Any], kind: str) -> None:
    """A request for a type-0x50 transaction is for a PQC-only account (which signs 0x50 whatever type a
    client names: it has no other kind of signature)."""
    if kind != PQC_ONLY and "type" in request and _int(request["type"]) == TX_TYPE_PQC_ONLY:
        raise RpcError(INVALID_PARAMS, f"a {kind} account does not sign PQC-only (type 0x50) transactions")


def check_chain_id(request: Mapping[str, Any], chain_id: int) -> None:
    """geth: a given chainId must be the node's."""
    if "chainId" in request and _int(request["chainId"]) != chain_id:
        have = _int(request["chainId"])
        raise RpcError(INVALID_PARAMS, f"chainId does not match node's (have={have}, want={chain_id})")


def require_complete(request: Mapping[str, Any]) -> None:
    """geth's eth_signTransaction: gas, fees and nonce must be given (it signs for later, so it must not
    guess a nonce that a later send would also take)."""
    if "gas" not in request:
        raise RpcError(INVALID_PARAMS, "gas not specified")
    if "gasPrice" not in request and ("maxPriorityFeePerGas" not in request or "maxFeePerGas" not in request):
        raise RpcError(INVALID_PARAMS, "missing gasPrice or maxFeePerGas/maxPriorityFeePerGas")
    if "nonce" not in request:
        raise RpcError(INVALID_PARAMS, "nonce not specified")


def upstream_error(exc: RpcCallError) -> RpcError:
    """The node's refusal, passed on as the node gave it (stock clients parse these: "nonce too low",
    "insufficient funds", "execution reverted" with its data); unreachable is UPSTREAM_UNAVAILABLE."""
    if exc.code is None:
        return RpcError(UPSTREAM_UNAVAILABLE, f"upstream node unavailable: {exc.message}")
    return RpcError(exc.code, exc.message, exc.data, reason=exc.rejection_reason if exc.code != 3 else None)


async def _ask(upstream: AsyncRpcClient, method: str, *params: Any) -> Any:
    try:
        return await upstream.call(method, *params)
    except RpcCallError as exc:
        raise upstream_error(exc) from exc


async def _tip(upstream: AsyncRpcClient) -> int:
    try:
        return _int(await upstream.call("eth_maxPriorityFeePerGas"))
    except RpcCallError as exc:
        if exc.method_not_found:
            return DEFAULT_PRIORITY_FEE  # a node without the method: the tip anvil and geth's dev mode use
        raise upstream_error(exc) from exc


async def _base_fee(upstream: AsyncRpcClient) -> int:
    block = await _ask(upstream, "eth_getBlockByNumber", "latest", False)
    if not isinstance(block, dict) or block.get("baseFeePerGas") is None:
        raise RpcError(SERVER_ERROR, "the node's latest block has no base fee (pre-London): give gasPrice")
    return _int(block["baseFeePerGas"])


def _call_object(sender: str, request: Mapping[str, Any]) -> dict[str, Any]:
    """What eth_estimateGas gets: the transaction as given (geth passes the fees and access list too)."""
    call: dict[str, Any] = {"from": sender, "value": hex(_int(request.get("value", 0)))}
    if "to" in request:
        call["to"] = request["to"]
    data = request.get("data")
    if data not in (None, "", "0x"):
        call["data"] = data if isinstance(data, str) else "0x" + bytes(data).hex()
    for name in FEE_FIELDS:
        if name in request:
            call[name] = hex(_int(request[name]))
    if request.get("accessList"):
        call["accessList"] = request["accessList"]
    return call


async def fill_defaults(request: Mapping[str, Any], *, chain_id: int, upstream: AsyncRpcClient) -> dict[str, Any]:
    """``request`` with every field a signature needs: geth's setDefaults, the look-ups in parallel."""
    filled = dict(request)
    filled.setdefault("chainId", chain_id)
    filled.setdefault("value", 0)
    sender = to_checksum_address(str(request["from"]))
    lookups: dict[str, Any] = {}
    if "nonce" not in filled:
        lookups["nonce"] = _ask(upstream, "eth_getTransactionCount", sender, "pending")
    if "gasPrice" not in filled:
        if "maxPriorityFeePerGas" not in filled:
            lookups["maxPriorityFeePerGas"] = _tip(upstream)
        if "maxFeePerGas" not in filled:
            lookups["baseFee"] = _base_fee(upstream)
    if "gas" not in filled:
        lookups["gas"] = _ask(upstream, "eth_estimateGas", _call_object(sender, request))
    if lookups:
        values = await asyncio.gather(*lookups.values())
        found = dict(zip(lookups, values, strict=True))
        base_fee = found.pop("baseFee", None)
        filled.update({name: _int(value) for name, value in found.items()})
        if base_fee is not None:
            filled["maxFeePerGas"] = default_max_fee(base_fee, _int(filled["maxPriorityFeePerGas"]))
    if "gasPrice" not in filled and _int(filled["maxFeePerGas"]) < _int(filled["maxPriorityFeePerGas"]):
        raise RpcError(INVALID_PARAMS, f"maxFeePerGas ({_int(filled['maxFeePerGas'])}) < maxPriorityFeePerGas "
                                       f"({_int(filled['maxPriorityFeePerGas'])})")  # fmt: skip
    return filled


def _qty(value: int) -> str:
    return hex(value)


def _data(value: bytes) -> str:
    return "0x" + bytes(value).hex()


def _to(value: bytes) -> str | None:
    return "0x" + bytes(value).hex() if value else None


def transaction_json(signed: Signed, sender: Address) -> dict[str, Any]:
    """The signed transaction as geth's ``eth_signTransaction`` shows it (``tx`` of ``{raw, tx}``; addresses
    in lower case, as geth writes them), plus ``from``. A PQC-only transaction carries its ML-DSA-87 key
    and signature and ``v``, ``r``, ``s``, ``yParity`` of 0 (it has no ECDSA signature; zeros are what
    chains answer for transaction types without one, e.g. OP Stack deposit transactions, and what stock
    clients parse)."""
    tx = signed.transaction
    unsigned = tx.unsigned
    out: dict[str, Any] = {
        "type": _qty(unsigned.tx_type),
        "chainId": _qty(unsigned.chain_id),
        "nonce": _qty(unsigned.nonce),
        "from": "0x" + bytes(sender).hex(),
        "to": _to(unsigned.to),
        "gas": _qty(unsigned.gas),
        "value": _qty(unsigned.value),
        "input": _data(unsigned.data),
        "hash": _data(signed.tx_hash),
    }
    if isinstance(unsigned, LegacyTransaction):
        out["gasPrice"] = _qty(unsigned.gas_price)
    else:
        out["maxPriorityFeePerGas"] = _qty(unsigned.max_priority_fee_per_gas)
        out["maxFeePerGas"] = _qty(unsigned.max_fee_per_gas)
        out["accessList"] = [
            {"address": "0x" + bytes(address).hex(), "storageKeys": [_data(key) for key in keys]}
            for address, keys in unsigned.access_list
        ]
    if isinstance(tx, PqcTransaction):
        out.update(v="0x0", r="0x0", s="0x0", yParity="0x0")
        out["pqcPublicKey"] = _data(tx.public_key)
        out["pqcSignature"] = _data(tx.signature)
        return out
    signature = tx.signature
    if isinstance(unsigned, LegacyTransaction):
        out["v"] = _qty(unsigned.chain_id * 2 + 35 + signature.y_parity)
    else:
        out["v"] = out["yParity"] = _qty(signature.y_parity)
    out["r"], out["s"] = _qty(signature.r), _qty(signature.s)
    return out
