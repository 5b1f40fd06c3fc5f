"""Named attacks on composite envelope v1 (docs/design.md, "The envelope binding" and "Threat model"): each
must be rejected with the exact error class and reason code.

Attack inputs are built here by hand (RLP pieces, envelope bytes, a textbook ECDSA with a chosen
nonce) so the tests do not depend on the encoder they attack. Each test asserts ``type(exc) is X``
(not just ``isinstance``) and the machine-readable ``.reason``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pytest
from eth_account import Account

from chainplug.constants import (
    MAX_ENVELOPE_BYTES,
    MAX_RAW_TX_BYTES,
    SECP256K1_N,
    SUITE_LABEL,
)
from chainplug.crypto import Secp256k1PrivateKey, get_backend
from chainplug.envelope import CompositeAccount, decode_envelope, decode_transaction, message_representative
from chainplug.envelope.message import classical_signature_hash
from chainplug.errors import (
    InvalidSignature,
    MalformedEnvelope,
    MalformedTransaction,
    PolicyRejected,
    Reason,
    UnsupportedEnvelope,
    VerificationError,
)
from chainplug.types import AccountState
from chainplug.verify import (
    UNREGISTERED,
    InMemoryRegistry,
    LegacyVerifier,
    PqcStatus,
    StrictVerifier,
    UpgradedVerifier,
    VerifiedTransaction,
)
from tests._txcraft import _P, Encoded, _rlp_list, ecdsa_sign_with_nonce, rewrite

HYBRID, FINALIZING, PQC_ONLY = AccountState.HYBRID, AccountState.FINALIZING, AccountState.PQC_ONLY

MAGIC = bytes.fromhex("8c5051")
PK_BYTES, SIG_BYTES = 2592, 4627

# --- hand-built attack material -------------------------------------------------------------------


def build_envelope(
    raw: bytes,
    key: bytes,
    signature: bytes,
    *,
    version: int = 1,
    suite: int = 1,
    kind: int = 1,
    form: int | None = None,
    tx_len: int | None = None,
) -> bytes:
    """Envelope v1 bytes laid out by hand (docs/envelope-v1.md §layout)."""
    form = (1 if len(key) == PK_BYTES else 0) if form is None else form
    length = len(raw) if tx_len is None else tx_len
    return MAGIC + bytes([version, suite, kind, form]) + length.to_bytes(4, "big") + raw + key + signature


def split_envelope(envelope: bytes) -> tuple[bytes, bytes, bytes]:
    tx_len = int.from_bytes(envelope[7:11], "big")
    key_len = PK_BYTES if envelope[6] == 1 else 32
    raw = envelope[11 : 11 + tx_len]
    return raw, envelope[11 + tx_len : 11 + tx_len + key_len], envelope[11 + tx_len + key_len :]


def rejects(call: Callable[[], Any], error: type[Exception], reason: Reason) -> Exception:
    """Assert ``call`` raises exactly ``error`` (not a subclass) with ``reason``."""
    with pytest.raises(error) as info:
        call()
    assert type(info.value) is error, f"expected {error.__name__}, got {type(info.value).__name__}: {info.value}"
    assert info.value.reason is reason, f"expected {reason!r}, got {info.value.reason!r}: {info.value}"
    return info.value


def upgraded(registry: InMemoryRegistry, **options: Any) -> UpgradedVerifier:
    return UpgradedVerifier(registry, **options)


# --- positive controls: without these, the rejections below would prove nothing -------------------


@pytest.mark.parametrize("legacy", [False, True], ids=["eip1559", "eip155"])
def test_control_registered_hybrid_envelope_is_accepted(alice, tx, registry, legacy: bool) -> None:
    signed = alice.sign_transaction(tx(legacy=legacy))
    reg = registry((alice, HYBRID))
    for data in (signed.envelope, decode_envelope(signed.envelope).without_public_key().encode()):
        verified = upgraded(reg).verify(data)
        assert (verified.pqc, verified.sender, verified.key_id) == (PqcStatus.VALID, alice.address_bytes, alice.key_id)
        assert verified.sender_state is HYBRID and verified.tx_hash == signed.tx_hash
    assert StrictVerifier(reg).verify(signed.envelope).pqc is PqcStatus.VALID
    assert LegacyVerifier().verify(signed.envelope).pqc is PqcStatus.NOT_CHECKED


# --- downgrade / stripping (anchors §16 #1, #2, #3) -------------------------------------------------


@pytest.mark.parametrize("legacy", [False, True], ids=["eip1559", "eip155"])
def test_strip_pqc_part_of_registered_hybrid_sender(alice, tx, registry, legacy: bool) -> None:
    signed = alice.sign_transaction(tx(legacy=legacy))
    reg = registry((alice, HYBRID))
    rejects(lambda: upgraded(reg).verify(signed.raw_transaction), PolicyRejected, Reason.PQC_REQUIRED)
    rejects(
        lambda: upgraded(reg, activation_block=10).verify(signed.raw_transaction, inclusion_block=11),
        PolicyRejected,
        Reason.PQC_REQUIRED,
    )
    # The same stripped bytes are a perfectly good transaction for a legacy verifier (and stock nodes).
    legacy_view = LegacyVerifier(chain_id=1337).verify(signed.raw_transaction)
    assert legacy_view.sender == alice.address_bytes and legacy_view.pqc is PqcStatus.NOT_CHECKED
    assert Account.recover_transaction(signed.raw_transaction) == alice.address


def test_strip_with_wns_artifact_from_unregistered_sender_after_activation(alice, tx) -> None:
    signed = alice.sign_transaction(tx())
    empty = InMemoryRegistry()
    verifier = upgraded(empty, activation_block=100)
    # a transaction in the activation block itself is enforced
    rejects(lambda: verifier.verify(signed.raw_transaction, inclusion_block=100), PolicyRejected, Reason.PQC_REQUIRED)
    rejects(lambda: verifier.verify(signed.raw_transaction), PolicyRejected, Reason.PQC_REQUIRED)  # latest
    # Before activation the artifact is only telemetry.
    assert verifier.verify(signed.raw_transaction, inclusion_block=99).pqc is PqcStatus.MISSING
    # The envelope itself is fine for the unregistered sender.
    assert verifier.verify(signed.envelope, inclusion_block=101).pqc is PqcStatus.VALID


def test_strip_legacy_eip155_of_unregistered_sender_leaves_no_artifact(alice, tx) -> None:
    """WNS limit: EIP-155 transactions have no access list, so stripping one from a sender that has
    not registered yet is undetectable (docs/envelope-v1.md §WNS artifact)."""
    signed = alice.sign_transaction(tx(legacy=True))
    verified = upgraded(InMemoryRegistry()).verify(signed.raw_transaction)
    assert verified.pqc is PqcStatus.NOT_EXPECTED and verified.sender_state is AccountState.CLASSICAL


def test_finalizing_sender_stripped_before_activation_is_rejected(alice, tx, registry) -> None:
    signed = alice.sign_transaction(tx())
    verifier = upgraded(registry((alice, FINALIZING)), activation_block=100)
    rejects(lambda: verifier.verify(signed.raw_transaction, inclusion_block=6), PolicyRejected, Reason.PQC_REQUIRED)
    assert verifier.verify(signed.envelope, inclusion_block=6).pqc is PqcStatus.VALID


def test_hybrid_sender_stripped_before_activation_is_accepted_as_missing(alice, tx, registry) -> None:
    signed = alice.sign_transaction(tx())
    verifier = upgraded(registry((alice, HYBRID)), activation_block=100)
    # block 99 is the last before activation
    verified = verifier.verify(signed.raw_transaction, inclusion_block=99)
    assert verified.pqc is PqcStatus.MISSING and verified.sender_state is HYBRID
    # A bad PQC part before activation is recorded, not enforced (telemetry mode) ...
    raw, key, _ = split_envelope(signed.envelope)
    forged = build_envelope(raw, key, bytes(SIG_BYTES))
    recorded = verifier.verify(forged, inclusion_block=99)
    assert (recorded.pqc, recorded.pqc_reason) == (PqcStatus.INVALID, Reason.INVALID_SIGNATURE)
    # ... and rejected from the activation block on.
    for block in (100, 101):
        rejects(lambda b=block: verifier.verify(forged, inclusion_block=b), InvalidSignature, Reason.INVALID_SIGNATURE)
        rejects(
            lambda b=block: verifier.verify(signed.raw_transaction, inclusion_block=b),
            PolicyRejected,
            Reason.PQC_REQUIRED,
        )


def test_pqc_only_sender_classical_transaction(alice, tx, registry) -> None:
    signed = alice.sign_transaction(tx())
    reg = registry((alice, PQC_ONLY))
    for data in (signed.raw_transaction, signed.envelope):
        rejects(lambda d=data: upgraded(reg).verify(d), PolicyRejected, Reason.CLASSICAL_NOT_ALLOWED)
        rejects(
            lambda d=data: upgraded(reg, activation_block=10**9).verify(d, inclusion_block=1),
            PolicyRejected,
            Reason.CLASSICAL_NOT_ALLOWED,
        )
        rejects(lambda d=data: StrictVerifier(reg).verify(d), PolicyRejected, Reason.CLASSICAL_NOT_ALLOWED)


def test_strict_verifier_rejects_bare_transaction(alice, tx) -> None:
    signed = alice.sign_transaction(tx())
    rejects(lambda: StrictVerifier().verify(signed.raw_transaction), PolicyRejected, Reason.PQC_REQUIRED)
    assert StrictVerifier().verify(signed.envelope).pqc is PqcStatus.VALID


# --- binding: the PQC signature paired with something else (anchors §16 #5, #7, #11) ---------------


def test_pqc_signature_paired_with_another_classical_signature_of_same_content(alice, tx, registry, secrets):
    signed = alice.sign_transaction(tx())
    raw, key, signature = split_envelope(signed.envelope)
    # A second, equally valid ECDSA signature by the same key over the same signing hash (other nonce).
    r, s, y_parity = ecdsa_sign_with_nonce(secrets["alice"][0], signed.transaction.signing_hash, k=0xC0FFEE)
    other_raw = rewrite(raw, y_parity=y_parity, r=r, s=s)
    assert other_raw != raw
    assert Account.recover_transaction(other_raw) == alice.address  # stock code: same sender, same content
    assert decode_transaction(other_raw).signing_hash == signed.transaction.signing_hash
    mixed = build_envelope(other_raw, key, signature)
    rejects(lambda: upgraded(registry((alice, HYBRID))).verify(mixed), InvalidSignature, Reason.INVALID_SIGNATURE)
    rejects(lambda: StrictVerifier().verify(mixed), InvalidSignature, Reason.INVALID_SIGNATURE)


def test_pqc_signature_paired_with_another_transaction(alice, tx, registry) -> None:
    first = alice.sign_transaction(tx(nonce=1))
    second = alice.sign_transaction(tx(nonce=2))
    _, key, first_signature = split_envelope(first.envelope)
    mixed = build_envelope(second.raw_transaction, key, first_signature)
    rejects(lambda: upgraded(registry((alice, HYBRID))).verify(mixed), InvalidSignature, Reason.INVALID_SIGNATURE)


def test_pqc_signature_paired_with_another_chain_id(alice, tx, registry) -> None:
    home = alice.sign_transaction(tx(chainId=1337))
    away = alice.sign_transaction(tx(chainId=1))
    _, key, signature = split_envelope(home.envelope)
    mixed = build_envelope(away.raw_transaction, key, signature)
    # No chain filter on this verifier: the binding inside M' alone must catch it.
    rejects(lambda: upgraded(registry((alice, HYBRID))).verify(mixed), InvalidSignature, Reason.INVALID_SIGNATURE)


def test_pqc_signature_paired_with_another_sender(alice, tx, registry, secrets) -> None:
    signed = alice.sign_transaction(tx())
    _, key, signature = split_envelope(signed.envelope)
    # Bob classically signs byte-identical content (including alice's artifact) with his own key.
    bob_key = Secp256k1PrivateKey(secrets["bob"][0])
    unsigned = signed.transaction.unsigned
    bob_raw = unsigned.encode_signed(bob_key.sign_digest(signed.transaction.signing_hash))
    assert Account.recover_transaction(bob_raw) != alice.address
    mixed = build_envelope(bob_raw, key, signature)
    reg = registry((alice, HYBRID))
    rejects(lambda: upgraded(reg).verify(mixed), InvalidSignature, Reason.INVALID_SIGNATURE)
    rejects(lambda: StrictVerifier().verify(mixed), InvalidSignature, Reason.INVALID_SIGNATURE)


def test_pqc_signature_paired_with_another_key(alice, bob, tx, registry) -> None:
    signed = alice.sign_transaction(tx())
    raw, _, signature = split_envelope(signed.envelope)
    swapped = build_envelope(raw, bob.pqc_public_key, signature)
    rejects(lambda: upgraded(registry((alice, HYBRID))).verify(swapped), PolicyRejected, Reason.KEY_MISMATCH)
    # Unregistered sender: the artifact the classical key signed names alice's key, not bob's.
    rejects(lambda: upgraded(InMemoryRegistry()).verify(swapped), PolicyRejected, Reason.ARTIFACT_MISMATCH)
    rejects(lambda: StrictVerifier().verify(swapped), PolicyRejected, Reason.ARTIFACT_MISMATCH)


def test_attacker_key_resigns_m_prime_for_unregistered_sender(alice, bob, tx, secrets) -> None:
    """An attacker holding only its own ML-DSA key builds a valid PQC part for someone else's tx.

    EIP-1559 (artifact present): rejected. EIP-155 from an unregistered sender: accepted as VALID with
    the attacker's key id: for a CLASSICAL sender "VALID" only means "some ML-DSA key signed this
    exact transaction", not "the sender owns this key" (docs/envelope-v1.md §security claims).
    """
    attacker = get_backend().mldsa87_from_seed(secrets["bob"][1])
    for legacy in (False, True):
        signed = alice.sign_transaction(tx(legacy=legacy))
        m_prime = message_representative(
            chain_id=1337,
            sender=alice.address_bytes,
            key_id=bob.key_id,
            signing_hash=signed.transaction.signing_hash,
            classical_signature_hash=classical_signature_hash(signed.transaction.signature),
        )
        forged = build_envelope(signed.raw_transaction, bob.pqc_public_key, attacker.sign(m_prime, SUITE_LABEL))
        if not legacy:
            rejects(lambda f=forged: upgraded(InMemoryRegistry()).verify(f), PolicyRejected, Reason.ARTIFACT_MISMATCH)
        else:
            verified = upgraded(InMemoryRegistry()).verify(forged)
            assert (verified.pqc, verified.key_id) == (PqcStatus.VALID, bob.key_id)
        # Once the sender is registered, the commitment decides.
        reg = InMemoryRegistry()
        reg.set(alice.address_bytes, HYBRID, public_key=alice.pqc_public_key)
        rejects(lambda f=forged, r=reg: upgraded(r).verify(f), PolicyRejected, Reason.KEY_MISMATCH)


@pytest.mark.parametrize("context", [b"", b"CHAINPLUG-MLDSA87-SECP256K1-KECCAK25", SUITE_LABEL + b"\x00", b"x" * 255])
def test_pqc_signature_under_another_context(alice, tx, registry, secrets, context: bytes) -> None:
    signed = alice.sign_transaction(tx())
    raw, key, _ = split_envelope(signed.envelope)
    m_prime = message_representative(
        chain_id=1337,
        sender=alice.address_bytes,
        key_id=alice.key_id,
        signing_hash=signed.transaction.signing_hash,
        classical_signature_hash=classical_signature_hash(signed.transaction.signature),
    )
    pqc = get_backend().mldsa87_from_seed(secrets["alice"][1])
    wrong_context = build_envelope(raw, key, pqc.sign(m_prime, context))
    rejects(
        lambda: upgraded(registry((alice, HYBRID))).verify(wrong_context), InvalidSignature, Reason.INVALID_SIGNATURE
    )
    # Control: the same M' under the right context verifies.
    assert upgraded(registry((alice, HYBRID))).verify(build_envelope(raw, key, pqc.sign(m_prime, SUITE_LABEL)))


def test_mixing_components_of_two_envelopes(alice, bob, tx, registry) -> None:
    one = alice.sign_transaction(tx(nonce=10))
    two = alice.sign_transaction(tx(nonce=11))
    raw_one, key, sig_one = split_envelope(one.envelope)
    raw_two, _, sig_two = split_envelope(two.envelope)
    reg = registry((alice, HYBRID), (bob, HYBRID))
    for mixed in (build_envelope(raw_one, key, sig_two), build_envelope(raw_two, key, sig_one)):
        rejects(lambda m=mixed: upgraded(reg).verify(m), InvalidSignature, Reason.INVALID_SIGNATURE)
    # Alice's classical transaction with bob's whole PQC part (key and signature).
    theirs = bob.sign_transaction(tx(nonce=10))
    _, bob_key, bob_sig = split_envelope(theirs.envelope)
    rejects(
        lambda: upgraded(reg).verify(build_envelope(raw_one, bob_key, bob_sig)), PolicyRejected, Reason.KEY_MISMATCH
    )
    # Byte-level splice: the first half of one envelope, the second half of the other.
    half = len(one.envelope) // 2
    spliced = one.envelope[:half] + two.envelope[half:]
    with pytest.raises((MalformedEnvelope, VerificationError)):
        upgraded(reg).verify(spliced)


# --- keys and the registry ---------------------------------------------------------------------------


def test_key_not_matching_registry_commitment(alice, carol, tx, secrets) -> None:
    signed = alice.sign_transaction(tx(legacy=True))  # no artifact: only the registry can object
    reg = InMemoryRegistry()
    reg.set(alice.address_bytes, HYBRID, carol.key_id)  # alice committed to another key
    rejects(lambda: upgraded(reg).verify(signed.envelope), PolicyRejected, Reason.KEY_MISMATCH)
    rejects(lambda: StrictVerifier(reg).verify(signed.envelope), PolicyRejected, Reason.KEY_MISMATCH)


def test_key_id_form_with_unknown_key(alice, tx, registry) -> None:
    signed = alice.sign_transaction(tx())
    key_id_form = decode_envelope(signed.envelope).without_public_key().encode()
    only_commitment = registry((alice, HYBRID), public_key=False)  # registry has the key id, not the key
    rejects(lambda: upgraded(only_commitment).verify(key_id_form), PolicyRejected, Reason.UNKNOWN_KEY)
    rejects(lambda: StrictVerifier().verify(key_id_form), PolicyRejected, Reason.UNKNOWN_KEY)
    # The full-key form of the same envelope is fine against the same registry.
    assert upgraded(only_commitment).verify(signed.envelope).pqc is PqcStatus.VALID


def test_key_id_form_naming_another_known_key(alice, bob, tx, registry) -> None:
    signed = alice.sign_transaction(tx())
    raw, _, signature = split_envelope(signed.envelope)
    reg = registry((alice, HYBRID), (bob, HYBRID))  # the registry knows bob's public key
    rejects(
        lambda: upgraded(reg).verify(build_envelope(raw, bob.key_id, signature)), PolicyRejected, Reason.KEY_MISMATCH
    )


def test_registry_history_is_per_block(alice, tx) -> None:
    reg = InMemoryRegistry()
    reg.set(alice.address_bytes, HYBRID, public_key=alice.pqc_public_key, from_block=10)
    reg.set(alice.address_bytes, FINALIZING, alice.key_id, from_block=20)
    assert reg.entry(alice.address_bytes, 9) == UNREGISTERED
    assert reg.entry(alice.address_bytes, 10).state is HYBRID
    assert reg.entry(alice.address_bytes, 10).key_id == alice.key_id
    assert reg.entry(alice.address_bytes, 19).state is HYBRID
    assert reg.entry(alice.address_bytes, 20).state is FINALIZING
    assert reg.entry(alice.address_bytes).state is FINALIZING  # latest
    # The verifier uses the entry as of the parent of the block the transaction enters.
    stripped = alice.sign_transaction(tx(legacy=True)).raw_transaction
    verifier = upgraded(reg)
    assert verifier.verify(stripped, inclusion_block=10).pqc is PqcStatus.NOT_EXPECTED
    rejects(lambda: verifier.verify(stripped, inclusion_block=11), PolicyRejected, Reason.PQC_REQUIRED)


# --- replay on another chain (anchors §16 #11) -------------------------------------------------------


def test_replay_on_another_chain(alice, tx, registry) -> None:
    signed = alice.sign_transaction(tx(chainId=1337))
    reg = registry((alice, HYBRID))
    for data in (signed.envelope, signed.raw_transaction):
        rejects(lambda d=data: upgraded(reg, chain_id=1).verify(d), PolicyRejected, Reason.WRONG_CHAIN)
        rejects(lambda d=data: StrictVerifier(reg, chain_id=1).verify(d), PolicyRejected, Reason.WRONG_CHAIN)
        rejects(lambda d=data: LegacyVerifier(chain_id=1).verify(d), PolicyRejected, Reason.WRONG_CHAIN)
    assert upgraded(reg, chain_id=1337).verify(signed.envelope).chain_id == 1337


# --- classical signature malleability and malformation (anchors §16 #6) -----------------------------


@pytest.mark.parametrize("legacy", [False, True], ids=["eip1559", "eip155"])
def test_high_s_classical_signature(alice, tx, registry, legacy: bool) -> None:
    signed = alice.sign_transaction(tx(legacy=legacy))
    sig = signed.transaction.signature
    if legacy:
        high = rewrite(signed.raw_transaction, v=1337 * 2 + 35 + (sig.y_parity ^ 1), s=SECP256K1_N - sig.s)
    else:
        high = rewrite(signed.raw_transaction, y_parity=sig.y_parity ^ 1, s=SECP256K1_N - sig.s)
    # The malleated copy is still a valid ECDSA signature for the same sender (stock recovery says so) ...
    assert Account.recover_transaction(high) == alice.address
    # ... so only the low-s rule (EIP-2) keeps it out.
    error = rejects(lambda: decode_transaction(high), MalformedTransaction, Reason.HIGH_S)
    assert isinstance(error, MalformedEnvelope)
    _, key, signature = split_envelope(signed.envelope)
    for verifier in (upgraded(registry((alice, HYBRID))), LegacyVerifier(), StrictVerifier()):
        rejects(lambda v=verifier: v.verify(high), MalformedTransaction, Reason.HIGH_S)
        rejects(lambda v=verifier: v.verify(build_envelope(high, key, signature)), MalformedTransaction, Reason.HIGH_S)


def _non_residue_x() -> int:
    """Smallest x with no secp256k1 point: an r that no signature can recover from."""
    x = 1
    while pow((x**3 + 7) % _P, (_P - 1) // 2, _P) == 1:
        x += 1
    return x


@pytest.mark.parametrize(
    ("fields", "error", "reason"),
    [
        ({"r": 0}, MalformedTransaction, Reason.MALFORMED),
        ({"s": 0}, MalformedTransaction, Reason.MALFORMED),
        ({"r": SECP256K1_N}, MalformedTransaction, Reason.MALFORMED),
        ({"s": SECP256K1_N}, MalformedTransaction, Reason.MALFORMED),
        ({"s": 2**256 - 1}, MalformedTransaction, Reason.MALFORMED),
        ({"r": 2**256}, MalformedTransaction, Reason.MALFORMED),  # 33 bytes
        ({"y_parity": 2}, MalformedTransaction, Reason.MALFORMED),
        ({"y_parity": Encoded(b"\x00")}, MalformedTransaction, Reason.NON_CANONICAL),  # 0 must be 0x80
        ({"r": "non-residue"}, InvalidSignature, Reason.INVALID_SIGNATURE),  # well-formed, unrecoverable
    ],
    ids=["r=0", "s=0", "r=n", "s=n", "s=2^256-1", "r-33-bytes", "y_parity=2", "y_parity=0x00", "r-not-on-curve"],
)
def test_malformed_classical_signature(alice, tx, registry, fields, error, reason) -> None:
    signed = alice.sign_transaction(tx())
    if fields.get("r") == "non-residue":
        fields = {"r": _non_residue_x()}
    bad = rewrite(signed.raw_transaction, **fields)
    _, key, signature = split_envelope(signed.envelope)
    for data in (bad, build_envelope(bad, key, signature)):
        rejects(lambda d=data: upgraded(registry((alice, HYBRID))).verify(d), error, reason)
        rejects(lambda d=data: LegacyVerifier().verify(d), error, reason)


@pytest.mark.parametrize(
    ("v", "error", "reason"),
    [
        (27, UnsupportedEnvelope, Reason.UNSUPPORTED_TX_TYPE),  # pre-EIP-155: replays on every chain
        (28, UnsupportedEnvelope, Reason.UNSUPPORTED_TX_TYPE),
        (35, MalformedTransaction, Reason.MALFORMED),  # EIP-155 with chain id 0
        (0, MalformedTransaction, Reason.MALFORMED),
    ],
)
def test_legacy_without_replay_protection(alice, tx, v, error, reason) -> None:
    signed = alice.sign_transaction(tx(legacy=True))
    rejects(lambda: LegacyVerifier().verify(rewrite(signed.raw_transaction, v=v)), error, reason)


def test_which_component_failed_is_not_revealed(alice, tx, registry) -> None:
    """anchors §16 #20: a bad classical and a bad PQC signature fail with the same class and reason."""
    signed = alice.sign_transaction(tx())
    raw, key, signature = split_envelope(signed.envelope)
    reg = registry((alice, HYBRID))
    bad_classical = build_envelope(rewrite(raw, r=_non_residue_x()), key, signature)
    flipped = bytearray(signature)
    flipped[100] ^= 0x01
    bad_pqc = build_envelope(raw, key, bytes(flipped))
    first = rejects(lambda: upgraded(reg).verify(bad_classical), InvalidSignature, Reason.INVALID_SIGNATURE)
    second = rejects(lambda: upgraded(reg).verify(bad_pqc), InvalidSignature, Reason.INVALID_SIGNATURE)
    assert first.to_json()["error"] == second.to_json()["error"]


