"""ML-DSA-87 and ML-KEM-1024 through every PQC backend chainplug knows.

Known answers come from tests/vectors/acvp/ (extracted from cryptography-vectors 50.0.2; see the
README there). Backends that cannot load here (typically liboqs) are skipped with the reason.
"""

from __future__ import annotations

import ctypes.util
import os
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chainplug.constants import (
    MLDSA87_PUBLIC_KEY_BYTES,
    MLDSA87_SEED_BYTES,
    MLDSA87_SIGNATURE_BYTES,
    MLKEM1024_CIPHERTEXT_BYTES,
    MLKEM1024_ENCAPSULATION_KEY_BYTES,
    MLKEM1024_SEED_BYTES,
    MLKEM1024_SHARED_SECRET_BYTES,
    PQC_BACKEND_ENV,
    SUITE_LABEL,
)
from chainplug.crypto import keccak256, mldsa87_key_id, pqc
from chainplug.crypto.pqc import PQCBackend, get_backend, liboqs_loadable
from chainplug.errors import BackendUnavailable, ConfigError, InvalidKey, InvalidSignature, Reason
from tests.crypto.conftest import require_backend

# ML-DSA-87 signature layout (FIPS 204 Alg. 26 sigEncode): c~ (lambda/4 = 64 bytes) || z (l = 7
# polynomials x 32 x 20 bits = 4480 bytes) || h (omega + k = 75 + 8 bytes).
C_TILDE_BYTES = 64
Z_BYTES = 4480
OMEGA = 75
K = 8
HINT_OFFSET = C_TILDE_BYTES + Z_BYTES
assert HINT_OFFSET + OMEGA + K == MLDSA87_SIGNATURE_BYTES

SYSTEM_LIBOQS = ctypes.util.find_library("oqs") or ctypes.util.find_library("liboqs")


def flip(data: bytes, index: int, bit: int = 0) -> bytes:
    out = bytearray(data)
    out[index] ^= 1 << bit
    return bytes(out)


# --- ML-DSA-87 known answers ---------------------------------------------------------------------


def test_mldsa87_key_from_seed_reproduces_kat_public_key(backend: PQCBackend, mldsa_kat: dict[str, Any]) -> None:
    key = backend.mldsa87_from_seed(mldsa_kat["xi"])
    assert key.public_key_bytes == mldsa_kat["pk"]
    assert key.key_id == keccak256(mldsa_kat["pk"]) == mldsa87_key_id(mldsa_kat["pk"])
    assert key.seed_bytes() == mldsa_kat["xi"]
    assert key.backend_name == backend.name


def test_mldsa87_kat_signature_verifies(backend: PQCBackend, mldsa_kat: dict[str, Any]) -> None:
    verifier = backend.mldsa87_public_key(mldsa_kat["pk"])
    assert verifier.public_key_bytes == mldsa_kat["pk"]
    verifier.verify(mldsa_kat["sig"], mldsa_kat["msg"], mldsa_kat["ctx"])  # raises if invalid


def _hint_mutations(sig: bytes) -> dict[str, bytes]:
    """Non-canonical hint encodings (FIPS 204 Alg. 21 HintBitUnpack must return bottom)."""
    out: dict[str, bytes] = {}
    idx = bytearray(sig[HINT_OFFSET : HINT_OFFSET + OMEGA])
    counts = bytearray(sig[HINT_OFFSET + OMEGA :])
    head = sig[:HINT_OFFSET]

    bad = bytearray(counts)
    bad[0] = OMEGA + 1  # a running count above omega
    out["hint-count-above-omega"] = head + bytes(idx) + bytes(bad)

    first = next((i for i in range(K - 1) if counts[i] > 0), None)
    if first is not None:
        bad = bytearray(counts)
        bad[first + 1] = counts[first] - 1  # running counts must not decrease
        out["hint-counts-decreasing"] = head + bytes(idx) + bytes(bad)

    if counts[-1] < OMEGA:  # unused index slots must be zero (strong unforgeability)
        bad = bytearray(idx)
        bad[OMEGA - 1] = 1
        out["hint-nonzero-padding"] = head + bytes(bad) + bytes(counts)

    start = 0
    for i in range(K):  # indices inside one polynomial must strictly increase
        end = counts[i]
        if end - start >= 2:
            bad = bytearray(idx)
            bad[start], bad[start + 1] = bad[start + 1], bad[start]
            out["hint-indices-unsorted"] = head + bytes(bad) + bytes(counts)
            bad = bytearray(idx)
            bad[start + 1] = bad[start]
            out["hint-index-repeated"] = head + bytes(bad) + bytes(counts)
            break
        start = end
    return out


