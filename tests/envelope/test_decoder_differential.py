"""The fast transaction decoders agree with the reference decoders (chainplug.envelope._reference),
on valid transactions of every type and on invalid ones: the same transaction (fields, signature,
signing hash, raw bytes), or the same error class, reason and message.

Valid input is built by the transaction classes and signed; invalid input is that, mutated at the
byte level (flips, insertions, deletions, truncation) and at the RLP item level (an item replaced by
an out-of-range, non-canonical or mistyped one; an item added or removed; re-encoded by pyrlp).
"""

from __future__ import annotations

import random
from typing import Any

import coincurve
import pytest
import rlp
from hypothesis import given, settings
from hypothesis import strategies as st

from chainplug.constants import MLDSA87_PUBLIC_KEY_BYTES, MLDSA87_SIGNATURE_BYTES
from chainplug.envelope import (
    FeeMarketTransaction,
    LegacyTransaction,
    PqcOnlyTransaction,
    SignedTransaction,
    _reference,
    decode_pqc_transaction,
    decode_transaction,
)
from chainplug.errors import ChainplugError
from chainplug.types import Address

pytestmark = pytest.mark.one_backend  # decoding only: secp256k1 signs the inputs, PQC parts are random bytes

KEY = coincurve.PrivateKey(b"\x5a" * 32)

uint64 = st.integers(0, 2**64 - 1)
uint256 = st.one_of(st.integers(0, 2**64), st.integers(0, 2**256 - 1))
addresses = st.binary(min_size=20, max_size=20)
access_lists = st.lists(
    st.tuples(addresses, st.lists(st.binary(min_size=32, max_size=32), max_size=3).map(tuple)), max_size=3
).map(tuple)


def _sign(digest: bytes) -> Any:
    from chainplug.crypto.secp256k1 import RecoverableSignature

    raw = KEY.sign_recoverable(digest, hasher=None)
    return RecoverableSignature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:64], "big"), raw[64])


@st.composite
def fee_market(draw: st.DrawFn) -> FeeMarketTransaction:
    return FeeMarketTransaction(
        chain_id=draw(st.one_of(st.integers(1, 2**32), st.integers(1, 2**256 - 1))),
        nonce=draw(uint64),
        max_priority_fee_per_gas=draw(uint256),
        max_fee_per_gas=draw(uint256),
        gas=draw(uint64),
        to=draw(st.one_of(st.just(b""), addresses)),
        value=draw(uint256),
        data=draw(st.binary(max_size=120)),
        access_list=draw(access_lists),
    )


@st.composite
def legacy(draw: st.DrawFn) -> LegacyTransaction:
    return LegacyTransaction(
        chain_id=draw(st.one_of(st.integers(1, 2**32), st.integers(1, 2**254))),
        nonce=draw(uint64),
        gas_price=draw(uint256),
        gas=draw(uint64),
        to=draw(st.one_of(st.just(b""), addresses)),
        value=draw(uint256),
        data=draw(st.binary(max_size=120)),
    )


@st.composite
def classical_raw(draw: st.DrawFn) -> bytes:
    unsigned = draw(st.one_of(fee_market(), legacy()))
    return SignedTransaction.sign(unsigned, _sign).raw


@st.composite
def pqc_raw(draw: st.DrawFn) -> bytes:
    base = draw(fee_market())
    unsigned = PqcOnlyTransaction(**{f: getattr(base, f) for f in _FIELDS}, sender=Address(draw(addresses)))
    rng = random.Random(draw(st.integers(0, 2**32)))
    return unsigned.encode_signed(rng.randbytes(MLDSA87_PUBLIC_KEY_BYTES), rng.randbytes(MLDSA87_SIGNATURE_BYTES))


_FIELDS = (
    "chain_id", "nonce", "max_priority_fee_per_gas", "max_fee_per_gas", "gas", "to", "value", "data", "access_list",
)  # fmt: skip


def _outcome(decode: Any, raw: bytes) -> tuple[Any, ...]:
    try:
        return ("ok", decode(raw))
    except ChainplugError as exc:
        return ("error", type(exc).__name__, exc.reason, str(exc))


def _agree(raw: bytes) -> tuple[Any, ...]:
    if raw[:1] == b"\x50":
        fast, reference = _outcome(decode_pqc_transaction, raw), _outcome(_reference.decode_pqc_transaction, raw)
    else:
        fast, reference = _outcome(decode_transaction, raw), _outcome(_reference.decode_transaction, raw)
    assert fast == reference
    return fast