# --- envelope framing: truncated, padded, oversized, non-canonical, wrong version --------------------


@pytest.fixture(scope="module")
def sample(alice: CompositeAccount, tx: Callable[..., dict[str, Any]]) -> tuple[bytes, bytes, bytes, bytes]:
    """(full-key envelope, raw tx, public key, signature) for a registered-HYBRID alice."""
    signed = alice.sign_transaction(tx(data=b"\x00\x01\x02"))
    raw, key, signature = split_envelope(signed.envelope)
    return signed.envelope, raw, key, signature


@pytest.fixture(scope="module")
def hybrid_verifier(alice: CompositeAccount) -> UpgradedVerifier:
    reg = InMemoryRegistry()
    reg.set(alice.address_bytes, HYBRID, public_key=alice.pqc_public_key)
    return UpgradedVerifier(reg)


@pytest.mark.parametrize("cut", [1, 2, SIG_BYTES, SIG_BYTES + PK_BYTES])
def test_truncated_envelope(sample, hybrid_verifier, cut: int) -> None:
    envelope = sample[0]
    rejects(lambda: decode_envelope(envelope[:-cut]), MalformedEnvelope, Reason.TRUNCATED)
    rejects(lambda: hybrid_verifier.verify(envelope[:-cut]), MalformedEnvelope, Reason.TRUNCATED)


