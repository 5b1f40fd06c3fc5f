"""Envelope verification against its floor: bare ML-DSA-87 verify + bare secp256k1 recover.

Measure: ``pytest tests/bench/test_bench_envelope.py --benchmark-enable --benchmark-columns=median,iqr``.
Targets (issue #2): upgraded verify <= 1.10 x (bare ML-DSA-87 verify + bare recover);
legacy verify <= 1.5 x bare recover, several times faster than eth-account's recover_transaction.
"""

from typing import Any

import coincurve
import pytest
from cryptography.hazmat.primitives.asymmetric import mldsa
from eth_account import Account

from chainplug import CompositeAccount, decode_envelope
from chainplug.constants import SUITE_LABEL
from chainplug.envelope import classical_signature_hash, message_representative
from chainplug.types import AccountState
from chainplug.verify import InMemoryRegistry, LegacyVerifier, UpgradedVerifier

ACCOUNT = CompositeAccount.from_keys(b"\x11" * 32, b"\x22" * 32)
SIGNED = ACCOUNT.sign_transaction(
    {"chainId": 1, "nonce": 7, "gas": 21000, "to": "0x" + "33" * 20, "value": 10**18,
     "maxFeePerGas": 30 * 10**9, "maxPriorityFeePerGas": 10**9}
)  # fmt: skip
ENVELOPE = decode_envelope(SIGNED.envelope)
KEY_ID_ENVELOPE = ENVELOPE.without_public_key().encode()
TX = ENVELOPE.transaction
M_PRIME = message_representative(
    chain_id=1,
    sender=ACCOUNT.address_bytes,
    key_id=ACCOUNT.key_id,
    signing_hash=TX.signing_hash,
    classical_signature_hash=classical_signature_hash(TX.signature),
)
REGISTRY = InMemoryRegistry()
REGISTRY.set(ACCOUNT.address_bytes, AccountState.HYBRID, public_key=ACCOUNT.pqc_public_key)


@pytest.mark.benchmark(group="floor")
def test_bare_mldsa87_verify(benchmark: Any) -> None:
    public = mldsa.MLDSA87PublicKey.from_public_bytes(ACCOUNT.pqc_public_key)
    benchmark(public.verify, ENVELOPE.pqc_signature, M_PRIME, SUITE_LABEL)


@pytest.mark.benchmark(group="floor")
def test_bare_secp256k1_recover(benchmark: Any) -> None:
    signature, digest = TX.signature.to_bytes(), TX.signing_hash

    def recover() -> bytes:
        return bytes(coincurve.PublicKey.from_signature_and_message(signature, digest, hasher=None).format(False))

    assert benchmark(recover)[1:] and True


@pytest.mark.benchmark(group="verify")
def test_legacy_verify(benchmark: Any) -> None:
    verifier = LegacyVerifier(chain_id=1)
    assert benchmark(verifier.verify, SIGNED.raw_transaction).sender == ACCOUNT.address_bytes


@pytest.mark.benchmark(group="verify")
def test_upgraded_verify_full_key(benchmark: Any) -> None:
    verifier = UpgradedVerifier(REGISTRY, chain_id=1)
    assert benchmark(verifier.verify, SIGNED.envelope).pqc.value == "valid"


@pytest.mark.benchmark(group="verify")
def test_upgraded_verify_key_id(benchmark: Any) -> None:
    verifier = UpgradedVerifier(REGISTRY, chain_id=1)
    assert benchmark(verifier.verify, KEY_ID_ENVELOPE).pqc.value == "valid"


@pytest.mark.benchmark(group="verify")
def test_eth_account_recover_transaction(benchmark: Any) -> None:
    assert benchmark(Account.recover_transaction, SIGNED.raw_transaction) == ACCOUNT.address


@pytest.mark.benchmark(group="codec")
def test_envelope_decode(benchmark: Any) -> None:
    assert benchmark(decode_envelope, SIGNED.envelope).key_id == ACCOUNT.key_id


@pytest.mark.benchmark(group="codec")
def test_envelope_encode(benchmark: Any) -> None:
    assert benchmark(ENVELOPE.encode) == SIGNED.envelope


@pytest.mark.benchmark(group="sign")
def test_composite_sign(benchmark: Any) -> None:
    tx = {"chainId": 1, "nonce": 8, "gas": 21000, "to": "0x" + "33" * 20, "maxFeePerGas": 10, "maxPriorityFeePerGas": 1}
    assert benchmark(ACCOUNT.sign_transaction, tx).envelope
