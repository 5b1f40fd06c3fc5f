"""The strict transaction decoders of the hot path: EIP-1559, EIP-155 and the PQC-only type 0x50.

Verification decodes every transaction it sees, and its budget over the bare primitives is a few
microseconds (legacy verify <= 1.5 x one secp256k1 recovery; tests/bench). So each type has a fast
decoder here, over the items of the canonical RLP decoder (``_rlp``): one expression tests every
condition the reference decoder (chainplug.envelope._reference) enforces, and the result is built
without per-field helper calls or a second run of the constructors' checks (slot descriptors set
directly, on the same frozen classes). It never raises on its own: whatever it does not accept
outright goes to the reference decoder, which accepts it or says precisely why not. The items are
unpacked in the order of each class's declared fields, pinned below when this module is imported;
tests/envelope/test_decoder_differential.py holds the two decoders to the same answers.

The signing hash is taken from the raw bytes (the signed prefix is the list payload minus the
trailing signature items), never by encoding the fields again.

Two fast tiers per classical type, tried in order: one compiled regular expression that matches the
whole payload of a transaction whose fields are all short (data and access list up to 255 bytes:
nearly every transfer and call) and does the canonical-form, width and leading-zero checks in C
(the ``re`` engine), then the item walk of ``_rlp`` for everything else. The pattern accepts only
what the item walk accepts (each field's alternatives are exactly its canonical encodings), and
anything it does not match goes down a tier, so the answers never depend on the tier; the
differential test draws transactions on both sides of every limit of the first tier.
"""

from __future__ import annotations

import re
from typing import Any

from ..constants import (
    MAX_RAW_TX_BYTES,
    MLDSA87_PUBLIC_KEY_BYTES,
    MLDSA87_SIGNATURE_BYTES,
    SECP256K1_HALF_N,
    SECP256K1_N,
    TX_TYPE_EIP1559,
    TX_TYPE_PQC_ONLY,
)
from ..crypto.keccak import keccak256
from ..crypto.secp256k1 import RecoverableSignature, _checked_signature
from ..errors import ChainplugError, MalformedTransaction
from ..types import Hash32
from . import _reference
from ._rlp import _items, decode_list, list_header
from .fields import AccessList, field_names, slot_setters
from .pqc_tx import PqcOnlyTransaction, PqcTransaction
from .transaction import FeeMarketTransaction, LegacyTransaction, SignedTransaction


def _pin(cls: type, names: tuple[str, ...]) -> tuple[Any, ...]:
    """Slot setters for ``names``, which must be ``cls``'s declared fields in order: the fast tiers
    unpack RLP items positionally, so a change to a field list must change them too."""
    if field_names(cls) != names:
        raise RuntimeError(f"{cls.__name__}'s fields changed: update the fast decoder in {__name__}")
    return slot_setters(cls, names)


_FEE_MARKET = _pin(FeeMarketTransaction, (
    "chain_id", "nonce", "max_priority_fee_per_gas", "max_fee_per_gas", "gas", "to", "value", "data", "access_list",
))  # fmt: skip
_LEGACY = _pin(LegacyTransaction, ("chain_id", "nonce", "gas_price", "gas", "to", "value", "data"))
_PQC_ONLY = _pin(PqcOnlyTransaction, (
    "chain_id", "nonce", "max_priority_fee_per_gas", "max_fee_per_gas", "gas", "to", "value", "data", "access_list",
    "sender",
))  # fmt: skip
_SIGNED = slot_setters(SignedTransaction, ("unsigned", "signature", "signing_hash", "raw"))
_PQC_SIGNED = slot_setters(PqcTransaction, ("unsigned", "public_key", "signature", "signing_hash", "raw"))
_from_bytes = int.from_bytes
_object_new = object.__new__


def _build(cls: type, setters: tuple[Any, ...], *values: Any) -> Any:
    """An instance of the frozen dataclass ``cls`` holding ``values`` (already checked) in ``setters`` order."""
    instance: Any = _object_new(cls)
    for setter, value in zip(setters, values, strict=True):
        setter(instance, value)
    return instance


