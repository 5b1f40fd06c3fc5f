"""Every JSON-RPC method of the four services, with one valid set of parameters and the kind of each
parameter, so the hostile suite can put a wrong value in every position (and every field of an object
parameter) and know which of those values a correct server must refuse."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

ZERO_HASH = "0x" + "00" * 32
SOME_ADDRESS = "0x" + "11" * 20

HOSTILE: list[Any] = [
    None, True, False, 0, -1, 2**256, 2**64, 1.5, -0.0, "", "0x", "0X", "0xzz", "zz", "latest ", "0x-1",
    "0x" + "f" * 70, "0x" + "0" * 41, "1" * 100, "x" * 5000, "\u0000", "\ud800", [], [1], [[[[]]]], {},
    {"a": 1}, {"blockHash": 5}, {"blockNumber": "pending", "blockHash": ZERO_HASH},
]  # fmt: skip
"""Values that are wrong for most parameters; each kind below says which of them it accepts."""

BLOCK_TAGS = ("latest", "earliest", "pending", "safe", "finalized")


def _hex(value: Any, *, size: int | None = None, max_digits: int | None = None, even: bool = True) -> bool:
    if not isinstance(value, str) or not value.startswith(("0x", "0X")):
        return False
    digits = value[2:]
    if not all(c in "0123456789abcdefABCDEF" for c in digits):
        return False
    if size is not None:
        return len(digits) == 2 * size
    if max_digits is not None and not 0 < len(digits) <= max_digits:
        return False
    return not even or len(digits) % 2 == 0


def _tx_int(value: Any, width: int) -> bool:
    if isinstance(value, str):
        try:
            value = int(value, 16) if value[:2] in ("0x", "0X") else int(value) if value.isdigit() else None
        except ValueError:
            return False
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2 ** (8 * width)


KINDS: dict[str, Callable[[Any], bool]] = {
    # what a correct server may accept for a parameter of this kind (anything else must be refused)
    "address": lambda v: _hex(v, size=20),
    "hash": lambda v: _hex(v, size=32),
    "quantity": lambda v: _hex(v, max_digits=64, even=False),
    "block": lambda v: v is None or v in BLOCK_TAGS or _hex(v, max_digits=64, even=False),
    "bool": lambda v: v is None or isinstance(v, bool),
    "data": lambda v: _hex(v),
    "count": lambda v: (isinstance(v, int) and not isinstance(v, bool)) or _hex(v, max_digits=64, even=False),
    "percentiles": lambda v: v is None or (isinstance(v, list) and all(isinstance(p, int | float) for p in v)),
    "object": lambda v: isinstance(v, dict),
    "optional-quantity": lambda v: v is None or _hex(v, max_digits=64, even=False),
    "optional-address": lambda v: v in (None, "") or _hex(v, size=20),
    "optional-data": lambda v: v is None or _hex(v),
    "topics": lambda v: v is None or isinstance(v, list),
    "log-address": lambda v: (
        v is None or _hex(v, size=20) or (isinstance(v, list) and all(_hex(a, size=20) for a in v))
    ),
    "state": lambda v: v is None or v in ("CLASSICAL", "HYBRID", "FINALIZING", "PQC_ONLY"),
    "signer-count": lambda v: isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= 10_000,
    "address-list": lambda v: isinstance(v, list) and 0 < len(v) <= 1000 and all(_hex(a, size=20) for a in v),
    "batch-state": lambda v: v in ("CLASSICAL", "HYBRID", "FINALIZING", "PQC_ONLY"),
    # a signer's transaction field: an integer within the decoder's width, or a hex / decimal string of one
    "tx-int8": lambda v: _tx_int(v, 8),
    "tx-int32": lambda v: _tx_int(v, 32),
    "tx-chain": lambda v: _tx_int(v, 32) and v not in (0, "0", "0x0", "0x"),
    "tx-to": lambda v: v in (None, "", "0x", "0X") or _hex(v, size=20),
    "tx-data": lambda v: v in ("", "0x", "0X") or _hex(v) or _hex("0x" + v if isinstance(v, str) else v),
    "access-list": lambda v: v is None or v == [],
    "typed-data": lambda v: isinstance(v, dict | str),  # an EIP-712 object or its JSON text (checked deeper)
    "height": lambda v: (
        (isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 2**63)
        or (isinstance(v, str) and (_hex(v, max_digits=15, even=False) or (v.isdigit() and len(v) < 19)))
    ),
}


@dataclass(frozen=True)
class Param:
    kind: str
    valid: Any
    fields: dict[str, Param] | None = None
    """For an object parameter: its fields (each replaced in turn; the rest stay valid)."""


@dataclass(frozen=True)
class Method:
    name: str
    params: tuple[Param, ...] = ()
    required: int | None = None
    """Parameters that must be given (default: all); the rest may be left out."""


def call_object(sender: str) -> Param:
    fields = {
        "from": Param("optional-address", sender),
        "to": Param("optional-address", SOME_ADDRESS),
        "gas": Param("optional-quantity", "0x5208"),
        "value": Param("optional-quantity", "0x1"),
        "data": Param("optional-data", "0x"),
        "nonce": Param("optional-quantity", None),
        "gasPrice": Param("optional-quantity", None),
        "maxFeePerGas": Param("optional-quantity", None),
        "maxPriorityFeePerGas": Param("optional-quantity", None),
    }
    return Param("object", {k: p.valid for k, p in fields.items() if p.valid is not None}, fields)


def chain_methods(sender: str) -> list[Method]:
    none: list[str] = ["web3_clientVersion", "net_version", "net_listening", "net_peerCount", "eth_chainId",
                       "eth_syncing", "eth_blockNumber", "eth_accounts", "eth_gasPrice", "eth_maxPriorityFeePerGas",
                       "chainplug_chainInfo"]  # fmt: skip
    block, address, hash_ = Param("block", "latest"), Param("address", sender), Param("hash", ZERO_HASH)
    log_filter = Param("object", {"fromBlock": "0x0", "toBlock": "latest"}, {
        "fromBlock": Param("block", "0x0"), "toBlock": Param("block", "latest"),
        "address": Param("log-address", SOME_ADDRESS), "topics": Param("topics", [])})  # fmt: skip
    return [
        *(Method(name) for name in none),
        Method("eth_getBlockByNumber", (block, Param("bool", False)), required=1),
        Method("eth_getBlockByHash", (hash_, Param("bool", False)), required=1),
        Method("eth_getBalance", (address, block), required=1),
        Method("eth_getTransactionCount", (address, block), required=1),
        Method("eth_getCode", (address, block), required=1),
        Method("eth_getStorageAt", (address, Param("quantity", "0x0"), block), required=2),
        Method("eth_call", (call_object(sender), block), required=1),
        Method("eth_estimateGas", (call_object(sender), block), required=1),
        Method("eth_feeHistory", (Param("count", "0x2"), block, Param("percentiles", [25, 75])), required=2),
        Method("eth_getLogs", (log_filter,)),
        Method("eth_getTransactionByHash", (hash_,)),
        Method("eth_getRawTransactionByHash", (hash_,)),
        Method("eth_getTransactionReceipt", (hash_,)),
        Method("eth_sendRawTransaction", (Param("data", "0x02c0"),)),
        Method("chainplug_sendEnvelope", (Param("data", "0x00"),)),
        Method("chainplug_getSidecar", (hash_,)),
        Method("chainplug_getBlockBundle", (block,)),
        Method("eth_sendTransaction", (call_object(sender),)),
        Method("evm_mine", (Param("optional-quantity", None),), required=0),
    ]


def gateway_methods() -> list[Method]:
    return [
        Method("eth_sendRawTransaction", (Param("data", "0x02c0"),)),
        Method("chainplug_sendEnvelope", (Param("data", "0x00"),)),
        Method("chainplug_getSidecar", (Param("hash", ZERO_HASH),)),
        Method("eth_getBalance", (Param("address", SOME_ADDRESS), Param("block", "latest")), required=1),  # passed on
    ]


def validator_methods() -> list[Method]:
    return [
        Method("chainplug_attestations", (Param("height", 0), Param("height", 10)), required=0),
        Method("chainplug_attestation", (Param("height", 1),)),
        Method("chainplug_validatorHealth"),
    ]


def signer_methods(account: str) -> list[Method]:
    tx_fields = {
        "from": Param("address", account),
        "to": Param("tx-to", SOME_ADDRESS),
        "value": Param("tx-int32", 1),
        "gas": Param("tx-int8", 21_000 + 4_300),
        "nonce": Param("tx-int8", 1_000_000),  # far ahead: a transaction of it never lands
        "data": Param("tx-data", "0x"),
        "chainId": Param("tx-chain", 1337),
        "maxFeePerGas": Param("tx-int32", 10**10),
        "maxPriorityFeePerGas": Param("tx-int32", 10**9),
        "accessList": Param("access-list", []),
    }
    tx = Param("object", {k: p.valid for k, p in tx_fields.items()}, tx_fields)
    typed_data = {
        "types": {"EIP712Domain": [{"name": "name", "type": "string"}],
                  "Note": [{"name": "text", "type": "string"}, {"name": "amount", "type": "uint256"}]},
        "primaryType": "Note", "domain": {"name": "hostile"}, "message": {"text": "hi", "amount": 1},
    }  # fmt: skip
    address, message = Param("address", account), Param("data", "0x68656c6c6f")
    return [
        # Ethereum JSON-RPC, answered by the signer (everything else is the node's: see chain_methods)
        Method("eth_accounts"),
        Method("eth_requestAccounts"),
        Method("eth_sendTransaction", (tx,)),
        Method("eth_signTransaction", (tx,)),
        Method("eth_sign", (address, message)),
        Method("personal_sign", (message, address)),
        Method("eth_signTypedData", (address, Param("typed-data", typed_data))),
        Method("eth_signTypedData_v4", (address, Param("typed-data", typed_data))),
        Method("eth_sendRawTransaction", (Param("data", "0x02c0"),)),
        # chainplug's own
        Method("chainplug_accounts"),
        Method("chainplug_createAccounts", (Param("signer-count", 1),)),
        Method("chainplug_signTransaction", (tx,)),
        Method("chainplug_sendTransaction", (tx,)),
        Method("chainplug_advance", (Param("address", account), Param("state", "CLASSICAL")), required=1),
        # CLASSICAL: a batch with nothing to do (every account is there or past it), so the suite moves no one
        Method("chainplug_advanceBatch", (Param("address-list", [account]), Param("batch-state", "CLASSICAL"))),
        Method("chainplug_rollback", (Param("address", account),)),
        Method("chainplug_reload"),
    ]


@dataclass(frozen=True)
class Case:
    method: str
    params: list[Any]
    where: str
    must_refuse: bool


def wrong_values(methods: list[Method]) -> Iterator[Case]:
    """One case per (method, parameter or object field, hostile value); extra parameters too."""
    for method in methods:
        valid = [p.valid for p in method.params]
        for index, param in enumerate(method.params):
            for value in HOSTILE:
                params = [*valid[:index], value, *valid[index + 1 :]]
                yield Case(method.name, params, f"param {index}", not KINDS[param.kind](value))
            for field, spec in (param.fields or {}).items():
                for value in HOSTILE:
                    changed = {**param.valid, field: value}
                    params = [*valid[:index], changed, *valid[index + 1 :]]
                    yield Case(method.name, params, f"param {index}.{field}", not KINDS[spec.kind](value))
        for extra in (None, 1, "x"):
            yield Case(method.name, [*valid, extra], "extra param", True)
        required = len(method.params) if method.required is None else method.required
        if required:
            yield Case(method.name, valid[: required - 1], "a required param missing", True)


def short(value: Any) -> str:
    text = json.dumps(value)
    return text if len(text) < 80 else text[:77] + "..."
