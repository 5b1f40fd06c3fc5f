"""Transaction fields, declared once: the wire vocabulary of the transaction classes.

Each transaction type is one frozen dataclass (transaction.py: EIP-155 and EIP-1559; pqc_tx.py: the
PQC-only type 0x50) whose attributes, in order, are its RLP payload; each attribute names its wire
kind in ``field(metadata=...)``. Everything that reads or writes a transaction works from that one
declaration (:func:`wire_fields`):

* the encoder (:func:`payload_items`) and the value checks every constructor runs (:func:`check_values`);
* the reference decoder (chainplug.envelope._reference), field by field;
* reading a transaction from an eth-account style dict or a JSON-RPC transaction object (:func:`from_mapping`);
* the py-evm sedes of the PQC-only type (chainplug.node.chain.fork).

The fast decoders are hand-tuned specialisations of the same lists, pinned to them when their module
is imported and checked against the reference decoder by a differential test.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Literal, TypeVar

from ..constants import MAX_RAW_TX_BYTES
from ..errors import MalformedTransaction

AccessList = tuple[tuple[bytes, tuple[bytes, ...]], ...]
"""EIP-2930 access list: ((20-byte address, (32-byte storage key, ...)), ...)."""

Kind = Literal["uint", "to", "bytes", "access_list", "fixed"]

_ABSENT: Any = object()


@dataclass(frozen=True, slots=True)
class Wire:
    """How one field travels: its RLP kind, its width, and its value when a dict leaves it out."""

    kind: Kind
    """uint: canonical big-endian integer; to: empty or 20 bytes; bytes: any byte string;
    access_list: EIP-2930 list; fixed: exactly ``size`` bytes."""
    size: int = 0
    """uint: the largest encoding in bytes (8 for U64, 32 for U256); fixed: the exact length; bytes: the
    largest length (0: no cap)."""
    absent: Any = _ABSENT
    """The value when an eth-account style dict omits the field (required if not given)."""
    nonzero: bool = False
    """0 is refused (a chain id: 0 would mean no replay protection)."""
    in_payload: bool = True
    """False for a legacy transaction's chain id: signed through EIP-155's v, not a payload field."""


def wire(spec: Wire) -> Mapping[str, Wire]:
    """``field(metadata=wire(Wire(...)))``: declare a field's wire kind."""
    return MappingProxyType({"wire": spec})


U64 = wire(Wire("uint", 8))
U256 = wire(Wire("uint", 32))
CHAIN_ID = wire(Wire("uint", 32, nonzero=True))
EIP155_CHAIN_ID = wire(Wire("uint", 32, nonzero=True, in_payload=False))
"""A legacy transaction's chain id: signed inside v = 2 * chain_id + 35 + y_parity (EIP-155)."""
TO = wire(Wire("to", absent=b""))
VALUE = wire(Wire("uint", 32, absent=0))
DATA = wire(Wire("bytes", MAX_RAW_TX_BYTES, absent=b""))
ACCESS_LIST = wire(Wire("access_list", absent=()))
SENDER = wire(Wire("fixed", 20))


@dataclass(frozen=True, slots=True)
class WireField:
    """One declared field: attribute name, JSON-RPC / eth-account name, wire kind."""

    name: str
    json_name: str
    wire: Wire

    @property
    def label(self) -> str:
        """How errors name the field: both spellings where they differ (``chainId (chain_id)``), so a
        dict's author and a constructor's caller each find their own name."""
        return self.name if self.name == self.json_name else f"{self.json_name} ({self.name})"


_FIELDS: dict[type, tuple[WireField, ...]] = {}
_PAYLOAD: dict[type, tuple[WireField, ...]] = {}


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)


def wire_fields(cls: type) -> tuple[WireField, ...]:
    """Every declared field of transaction class ``cls``, in declaration order (payload or not)."""
    found = _FIELDS.get(cls)
    if found is None:
        found = _FIELDS[cls] = tuple(
            WireField(f.name, _camel(f.name), f.metadata["wire"])
            for f in dataclasses.fields(cls)
            if "wire" in f.metadata
        )
    return found


def payload_fields(cls: type) -> tuple[WireField, ...]:
    """The fields that are RLP payload items, in order."""
    found = _PAYLOAD.get(cls)
    if found is None:
        found = _PAYLOAD[cls] = tuple(f for f in wire_fields(cls) if f.wire.in_payload)
    return found


def field_names(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in wire_fields(cls))


def slot_setters(cls: type, names: tuple[str, ...]) -> tuple[Any, ...]:
    """The slot descriptors' ``__set__`` of ``names``: how the fast decoders fill a frozen instance
    whose values they have already checked (what the frozen ``__init__`` does, per field, minus its
    per-field ``object.__setattr__`` lookups)."""
    return tuple(getattr(cls, name).__set__ for name in names)


# --- encoding -------------------------------------------------------------------------------------


def payload_items(tx: object) -> list[Any]:
    """The RLP items of ``tx``'s payload fields (integers, byte strings, the access list as lists)."""
    items: list[Any] = []
    for f in payload_fields(type(tx)):
        value = getattr(tx, f.name)
        if f.wire.kind == "access_list":
            value = [[address, list(keys)] for address, keys in value]
        items.append(value)
    return items


# --- value checks (constructors) ------------------------------------------------------------------


def _refuse(message: str) -> MalformedTransaction:
    return MalformedTransaction(message)


