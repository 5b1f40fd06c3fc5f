"""Boundary cases for the hot-path RLP decoder (chainplug/envelope/_rlp.py), beyond the random
differential test in test_rlp_differential.py: prefix bytes at the 55-byte and 0x80/0xb7/0xbf/0xf7
boundaries, length-of-length edge cases, and a nesting bomb that must not reach the recursion limit.
Every verdict is compared with pyrlp's strict decoder.
"""

from __future__ import annotations

from typing import Any

import pytest
import rlp
from hypothesis import given, settings
from hypothesis import strategies as st

from chainplug.envelope._rlp import decode_list
from chainplug.errors import MalformedTransaction, Reason

pytestmark = pytest.mark.one_backend  # RLP only: no PQC backend is involved

MAX_DEPTH = 4  # tx -> access list -> entry -> storage keys


def _depth(item: Any) -> int:
    if isinstance(item, bytes):
        return 0
    return 1 + max((_depth(child) for child in item), default=0)


def _agree(data: bytes) -> None:
    try:
        expected: Any = rlp.decode(data, strict=True)
    except rlp.DecodingError:
        expected = None
    try:
        got: Any = decode_list(data)[0]
    except MalformedTransaction as exc:
        assert exc.reason is Reason.NON_CANONICAL  # one reason for every RLP-level failure
        got = None
    if isinstance(expected, list) and _depth(expected) <= MAX_DEPTH:
        assert got == expected, data.hex()
    else:
        assert got is None, data.hex()


# Leaves of 0, 1, 55 and 56 bytes sit on the encodings' boundaries.
leaves = st.one_of(
    st.binary(max_size=2),
    st.integers(0, 255).map(lambda b: bytes([b])),
    st.binary(min_size=54, max_size=57),
)
trees = st.recursive(leaves, lambda children: st.lists(children, max_size=4), max_leaves=12)
BOUNDARY_BYTES = [0x00, 0x7F, 0x80, 0x81, 0xB7, 0xB8, 0xB9, 0xBF, 0xC0, 0xF7, 0xF8, 0xF9, 0xFF]


@st.composite
def boundary_mutations(draw: st.DrawFn) -> bytes:
    data = bytearray(rlp.encode(draw(st.lists(trees, max_size=6))))
    for _ in range(draw(st.integers(1, 2))):
        position = draw(st.integers(0, len(data) - 1))
        data[position] = draw(st.sampled_from(BOUNDARY_BYTES))
    return bytes(data)


@settings(max_examples=400, deadline=None)
@given(data=boundary_mutations())
def test_prefix_bytes_set_to_boundary_values_are_judged_like_pyrlp(data: bytes) -> None:
    _agree(data)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\xc0",
        b"\xc1\x00",
        b"\xc1\x7f",
        b"\xc2\x81\x7f",  # single byte < 0x80 wrapped in a string header
        b"\xc2\x81\x80",  # fine: 0x80 needs the wrapper
        b"\xc3\xb8\x01\x00",  # long form for a 1-byte string
        b"\xf8\x02\x80\x80",  # long-form list header for a short list
        b"\xf9\x00\x38" + b"\x80" * 56,  # length of length with a leading zero
        b"\xf8\x38" + b"\x80" * 56,  # the shortest canonical long list
        b"\xf8\x37" + b"\x80" * 55,  # long form for 55 bytes: must be short form
        b"\xc0\x00",  # trailing byte
        b"\x80",  # a string, not a list
        b"\xc2\xc1\xc0",
        b"\xbf" + b"\xff" * 8,  # length of length 8, length 2^64 - 1
        b"\xff" + b"\x01" * 8,  # list with an 8-byte length far past the input
        b"\xf8",  # length of length runs past the input
    ],
)
def test_edge_cases_agree_with_pyrlp(data: bytes) -> None:
    _agree(data)


def _list(payload: bytes) -> bytes:
    if len(payload) <= 55:
        return bytes([0xC0 + len(payload)]) + payload
    size = len(payload).to_bytes((len(payload).bit_length() + 7) // 8, "big")
    return bytes([0xF7 + len(size)]) + size + payload


@pytest.mark.parametrize("depth", [5, 1_000, 20_000])
def test_nesting_bomb_is_refused_without_recursion(depth: int) -> None:
    item = b"\xc0"
    for _ in range(depth):
        item = _list(item)
    with pytest.raises(MalformedTransaction) as info:
        decode_list(item)
    assert info.value.reason is Reason.NON_CANONICAL


def test_transaction_depth_is_still_accepted() -> None:
    assert decode_list(rlp.encode([[[[b"k"]]]]))[0] == [[[[b"k"]]]]