@pytest.mark.parametrize("length", [3, 7, 10])
def test_truncated_header(sample, hybrid_verifier, length: int) -> None:
    rejects(lambda: hybrid_verifier.verify(sample[0][:length]), MalformedEnvelope, Reason.TRUNCATED)


def test_empty_input(hybrid_verifier) -> None:
    rejects(lambda: hybrid_verifier.verify(b""), MalformedTransaction, Reason.TRUNCATED)
    rejects(lambda: decode_envelope(b""), MalformedEnvelope, Reason.TRUNCATED)


def test_empty_and_zero_pqc_parts(sample, hybrid_verifier) -> None:
    """anchors §16 #1: missing, empty, truncated and zero-length PQ parts."""
    _, raw, key, signature = sample
    rejects(lambda: hybrid_verifier.verify(build_envelope(raw, b"", b"")), MalformedEnvelope, Reason.TRUNCATED)
    rejects(lambda: hybrid_verifier.verify(build_envelope(raw, key, b"")), MalformedEnvelope, Reason.TRUNCATED)
    rejects(
        lambda: hybrid_verifier.verify(build_envelope(raw, key, bytes(SIG_BYTES))),
        InvalidSignature,
        Reason.INVALID_SIGNATURE,
    )
    rejects(
        lambda: hybrid_verifier.verify(build_envelope(raw, bytes(PK_BYTES), signature)),
        PolicyRejected,
        Reason.KEY_MISMATCH,
    )
    rejects(
        lambda: StrictVerifier().verify(build_envelope(raw, bytes(PK_BYTES), signature)),
        PolicyRejected,
        Reason.ARTIFACT_MISMATCH,
    )