def check_value(f: WireField, value: Any) -> None:
    """Raise :class:`MalformedTransaction` unless ``value`` is one the field can carry on the wire."""
    spec = f.wire
    if spec.kind == "uint":
        if type(value) is not int or value < 0 or value.bit_length() > 8 * spec.size:
            raise _refuse(f"transaction field {f.label} must be an integer in [0, 2**{8 * spec.size})")
        if spec.nonzero and value == 0:
            raise _refuse(f"transaction field {f.label} must not be 0 (no replay protection)")
    elif spec.kind == "to":
        if type(value) is not bytes or len(value) not in (0, 20):
            raise _refuse(f"transaction field {f.label} must be empty or 20 bytes")
    elif spec.kind == "bytes":
        if type(value) is not bytes:
            raise _refuse(f"transaction field {f.label} must be bytes")
        if spec.size and len(value) > spec.size:
            raise _refuse(f"transaction field {f.label} is larger than a transaction may be ({spec.size} bytes)")
    elif spec.kind == "fixed":
        if type(value) is not bytes or len(value) != spec.size:
            raise _refuse(f"transaction field {f.label} must be {spec.size} bytes")
    else:
        _check_access_list(value)


def _check_access_list(value: Any) -> None:
    if type(value) is not tuple:
        raise _refuse("access list must be a tuple of (address, (storage keys))")
    for entry in value:
        if type(entry) is not tuple or len(entry) != 2 or type(entry[1]) is not tuple:
            raise _refuse("access list entry must be (address, (storage keys))")
        address, keys = entry
        if type(address) is not bytes or len(address) != 20:
            raise _refuse("access list address must be 20 bytes")
        if any(type(key) is not bytes or len(key) != 32 for key in keys):
            raise _refuse("access list storage keys must be 32 bytes")


def check_values(tx: object) -> None:
    """Every declared field of ``tx`` (run by each transaction class's ``__post_init__``): a
    transaction that exists can be encoded, and its encoding decodes back to it."""
    for f in wire_fields(type(tx)):
        check_value(f, getattr(tx, f.name))


# --- dicts and JSON-RPC objects -------------------------------------------------------------------


def as_int(value: Any, name: str) -> int:
    """An integer from an int or a decimal / 0x-hex string (bool refused)."""
    if isinstance(value, bool):
        raise MalformedTransaction(f"transaction field {name} must be an integer")
    if isinstance(value, int):
        result = int(value)
    elif isinstance(value, str):
        try:
            result = int(value, 16) if value.lower().startswith("0x") else int(value)
        except ValueError as exc:
            raise MalformedTransaction(f"transaction field {name} is not a number") from exc
    else:
        raise MalformedTransaction(f"transaction field {name} must be an integer")
    if result < 0:
        raise MalformedTransaction(f"transaction field {name} must not be negative")
    return result


def as_bytes(value: Any, name: str) -> bytes:
    """Bytes from bytes (HexBytes included) or a hex string (0x optional)."""
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    if isinstance(value, str):
        text = value[2:] if value.lower().startswith("0x") else value
        try:
            return bytes.fromhex(text)
        except ValueError as exc:
            raise MalformedTransaction(f"transaction field {name} is not hex") from exc
    raise MalformedTransaction(f"transaction field {name} must be bytes or a hex string")


def as_access_list(value: Any) -> AccessList:
    """An access list from [{address, storageKeys}, ...] or [[address, keys], ...] (None: empty)."""
    if value is None:
        return ()
    if not isinstance(value, list | tuple):
        raise MalformedTransaction("accessList must be a list of {address, storageKeys} entries")
    entries = []
    for entry in value:
        if isinstance(entry, Mapping):
            address, keys = entry.get("address"), entry.get("storageKeys", ())
        elif isinstance(entry, list | tuple) and len(entry) == 2:
            address, keys = entry
        else:
            raise MalformedTransaction("accessList entry must be {address, storageKeys} or [address, keys]")
        if not isinstance(keys, list | tuple):
            raise MalformedTransaction("accessList storageKeys must be a list")
        address_bytes = as_bytes(address, "accessList address")
        key_bytes = tuple(as_bytes(k, "accessList storage key") for k in keys)
        if len(address_bytes) != 20 or any(len(k) != 32 for k in key_bytes):
            raise MalformedTransaction("accessList addresses must be 20 bytes and storage keys 32 bytes")
        entries.append((address_bytes, key_bytes))
    return tuple(entries)


def value_from_json(f: WireField, value: Any) -> Any:
    """The value of field ``f`` read from a dict / JSON-RPC value (not yet checked: :func:`check_value`)."""
    kind = f.wire.kind
    if kind == "uint":
        return as_int(value, f.json_name)
    if kind == "access_list":
        return as_access_list(value)
    if kind == "to" and value is None:
        return b""
    return as_bytes(value, f.json_name)


T = TypeVar("T")


def from_mapping(cls: type[T], values: Mapping[str, Any], **given: Any) -> T:
    """An instance of transaction class ``cls`` from an eth-account / JSON-RPC style mapping
    (camelCase names; ``data`` may be called ``input``); ``given`` supplies fields by attribute name
    (the sender of a PQC-only transaction, the chain id derived from a legacy ``v``). A missing
    required field, an unreadable value or one the wire cannot carry is a MalformedTransaction."""
    kwargs: dict[str, Any] = {}
    for f in wire_fields(cls):
        if f.name in given:
            kwargs[f.name] = given[f.name]
            continue
        key = f.json_name
        if key not in values and key == "data" and "input" in values:
            key = "input"
        if key in values:
            kwargs[f.name] = value_from_json(f, values[key])
        elif f.wire.absent is not _ABSENT:
            kwargs[f.name] = f.wire.absent
        else:
            raise MalformedTransaction(f"transaction needs {f.json_name}")
    return cls(**kwargs)