def _fee_market_signed(
    v0: int, v1: int, v2: int, v3: int, v4: int, v5: bytes, v6: int, v7: bytes, v8: AccessList,
    signature: RecoverableSignature, signing_hash: Hash32, raw: bytes,
) -> SignedTransaction:  # fmt: skip
    """The hot path's :func:`_build` of a FeeMarketTransaction and its SignedTransaction, unrolled."""
    unsigned: FeeMarketTransaction = _object_new(FeeMarketTransaction)
    s0, s1, s2, s3, s4, s5, s6, s7, s8 = _FEE_MARKET
    s0(unsigned, v0)
    s1(unsigned, v1)
    s2(unsigned, v2)
    s3(unsigned, v3)
    s4(unsigned, v4)
    s5(unsigned, v5)
    s6(unsigned, v6)
    s7(unsigned, v7)
    s8(unsigned, v8)
    signed: SignedTransaction = _object_new(SignedTransaction)
    set_unsigned, set_signature, set_hash, set_raw = _SIGNED
    set_unsigned(signed, unsigned)
    set_signature(signed, signature)
    set_hash(signed, signing_hash)
    set_raw(signed, raw)
    return signed


def _legacy_signed(
    v0: int, v1: int, v2: int, v3: int, v4: bytes, v5: int, v6: bytes,
    signature: RecoverableSignature, signing_hash: Hash32, raw: bytes,
) -> SignedTransaction:  # fmt: skip
    """The hot path's :func:`_build` of a LegacyTransaction and its SignedTransaction, unrolled."""
    unsigned: LegacyTransaction = _object_new(LegacyTransaction)
    s0, s1, s2, s3, s4, s5, s6 = _LEGACY
    s0(unsigned, v0)
    s1(unsigned, v1)
    s2(unsigned, v2)
    s3(unsigned, v3)
    s4(unsigned, v4)
    s5(unsigned, v5)
    s6(unsigned, v6)
    signed: SignedTransaction = _object_new(SignedTransaction)
    set_unsigned, set_signature, set_hash, set_raw = _SIGNED
    set_unsigned(signed, unsigned)
    set_signature(signed, signature)
    set_hash(signed, signing_hash)
    set_raw(signed, raw)
    return signed


def _fast_access_list(item: list[Any]) -> AccessList | None:
    """The access list of a well-formed item; None (never an exception) for anything else."""
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


def _item_length(item: bytes) -> int:
    """Encoded length of an RLP byte string of at most 55 bytes (all signature fields are)."""
    return 1 if len(item) == 1 and item[0] < 0x80 else 1 + len(item)


def _list_prefix(length: int) -> bytes:
    return bytes((0xC0 + length,)) if length <= 55 else list_header(length)


# --- first tier: one regular expression per classical type -----------------------------------------
#
# Each field's group matches exactly the canonical RLP encodings the field may have, header included:
# a uint is a single byte 0x01..0x7f, 0x80 (zero, where the field allows it), 0x81 then a byte >= 0x80,
# or 0x80+n then n bytes without a leading zero (n <= the field's width); a byte string of up to 255
# bytes in its short or one-byte-length form; a list likewise. Python checks what a pattern cannot
# (the outer list length, r < n, s <= n/2, v >= 37) and builds the result.


def _b(value: int) -> bytes:
    return re.escape(bytes((value,)))


def _uint(max_bytes: int, *, zero: bool = True) -> bytes:
    forms = [rb"[\x01-\x7f]", rb"\x81[\x80-\xff]", *([rb"\x80"] if zero else [])]
    forms += [_b(0x80 + n) + rb"[\x01-\xff].{%d}" % (n - 1) for n in range(2, max_bytes + 1)]
    return b"(" + b"|".join(forms) + b")"