@pytest.mark.parametrize("extra", [b"\x00", b"\xff" * 32, bytes(SIG_BYTES)])
def test_padded_envelope(sample, hybrid_verifier, extra: bytes) -> None:
    rejects(lambda: decode_envelope(sample[0] + extra), MalformedEnvelope, Reason.TRAILING_BYTES)
    rejects(lambda: hybrid_verifier.verify(sample[0] + extra), MalformedEnvelope, Reason.TRAILING_BYTES)


def test_padded_raw_transaction(sample, hybrid_verifier) -> None:
    # Inside RLP, bytes after the list are a canonicality failure (pyrlp strict mode).
    rejects(lambda: hybrid_verifier.verify(sample[1] + b"\x00"), MalformedTransaction, Reason.NON_CANONICAL)


def test_oversized_envelope(sample, hybrid_verifier) -> None:
    envelope = sample[0]
    oversized = envelope + bytes(MAX_ENVELOPE_BYTES + 1 - len(envelope))
    rejects(lambda: decode_envelope(oversized), MalformedEnvelope, Reason.OVERSIZED)
    rejects(lambda: hybrid_verifier.verify(oversized), MalformedEnvelope, Reason.OVERSIZED)
    # Garbage past the magic is never looked at once the size is over the cap.
    rejects(lambda: hybrid_verifier.verify(MAGIC + b"\xff" * MAX_ENVELOPE_BYTES), MalformedEnvelope, Reason.OVERSIZED)
    # The largest legal envelope is exactly at the cap (it fails later, for its content).
    at_cap = build_envelope(bytes([0xC0]) + bytes(MAX_RAW_TX_BYTES - 1), sample[2], sample[3])
    assert len(at_cap) == MAX_ENVELOPE_BYTES
    with pytest.raises(MalformedTransaction) as info:
        decode_envelope(at_cap)
    assert info.value.reason is not Reason.OVERSIZED


