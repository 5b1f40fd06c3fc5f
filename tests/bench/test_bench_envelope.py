"""Envelope verification against its floor: bare ML-DSA-87 verify + bare secp256k1 recover.

Measure: ``pytest tests/bench/test_bench_envelope.py --benchmark-enable --benchmark-columns=median,iqr``.
Targets (issue #18): upgraded verify <= 1.10 x (bare ML-DSA-87 verify + bare recover) and legacy
verify <= 1.2 x bare recover, the floors on the PQC backend in use (chainplug.bench.primitives);
``chainplug bench`` reports the same operations as ratios measured in the same rounds.
"""

from typing import Any

import pytest
from eth_account import Account

from chainplug import CompositeAccount, decode_envelope
from chainplug.bench.primitives import MLDSA_VERIFY, SECP_RECOVER, Workload, primitive_ops
from chainplug.crypto import get_backend
from chainplug.types import AccountState
from chainplug.verify import InMemoryRegistry, LegacyVerifier, UpgradedVerifier

ACCOUNT = CompositeAccount.from_keys(b"\x11" * 32, b"\x22" * 32)
SIGNED = ACCOUNT.sign_transaction(
    {"chainId": 1, "nonce": 7, "gas": 21000, "to": "0x" + "33" * 20, "value": 10**18,
     "maxFeePerGas": 30 * 10**9, "maxPriorityFeePerGas": 10**9}
)  # fmt: skip
ENVELOPE = decode_envelope(SIGNED.envelope)
KEY_ID_ENVELOPE = ENVELOPE.without_public_key().encode()
PRIMITIVES = primitive_ops(get_backend().name, Workload.build())
REGISTRY = InMemoryRegistry()
REGISTRY.set(ACCOUNT.address_bytes, AccountState.HYBRID, public_key=ACCOUNT.pqc_public_key)


@pytest.mark.benchmark(group="floor")
def test_bare_mldsa87_verify(benchmark: Any) -> None:
    """On the PQC backend in use, straight on its library (chainplug.bench.primitives)."""
    benchmark(PRIMITIVES[MLDSA_VERIFY])


@pytest.mark.benchmark(group="floor")
def test_bare_secp256k1_recover(benchmark: Any) -> None:
    assert len(benchmark(PRIMITIVES[SECP_RECOVER])) == 64


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
