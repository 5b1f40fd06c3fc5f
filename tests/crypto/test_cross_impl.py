"""Cross-checks against independent pure-Python implementations (test-only oracles):
dilithium-py (FIPS 204 ML-DSA) and kyber-py (FIPS 203 ML-KEM).

They are slow-ish pure Python, so each test does a handful of operations only.
"""

from __future__ import annotations

import os
from typing import Any

import pytest

from chainplug.constants import SUITE_LABEL
from chainplug.crypto.pqc import PQCBackend
from chainplug.errors import InvalidSignature

dilithium_ml_dsa = pytest.importorskip("dilithium_py.ml_dsa", reason="dilithium-py (dev extra) not installed")
kyber_ml_kem = pytest.importorskip("kyber_py.ml_kem", reason="kyber-py (dev extra) not installed")
ML_DSA_87 = dilithium_ml_dsa.ML_DSA_87
ML_KEM_1024 = kyber_ml_kem.ML_KEM_1024


# --- the oracles themselves agree with the known answers (so a disagreement below means us) ------


def test_dilithium_py_reproduces_kat_keys_and_deterministic_signatures(kat_mldsa: list[dict[str, Any]]) -> None:
    for vector in kat_mldsa[:3]:
        pk, sk = ML_DSA_87.key_derive(vector["xi"])
        assert pk == vector["pk"]
        assert sk == vector["sk"]
        # the KAT is "det_pure": rnd = 32 zero bytes, which is dilithium-py's deterministic mode
        assert ML_DSA_87.sign(sk, vector["msg"], ctx=vector["ctx"], deterministic=True) == vector["sig"]
        assert ML_DSA_87.verify(pk, vector["msg"], vector["sig"], ctx=vector["ctx"])
        assert not ML_DSA_87.verify(pk, vector["msg"], vector["sig"], ctx=b"")


def test_kyber_py_reproduces_kat(kat_mlkem: list[dict[str, Any]]) -> None:
    for vector in kat_mlkem[:3]:
        ek, dk = ML_KEM_1024.key_derive(vector["d"] + vector["z"])
        assert ek == vector["pk"]
        assert dk == vector["sk"]
        shared, ciphertext = ML_KEM_1024._encaps_internal(ek, vector["msg"])  # deterministic Encaps
        assert (shared, ciphertext) == (vector["ss"], vector["ct"])
        assert ML_KEM_1024.decaps(dk, vector["ct"]) == vector["ss"]
        assert ML_KEM_1024.decaps(dk, vector["ct_n"]) == vector["ss_n"]


# --- our backends against the oracles ---------------------------------------------------------------


def test_mldsa87_keys_from_the_same_seed_agree(backend: PQCBackend, kat_mldsa: list[dict[str, Any]]) -> None:
    seeds = [kat_mldsa[5]["xi"], os.urandom(32), bytes(32), b"\xff" * 32]
    for seed in seeds:
        pk, _ = ML_DSA_87.key_derive(seed)
        assert backend.mldsa87_from_seed(seed).public_key_bytes == pk


def test_our_signature_verifies_under_dilithium_py(backend: PQCBackend) -> None:
    seed = os.urandom(32)
    key = backend.mldsa87_from_seed(seed)
    message = b"M' as chainplug builds it is just bytes to ML-DSA" + os.urandom(8)
    signature = key.sign(message, SUITE_LABEL)
    assert ML_DSA_87.verify(key.public_key_bytes, message, signature, ctx=SUITE_LABEL)
    assert not ML_DSA_87.verify(key.public_key_bytes, message, signature, ctx=b"")
    assert not ML_DSA_87.verify(key.public_key_bytes, message + b"x", signature, ctx=SUITE_LABEL)


def test_dilithium_py_signature_verifies_under_our_backend(backend: PQCBackend) -> None:
    pk, sk = ML_DSA_87.key_derive(os.urandom(32))
    verifier = backend.mldsa87_public_key(pk)
    message = os.urandom(40)
    hedged = ML_DSA_87.sign(sk, message, ctx=SUITE_LABEL)
    deterministic = ML_DSA_87.sign(sk, message, ctx=SUITE_LABEL, deterministic=True)
    verifier.verify(hedged, message, SUITE_LABEL)
    verifier.verify(deterministic, message, SUITE_LABEL)
    with pytest.raises(InvalidSignature):
        verifier.verify(deterministic, message, SUITE_LABEL + b"\x00")
    # an empty context is a context too: what dilithium-py signs with ctx=b"" we verify with b""
    empty = ML_DSA_87.sign(sk, message)
    verifier.verify(empty, message, b"")
    with pytest.raises(InvalidSignature):
        verifier.verify(empty, message, SUITE_LABEL)


def test_mlkem1024_keys_from_the_same_seed_agree(backend: PQCBackend, kat_mlkem: list[dict[str, Any]]) -> None:
    for seed in (kat_mlkem[7]["d"] + kat_mlkem[7]["z"], os.urandom(64)):
        ek, _ = ML_KEM_1024.key_derive(seed)
        assert backend.mlkem1024_from_seed(seed).encapsulation_key_bytes == ek


def test_mlkem1024_encapsulation_interoperates(backend: PQCBackend) -> None:
    seed = os.urandom(64)
    ours = backend.mlkem1024_from_seed(seed)
    ek, dk = ML_KEM_1024.key_derive(seed)
    # kyber-py encapsulates, we decapsulate
    shared, ciphertext = ML_KEM_1024.encaps(ek)
    assert ours.decapsulate(ciphertext) == shared
    # we encapsulate, kyber-py decapsulates
    shared, ciphertext = backend.mlkem1024_encapsulate(ek)
    assert ML_KEM_1024.decaps(dk, ciphertext) == shared
    # both reject a tampered ciphertext the same (implicit rejection is specified, not random)
    tampered = bytes([ciphertext[0] ^ 1]) + ciphertext[1:]
    assert ours.decapsulate(tampered) == ML_KEM_1024.decaps(dk, tampered) != shared