def test_oversized_raw_transaction(hybrid_verifier) -> None:
    raw = b"\x02" + bytes(MAX_RAW_TX_BYTES)
    rejects(lambda: hybrid_verifier.verify(raw), MalformedTransaction, Reason.OVERSIZED)


@pytest.mark.parametrize(
    ("fields", "what"),
    [
        ({"nonce": Encoded(b"\x82\x00\x07")}, "integer with a leading zero byte"),
        ({"value": Encoded(b"\x00")}, "zero as 0x00 instead of the empty string"),
        ({"value": Encoded(b"\x81\x01")}, "single byte < 0x80 wrapped in a string header"),
        ({"data": Encoded(b"\xb8\x03\x00\x01\x02")}, "long-form length for a short string"),
        ({"r": Encoded(b"\xa0\x00" + bytes(range(1, 32)))}, "r with a leading zero (32 bytes)"),
        ({"access_list": Encoded(b"\xf8\x00")}, "long-form header for an empty list"),
    ],
)
def test_non_canonical_classical_transaction(sample, hybrid_verifier, fields, what) -> None:
    _, raw, key, signature = sample
    bad = rewrite(raw, **fields)
    for data in (bad, build_envelope(bad, key, signature)):
        rejects(lambda d=data: hybrid_verifier.verify(d), MalformedTransaction, Reason.NON_CANONICAL)


