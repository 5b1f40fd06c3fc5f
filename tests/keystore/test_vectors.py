"""Golden files (tests/vectors/keystore/): they open under the production policy, re-encode
byte-for-byte, and decrypt with independent code following only docs/keystore.md §3."""

import hashlib
import hmac
import json
from pathlib import Path

import pytest
from Crypto.Cipher import AES
from kyber_py.ml_kem import ML_KEM_1024

from chainplug.constants import KEYSTORE_HKDF_INFO
from chainplug.crypto import get_backend, mldsa87_key_id
from chainplug.errors import WeakKdfParameters
from chainplug.keystore import (
    Credentials,
    KdfPolicy,
    KemKey,
    Passphrase,
    SealedKeyFile,
    Vault,
    VaultManifest,
    decrypt_v3,
    open_key_file,
)

VECTORS = Path(__file__).parent.parent / "vectors" / "keystore"
EXPECTED = json.loads((VECTORS / "expected.json").read_text())
KEY_FILES = ["classical.key.json", "pqc.key.json", "weak-kdf.key.json"]


@pytest.fixture(scope="module")
def production(pqc_backend_name: str) -> Credentials:
    """The production policy (no test shortcut): one PBKDF2 at 210,000 iterations, cached per backend."""
    kem_key = KemKey.load(VECTORS / "kem-key.json", backend=get_backend(pqc_backend_name))
    return Credentials(Passphrase(EXPECTED["password"]), kem_key)


def test_kem_key_vector() -> None:
    key = KemKey.load(VECTORS / "kem-key.json")
    assert key.key_id.hex() == EXPECTED["kem_key_id"]
    assert key.key_id == hashlib.sha3_256(key.encapsulation_key_bytes).digest()


def test_classical_vector(production: Credentials) -> None:
    key = open_key_file(VECTORS / "classical.key.json", production).classical()
    assert key.secret_bytes().hex() == EXPECTED["secp256k1_secret"]
    assert "0x" + key.address.hex() == EXPECTED["address"]


def test_pqc_vector(production: Credentials) -> None:
    unlocked = open_key_file(VECTORS / "pqc.key.json", production)
    assert unlocked.pqc().seed_bytes().hex() == EXPECTED["mldsa87_seed"]
    assert mldsa87_key_id(unlocked.header.public_key).hex() == EXPECTED["mldsa87_public_key_keccak256"]
    assert unlocked.header.classical_public_key is not None
    assert unlocked.header.classical_public_key.hex() == EXPECTED["secp256k1_public_key"]
    assert unlocked.generation == 1


def test_vault_vector(production: Credentials) -> None:
    reader = Credentials(Passphrase(EXPECTED["password"]), production.kem_key)
    keys = Vault.open(VECTORS / "vault", reader).unlock_all()
    assert sorted(k.algorithm.value for k in keys) == ["ml-dsa-87", "secp256k1"]
    assert reader.passphrase.derivations == 1


def test_weak_vector_is_refused_by_production_and_opens_when_explicitly_allowed(production: Credentials) -> None:
    with pytest.raises(WeakKdfParameters):
        open_key_file(VECTORS / "weak-kdf.key.json", production)
    allowed = Credentials(
        Passphrase(EXPECTED["password"], KdfPolicy.unsafe_for_testing(EXPECTED["weak_iterations"])), production.kem_key
    )
    assert (
        open_key_file(VECTORS / "weak-kdf.key.json", allowed).classical().secret_bytes().hex()
        == EXPECTED["secp256k1_secret"]
    )


@pytest.mark.parametrize("name", [*KEY_FILES, *(f"vault/{p.name}" for p in (VECTORS / "vault").glob("0x*.json"))])
def test_vectors_are_canonical(name: str) -> None:
    raw = (VECTORS / name).read_bytes()
    assert SealedKeyFile.decode(raw).encode() == raw


def test_manifest_vector_is_canonical() -> None:
    raw = (VECTORS / "vault" / "vault.json").read_bytes()
    assert VaultManifest.decode(raw).encode() == raw


def _independent_open(raw: bytes, password: str, kem_seed: bytes) -> bytes:
    """docs/keystore.md §3, step by step, with none of chainplug's code."""
    document = json.loads(raw)
    header = document["header"]
    ad = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    password_key = hashlib.pbkdf2_hmac(
        "sha3_256", password.encode(), bytes.fromhex(header["kdf"]["salt"]), header["kdf"]["iterations"], 32
    )
    _, dk = ML_KEM_1024.key_derive(kem_seed)
    shared = ML_KEM_1024.decaps(dk, bytes.fromhex(header["kem"]["ciphertext"]))
    prk = hmac.digest(bytes(32), password_key + shared, "sha3_256")  # HKDF-Extract, no salt
    kek = hmac.digest(prk, KEYSTORE_HKDF_INFO + hashlib.sha3_256(ad).digest() + b"\x01", "sha3_256")
    sealed = bytes.fromhex(document["ciphertext"])
    cipher = AES.new(kek, AES.MODE_GCM, nonce=bytes.fromhex(header["cipher"]["nonce"]))
    cipher.update(ad)
    return cipher.decrypt_and_verify(sealed[:-16], sealed[-16:])


@pytest.mark.parametrize(
    ("name", "secret"), [("classical.key.json", "secp256k1_secret"), ("pqc.key.json", "mldsa87_seed")]
)
def test_independent_implementation_opens_the_vectors(name: str, secret: str) -> None:
    raw = (VECTORS / name).read_bytes()
    plaintext = _independent_open(raw, EXPECTED["password"], bytes.fromhex(EXPECTED["kem_seed"]))
    assert plaintext.hex() == EXPECTED[secret]


@pytest.mark.parametrize("name", ["v3-pbkdf2.json", "v3-scrypt.json"])
def test_web3_secret_storage_vectors(name: str) -> None:
    key = decrypt_v3((VECTORS / name).read_bytes(), EXPECTED["v3_password"].encode())
    assert key.secret_bytes().hex() == EXPECTED["v3_secret"]
