"""The pqc-only policy: PQC-only transactions (type 0x50) in the upgraded and strict verifiers;
legacy verifiers cannot read them at all (an unsupported type, not an invalid signature)."""

from typing import Any

import pytest

from chainplug.envelope import PqcOnlySigner
from chainplug.errors import InvalidSignature, PolicyRejected, Reason, UnsupportedEnvelope
from chainplug.types import AccountState
from chainplug.verify import InMemoryRegistry, LegacyVerifier, PqcStatus, StrictVerifier, UpgradedVerifier

SENDER = bytes.fromhex("11" * 20)


def signed(signer: PqcOnlySigner, chain_id: int = 7) -> bytes:
    tx: dict[str, Any] = {"chainId": chain_id, "nonce": 0, "to": "0x" + "22" * 20, "value": 5, "gas": 200_000,
                          "maxFeePerGas": 10, "maxPriorityFeePerGas": 1}  # fmt: skip
    return signer.sign_transaction(tx).raw_transaction


@pytest.fixture
def signer() -> PqcOnlySigner:
    return PqcOnlySigner.from_seed(b"\x05" * 32, SENDER)


def registry(state: AccountState, key_id: bytes) -> InMemoryRegistry:
    reg = InMemoryRegistry()
    reg.set(SENDER, state, key_id)
    return reg


@pytest.mark.parametrize("state", [AccountState.FINALIZING, AccountState.PQC_ONLY])
def test_registered_sender_is_accepted(signer: PqcOnlySigner, state: AccountState) -> None:
    raw = signed(signer)
    for verifier in (UpgradedVerifier(registry(state, signer.key_id), chain_id=7),
                     StrictVerifier(registry(state, signer.key_id), chain_id=7)):  # fmt: skip
        result = verifier.verify(raw)
        assert result.pqc is PqcStatus.VALID and result.sender == SENDER and result.key_id == signer.key_id


def test_legacy_verifier_cannot_read_it(signer: PqcOnlySigner) -> None:
    with pytest.raises(UnsupportedEnvelope) as info:
        LegacyVerifier().verify(signed(signer))
    assert info.value.reason is Reason.UNSUPPORTED_TX_TYPE


@pytest.mark.parametrize("state", [AccountState.CLASSICAL, AccountState.HYBRID])
def test_sender_not_yet_finalizing_is_refused(signer: PqcOnlySigner, state: AccountState) -> None:
    reg = registry(state, signer.key_id) if state is AccountState.HYBRID else InMemoryRegistry()
    with pytest.raises(PolicyRejected) as info:
        UpgradedVerifier(reg).verify(signed(signer))
    assert info.value.reason is Reason.KEY_NOT_REGISTERED


def test_key_not_matching_the_commitment(signer: PqcOnlySigner) -> None:
    other = PqcOnlySigner.from_seed(b"\x06" * 32, SENDER)
    with pytest.raises(PolicyRejected) as info:
        UpgradedVerifier(registry(AccountState.PQC_ONLY, other.key_id)).verify(signed(signer))
    assert info.value.reason is Reason.KEY_MISMATCH


def test_replay_on_another_chain(signer: PqcOnlySigner) -> None:
    with pytest.raises(PolicyRejected) as info:
        UpgradedVerifier(registry(AccountState.PQC_ONLY, signer.key_id), chain_id=8).verify(signed(signer, 7))
    assert info.value.reason is Reason.WRONG_CHAIN


def test_tampered_signature(signer: PqcOnlySigner) -> None:
    raw = bytearray(signed(signer))
    raw[-10] ^= 0x01  # inside the ML-DSA-87 signature, the last field
    with pytest.raises(InvalidSignature):
        UpgradedVerifier(registry(AccountState.PQC_ONLY, signer.key_id)).verify(bytes(raw))
