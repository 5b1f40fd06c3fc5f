"""Hypothesis properties of envelope v1: canonical round trip, mutation resistance, decoder totality,
M' injectivity (docs/design.md, "The envelope binding")."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from chainplug.constants import ENVELOPE_MAGIC, MAX_ENVELOPE_BYTES
from chainplug.envelope import (
    MPRIME_BYTES,
    CompositeAccount,
    Envelope,
    decode_envelope,
    decode_transaction,
    message_representative,
)
from chainplug.errors import MalformedEnvelope, VerificationError
from chainplug.types import AccountState
from chainplug.verify import InMemoryRegistry, LegacyVerifier, PqcStatus, StrictVerifier, UpgradedVerifier

FIXTURE_OK = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow]

addresses = st.binary(min_size=20, max_size=20)
access_lists = st.lists(
    st.tuples(addresses, st.lists(st.binary(min_size=32, max_size=32), max_size=3)), max_size=3
).map(lambda entries: [{"address": a, "storageKeys": keys} for a, keys in entries])
common = {
    "nonce": st.integers(0, 2**64 - 1),
    "gas": st.integers(0, 2**64 - 1 - 4_300),
    "to": st.one_of(st.none(), addresses),
    "value": st.integers(0, 2**256 - 1),
    "data": st.binary(max_size=300),
}
eip1559 = st.fixed_dictionaries(
    common
    | {
        "chainId": st.integers(1, 2**256 - 1),
        "maxFeePerGas": st.integers(0, 2**256 - 1),
        "maxPriorityFeePerGas": st.integers(0, 2**256 - 1),
        "accessList": access_lists,
    }
)
# EIP-155 v = 2 * chain_id + 35 + y_parity must fit the 32-byte integer limit.
legacy = st.fixed_dictionaries(
    common | {"chainId": st.integers(1, (2**256 - 37) // 2), "gasPrice": st.integers(0, 2**256 - 1)}
)
transactions = st.one_of(eip1559, legacy)


@pytest.fixture(scope="module")
def hybrid_registry(accounts: list[Any]) -> InMemoryRegistry:
    registry = InMemoryRegistry()
    for fixed in accounts:
        registry.set(fixed.account.address_bytes, AccountState.HYBRID, public_key=fixed.account.pqc_public_key)
    return registry


@settings(max_examples=50, deadline=None, suppress_health_check=FIXTURE_OK)
@given(tx=transactions, which=st.integers(0, 2), key_id_form=st.booleans())
def test_round_trip_of_valid_envelopes(accounts, hybrid_registry, tx: dict[str, Any], which: int, key_id_form: bool):
    account: CompositeAccount = accounts[which].account
    signed = account.sign_transaction(tx)
    envelope = signed.envelope
    if key_id_form:
        envelope = decode_envelope(envelope).without_public_key().encode()
    decoded = decode_envelope(envelope)
    assert decoded.encode() == envelope
    assert decoded.raw_transaction == signed.raw_transaction
    assert decode_transaction(signed.raw_transaction).raw == signed.raw_transaction
    verified = UpgradedVerifier(hybrid_registry).verify(envelope)
    assert (verified.pqc, verified.sender, verified.key_id) == (PqcStatus.VALID, account.address_bytes, account.key_id)


# --- mutations are never accepted ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def corpus(accounts: list[Any]) -> list[bytes]:
    """Valid inputs for registered HYBRID senders: envelopes in both forms and the bare transactions."""
    out = []
    for nonce, fixed in enumerate(accounts[:2]):
        for legacy_tx in (False, True):
            tx: dict[str, Any] = {
                "chainId": 1337,
                "nonce": nonce,
                "gas": 30_000,
                "to": b"\x11" * 20,
                "value": 5,
                "data": b"\xca\xfe",
            }
            tx |= {"gasPrice": 7} if legacy_tx else {"maxFeePerGas": 9, "maxPriorityFeePerGas": 2}
            signed = fixed.account.sign_transaction(tx)
            out += [signed.envelope, decode_envelope(signed.envelope).without_public_key().encode()]
            out.append(signed.raw_transaction)
    return out


@st.composite
def mutations(draw: st.DrawFn, corpus: list[bytes]) -> bytes:
    data = draw(st.sampled_from(corpus))
    kind = draw(st.sampled_from(["flip", "insert", "delete", "truncate", "splice", "header", "overwrite"]))
    if kind == "flip":
        position = draw(st.integers(0, len(data) - 1))
        return data[:position] + bytes([data[position] ^ (1 << draw(st.integers(0, 7)))]) + data[position + 1 :]
    if kind == "insert":
        position = draw(st.integers(0, len(data)))
        return data[:position] + draw(st.binary(min_size=1, max_size=8)) + data[position:]
    if kind == "delete":
        start = draw(st.integers(0, len(data) - 1))
        return data[:start] + data[start + draw(st.integers(1, 8)) :]
    if kind == "truncate":
        return data[: draw(st.integers(0, len(data) - 1))]
    if kind == "header":  # any value in any of the first 11 bytes
        position = draw(st.integers(0, min(10, len(data) - 1)))
        value = draw(st.integers(0, 255).filter(lambda v: v != data[position]))
        return data[:position] + bytes([value]) + data[position + 1 :]
    if kind == "overwrite":  # a run of random bytes at a random place
        position = draw(st.integers(0, len(data) - 1))
        chunk = draw(st.binary(min_size=1, max_size=32))
        return data[:position] + chunk + data[position + len(chunk) :]
    other = draw(st.sampled_from(corpus))
    return data[: draw(st.integers(0, len(data)))] + other[draw(st.integers(0, len(other))) :]


@settings(max_examples=400, deadline=None, suppress_health_check=FIXTURE_OK)
@given(data=st.data())
def test_mutations_are_never_accepted(accounts, corpus, hybrid_registry, data) -> None:
    """No mutation of a registered HYBRID sender's envelope or transaction is accepted for that sender.

    # NOTE: a mutated *bare* transaction can still parse and carry a well-formed (r, s): ECDSA public-key
    # recovery then yields some random address, which is unregistered, so a legacy-style tx from it is
    # accepted as NOT_EXPECTED. That is a transaction from an account nobody holds a key for, not a
    # forgery for the registered sender; the property checks exactly that.
    """
    registered = {fixed.account.address_bytes for fixed in accounts}
    mutated = data.draw(mutations(corpus))
    assume(mutated not in corpus)
    for verifier in (UpgradedVerifier(hybrid_registry), StrictVerifier(hybrid_registry)):
        try:
            result = verifier.verify(mutated)
        except (MalformedEnvelope, VerificationError):
            continue
        assert verifier.policy == "upgraded", f"strict verifier accepted a mutation: {result}"
        assert result.sender not in registered, f"mutation accepted for a registered sender: {result}"
        assert (result.pqc, result.sender_state) == (PqcStatus.NOT_EXPECTED, AccountState.CLASSICAL)


@settings(max_examples=300, deadline=None, suppress_health_check=FIXTURE_OK)
@given(data=st.data())
def test_mutations_only_raise_boundary_errors_for_the_legacy_verifier(corpus, data) -> None:
    # The legacy verifier may accept some mutations (e.g. a PQC-part bit flip): it never reads that part.
    mutated = data.draw(mutations(corpus))
    with contextlib.suppress(MalformedEnvelope, VerificationError):
        LegacyVerifier().verify(mutated)


# --- decoders are total: arbitrary bytes fail as MalformedEnvelope and nothing else -------------------------

header_like = st.builds(
    lambda version, suite, kind, form, length, rest: (
        ENVELOPE_MAGIC + bytes([version, suite, kind, form]) + length.to_bytes(4, "big") + rest
    ),
    st.sampled_from([0, 1, 2, 255]),
    st.sampled_from([0, 1, 2]),
    st.sampled_from([0, 1, 2, 3]),
    st.sampled_from([0, 1, 2]),
    st.one_of(st.integers(0, 300), st.integers(0, 2**32 - 1)),
    st.binary(max_size=400),
)
rlp_leaves = st.one_of(
    st.binary(max_size=40), st.integers(0, 2**256).map(lambda i: i.to_bytes(33, "big").lstrip(b"\0"))
)
rlp_trees = st.recursive(rlp_leaves, lambda children: st.lists(children, max_size=13), max_leaves=30)


def _rlp_shaped(tree: Any, typed: bool) -> bytes:
    import rlp

    return (b"\x02" if typed else b"") + rlp.encode(tree)


@pytest.mark.one_backend
@settings(max_examples=300, deadline=None)
@given(data=st.one_of(st.binary(max_size=600), header_like))
def test_decode_envelope_of_arbitrary_bytes(data: bytes) -> None:
    with contextlib.suppress(MalformedEnvelope):  # anything else propagates and fails the test
        decode_envelope(data)


@pytest.mark.one_backend
@settings(max_examples=200, deadline=None)
@given(
    data=st.one_of(
        st.binary(max_size=600),
        st.builds(_rlp_shaped, st.lists(rlp_trees, min_size=9, max_size=12), st.booleans()),
        st.builds(_rlp_shaped, rlp_trees, st.booleans()),
    )
)
def test_decode_transaction_of_arbitrary_bytes(data: bytes) -> None:
    with contextlib.suppress(MalformedEnvelope):
        decode_transaction(data)
    with contextlib.suppress(MalformedEnvelope, VerificationError):
        LegacyVerifier().verify(data)


def test_oversized_input_is_rejected_before_parsing() -> None:
    data = ENVELOPE_MAGIC + b"\x01\x01\x01\x01" + bytes(MAX_ENVELOPE_BYTES)
    with pytest.raises(MalformedEnvelope) as info:
        decode_envelope(data)
    assert info.value.reason.value == "oversized"


# --- M' -------------------------------------------------------------------------------------------------------

m_prime_fields = st.tuples(
    st.integers(1, 2**256 - 1),
    st.binary(min_size=20, max_size=20),
    st.binary(min_size=32, max_size=32),
    st.binary(min_size=32, max_size=32),
    st.binary(min_size=32, max_size=32),
)


def _m_prime(fields: tuple[int, bytes, bytes, bytes, bytes]) -> bytes:
    chain_id, sender, key_id, signing_hash, sig_hash = fields
    return message_representative(
        chain_id=chain_id, sender=sender, key_id=key_id, signing_hash=signing_hash, classical_signature_hash=sig_hash
    )


@pytest.mark.one_backend
@settings(max_examples=300, deadline=None)
@given(first=m_prime_fields, second=m_prime_fields)
def test_m_prime_is_injective_and_fixed_length(first, second) -> None:
    assert len(_m_prime(first)) == MPRIME_BYTES == 208
    assert len(_m_prime(second)) == MPRIME_BYTES
    if first != second:
        assert _m_prime(first) != _m_prime(second)


@pytest.mark.one_backend
@settings(max_examples=100, deadline=None)
@given(fields=m_prime_fields, which=st.integers(0, 4), data=st.data())
def test_m_prime_changes_when_any_single_field_changes(fields, which: int, data) -> None:
    changed = list(fields)
    if which == 0:
        changed[0] = data.draw(st.integers(1, 2**256 - 1).filter(lambda c: c != fields[0]))
    else:
        size = len(fields[which])
        changed[which] = data.draw(st.binary(min_size=size, max_size=size).filter(lambda b: b != fields[which]))
    assert _m_prime(tuple(changed)) != _m_prime(fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "bad",
    [
        {"chain_id": 0},
        {"chain_id": 2**256},
        {"sender": b"\x00" * 19},
        {"key_id": b"\x00" * 33},
        {"signing_hash": b""},
        {"classical_signature_hash": b"\x00" * 31},
    ],
)
def test_m_prime_rejects_wrong_lengths_instead_of_padding(bad: dict[str, Any]) -> None:
    fields: dict[str, Any] = {
        "chain_id": 1,
        "sender": b"\x00" * 20,
        "key_id": b"\x00" * 32,
        "signing_hash": b"\x00" * 32,
        "classical_signature_hash": b"\x00" * 32,
    }
    with pytest.raises(MalformedEnvelope):
        message_representative(**(fields | bad))


def test_envelope_encode_refuses_wrong_component_lengths(corpus) -> None:
    decoded = decode_envelope(corpus[0])
    for key, signature in ((decoded.key[:-1], decoded.pqc_signature), (decoded.key, decoded.pqc_signature + b"\0")):
        with pytest.raises(MalformedEnvelope):
            Envelope(decoded.transaction, key, signature).encode()