def _string() -> bytes:
    forms = [rb"[\x00-\x7f]", rb"\x80", rb"\x81[\x80-\xff]", *(_b(0x80 + n) + rb".{%d}" % n for n in range(2, 56))]
    forms.append(rb"\xb8(?:" + b"|".join(_b(n) + rb".{%d}" % n for n in range(56, 256)) + b")")
    return b"(" + b"|".join(forms) + b")"


def _list() -> bytes:
    forms = [rb"\xc0", *(_b(0xC0 + n) + rb".{%d}" % n for n in range(1, 56))]
    forms.append(rb"\xf8(?:" + b"|".join(_b(n) + rb".{%d}" % n for n in range(56, 256)) + b")")
    return b"(" + b"|".join(forms) + b")"


_TO = rb"(\x80|\x94.{20})"
_patterns: list[Any] = []


def _compile() -> tuple[Any, Any]:
    """(EIP-1559 payload pattern, EIP-155 payload pattern), compiled on first use (~0.1 s)."""
    if not _patterns:
        u8, u256, nonzero = _uint(8), _uint(32), _uint(32, zero=False)
        fee_market = nonzero + u8 + u256 + u256 + u8 + _TO + u256 + _string() + _list() + rb"(\x80|\x01)"
        legacy = u8 + u256 + u8 + _TO + u256 + _string() + nonzero
        _patterns.extend((re.compile(fee_market + nonzero + nonzero, re.S).fullmatch,
                          re.compile(legacy + nonzero + nonzero, re.S).fullmatch))  # fmt: skip
    return _patterns[0], _patterns[1]


_MASK = (0, 0x7F, *((1 << (8 * (n - 1))) - 1 for n in range(2, 34)))
"""``int.from_bytes(item) & _MASK[len(item)]`` is the value of a canonical uint item, header included."""
_ARTIFACT_SHAPE = b"\xf8\x38\xf7\x94"
"""An access list of one entry with one storage key (the hybrid artifact), up to its address."""


def _payload_start(raw: bytes, at: int) -> int:
    """Start of the payload of the list at ``raw[at]`` if it is in long form and ends exactly at the
    end of ``raw`` (every first-tier transaction is over 55 bytes), else 0."""
    size = len(raw)
    if size - at < 58:  # a list header and at least 56 bytes of payload
        return 0
    first = raw[at]
    if first == 0xF8:
        return at + 2 if raw[at + 1] == size - at - 2 and raw[at + 1] > 55 else 0
    if first == 0xF9:
        return at + 3 if raw[at + 1] and (raw[at + 1] << 8 | raw[at + 2]) == size - at - 3 else 0
    return 0


def _data(item: bytes) -> bytes:
    first = item[0]
    return item if first < 0x80 else item[1:] if first < 0xB8 else item[2:]


def _access(item: bytes) -> AccessList | None:
    if item == b"\xc0":
        return ()
    if item[:4] == _ARTIFACT_SHAPE and item[24:26] == b"\xe1\xa0":  # 58 bytes, by the pattern
        return ((item[4:24], (item[26:],)),)
    try:
        return _fast_access_list(_items(item, 1 if item[0] <= 0xF7 else 2, len(item), 2))
    except ChainplugError:
        return None  # the next tier says why


def _fee_market_pattern(raw: bytes) -> SignedTransaction | None:
    start = _payload_start(raw, 1)
    match = _compile()[0](raw, start) if start else None
    if match is None:
        return None
    chain, nonce, tip, fee_cap, gas, to, value, data, access, y_item, r_item, s_item = match.groups()
    r, s = _from_bytes(r_item, "big") & _MASK[len(r_item)], _from_bytes(s_item, "big") & _MASK[len(s_item)]
    access_list = _access(access)
    if r >= SECP256K1_N or s > SECP256K1_HALF_N or access_list is None:
        return None
    content_end = match.start(10)  # the first nine fields are signed
    preimage = b"\x02" + _list_prefix(content_end - start) + raw[start:content_end]
    return _fee_market_signed(
        _from_bytes(chain, "big") & _MASK[len(chain)], _from_bytes(nonce, "big") & _MASK[len(nonce)],
        _from_bytes(tip, "big") & _MASK[len(tip)], _from_bytes(fee_cap, "big") & _MASK[len(fee_cap)],
        _from_bytes(gas, "big") & _MASK[len(gas)], to[1:], _from_bytes(value, "big") & _MASK[len(value)],
        _data(data), access_list, _checked_signature(r, s, 1 if y_item == b"\x01" else 0), keccak256(preimage), raw,
    )  # fmt: skip