def test_non_canonical_outer_list_header(sample, hybrid_verifier) -> None:
    _, raw, key, signature = sample
    body = raw[1:]
    assert body[0] == 0xF8  # one length byte: re-encode it with two
    long_form = b"\x02" + b"\xf9" + body[1].to_bytes(2, "big") + body[2:]
    for data in (long_form, build_envelope(long_form, key, signature)):
        rejects(lambda d=data: hybrid_verifier.verify(d), MalformedTransaction, Reason.NON_CANONICAL)


@pytest.mark.parametrize("version", [0, 2, 255])
def test_wrong_version(sample, hybrid_verifier, version: int) -> None:
    _, raw, key, signature = sample
    downgraded = build_envelope(raw, key, signature, version=version)
    rejects(lambda: hybrid_verifier.verify(downgraded), UnsupportedEnvelope, Reason.UNSUPPORTED_VERSION)


@pytest.mark.parametrize("suite", [0, 2, 255])
def test_wrong_suite(sample, hybrid_verifier, suite: int) -> None:
    _, raw, key, signature = sample
    rejects(
        lambda: hybrid_verifier.verify(build_envelope(raw, key, signature, suite=suite)),
        UnsupportedEnvelope,
        Reason.UNSUPPORTED_SUITE,
    )


def test_wrong_kind(sample, hybrid_verifier) -> None:
    _, raw, key, signature = sample
    pqc_only = build_envelope(raw, key, signature, kind=2)
    rejects(lambda: hybrid_verifier.verify(pqc_only), UnsupportedEnvelope, Reason.UNSUPPORTED_KIND)
    for kind in (0, 3, 255):
        rejects(
            lambda k=kind: hybrid_verifier.verify(build_envelope(raw, key, signature, kind=k)),
            MalformedEnvelope,
            Reason.MALFORMED,
        )