def _signature_mutations(sig: bytes) -> dict[str, bytes]:
    z_first = bytearray(sig)
    z_first[C_TILDE_BYTES] = 0xFF  # first z coefficient -> gamma1 - (2^20 - 1): norm check fails
    z_first[C_TILDE_BYTES + 1] = 0xFF
    z_first[C_TILDE_BYTES + 2] |= 0x0F
    cases = {
        "empty": b"",
        "truncated-by-one": sig[:-1],
        "truncated-to-half": sig[: len(sig) // 2],
        "extended-by-zero-byte": sig + b"\x00",
        "extended-by-copy": sig + sig,
        "all-zero": bytes(MLDSA87_SIGNATURE_BYTES),
        "all-ff": b"\xff" * MLDSA87_SIGNATURE_BYTES,
        "bitflip-c-tilde-first": flip(sig, 0),
        "bitflip-c-tilde-last": flip(sig, C_TILDE_BYTES - 1, 7),
        "bitflip-z-middle": flip(sig, C_TILDE_BYTES + Z_BYTES // 2, 3),
        "bitflip-z-last": flip(sig, HINT_OFFSET - 1, 7),
        "bitflip-hint-index": flip(sig, HINT_OFFSET, 0),
        "bitflip-hint-count": flip(sig, MLDSA87_SIGNATURE_BYTES - 1, 0),
        "z-coefficient-out-of-range": bytes(z_first),
    }
    cases.update(_hint_mutations(sig))
    return cases


def test_mldsa87_mutated_signatures_are_rejected(backend: PQCBackend, kat_mldsa: list[dict[str, Any]]) -> None:
    vector = kat_mldsa[0]
    verifier = backend.mldsa87_public_key(vector["pk"])
    cases = _signature_mutations(vector["sig"])
    assert {"hint-nonzero-padding", "hint-indices-unsorted", "hint-count-above-omega"} <= set(cases)
    accepted = []
    for label, bad_sig in cases.items():
        try:
            verifier.verify(bad_sig, vector["msg"], vector["ctx"])
        except InvalidSignature as exc:
            assert exc.reason is Reason.INVALID_SIGNATURE
        else:
            accepted.append(label)
    assert accepted == [], f"{backend.name} accepted mutated signatures: {accepted}"


def _verify_case(backend: PQCBackend, vectors: list[dict[str, Any]], case: str) -> tuple[Any, bytes, bytes, bytes]:
    v, other = vectors[0], vectors[1]
    sig, msg, ctx = v["sig"], v["msg"], v["ctx"]
    pk = v["pk"]
    if case == "wrong-key":
        pk = other["pk"]
    elif case == "wrong-message-bitflip":
        msg = flip(msg, 0)
    elif case == "wrong-message-extended":
        msg = msg + b"\x00"
    elif case == "wrong-message-truncated":
        msg = msg[:-1]
    elif case == "wrong-message-empty":
        msg = b""
    elif case == "wrong-context-bitflip":
        ctx = flip(ctx, len(ctx) - 1)
    elif case == "missing-context":
        ctx = b""
    elif case == "context-extended":
        ctx = ctx + b"\x00"
    elif case == "context-truncated":
        ctx = ctx[:-1]
    elif case == "context-and-message-shifted":  # M' = 0 || len(ctx) || ctx || M must be injective
        ctx, msg = ctx[:-1], ctx[-1:] + msg
    elif case == "other-vectors-signature":
        sig = other["sig"]
    else:  # pragma: no cover
        raise AssertionError(case)
    return backend.mldsa87_public_key(pk), sig, msg, ctx


@pytest.mark.parametrize(
    "case",
    [
        "wrong-key",
        "wrong-message-bitflip",
        "wrong-message-extended",
        "wrong-message-truncated",
        "wrong-message-empty",
        "wrong-context-bitflip",
        "missing-context",
        "context-extended",
        "context-truncated",
        "context-and-message-shifted",
        "other-vectors-signature",
    ],
)
def test_mldsa87_kat_signature_rejected_in_wrong_setting(
    backend: PQCBackend, kat_mldsa: list[dict[str, Any]], case: str
) -> None:
    verifier, sig, msg, ctx = _verify_case(backend, kat_mldsa, case)
    with pytest.raises(InvalidSignature):
        verifier.verify(sig, msg, ctx)


def test_mldsa87_context_longer_than_255_bytes_is_an_error_not_truncated(
    backend: PQCBackend, kat_mldsa: list[dict[str, Any]]
) -> None:
    vector = kat_mldsa[0]
    verifier = backend.mldsa87_public_key(vector["pk"])
    long_ctx = vector["ctx"] + bytes(256 - len(vector["ctx"]))  # the KAT ctx, zero-padded to 256 bytes
    with pytest.raises(InvalidKey) as excinfo:
        verifier.verify(vector["sig"], vector["msg"], long_ctx)
    assert excinfo.value.reason is Reason.INVALID_KEY
    key = backend.mldsa87_from_seed(vector["xi"])
    with pytest.raises(InvalidKey):
        key.sign(vector["msg"], b"\x01" * 256)
    with pytest.raises(InvalidKey):
        key.sign(vector["msg"], b"\x01" * 1000)
    # exactly 255 bytes is fine, both ways
    ctx255 = b"\xa5" * 255
    verifier.verify(key.sign(b"m", ctx255), b"m", ctx255)


# --- ML-DSA-87 round trips and key handling --------------------------------------------------------


def test_mldsa87_sign_verify_round_trip_with_suite_label(backend: PQCBackend) -> None:
    key = backend.mldsa87_generate()
    message = b"chainplug M' stand-in" * 3
    signature = key.sign(message, SUITE_LABEL)
    assert len(signature) == MLDSA87_SIGNATURE_BYTES
    assert len(key.public_key_bytes) == MLDSA87_PUBLIC_KEY_BYTES
    verifier = backend.mldsa87_public_key(key.public_key_bytes)
    verifier.verify(signature, message, SUITE_LABEL)
    with pytest.raises(InvalidSignature):
        verifier.verify(signature, message, SUITE_LABEL[:-1])
    with pytest.raises(InvalidSignature):
        verifier.verify(signature, message, b"")
    # hedged signing: a second signature of the same message differs and verifies too
    again = key.sign(message, SUITE_LABEL)
    assert again != signature
    verifier.verify(again, message, SUITE_LABEL)


def test_mldsa87_empty_message_and_empty_context(backend: PQCBackend) -> None:
    key = backend.mldsa87_from_seed(bytes(range(32)))
    verifier = backend.mldsa87_public_key(key.public_key_bytes)
    verifier.verify(key.sign(b"", b""), b"", b"")
    with pytest.raises(InvalidSignature):
        verifier.verify(key.sign(b"", b""), b"", b"\x00")


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(message=st.binary(max_size=300), context=st.binary(max_size=255), tweak=st.integers(min_value=0))
def test_mldsa87_round_trip_property(backend: PQCBackend, message: bytes, context: bytes, tweak: int) -> None:
    key = backend.mldsa87_from_seed(b"\x42" * 32)
    verifier = backend.mldsa87_public_key(key.public_key_bytes)
    signature = key.sign(message, context)
    verifier.verify(signature, message, context)
    other = message + b"!" if not message else flip(message, tweak % len(message), tweak % 8)
    with pytest.raises(InvalidSignature):
        verifier.verify(signature, other, context)


def test_mldsa87_same_seed_same_key_different_seed_different_key(backend: PQCBackend) -> None:
    a = backend.mldsa87_from_seed(b"\x01" * 32)
    b = backend.mldsa87_from_seed(bytearray(b"\x01" * 32))
    c = backend.mldsa87_from_seed(b"\x02" + b"\x01" * 31)
    assert a.public_key_bytes == b.public_key_bytes != c.public_key_bytes
    g1, g2 = backend.mldsa87_generate(), backend.mldsa87_generate()
    assert g1.public_key_bytes != g2.public_key_bytes
    assert len(g1.seed_bytes()) == MLDSA87_SEED_BYTES


@pytest.mark.parametrize("length", [0, 1, 31, 33, 64])
def test_mldsa87_seed_must_be_exactly_32_bytes(backend: PQCBackend, length: int) -> None:
    with pytest.raises(InvalidKey):
        backend.mldsa87_from_seed(bytes(length))


@pytest.mark.parametrize("delta", [-MLDSA87_PUBLIC_KEY_BYTES, -1, 1, 32])
def test_mldsa87_public_key_must_have_exact_length(
    backend: PQCBackend, kat_mldsa: list[dict[str, Any]], delta: int
) -> None:
    pk = kat_mldsa[0]["pk"]
    bad = pk[:delta] if delta < 0 else pk + bytes(delta)
    with pytest.raises(InvalidKey):
        backend.mldsa87_public_key(bad)
    with pytest.raises(InvalidKey):
        mldsa87_key_id(bad)


def test_mldsa87_destroy_makes_the_key_unusable(backend: PQCBackend) -> None:
    seed = os.urandom(32)
    key = backend.mldsa87_from_seed(seed)
    public = key.public_key_bytes
    assert seed.hex() not in repr(key)
    assert key.key_id.hex() in repr(key)
    key.destroy()
    with pytest.raises(InvalidKey):
        key.sign(b"m", b"")
    with pytest.raises(InvalidKey):
        key.seed_bytes()
    assert key.public_key_bytes == public  # public information stays available
    assert seed.hex() not in repr(key)
    assert key._seed == bytearray(32)  # type: ignore[attr-defined]  # our copy of the seed is wiped
    key.destroy()  # idempotent


def test_liboqs_destroy_cleanses_the_expanded_secret_key() -> None:
    """liboqs keeps the expanded ML-DSA-87 secret key in a buffer of ours: destroy() must wipe it."""
    key = require_backend("liboqs").mldsa87_from_seed(os.urandom(32))
    secret = key._secret  # type: ignore[attr-defined]
    assert len(secret) == 4896 and any(secret.raw)
    key.destroy()
    assert secret.raw == bytes(4896)


# --- ML-KEM-1024 known answers ------------------------------------------------------------------


def test_mlkem1024_key_from_seed_reproduces_kat(backend: PQCBackend, mlkem_kat: dict[str, Any]) -> None:
    seed = mlkem_kat["d"] + mlkem_kat["z"]
    key = backend.mlkem1024_from_seed(seed)
    assert key.encapsulation_key_bytes == mlkem_kat["pk"]
    assert key.seed_bytes() == seed
    assert key.decapsulate(mlkem_kat["ct"]) == mlkem_kat["ss"]
    # implicit rejection: a ciphertext that does not decapsulate honestly yields J(z || c), not an error
    assert key.decapsulate(mlkem_kat["ct_n"]) == mlkem_kat["ss_n"]


def test_mlkem1024_round_trip(backend: PQCBackend) -> None:
    key = backend.mlkem1024_generate()
    assert len(key.seed_bytes()) == MLKEM1024_SEED_BYTES
    assert backend.mlkem1024_from_seed(key.seed_bytes()).encapsulation_key_bytes == key.encapsulation_key_bytes
    shared, ciphertext = backend.mlkem1024_encapsulate(key.encapsulation_key_bytes)
    assert len(shared) == MLKEM1024_SHARED_SECRET_BYTES
    assert len(ciphertext) == MLKEM1024_CIPHERTEXT_BYTES
    assert key.decapsulate(ciphertext) == shared
    shared2, ciphertext2 = backend.mlkem1024_encapsulate(key.encapsulation_key_bytes)
    assert ciphertext2 != ciphertext and shared2 != shared
    tampered = flip(ciphertext, 100)
    rejected = key.decapsulate(tampered)
    assert rejected != shared and len(rejected) == MLKEM1024_SHARED_SECRET_BYTES
    assert key.decapsulate(tampered) == rejected  # deterministic implicit rejection
    other = backend.mlkem1024_generate()
    assert other.decapsulate(ciphertext) != shared


@pytest.mark.parametrize("length", [0, 32, 63, 65, 96])
def test_mlkem1024_seed_must_be_exactly_64_bytes(backend: PQCBackend, length: int) -> None:
    with pytest.raises(InvalidKey):
        backend.mlkem1024_from_seed(bytes(length))


@pytest.mark.parametrize("delta", [-MLKEM1024_CIPHERTEXT_BYTES, -1, 1])
def test_mlkem1024_ciphertext_and_key_must_have_exact_length(
    backend: PQCBackend, kat_mlkem: list[dict[str, Any]], delta: int
) -> None:
    vector = kat_mlkem[0]
    key = backend.mlkem1024_from_seed(vector["d"] + vector["z"])
    ct = vector["ct"][:delta] if delta < 0 else vector["ct"] + bytes(delta)
    with pytest.raises(InvalidKey):
        key.decapsulate(ct)
    ek = vector["pk"][:delta] if delta < 0 else vector["pk"] + bytes(delta)
    with pytest.raises(InvalidKey):
        backend.mlkem1024_encapsulate(ek)


def test_mlkem1024_encapsulation_key_modulus_check(backend: PQCBackend, kat_mlkem: list[dict[str, Any]]) -> None:
    """FIPS 203 §7.2: an encapsulation key whose coefficients are not reduced mod q is refused."""
    ek = bytearray(kat_mlkem[0]["pk"])
    ek[0] = 0x01  # first 12-bit coefficient := 0xD01 = 3329 = q
    ek[1] = (ek[1] & 0xF0) | 0x0D
    assert len(ek) == MLKEM1024_ENCAPSULATION_KEY_BYTES
    with pytest.raises(InvalidKey):
        backend.mlkem1024_encapsulate(bytes(ek))
    with pytest.raises(InvalidKey):
        backend.mlkem1024_encapsulate(b"\xff" * MLKEM1024_ENCAPSULATION_KEY_BYTES)


# --- cross-backend agreement ----------------------------------------------------------------------


def test_backends_agree(backend_pair: tuple[PQCBackend, PQCBackend], kat_mldsa: list[dict[str, Any]]) -> None:
    a, b = backend_pair
    seed = os.urandom(32)
    ka, kb = a.mldsa87_from_seed(seed), b.mldsa87_from_seed(seed)
    assert ka.public_key_bytes == kb.public_key_bytes
    for signer, verifier_backend in ((ka, b), (kb, a)):
        sig = signer.sign(b"cross", SUITE_LABEL)
        verifier_backend.mldsa87_public_key(signer.public_key_bytes).verify(sig, b"cross", SUITE_LABEL)
        with pytest.raises(InvalidSignature):
            verifier_backend.mldsa87_public_key(signer.public_key_bytes).verify(sig, b"cross", b"")
    kem_seed = os.urandom(64)
    da, db = a.mlkem1024_from_seed(kem_seed), b.mlkem1024_from_seed(kem_seed)
    assert da.encapsulation_key_bytes == db.encapsulation_key_bytes
    ss, ct = a.mlkem1024_encapsulate(db.encapsulation_key_bytes)
    assert db.decapsulate(ct) == ss == da.decapsulate(ct)
    ss, ct = b.mlkem1024_encapsulate(da.encapsulation_key_bytes)
    assert da.decapsulate(ct) == ss
    bad = flip(ct, 7)
    assert da.decapsulate(bad) == db.decapsulate(bad)  # same implicit-rejection output


# --- backend selection ------------------------------------------------------------------------------


def test_backend_selection_by_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PQC_BACKEND_ENV, "cryptography")
    assert get_backend().name == "cryptography"
    monkeypatch.setenv(PQC_BACKEND_ENV, " Cryptography ")
    assert get_backend().name == "cryptography"
    monkeypatch.setenv(PQC_BACKEND_ENV, "no-such-backend")
    with pytest.raises(ConfigError) as excinfo:
        get_backend()
    assert excinfo.value.reason is Reason.BAD_CONFIG
    monkeypatch.setenv(PQC_BACKEND_ENV, "auto")
    assert get_backend().name == ("liboqs" if liboqs_loadable() else "cryptography")
    monkeypatch.delenv(PQC_BACKEND_ENV)
    assert get_backend().name == ("liboqs" if liboqs_loadable() else "cryptography")
    assert get_backend("cryptography").name == "cryptography"  # an explicit name beats the variable


def test_explicit_liboqs_without_library_is_backend_unavailable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if SYSTEM_LIBOQS:
        pytest.skip(f"a system liboqs ({SYSTEM_LIBOQS}) is found whatever OQS_INSTALL_PATH says")
    monkeypatch.setenv("OQS_INSTALL_PATH", str(tmp_path))  # an empty prefix, even where liboqs is installed
    monkeypatch.setattr(pqc, "_load", cache(pqc._load.__wrapped__))  # not the process's loaded backends
    with pytest.raises(BackendUnavailable) as excinfo:
        get_backend("liboqs")
    assert excinfo.value.reason is Reason.BACKEND_UNAVAILABLE
    assert "CHAINPLUG_PQC_BACKEND=cryptography" in str(excinfo.value)