def _legacy_pattern(raw: bytes) -> SignedTransaction | None:
    start = _payload_start(raw, 0)
    match = _compile()[1](raw, start) if start else None
    if match is None:
        return None
    nonce, gas_price, gas, to, value, data, v_item, r_item, s_item = match.groups()
    v = _from_bytes(v_item, "big") & _MASK[len(v_item)]
    r, s = _from_bytes(r_item, "big") & _MASK[len(r_item)], _from_bytes(s_item, "big") & _MASK[len(s_item)]
    if v < 37 or r >= SECP256K1_N or s > SECP256K1_HALF_N:
        return None
    chain_id, y_parity = (v - 35) // 2, (v - 35) % 2
    # Signed: the six payload fields, then chain_id, 0, 0 (EIP-155), re-using the raw bytes.
    content_end = match.start(7)
    chain = chain_id.to_bytes((chain_id.bit_length() + 7) // 8, "big")
    if len(chain) != 1 or chain[0] >= 0x80:
        chain = bytes((0x80 + len(chain),)) + chain
    preimage = _list_prefix(content_end - start + len(chain) + 2) + raw[start:content_end] + chain + b"\x80\x80"
    return _legacy_signed(
        chain_id, _from_bytes(nonce, "big") & _MASK[len(nonce)], _from_bytes(gas_price, "big") & _MASK[len(gas_price)],
        _from_bytes(gas, "big") & _MASK[len(gas)], to[1:], _from_bytes(value, "big") & _MASK[len(value)],
        _data(data), _checked_signature(r, s, y_parity), keccak256(preimage), raw,
    )  # fmt: skip


def decode_transaction(raw: bytes) -> SignedTransaction:
    """Strictly decode a raw signed EIP-1559 or EIP-155 transaction. Raises MalformedTransaction
    (UnsupportedEnvelope for another type or a pre-EIP-155 signature)."""
    if type(raw) is not bytes:
        raw = bytes(raw)
    if raw and len(raw) <= MAX_RAW_TX_BYTES:
        first = raw[0]
        try:
            if first == TX_TYPE_EIP1559:
                return _fee_market_pattern(raw) or _fee_market(raw)
            if first >= 0xC0:
                return _legacy_pattern(raw) or _legacy(raw)
        except ChainplugError:
            raise
        except (ValueError, TypeError, IndexError) as exc:  # defensive: no crash escapes the boundary
            raise MalformedTransaction("transaction fields are malformed") from exc
    return _reference.decode_transaction(raw)  # empty, oversized or another type: its precise error


def _fee_market(raw: bytes) -> SignedTransaction:
    items, start, stop = decode_list(raw, 1)
    if len(items) == 12:
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
                # trailing signature fields (y_parity is one byte).
                content_end = stop - 1 - _item_length(r_item) - _item_length(s_item)
                preimage = b"\x02" + _list_prefix(content_end - start) + raw[start:content_end]
                return _fee_market_signed(
                    chain_id, _from_bytes(nonce, "big"), _from_bytes(tip, "big"), _from_bytes(fee_cap, "big"),
                    _from_bytes(gas, "big"), to, _from_bytes(value, "big"), data, access_list,
                    _checked_signature(r, s, 1 if y_item else 0), keccak256(preimage), raw,
                )  # fmt: skip
    return _reference.fee_market(raw, items)


def _legacy(raw: bytes) -> SignedTransaction:
    items, start, stop = decode_list(raw)
    if len(items) == 9:
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
                content_end = stop - _item_length(r_item) - _item_length(s_item) - _item_length(v_item)
                chain = chain_id.to_bytes((chain_id.bit_length() + 7) // 8, "big")
                if len(chain) != 1 or chain[0] >= 0x80:
                    chain = bytes((0x80 + len(chain),)) + chain
                content_length = content_end - start + len(chain) + 2
                preimage = _list_prefix(content_length) + raw[start:content_end] + chain + b"\x80\x80"
                return _legacy_signed(
                    chain_id, _from_bytes(nonce, "big"), _from_bytes(gas_price, "big"), _from_bytes(gas, "big"), to,
                    _from_bytes(value, "big"), data, _checked_signature(r, s, y_parity), keccak256(preimage), raw,
                )  # fmt: skip
    return _reference.legacy(raw, items)


# The PQC-only type's two trailing items have fixed lengths over 255 bytes: a 3-byte string header each.
_PQC_TAIL = 3 + MLDSA87_PUBLIC_KEY_BYTES + 3 + MLDSA87_SIGNATURE_BYTES


def decode_pqc_transaction(raw: bytes) -> PqcTransaction:
    """Strictly decode a raw PQC-only transaction. Raises :class:`MalformedTransaction` only."""
    if type(raw) is not bytes:
        raw = bytes(raw)
    if raw and len(raw) <= MAX_RAW_TX_BYTES and raw[0] == TX_TYPE_PQC_ONLY:
        try:
            return _pqc_only(raw)
        except ChainplugError:
            raise
        except (ValueError, TypeError, IndexError) as exc:  # defensive: no crash escapes the boundary
            raise MalformedTransaction("PQC-only transaction fields are malformed") from exc
    return _reference.decode_pqc_transaction(raw)  # empty, oversized or another type: its precise error


def _pqc_only(raw: bytes) -> PqcTransaction:
    items, start, stop = decode_list(raw, 1)
    if len(items) == 12:
        chain, nonce, tip, fee_cap, gas, to, value, data, access, sender, public_key, signature = items
        if (
            type(chain) is bytes and type(nonce) is bytes and type(tip) is bytes and type(fee_cap) is bytes
            and type(gas) is bytes and type(to) is bytes and type(value) is bytes and type(data) is bytes
            and type(access) is list and type(sender) is bytes and type(public_key) is bytes
            and type(signature) is bytes
            and len(chain) <= 32 and len(nonce) <= 8 and len(tip) <= 32 and len(fee_cap) <= 32
            and len(gas) <= 8 and len(value) <= 32 and (len(to) == 20 or not to) and len(sender) == 20
            and len(public_key) == MLDSA87_PUBLIC_KEY_BYTES and len(signature) == MLDSA87_SIGNATURE_BYTES
            and chain[:1] != b"\x00" and nonce[:1] != b"\x00" and tip[:1] != b"\x00" and fee_cap[:1] != b"\x00"
            and gas[:1] != b"\x00" and value[:1] != b"\x00"
        ):  # fmt: skip
            chain_id = _from_bytes(chain, "big")
            access_list = _fast_access_list(access) if access else ()
            if chain_id and access_list is not None:
                content_end = stop - _PQC_TAIL  # the first ten fields are signed
                preimage = b"\x50" + _list_prefix(content_end - start) + raw[start:content_end]
                unsigned = _build(
                    PqcOnlyTransaction, _PQC_ONLY, chain_id, _from_bytes(nonce, "big"), _from_bytes(tip, "big"),
                    _from_bytes(fee_cap, "big"), _from_bytes(gas, "big"), to, _from_bytes(value, "big"), data,
                    access_list, sender,
                )  # fmt: skip
                return _build(  # type: ignore[no-any-return]
                    PqcTransaction, _PQC_SIGNED, unsigned, public_key, signature, keccak256(preimage), raw
                )
    return _reference.pqc_only(raw, items)
