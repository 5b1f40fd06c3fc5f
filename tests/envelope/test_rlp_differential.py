"""Our hot-path RLP decoder agrees with pyrlp's strict decoder on every input (differential test)."""

import pytest
import rlp
from hypothesis import given, settings
from hypothesis import strategies as st

from chainplug.envelope._rlp import decode_list
from chainplug.errors import MalformedTransaction

pytestmark = pytest.mark.one_backend  # RLP only: no PQC backend is involved

items = st.recursive(
    st.binary(max_size=70),
    lambda children: st.lists(children, max_size=6),
    max_leaves=20,
)


def _reference(data: bytes) -> object:
    try:
        decoded = rlp.decode(data, strict=True)
    except rlp.DecodingError:
        return "error"
    return decoded if isinstance(decoded, list) else "error"


def _ours(data: bytes) -> object:
    try:
        return decode_list(data)[0]
    except MalformedTransaction:
        return "error"


@settings(max_examples=400, deadline=None)
@given(st.lists(items, max_size=8))
def test_valid_encodings_decode_identically(value: list[object]) -> None:
    encoded = rlp.encode(value)
    assert _reference(encoded) == value
    if _depth(value) <= 4:
        assert _ours(encoded) == value
    else:  # deeper than any transaction nests: refused on purpose
        assert _ours(encoded) == "error"


@settings(max_examples=600, deadline=None)
@given(st.lists(items, max_size=6), st.data())
def test_mutated_encodings_agree_with_pyrlp(value: list[object], data: st.DataObject) -> None:
    encoded = bytearray(rlp.encode(value))
    for _ in range(data.draw(st.integers(1, 3))):
        action = data.draw(st.sampled_from(["flip", "insert", "delete", "truncate"]))
        position = data.draw(st.integers(0, max(len(encoded) - 1, 0)))
        if action == "flip" and encoded:
            encoded[position] ^= 1 << data.draw(st.integers(0, 7))
        elif action == "insert":
            encoded.insert(position, data.draw(st.integers(0, 255)))
        elif action == "delete" and encoded:
            del encoded[position]
        elif action == "truncate":
            del encoded[position:]
    # Nesting deeper than transactions use is refused by us even where pyrlp would accept it.
    ours, reference = _ours(bytes(encoded)), _reference(bytes(encoded))
    if ours == "error" and reference != "error":
        assert _depth(reference) > 4
    else:
        assert ours == reference


def _depth(value: object) -> int:
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    return 0


def test_non_canonical_forms_are_rejected() -> None:
    for bad in (
        b"\xc2\x81\x05",  # single byte < 0x80 wrapped as a string
        b"\xc3\xb8\x01\xff",  # long form for a 1-byte string
        b"\xc1\x01\x02",  # trailing bytes after the list
        b"\xc3\x01",  # truncated payload
        b"\x05",  # not a list
        b"\xf8\x01\x01",  # long-form list header for a short list
    ):
        assert _ours(bad) == "error", bad.hex()
