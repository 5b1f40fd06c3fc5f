"""RLP for the transaction hot paths: a strict, allocation-light decoder and a plain encoder.

# NOTE: pyrlp (used for encoding and as the reference) spends ~12 µs decoding a typical EIP-1559
# transaction; verification's floor is a ~46 µs secp256k1 recovery, so that alone breaks the
# "legacy verify <= 1.5 x recover" budget. This decoder applies the same canonical-form rules
# (Yellow Paper Appendix B; pyrlp's strict mode) and is checked against pyrlp by a differential
# property test (tests/envelope/test_rlp_differential.py).
"""

from __future__ import annotations

from typing import Any

import rlp

from ..errors import MalformedTransaction, Reason

RlpItem = bytes | list["RlpItem"]

_MAX_DEPTH = 4  # transactions nest at most 3 deep (tx -> access list -> entry -> storage keys)


def _error(message: str) -> MalformedTransaction:
    return MalformedTransaction(f"transaction is not canonical RLP: {message}", reason=Reason.NON_CANONICAL)


def _header(buf: bytes, pos: int, end: int) -> tuple[bool, int, int]:
    """Parse the prefix at ``pos``: (is_list, payload start, payload end). Enforces canonical form."""
    if pos >= end:
        raise _error("unexpected end of input")
    b0 = buf[pos]
    if b0 < 0x80:
        return False, pos, pos + 1
    if b0 <= 0xB7:
        length = b0 - 0x80
        start = pos + 1
        if length == 1 and start < end and buf[start] < 0x80:
            raise _error("single byte below 0x80 must be encoded as itself")
        is_list = False
    elif b0 <= 0xBF or b0 >= 0xF8:
        size = (b0 - 0xB7) if b0 <= 0xBF else (b0 - 0xF7)
        start = pos + 1 + size
        if start > end:
            raise _error("length of length runs past the input")
        if buf[pos + 1] == 0:
            raise _error("length has a leading zero")
        length = int.from_bytes(buf[pos + 1 : start], "big")
        if length <= 55:
            raise _error("long form used for a short payload")
        is_list = b0 >= 0xF8
    else:
        length = b0 - 0xC0
        start = pos + 1
        is_list = True
    stop = start + length
    if stop > end:
        raise _error("payload runs past the input")
    return is_list, start, stop


def _items(buf: bytes, start: int, stop: int, depth: int) -> list[RlpItem]:
    # The short forms (every field of a typical transaction) are decoded inline, with exactly the
    # checks, in the same order, that _header applies to them; long forms go through _header.
    if depth > _MAX_DEPTH:
        raise _error("nesting too deep")
    out: list[RlpItem] = []
    append = out.append
    pos = start
    while pos < stop:
        b0 = buf[pos]
        if b0 < 0x80:  # a single byte below 0x80 is its own encoding
            append(buf[pos : pos + 1])
            pos += 1
        elif b0 <= 0xB7:  # short string (running past ``stop`` is caught after the loop)
            begin = pos + 1
            pos = begin + b0 - 0x80
            if b0 == 0x81 and begin < stop and buf[begin] < 0x80:
                raise _error("single byte below 0x80 must be encoded as itself")
            append(buf[begin:pos])
        else:
            if 0xC0 <= b0 <= 0xF7:  # short list
                is_list, begin, end = True, pos + 1, pos + 1 + b0 - 0xC0
                if end > stop:
                    raise _error("payload runs past the input")
            else:
                is_list, begin, end = _header(buf, pos, stop)
            append(_items(buf, begin, end, depth + 1) if is_list else buf[begin:end])
            pos = end
    if pos > stop:  # only a short string ends past ``stop``, and then it was the last item read
        raise _error("payload runs past the input")
    return out


def decode_list(buf: bytes, offset: int = 0) -> tuple[list[RlpItem], int, int]:
    """Decode ``buf[offset:]`` as exactly one RLP list: (items, payload start, payload end).

    Positions are indexes into ``buf`` (so a typed transaction decodes in place at offset 1).
    """
    size = len(buf)
    if offset + 1 < size and buf[offset] == 0xF8 and buf[offset + 1] > 55:  # a 56..255-byte list
        start = offset + 2
        stop = start + buf[offset + 1]
        if stop > size:
            raise _error("payload runs past the input")
    else:
        is_list, start, stop = _header(buf, offset, size)
        if not is_list:
            raise _error("expected a list")
    if stop != size:
        raise _error("trailing bytes after the list")
    return _items(buf, start, stop, 1), start, stop


# --- encoding -------------------------------------------------------------------------------------


def list_header(length: int) -> bytes:
    """The RLP prefix of a list whose payload is ``length`` bytes."""
    if length <= 55:
        return bytes((0xC0 + length,))
    size = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes((0xF7 + len(size),)) + size


def encode_payload(items: list[Any]) -> bytes:
    """The payload of ``rlp.encode(items)``: the items' encodings, without the list header (signing
    encodes a transaction's fields once and wraps them twice: for the signing hash, and signed)."""
    parts = _encode_parts(items)
    if parts is None:
        encoded: bytes = rlp.encode(items)
        _, start, _ = _header(encoded, 0, len(encoded))
        return encoded[start:]
    return parts


def encode(items: list[Any]) -> bytes:
    """``rlp.encode(items)``: the common case inline (pyrlp's sedes inference costs ~30 µs per
    transaction, on every signing and raw-encoding), anything else through pyrlp itself."""
    encoded = _encode_plain(items)
    if encoded is None:
        encoded = rlp.encode(items)
    return encoded


def _encode_plain(items: list[Any]) -> bytes | None:
    """RLP of a list whose elements are exactly ``bytes``, non-negative exactly-``int`` values or
    such lists, byte for byte as pyrlp encodes it (integers big-endian without leading zeros, 0 as
    the empty string). None for anything else, which is left to pyrlp (and its errors)."""
    payload = _encode_parts(items)
    return None if payload is None else list_header(len(payload)) + payload


def _encode_parts(items: list[Any]) -> bytes | None:
    """:func:`_encode_plain` without the list header."""
    parts: list[bytes] = []
    for item in items:
        kind = type(item)
        if kind is list:
            nested = _encode_plain(item)
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
    return b"".join(parts)
