"""Hand-built attack material shared by the attack tests and tools/gen_envelope_vectors.py.

Written out from the standards instead of imported from chainplug, so a malformed transaction is
built by code independent of the decoder that must refuse it: textbook secp256k1 ECDSA with a
chosen nonce (a second valid signature over the same digest), and an RLP re-encoder that can
splice in non-canonical encodings verbatim.
"""

from __future__ import annotations

import rlp

# secp256k1 (SEC 2 §2.4.1), written out here rather than imported: textbook ECDSA with a chosen nonce.
_P = 2**256 - 2**32 - 977
_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
_G = (
    0x79BE667EF9DCBBAC55A06295CE870B07029BFCDB2DCE28D959F2815B16F81798,
    0x483ADA7726A3C4655DA4FBFC0E1108A8FD17B448A68554199C47D08FFB10D4B8,
)


def _add(a: tuple[int, int] | None, b: tuple[int, int] | None) -> tuple[int, int] | None:
    if a is None:
        return b
    if b is None:
        return a
    if a[0] == b[0] and (a[1] + b[1]) % _P == 0:
        return None
    numerator, denominator = (3 * a[0] * a[0], 2 * a[1]) if a == b else (b[1] - a[1], b[0] - a[0])
    slope = numerator * pow(denominator, -1, _P) % _P
    x = (slope * slope - a[0] - b[0]) % _P
    return x, (slope * (a[0] - x) - a[1]) % _P


def _mul(k: int, point: tuple[int, int]) -> tuple[int, int] | None:
    result: tuple[int, int] | None = None
    addend: tuple[int, int] | None = point
    while k:
        if k & 1:
            result = _add(result, addend)
        addend = _add(addend, addend)
        k >>= 1
    return result


def ecdsa_sign_with_nonce(secret: bytes, digest: bytes, k: int) -> tuple[int, int, int]:
    """(r, low s, y_parity) for nonce ``k``: a second valid signature over the same digest."""
    point = _mul(k, _G)
    assert point is not None
    r = point[0] % _N
    s = pow(k, -1, _N) * (int.from_bytes(digest, "big") + r * int.from_bytes(secret, "big")) % _N
    y_parity = point[1] & 1
    if s > _N // 2:
        s, y_parity = _N - s, y_parity ^ 1
    return r, s, y_parity


def _int_bytes(value: int) -> bytes:
    return value.to_bytes((value.bit_length() + 7) // 8, "big")


def _rlp_list(payload: bytes) -> bytes:
    if len(payload) <= 55:
        return bytes([0xC0 + len(payload)]) + payload
    size = _int_bytes(len(payload))
    return bytes([0xF7 + len(size)]) + size + payload


EIP1559_FIELDS = [
    "chain_id",
    "nonce",
    "max_priority_fee",
    "max_fee",
    "gas",
    "to",
    "value",
    "data",
    "access_list",
    "y_parity",
    "r",
    "s",
]
LEGACY_FIELDS = ["nonce", "gas_price", "gas", "to", "value", "data", "v", "r", "s"]


class Encoded(bytes):
    """An item given as its (possibly non-canonical) RLP encoding, inserted verbatim."""


def rewrite(raw: bytes, **fields: int | bytes) -> bytes:
    """Re-encode a raw signed transaction with some fields replaced (ints canonical, Encoded verbatim)."""
    typed = raw[0] == 2
    items = rlp.decode(raw[1:] if typed else raw)
    names = EIP1559_FIELDS if typed else LEGACY_FIELDS
    pieces = [rlp.encode(item) for item in items]
    for name, value in fields.items():
        index = names.index(name)
        if isinstance(value, Encoded):
            pieces[index] = bytes(value)
        elif isinstance(value, int):
            pieces[index] = rlp.encode(_int_bytes(value))
        else:
            pieces[index] = rlp.encode(value)
    body = _rlp_list(b"".join(pieces))
    return b"\x02" + body if typed else body
