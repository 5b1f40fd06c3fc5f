"""The golden vectors in tests/vectors/envelope/ (see its README.md) checked against the code.

Positive vectors: every intermediate value (address, key id, signing hash, classical signature hash,
M', raw transaction, both envelope forms) is recomputed and compared, the ML-DSA-87 signature is
checked by dilithium-py, and every expected verdict is replayed through the verifiers. Negative
vectors: each input must be rejected with the stated error class and reason. Finally the generator
must rebuild both files byte for byte (all signatures in them are deterministic).
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest
from dilithium_py.ml_dsa import ML_DSA_87
from eth_account import Account
from eth_utils import keccak

from chainplug import errors
from chainplug.envelope import MPRIME_BYTES, CompositeAccount, decode_envelope, decode_transaction
from chainplug.envelope import message_representative as build_m_prime
from chainplug.envelope.message import classical_signature_hash
from chainplug.verify import InMemoryRegistry, LegacyVerifier, StrictVerifier, UpgradedVerifier

ROOT = Path(__file__).resolve().parents[2]
VECTOR_DIR = ROOT / "tests" / "vectors" / "envelope"
POSITIVE = json.loads((VECTOR_DIR / "envelope-v1.json").read_text())
NEGATIVE = json.loads((VECTOR_DIR / "envelope-v1-negative.json").read_text())
LABEL = POSITIVE["suite_label"].encode()


def _b(text: str) -> bytes:
    assert text.startswith("0x")
    return bytes.fromhex(text[2:])


def _account(name: str) -> CompositeAccount:
    key = POSITIVE["keys"][name]
    return CompositeAccount.from_keys(_b(key["secp256k1_secret"]), _b(key["mldsa87_seed"]))


def _outcome(data: bytes, check: dict[str, Any], registries: dict[str, Any]) -> dict[str, Any]:
    registry = InMemoryRegistry.from_json(registries[check["registry"]]) if check.get("registry") else None
    chain_id = check.get("chain_id")
    verify: Any
    if check["verifier"] == "legacy":
        verify = LegacyVerifier(chain_id=chain_id).verify
    elif check["verifier"] == "strict":
        verify = StrictVerifier(registry, chain_id=chain_id).verify
    else:
        assert check["verifier"] == "upgraded" and registry is not None
        verifier = UpgradedVerifier(registry, activation_block=check.get("activation_block", 0), chain_id=chain_id)
        verify = verifier.verify
    # A verdict's "block" is the registry state it reads: the parent of the block the transaction enters.
    block = check.get("block")
    kwargs = {} if check["verifier"] == "legacy" else {"inclusion_block": None if block is None else block + 1}
    try:
        result = verify(data, **kwargs)
    except errors.ChainplugError as exc:
        return {"accepted": False, "error": type(exc).__name__, "reason": exc.reason.value}
    return {
        "accepted": True,
        "sender": "0x" + result.sender.hex(),
        "pqc": result.pqc.value,
        "sender_state": None if result.sender_state is None else result.sender_state.name,
        "key_id": None if result.key_id is None else "0x" + result.key_id.hex(),
    }


def test_keys() -> None:
    for name, key in POSITIVE["keys"].items():
        account = _account(name)
        public_key = _b(key["mldsa87_public_key"])
        assert account.address == key["address"]
        assert Account.from_key(_b(key["secp256k1_secret"])).address == key["address"]
        assert account.pqc_public_key == public_key
        assert ML_DSA_87.key_derive(_b(key["mldsa87_seed"]))[0] == public_key  # independent keygen
        assert keccak(public_key) == _b(key["key_id"]) == account.key_id


@pytest.mark.parametrize("vector", POSITIVE["vectors"], ids=lambda v: v["name"])
def test_positive_vector_intermediates(vector: dict[str, Any]) -> None:
    account = _account(vector["signer"])
    raw = _b(vector["raw_transaction"])
    assert _b(vector["sender"]) == account.address_bytes
    assert _b(vector["key_id"]) == account.key_id

    # RFC 6979 makes the classical part reproducible: signing the tx again gives the same bytes.
    signed = account.sign_transaction(vector["tx"])
    assert signed.raw_transaction == raw
    assert signed.tx_hash == _b(vector["tx_hash"]) == keccak(raw)
    assert Account.recover_transaction(raw).lower() == vector["sender"]

    tx = decode_transaction(raw)
    assert tx.chain_id == vector["chain_id"]
    assert tx.signing_hash == _b(vector["signing_hash"])
    sig = vector["classical_signature"]
    assert (tx.signature.r, tx.signature.s, tx.signature.y_parity) == (
        int(sig["r"], 16),
        int(sig["s"], 16),
        sig["y_parity"],
    )
    assert classical_signature_hash(tx.signature) == _b(vector["classical_signature_hash"])
    assert keccak(tx.signature.to_bytes()) == _b(vector["classical_signature_hash"])

    m_prime = build_m_prime(
        chain_id=tx.chain_id,
        sender=account.address_bytes,
        key_id=account.key_id,
        signing_hash=tx.signing_hash,
        classical_signature_hash=classical_signature_hash(tx.signature),
    )
    assert m_prime == _b(vector["m_prime"])
    assert len(m_prime) == MPRIME_BYTES == 208

    full, key_id_form = _b(vector["envelope_full_key"]), _b(vector["envelope_key_id"])
    decoded = decode_envelope(full)
    assert decoded.encode() == full
    assert decoded.raw_transaction == raw
    assert decoded.public_key == account.pqc_public_key
    assert decoded.without_public_key().encode() == key_id_form
    assert decode_envelope(key_id_form).encode() == key_id_form
    assert decode_envelope(key_id_form).key_id == account.key_id

    # Independent ML-DSA-87 (dilithium-py): verifies, and the deterministic variant reproduces it.
    public_key = account.pqc_public_key
    assert ML_DSA_87.verify(public_key, m_prime, decoded.pqc_signature, ctx=LABEL)
    secret_key = ML_DSA_87.key_derive(_b(vector["mldsa87_seed"]))[1]
    assert ML_DSA_87.sign(secret_key, m_prime, ctx=LABEL, deterministic=True) == decoded.pqc_signature


@pytest.mark.parametrize("vector", POSITIVE["vectors"], ids=lambda v: v["name"])
def test_positive_vector_verdicts(vector: dict[str, Any]) -> None:
    assert vector["verdicts"], "every vector states its verdicts"
    for check in vector["verdicts"]:
        got = _outcome(_b(vector[check["input"]]), check, POSITIVE["registries"])
        assert got == check["expect"], check


def _negative_input(vector: dict[str, Any]) -> bytes:
    if "input" in vector:
        return _b(vector["input"])
    pattern = vector["input_pattern"]
    prefix = _b(pattern["prefix"])
    return prefix + _b(pattern["fill_byte"]) * (pattern["length"] - len(prefix))


@pytest.mark.parametrize("vector", NEGATIVE["vectors"], ids=lambda v: v["name"])
def test_negative_vector(vector: dict[str, Any]) -> None:
    got = _outcome(_negative_input(vector), vector, NEGATIVE["registries"])
    assert got == vector["expect"]
    assert hasattr(errors, got["error"]) and errors.Reason(got["reason"])


def test_negative_vectors_cover_the_checklist() -> None:
    """STYLE.md habit 17: the negative checklist is represented in the data, not only in code."""
    names = {v["name"] for v in NEGATIVE["vectors"]}
    for needed in (
        "empty",
        "truncated-1",
        "trailing-byte",
        "oversized",
        "version-2",
        "suite-2",
        "pqc-bit-flip",
        "pqc-empty-context",
        "pqc-swapped-halves",
        "another-key",
        "pqc-from-another-transaction",
        "high-s",
        "stripped",
        "wrong-chain",
    ):
        assert needed in names


def test_generator_rebuilds_the_files_byte_for_byte() -> None:
    spec = importlib.util.spec_from_file_location("gen_envelope_vectors", ROOT / "tools" / "gen_envelope_vectors.py")
    assert spec is not None and spec.loader is not None
    generator = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generator)
    positive, negative = generator.build()
    assert generator.render(positive) == (VECTOR_DIR / "envelope-v1.json").read_text()
    assert generator.render(negative) == (VECTOR_DIR / "envelope-v1-negative.json").read_text()