@settings(max_examples=300, deadline=None)
@given(st.one_of(classical_raw(), pqc_raw()))
def test_valid_transactions_decode_identically(raw: bytes) -> None:
    outcome = _agree(raw)
    assert outcome[0] == "ok"
    tx = outcome[1]
    assert tx.raw == raw
    assert tx.signing_hash == tx.unsigned.signing_hash()  # sliced from the bytes == encoded again


@settings(max_examples=150, deadline=None)
@given(st.one_of(fee_market(), legacy()))
def test_signing_builds_what_decoding_gives_back(unsigned: Any) -> None:
    """sign_transaction no longer decodes what it signed: the signed object it builds must be the
    one the decoders make of its bytes."""
    signed = SignedTransaction.sign(unsigned, _sign)
    assert decode_transaction(signed.raw) == signed == _reference.decode_transaction(signed.raw)


def _mutate_bytes(raw: bytes, data: st.DataObject) -> bytes:
    mutated = bytearray(raw)
    for _ in range(data.draw(st.integers(1, 3))):
        action = data.draw(st.sampled_from(["flip", "insert", "delete", "truncate"]))
        position = data.draw(st.integers(0, max(len(mutated) - 1, 0)))
        if action == "flip" and mutated:
            mutated[position] ^= 1 << data.draw(st.integers(0, 7))
        elif action == "insert":
            mutated.insert(position, data.draw(st.integers(0, 255)))
        elif action == "delete" and mutated:
            del mutated[position]
        elif action == "truncate":
            del mutated[position:]
    return bytes(mutated)


_BOUNDARY_WIDTHS = st.sampled_from([1, 7, 8, 9, 19, 20, 21, 31, 32, 33])
_ODD_ITEMS = st.one_of(
    # canonical integers (no leading zero) at the width limits of U64 / to / U256 fields
    _BOUNDARY_WIDTHS.flatmap(lambda n: st.binary(min_size=n, max_size=n)).map(lambda b: b"\x01" + b[1:]),
    _BOUNDARY_WIDTHS.flatmap(lambda n: st.binary(min_size=n, max_size=n)).map(lambda b: b"\x01" + b[1:]),
    st.binary(max_size=40),  # any width: too long for U64/U256, wrong size for to/sender/key
    st.binary(min_size=1, max_size=33).map(lambda b: b"\x00" + b),  # a leading zero
    st.just(b""),
    st.just(b"\x00"),
    st.just(b"\x02"),  # y_parity out of range, or a small v
    st.just(b"\x1b"),  # v = 27: pre-EIP-155
    st.just((2**256 - 2**32 - 977).to_bytes(32, "big")),  # not below the group order
    st.lists(st.binary(max_size=33), max_size=3),  # a list where a string belongs, or a bad access list
    st.lists(st.lists(st.binary(max_size=33), max_size=3), max_size=2),
)


def _mutate_items(raw: bytes, data: st.DataObject) -> bytes:
    typed = raw[0] < 0xC0
    items = rlp.decode(raw[1:] if typed else raw)
    action = data.draw(st.sampled_from(["replace", "replace", "replace", "append", "drop"]))
    if action == "append":
        items.append(data.draw(_ODD_ITEMS))
    elif action == "drop":
        del items[data.draw(st.integers(0, len(items) - 1))]
    else:
        items[data.draw(st.integers(0, len(items) - 1))] = data.draw(_ODD_ITEMS)
    encoded: bytes = rlp.encode(items)
    return raw[:1] + encoded if typed else encoded


@settings(max_examples=1000, deadline=None)
@given(st.one_of(classical_raw(), pqc_raw()), st.data())
def test_mutated_transactions_get_the_same_answer(raw: bytes, data: st.DataObject) -> None:
    mutated = _mutate_items(raw, data) if data.draw(st.booleans()) else _mutate_bytes(raw, data)
    _agree(mutated)


