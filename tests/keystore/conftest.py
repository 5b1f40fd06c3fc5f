"""Shared fixtures: a low-cost KDF policy (passed explicitly, never through the environment),
deterministic keys, and a snapshot helper for "nothing on disk changed". Every test here runs once
per loadable PQC backend (tests/conftest.py); module-scoped fixtures that keep a backend's key
objects request ``pqc_backend_name``."""

from pathlib import Path

import pytest
from hypothesis import strategies as st

from chainplug.crypto import MLDSA87SigningKey, PQCBackend, Secp256k1PrivateKey, get_backend, keccak256
from chainplug.keystore import Credentials, KdfPolicy, KemKey, Passphrase

TEST_ITERATIONS = 1000
POLICY = KdfPolicy.unsafe_for_testing(TEST_ITERATIONS)
PASSWORD = "correct hörse battery staple"
OTHER_PASSWORD = "incorrect horse"
KEM_SEED = bytes(range(64))
OTHER_KEM_SEED = bytes(range(64, 128))


def classical_key(n: int = 0) -> Secp256k1PrivateKey:
    """A deterministic secp256k1 key (fresh object: tests may destroy it)."""
    return Secp256k1PrivateKey(keccak256(b"keystore-test-classical" + n.to_bytes(4, "big")))


def pqc_key(n: int = 0) -> MLDSA87SigningKey:
    return get_backend().mldsa87_from_seed(keccak256(b"keystore-test-pqc" + n.to_bytes(4, "big")))


def make_credentials(password: str = PASSWORD, kem_seed: bytes = KEM_SEED, path: Path | None = None) -> Credentials:
    kem = KemKey.from_seed(kem_seed)
    kem.path = path
    return Credentials(Passphrase(password, POLICY), kem)


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file below ``root`` (hidden ones too) with its bytes."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(autouse=True)
def _on_each_backend(pqc_backend: PQCBackend) -> None:
    """Parametrises every test here over the loadable PQC backends."""


@pytest.fixture
def creds() -> Credentials:
    return make_credentials()


@pytest.fixture
def keys_dir(tmp_path: Path) -> Path:
    path = tmp_path / "keys"
    path.mkdir()
    return path


@pytest.fixture
def kem_file(tmp_path: Path) -> Path:
    """A saved KEM key file, in its own directory apart from the keys."""
    directory = tmp_path / "secrets"
    directory.mkdir()
    path = directory / "kem.json"
    KemKey.from_seed(KEM_SEED).save(path)
    return path


def edit_randomly(data: st.DataObject, raw: bytearray) -> None:
    """One to three random edits of a key file's bytes, in place: a flipped bit, an upper-cased
    character, an inserted or a deleted byte (what the parsers must treat like the general one)."""
    for _ in range(data.draw(st.integers(1, 3))):
        at = data.draw(st.integers(0, len(raw) - 1))
        edit = data.draw(st.sampled_from(["flip", "upper", "insert", "delete"]))
        if edit == "flip":
            raw[at] ^= 1 << data.draw(st.integers(0, 7))
        elif edit == "upper":
            raw[at : at + 1] = raw[at : at + 1].upper()
        elif edit == "insert":
            raw[at:at] = data.draw(st.sampled_from([b" ", b"0", b"a", b"\n", b"\x80"]))
        else:
            del raw[at]