@pytest.mark.parametrize("form", [2, 3, 0x80, 255])
def test_unknown_key_form_byte(sample, hybrid_verifier, form: int) -> None:
    _, raw, key, signature = sample
    rejects(
        lambda: hybrid_verifier.verify(build_envelope(raw, key, signature, form=form)),
        MalformedEnvelope,
        Reason.MALFORMED,
    )


def test_key_form_byte_contradicting_key_length(sample, hybrid_verifier) -> None:
    _, raw, key, signature = sample
    rejects(
        lambda: hybrid_verifier.verify(build_envelope(raw, key, signature, form=0)),
        MalformedEnvelope,
        Reason.TRAILING_BYTES,
    )
    rejects(
        lambda: hybrid_verifier.verify(build_envelope(raw, key[:32], signature, form=1)),
        MalformedEnvelope,
        Reason.TRUNCATED,
    )


@pytest.mark.parametrize(
    ("delta", "reason"),
    [(1, Reason.TRUNCATED), (-1, Reason.TRAILING_BYTES), (100, Reason.TRUNCATED), (-10, Reason.TRAILING_BYTES)],
)
def test_tx_length_field_lying(sample, hybrid_verifier, delta: int, reason: Reason) -> None:
    _, raw, key, signature = sample
    lying = build_envelope(raw, key, signature, tx_len=len(raw) + delta)
    rejects(lambda: hybrid_verifier.verify(lying), MalformedEnvelope, reason)