_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
BOUNDARY_ITEMS: list[Any] = [
    b"", b"\x00", b"\x01", b"\x02", b"\x1b", b"\x24", b"\x25", b"\x00\x01",
    *(b"\x01" * n for n in (7, 8, 9, 19, 20, 21, 31, 32, 33)),
    _N.to_bytes(32, "big"), (_N // 2).to_bytes(32, "big"), (_N // 2 + 1).to_bytes(32, "big"),
    b"\x01" * (MLDSA87_PUBLIC_KEY_BYTES - 1), b"\x01" * MLDSA87_PUBLIC_KEY_BYTES,
    b"\x01" * MLDSA87_SIGNATURE_BYTES, b"\x01" * (MLDSA87_SIGNATURE_BYTES + 1),
    [], [b"\x01"], [[b"\x11" * 20, []]], [[b"\x11" * 20, [b"\x01" * 32]]], [[b"\x11" * 20, [b"\x01" * 31]]],
    [[b"\x11" * 19, []]], [[b"\x11" * 20]], [[b"\x11" * 20, b""]], [[b"\x11" * 20, [[]]]],
]  # fmt: skip
"""Every width limit, range limit and shape a field rule draws a line at."""


def _bases() -> list[bytes]:
    fee_market_tx = FeeMarketTransaction(
        1, 0, 1, 2, 21000, b"\x11" * 20, 5, b"\xab", ((b"\x22" * 20, (b"\x33" * 32,)),)
    )
    legacy_tx = LegacyTransaction(1, 0, 1, 21000, b"\x11" * 20, 5, b"\xab")
    pqc_tx = PqcOnlyTransaction(**{f: getattr(fee_market_tx, f) for f in _FIELDS}, sender=Address(b"\x44" * 20))
    return [
        SignedTransaction.sign(fee_market_tx, _sign).raw,
        SignedTransaction.sign(legacy_tx, _sign).raw,
        pqc_tx.encode_signed(b"\x01" * MLDSA87_PUBLIC_KEY_BYTES, b"\x02" * MLDSA87_SIGNATURE_BYTES),
    ]


def test_each_item_replaced_by_each_boundary_value_gets_the_same_answer() -> None:
    """Exhaustive over (type, item, boundary value), plus an item too many and one too few."""
    answers = set()
    for raw in _bases():
        typed = raw[0] < 0xC0
        items = rlp.decode(raw[1:] if typed else raw)
        candidates = [[*items, b"\x01"], items[:-1]]
        for index in range(len(items)):
            for item in BOUNDARY_ITEMS:
                candidates.append([*items[:index], item, *items[index + 1 :]])
        for candidate in candidates:
            encoded = rlp.encode(candidate)
            outcome = _agree(raw[:1] + encoded if typed else encoded)
            answers.add(outcome[0] if outcome[0] == "ok" else (outcome[1], outcome[2]))
    assert "ok" in answers and len(answers) >= 5  # accepted, and refused for several reasons


def test_both_tiers_of_the_fast_decoder_agree_at_the_first_tiers_limits() -> None:
    """The first tier (one regular expression per type) takes data and access lists of up to 255
    encoded bytes; longer ones go to the item walk. Transactions on both sides of each limit, and
    each of them with every item replaced by each boundary value, get the reference's answer; the
    first tier is seen to take the short ones and leave the long ones."""
    from chainplug.envelope import decode as fast

    entry = (b"\x22" * 20, (b"\x33" * 32,))
    access_lists = [(), (entry,), ((b"\x22" * 20, ()),), (entry, entry, entry, entry), (entry,) * 5]
    in_tier: set[bool] = set()
    for data_size in (0, 1, 55, 56, 57, 253, 254, 255, 256, 300):
        for access_list in access_lists:
            for to in (b"", b"\x11" * 20):
                fee_market_tx = FeeMarketTransaction(1, 0, 1, 2, 21000, to, 5, b"\xab" * data_size, access_list)
                legacy_tx = LegacyTransaction(1, 0, 1, 21000, to, 5, b"\xab" * data_size)
                for unsigned, tier in ((fee_market_tx, fast._fee_market_pattern), (legacy_tx, fast._legacy_pattern)):
                    raw = SignedTransaction.sign(unsigned, _sign).raw
                    assert _agree(raw)[0] == "ok"
                    in_tier.add(tier(raw) is not None)
                    if data_size not in (55, 256) or to == b"":
                        continue  # every item mutated on both sides of the data limit
                    typed = raw[0] < 0xC0
                    items = rlp.decode(raw[1:] if typed else raw)
                    for index in range(len(items)):
                        for item in BOUNDARY_ITEMS[:20]:
                            encoded = rlp.encode([*items[:index], item, *items[index + 1 :]])
                            _agree(raw[:1] + encoded if typed else encoded)
    assert in_tier == {True, False}
