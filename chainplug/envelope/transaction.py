"""The classical part: standard signed Ethereum transactions (EIP-1559 type 2 and legacy EIP-155).

Encoding here is byte-for-byte what stock clients produce, so eth-account, py-evm and real nodes
accept our raw transactions unchanged (tests check this with their code, not ours). Decoding is
strict: canonical RLP only (``_rlp``, checked against pyrlp's strict decoder), canonical integers,
exact field sizes, a size cap, no trailing bytes, and a low-s signature with an EIP-155 chain id.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import rlp

from ..constants import MAX_RAW_TX_BYTES, SECP256K1_HALF_N, SECP256K1_N, TX_TYPE_EIP1559
from ..crypto.keccak import keccak256
from ..crypto.secp256k1 import RecoverableSignature, _checked_signature
from ..errors import ChainplugError, MalformedTransaction, Reason, UnsupportedEnvelope
from ..types import Hash32
from ._rlp import decode_list

AccessList = tuple[tuple[bytes, tuple[bytes, ...]], ...]
"""EIP-2930 access list: ((20-byte address, (32-byte storage key, ...)), ...)."""

TX_TYPE_LEGACY = 0
"""Our tag for a legacy (untyped, EIP-155) transaction; it has no type byte on the wire."""


@dataclass(frozen=True, slots=True)
class UnsignedTransaction:
    """The fields a classical key signs. ``gas_price`` is used for legacy, the fee caps for type 2."""

    tx_type: int
    """TX_TYPE_EIP1559 (2) or TX_TYPE_LEGACY (0)."""
    chain_id: int
    """EIP-155 chain id (> 0)."""
    nonce: int
    gas: int
    """Gas limit."""
    to: bytes
    """20-byte recipient, or empty for contract creation."""
    value: int
    """Wei transferred."""
    data: bytes
    """Calldata or init code."""
    max_priority_fee_per_gas: int = 0
    max_fee_per_gas: int = 0
    gas_price: int = 0
    access_list: AccessList = ()

    def _payload_items(self) -> list[Any]:
        access = [[address, list(keys)] for address, keys in self.access_list]
        if self.tx_type == TX_TYPE_EIP1559:
            return [
                self.chain_id,
                self.nonce,
                self.max_priority_fee_per_gas,
                self.max_fee_per_gas,
                self.gas,
                self.to,
                self.value,
                self.data,
                access,
            ]
        return [self.nonce, self.gas_price, self.gas, self.to, self.value, self.data]

    def signing_hash(self) -> Hash32:
        """The digest the classical key signs (EIP-1559 §signature, EIP-155)."""
        if self.tx_type == TX_TYPE_EIP1559:
            return keccak256(bytes((TX_TYPE_EIP1559,)) + _rlp_encode(self._payload_items()))
        return keccak256(_rlp_encode([*self._payload_items(), self.chain_id, 0, 0]))

    def encode_signed(self, signature: RecoverableSignature) -> bytes:
        """The raw signed transaction, as ``eth_sendRawTransaction`` takes it."""
        if self.tx_type == TX_TYPE_EIP1559:
            items = [*self._payload_items(), signature.y_parity, signature.r, signature.s]
            return bytes((TX_TYPE_EIP1559,)) + _rlp_encode(items)
        v = self.chain_id * 2 + 35 + signature.y_parity
        return _rlp_encode([*self._payload_items(), v, signature.r, signature.s])


def _rlp_encode(items: list[Any]) -> bytes:
    """``rlp.encode(items)``: the common case inline (pyrlp's sedes inference costs ~30 µs per
    transaction, on every signing and raw-encoding), anything else through pyrlp itself."""
    encoded = _rlp_encode_plain(items)
    if encoded is None:
        encoded = rlp.encode(items)
    return encoded


def _rlp_encode_plain(items: list[Any]) -> bytes | None:
    """RLP of a list whose elements are exactly ``bytes``, non-negative exactly-``int`` values or
    such lists, byte for byte as pyrlp encodes it (integers big-endian without leading zeros, 0 as
    the empty string). None for anything else, which is left to pyrlp (and its errors)."""
    parts: list[bytes] = []
    for item in items:
        kind = type(item)
        if kind is list:
            nested = _rlp_encode_plain(item)
            if nested is None:
                return None
            parts.append(nested)
            continue
        if kind is int:
            if item < 0:
                return None
            item = item.to_bytes((item.bit_length() + 7) // 8, "big")
        elif kind is not bytes:
            return None
        length = len(item)
        if length == 1 and item[0] < 0x80:
            parts.append(item)
        elif length <= 55:
            parts.append(bytes((0x80 + length,)) + item)
        else:
            size = length.to_bytes((length.bit_length() + 7) // 8, "big")
            parts.append(bytes((0xB7 + len(size),)) + size + item)
    payload = b"".join(parts)
    return _list_header(len(payload)) + payload


@dataclass(frozen=True, slots=True)
class SignedTransaction:
    """A decoded signed classical transaction. The sender is *not* recovered here (verify does it)."""

    unsigned: UnsignedTransaction
    signature: RecoverableSignature
    signing_hash: Hash32
    """Digest the classical key signed (computed from the raw bytes, no re-encoding)."""
    raw: bytes
    """The exact raw transaction bytes."""

    @property
    def tx_hash(self) -> Hash32:
        """Transaction hash as nodes report it: keccak256 of the raw bytes."""
        return keccak256(self.raw)

    @property
    def chain_id(self) -> int:
        return self.unsigned.chain_id


# --- strict decoding ------------------------------------------------------------------------------


def _malformed(message: str, reason: Reason = Reason.MALFORMED) -> MalformedTransaction:
    return MalformedTransaction(message, reason=reason)


def _int(item: object, name: str, max_bytes: int = 32) -> int:
    if not isinstance(item, bytes):
        raise _malformed(f"transaction field {name} must be a byte string")
    if len(item) > max_bytes:
        raise _malformed(f"transaction field {name} is longer than {max_bytes} bytes")
    if item[:1] == b"\x00":
        raise _malformed(f"transaction field {name} has a leading zero", Reason.NON_CANONICAL)
    return int.from_bytes(item, "big")


def _bytes(item: object, name: str) -> bytes:
    if not isinstance(item, bytes):
        raise _malformed(f"transaction field {name} must be a byte string")
    return item


def _to(item: object) -> bytes:
    to = _bytes(item, "to")
    if len(to) not in (0, 20):
        raise _malformed("transaction field to must be empty or 20 bytes")
    return to


def _access_list(item: object) -> AccessList:
    if not isinstance(item, list):
        raise _malformed("access list must be a list")
    entries = []
    for entry in item:
        if not isinstance(entry, list) or len(entry) != 2 or not isinstance(entry[1], list):
            raise _malformed("access list entry must be [address, [storage keys]]")
        address = _bytes(entry[0], "access list address")
        keys = tuple(_bytes(key, "access list storage key") for key in entry[1])
        if len(address) != 20 or any(len(key) != 32 for key in keys):
            raise _malformed("access list address must be 20 bytes and storage keys 32 bytes")
        entries.append((address, keys))
    return tuple(entries)


def _rlp_item_length(item: bytes) -> int:
    """Encoded length of an RLP byte string of at most 55 bytes (all signature fields are)."""
    if len(item) == 1 and item[0] < 0x80:
        return 1
    return 1 + len(item)


def _list_header(length: int) -> bytes:
    if length <= 55:
        return bytes((0xC0 + length,))
    size = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes((0xF7 + len(size),)) + size


def decode_transaction(raw: bytes) -> SignedTransaction:
    """Strictly decode a raw signed EIP-1559 or EIP-155 transaction. Raises MalformedTransaction."""
    if not raw:
        raise _malformed("empty transaction", Reason.TRUNCATED)
    if len(raw) > MAX_RAW_TX_BYTES:
        raise _malformed(f"transaction larger than {MAX_RAW_TX_BYTES} bytes", Reason.OVERSIZED)
    first = raw[0]
    try:
        if first == TX_TYPE_EIP1559:
            return _decode_eip1559(raw)
        if first >= 0xC0:
            return _decode_legacy(raw)
    except ChainplugError:
        raise
    except (ValueError, TypeError, IndexError) as exc:  # defensive: no crash escapes the boundary
        raise _malformed("transaction fields are malformed") from exc
    raise UnsupportedEnvelope(
        f"transaction type 0x{first:02x} is not supported (EIP-1559 type 2 and legacy EIP-155 are)",
        reason=Reason.UNSUPPORTED_TX_TYPE,
    )


def _signature(y_parity: int, r_item: object, s_item: object) -> RecoverableSignature:
    r, s = _int(r_item, "r"), _int(s_item, "s")
    if not (0 < r < SECP256K1_N and 0 < s < SECP256K1_N):
        raise _malformed("classical signature r or s out of range")
    if s > SECP256K1_HALF_N:  # EIP-2: a high-s signature is a malleated copy, never canonical
        raise _malformed("classical signature has high s (EIP-2)", Reason.HIGH_S)
    return RecoverableSignature(r, s, y_parity)


# --- the hot path ---------------------------------------------------------------------------------
#
# Verification decodes every transaction it sees (issue #2: the verifiers' budget over the bare
# primitives is a few microseconds). Each transaction type is therefore decoded in two tiers over
# the same strictly decoded RLP items:
#
# * the fast tier tests every condition the checked tier enforces (one expression for the scalar
#   fields, then the value ranges and the access list) and builds the result without per-field
#   helper calls or a second run of the constructors' checks. It never raises: when any condition
#   fails, it hands the items to the checked tier;
# * the checked tier (``_checked_*``) is the reference: field by field, in the documented order,
#   each failure with its precise message and reason. Which error an invalid transaction gets thus
#   never depends on the fast tier, and an input the fast tier declines is still decoded correctly.
#
# The objects built are the same frozen dataclass instances the constructors make (slot descriptors
# are set directly instead of through the frozen ``__init__``'s per-field ``object.__setattr__``).

_from_bytes = int.from_bytes
_object_new = object.__new__
_UNSIGNED_SETTERS = tuple(
    UnsignedTransaction.__dict__[name].__set__
    for name in ("tx_type", "chain_id", "nonce", "gas", "to", "value", "data",
                 "max_priority_fee_per_gas", "max_fee_per_gas", "gas_price", "access_list")
)  # fmt: skip
_SIGNED_SETTERS = tuple(
    SignedTransaction.__dict__[name].__set__ for name in ("unsigned", "signature", "signing_hash", "raw")
)


def _new_signed(
    v0: int, v1: int, v2: int, v3: int, v4: bytes, v5: int, v6: bytes, v7: int, v8: int, v9: int,
    v10: AccessList, signature: RecoverableSignature, signing_hash: Hash32, raw: bytes,
) -> SignedTransaction:  # fmt: skip
    """The decoded transaction from already validated values (the unsigned fields in
    ``_UNSIGNED_SETTERS`` order, then the signature, signing hash and raw bytes)."""
    unsigned: UnsignedTransaction = _object_new(UnsignedTransaction)
    s0, s1, s2, s3, s4, s5, s6, s7, s8, s9, s10 = _UNSIGNED_SETTERS
    s0(unsigned, v0)
    s1(unsigned, v1)
    s2(unsigned, v2)
    s3(unsigned, v3)
    s4(unsigned, v4)
    s5(unsigned, v5)
    s6(unsigned, v6)
    s7(unsigned, v7)
    s8(unsigned, v8)
    s9(unsigned, v9)
    s10(unsigned, v10)
    signed: SignedTransaction = _object_new(SignedTransaction)
    set_unsigned, set_signature, set_hash, set_raw = _SIGNED_SETTERS
    set_unsigned(signed, unsigned)
    set_signature(signed, signature)
    set_hash(signed, signing_hash)
    set_raw(signed, raw)
    return signed


def _fast_access_list(item: list[Any]) -> AccessList | None:
    """:func:`_access_list` for a well-formed list; None (never an exception) for anything else."""
    entries = []
    for entry in item:
        if type(entry) is not list or len(entry) != 2:
            return None
        address, keys = entry
        if type(address) is not bytes or len(address) != 20 or type(keys) is not list:
            return None
        for key in keys:
            if type(key) is not bytes or len(key) != 32:
                return None
        entries.append((address, tuple(keys)))
    return tuple(entries)


def _signature_tail(r_item: bytes, s_item: bytes) -> int:
    """Encoded length of the r and s fields (callers add y_parity's or v's)."""
    r_len = 1 if len(r_item) == 1 and r_item[0] < 0x80 else 1 + len(r_item)
    return r_len + (1 if len(s_item) == 1 and s_item[0] < 0x80 else 1 + len(s_item))


def _list_prefix(length: int) -> bytes:
    return bytes((0xC0 + length,)) if length <= 55 else _list_header(length)


def _decode_eip1559(raw: bytes) -> SignedTransaction:
    items, start, stop = decode_list(raw, 1)
    if len(items) == 12 and type(raw) is bytes:
        chain, nonce, tip, fee_cap, gas, to, value, data, access, y_item, r_item, s_item = items
        if (
            type(chain) is bytes and type(nonce) is bytes and type(tip) is bytes and type(fee_cap) is bytes
            and type(gas) is bytes and type(to) is bytes and type(value) is bytes and type(data) is bytes
            and type(r_item) is bytes and type(s_item) is bytes and type(access) is list
            and (y_item == b"" or y_item == b"\x01")
            and len(chain) <= 32 and len(nonce) <= 8 and len(tip) <= 32 and len(fee_cap) <= 32
            and len(gas) <= 8 and len(value) <= 32 and len(r_item) <= 32 and len(s_item) <= 32
            and (len(to) == 20 or not to)
            and chain[:1] != b"\x00" and nonce[:1] != b"\x00" and tip[:1] != b"\x00" and fee_cap[:1] != b"\x00"
            and gas[:1] != b"\x00" and value[:1] != b"\x00" and r_item[:1] != b"\x00" and s_item[:1] != b"\x00"
        ):  # fmt: skip
            chain_id, r, s = _from_bytes(chain, "big"), _from_bytes(r_item, "big"), _from_bytes(s_item, "big")
            access_list = _fast_access_list(access) if access else ()
            if chain_id and 0 < r < SECP256K1_N and 0 < s <= SECP256K1_HALF_N and access_list is not None:
                # The signed payload is the first nine fields: the list payload minus the three
                # trailing signature fields. Slicing the raw bytes avoids re-encoding.
                content_end = stop - 1 - _signature_tail(r_item, s_item)  # y_parity: one byte
                preimage = b"\x02" + _list_prefix(content_end - start) + raw[start:content_end]
                return _new_signed(
                    TX_TYPE_EIP1559, chain_id, _from_bytes(nonce, "big"), _from_bytes(gas, "big"), to,
                    _from_bytes(value, "big"), data, _from_bytes(tip, "big"), _from_bytes(fee_cap, "big"), 0,
                    access_list, _checked_signature(r, s, 1 if y_item else 0), keccak256(preimage), raw,
                )  # fmt: skip
    return _checked_eip1559(raw, items, raw[start:stop])


def _checked_eip1559(raw: bytes, items: list[Any], payload: bytes) -> SignedTransaction:
    if len(items) != 12:
        raise _malformed("EIP-1559 transaction must have 12 fields")
    y_parity = _int(items[9], "y_parity", 1)
    if y_parity > 1:
        raise _malformed("EIP-1559 y_parity must be 0 or 1")
    unsigned = UnsignedTransaction(
        tx_type=TX_TYPE_EIP1559,
        chain_id=_int(items[0], "chain_id"),
        nonce=_int(items[1], "nonce", 8),
        max_priority_fee_per_gas=_int(items[2], "max_priority_fee_per_gas"),
        max_fee_per_gas=_int(items[3], "max_fee_per_gas"),
        gas=_int(items[4], "gas", 8),
        to=_to(items[5]),
        value=_int(items[6], "value"),
        data=_bytes(items[7], "data"),
        access_list=_access_list(items[8]),
    )
    signature = _signature(y_parity, items[10], items[11])
    # The signed payload is the first nine fields: the list payload minus the three trailing
    # signature fields. Slicing the original bytes avoids re-encoding (hot path, see bench).
    tail = sum(_rlp_item_length(item) for item in items[9:12])
    content = payload[: len(payload) - tail]
    signing_hash = keccak256(bytes((TX_TYPE_EIP1559,)) + _list_header(len(content)) + content)
    if unsigned.chain_id == 0:
        raise _malformed("chain id 0 is not allowed (no replay protection)")
    return SignedTransaction(unsigned, signature, signing_hash, bytes(raw))


def _decode_legacy(raw: bytes) -> SignedTransaction:
    items, start, stop = decode_list(raw)
    if len(items) == 9 and type(raw) is bytes:
        nonce, gas_price, gas, to, value, data, v_item, r_item, s_item = items
        if (
            type(nonce) is bytes and type(gas_price) is bytes and type(gas) is bytes and type(to) is bytes
            and type(value) is bytes and type(data) is bytes and type(v_item) is bytes
            and type(r_item) is bytes and type(s_item) is bytes
            and len(nonce) <= 8 and len(gas_price) <= 32 and len(gas) <= 8 and len(value) <= 32
            and len(v_item) <= 32 and len(r_item) <= 32 and len(s_item) <= 32 and (len(to) == 20 or not to)
            and nonce[:1] != b"\x00" and gas_price[:1] != b"\x00" and gas[:1] != b"\x00"
            and value[:1] != b"\x00" and v_item[:1] != b"\x00" and r_item[:1] != b"\x00" and s_item[:1] != b"\x00"
        ):  # fmt: skip
            v, r, s = _from_bytes(v_item, "big"), _from_bytes(r_item, "big"), _from_bytes(s_item, "big")
            if v >= 37 and 0 < r < SECP256K1_N and 0 < s <= SECP256K1_HALF_N:
                chain_id, y_parity = (v - 35) // 2, (v - 35) % 2
                # Signed: the six payload fields, then chain_id, 0, 0 (EIP-155), re-using the raw bytes.
                content_end = stop - _signature_tail(r_item, s_item) - _rlp_item_length(v_item)
                chain = chain_id.to_bytes((chain_id.bit_length() + 7) // 8, "big")
                if len(chain) != 1 or chain[0] >= 0x80:
                    chain = bytes((0x80 + len(chain),)) + chain
                content_length = content_end - start + len(chain) + 2
                preimage = _list_prefix(content_length) + raw[start:content_end] + chain + b"\x80\x80"
                return _new_signed(
                    TX_TYPE_LEGACY, chain_id, _from_bytes(nonce, "big"), _from_bytes(gas, "big"), to,
                    _from_bytes(value, "big"), data, 0, 0, _from_bytes(gas_price, "big"), (),
                    _checked_signature(r, s, y_parity), keccak256(preimage), raw,
                )  # fmt: skip
    return _checked_legacy(raw, items, raw[start:stop])


def _checked_legacy(raw: bytes, items: list[Any], payload: bytes) -> SignedTransaction:
    if len(items) != 9:
        raise _malformed("legacy transaction must have 9 fields")
    v = _int(items[6], "v")
    if v in (27, 28):
        raise UnsupportedEnvelope(
            "pre-EIP-155 transaction (no chain id) is not accepted: it replays on every chain",
            reason=Reason.UNSUPPORTED_TX_TYPE,
        )
    if v < 37:
        raise _malformed("legacy transaction v is not an EIP-155 value")
    chain_id, y_parity = (v - 35) // 2, (v - 35) % 2
    unsigned = UnsignedTransaction(
        tx_type=TX_TYPE_LEGACY,
        chain_id=chain_id,
        nonce=_int(items[0], "nonce", 8),
        gas_price=_int(items[1], "gas_price"),
        gas=_int(items[2], "gas", 8),
        to=_to(items[3]),
        value=_int(items[4], "value"),
        data=_bytes(items[5], "data"),
    )
    signature = _signature(y_parity, items[7], items[8])
    tail = sum(_rlp_item_length(item) for item in items[6:9])
    content = payload[: len(payload) - tail] + rlp.encode(chain_id) + b"\x80\x80"
    signing_hash = keccak256(_list_header(len(content)) + content)
    return SignedTransaction(unsigned, signature, signing_hash, bytes(raw))