@pytest.mark.parametrize("tx_len", [0, MAX_RAW_TX_BYTES + 1, 2**32 - 1])
def test_tx_length_field_out_of_range(sample, hybrid_verifier, tx_len: int) -> None:
    _, raw, key, signature = sample
    rejects(
        lambda: hybrid_verifier.verify(build_envelope(raw, key, signature, tx_len=tx_len)),
        MalformedEnvelope,
        Reason.MALFORMED,
    )


def test_tx_length_field_lying_consistently(sample, hybrid_verifier) -> None:
    """Length + form changed together so the total adds up: the tx absorbs 2,560 key bytes and must
    then fail as a transaction, never be read as one."""
    _, raw, key, signature = sample
    consistent = build_envelope(raw, key, signature, form=0, tx_len=len(raw) + PK_BYTES - 32)
    rejects(lambda: hybrid_verifier.verify(consistent), MalformedTransaction, Reason.NON_CANONICAL)


def test_bad_magic_is_not_an_envelope(sample, hybrid_verifier) -> None:
    envelope = sample[0]
    for magic in (b"\x8cPR", b"\x8dPQ", b"\x02PQ"):
        with pytest.raises(MalformedEnvelope):
            hybrid_verifier.verify(magic + envelope[3:])
    rejects(lambda: decode_envelope(b"\x8cPR" + envelope[3:]), MalformedEnvelope, Reason.MALFORMED)


def test_swapped_signature_halves_and_bit_flips(sample, hybrid_verifier) -> None:
    _, raw, key, signature = sample
    half = SIG_BYTES // 2
    swapped = signature[half:] + signature[:half]
    rejects(
        lambda: hybrid_verifier.verify(build_envelope(raw, key, swapped)), InvalidSignature, Reason.INVALID_SIGNATURE
    )
    for position in (0, 64, SIG_BYTES // 2, SIG_BYTES - 1):
        flipped = bytearray(signature)
        flipped[position] ^= 0x80
        rejects(
            lambda f=flipped: hybrid_verifier.verify(build_envelope(raw, key, bytes(f))),
            InvalidSignature,
            Reason.INVALID_SIGNATURE,
        )


def test_unsupported_is_distinct_from_invalid_signature(sample, hybrid_verifier) -> None:
    """anchors §16 #22: "I cannot check this" is not "this is forged"."""
    _, raw, key, signature = sample
    unsupported = rejects(
        lambda: hybrid_verifier.verify(build_envelope(raw, key, signature, version=2)),
        UnsupportedEnvelope,
        Reason.UNSUPPORTED_VERSION,
    )
    unsupported_suite = rejects(
        lambda: hybrid_verifier.verify(build_envelope(raw, key, signature, suite=2)),
        UnsupportedEnvelope,
        Reason.UNSUPPORTED_SUITE,
    )
    invalid = rejects(
        lambda: hybrid_verifier.verify(build_envelope(raw, key, bytes(SIG_BYTES))),
        InvalidSignature,
        Reason.INVALID_SIGNATURE,
    )
    assert not isinstance(unsupported, VerificationError) and not isinstance(unsupported_suite, VerificationError)
    assert not isinstance(invalid, MalformedEnvelope)
    assert not issubclass(UnsupportedEnvelope, VerificationError) and not issubclass(
        InvalidSignature, MalformedEnvelope
    )
    assert len({unsupported.reason, unsupported_suite.reason, invalid.reason}) == 3
    assert unsupported.to_json()["error"] != invalid.to_json()["error"]


# --- decoder robustness: hostile structure must fail as the boundary error ---------------------------


def _nested_list(depth: int) -> bytes:
    item = b"\xc0"
    for _ in range(depth):
        item = _rlp_list(item)
    return item


@pytest.mark.parametrize("depth", [100, 1_500, 20_000])
def test_rlp_nesting_bomb(sample, hybrid_verifier, depth: int) -> None:
    """Deeply nested RLP lists (a few KB) must be a MalformedTransaction, not a RecursionError."""
    _, _, key, signature = sample
    for raw in (b"\x02" + _nested_list(depth), _nested_list(depth)):
        for data in (raw, build_envelope(raw, key, signature)):
            with pytest.raises(MalformedEnvelope):
                hybrid_verifier.verify(data)
            with pytest.raises(MalformedEnvelope):
                LegacyVerifier().verify(data)


# --- the result object --------------------------------------------------------------------------------


def test_verified_transaction_cannot_be_constructed_outside_verifiers(sample) -> None:
    tx = decode_envelope(sample[0]).transaction
    with pytest.raises(TypeError):
        VerifiedTransaction("strict", b"\x00" * 20, tx, PqcStatus.VALID)
    with pytest.raises(TypeError):
        VerifiedTransaction("strict", b"\x00" * 20, tx, PqcStatus.VALID, _token=object())


def test_verified_transaction_cannot_be_minted_by_replace(sample) -> None:
    """``dataclasses.replace`` re-runs ``__init__`` with every field of an existing result, including
    the private token: a legacy acceptance must not be turned into a strict/VALID one for any sender."""
    accepted = LegacyVerifier().verify(sample[0])
    with pytest.raises(TypeError):
        dataclasses.replace(accepted, policy="strict", pqc=PqcStatus.VALID, sender=b"\x00" * 20)
