"""Regenerate the keystore golden files in this directory (see README.md).

    python tests/vectors/keystore/regenerate.py

Inputs are fixed (expected.json); salts and nonces are fixed here too, but ML-KEM encapsulation
draws its own randomness inside the library, so a run writes different (equally valid) ciphertexts.
Only regenerate on a deliberate format change, and commit the result.
"""

import json
import shutil
from collections.abc import Callable
from pathlib import Path

from chainplug.constants import KEYSTORE_PBKDF2_MIN_ITERATIONS
from chainplug.crypto import Secp256k1PrivateKey, get_backend, mldsa87_key_id
from chainplug.keystore import Credentials, KdfParams, KdfPolicy, KemKey, Passphrase, seal_key
from chainplug.keystore.seal import seal_manifest
from chainplug.keystore.vault import MANIFEST_NAME, KeyRef

HERE = Path(__file__).parent
PASSWORD = "correct horse battery staple"
KEM_SEED = bytes(range(64))
SECP256K1_SECRET = bytes.fromhex("4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318")
MLDSA87_SEED = bytes(range(32, 64))
SINGLE_SALT = bytes([0xA5]) * 32
VAULT_SALT = bytes([0x5A]) * 32
WEAK_ITERATIONS = 1000


def fixed(byte: int) -> Callable[[int], bytes]:
    """A stand-in for os.urandom that returns ``byte`` repeated (salts and nonces of the vectors)."""
    return lambda n: bytes([byte]) * n


def main() -> None:
    kem = KemKey.from_seed(KEM_SEED)
    (HERE / "kem-key.json").write_bytes(kem.encode())
    creds = Credentials(Passphrase(PASSWORD, KdfPolicy.unsafe_for_testing(WEAK_ITERATIONS)), kem)
    classical = Secp256k1PrivateKey(SECP256K1_SECRET)
    pqc = get_backend().mldsa87_from_seed(MLDSA87_SEED)
    single = KdfParams(KEYSTORE_PBKDF2_MIN_ITERATIONS, SINGLE_SALT)
    pqc_args = {"address": classical.address, "classical_public_key": classical.public_key_bytes, "generation": 1}

    files = {
        "classical.key.json": seal_key(classical, credentials=creds, kdf=single, random_bytes=fixed(1)),
        "pqc.key.json": seal_key(pqc, credentials=creds, kdf=single, random_bytes=fixed(2), **pqc_args),
        "weak-kdf.key.json": seal_key(
            classical, credentials=creds, kdf=KdfParams(WEAK_ITERATIONS, SINGLE_SALT), random_bytes=fixed(3)
        ),
    }
    for name, sealed in files.items():
        (HERE / name).write_bytes(sealed.encode())

    vault = HERE / "vault"
    shutil.rmtree(vault, ignore_errors=True)
    vault.mkdir()
    vault_kdf = KdfParams(KEYSTORE_PBKDF2_MIN_ITERATIONS, VAULT_SALT)
    (vault / MANIFEST_NAME).write_bytes(seal_manifest(vault_kdf, creds, random_bytes=fixed(4)).encode())
    for sealed in (
        seal_key(classical, credentials=creds, kdf=vault_kdf, random_bytes=fixed(5)),
        seal_key(pqc, credentials=creds, kdf=vault_kdf, random_bytes=fixed(6), **pqc_args),
    ):
        header = sealed.header
        ref = KeyRef(header.address, header.algorithm, header.generation)
        (vault / ref.file_name).write_bytes(sealed.encode())

    expected = {
        "password": PASSWORD,
        "kem_seed": KEM_SEED.hex(),
        "kem_key_id": kem.key_id.hex(),
        "secp256k1_secret": SECP256K1_SECRET.hex(),
        "mldsa87_seed": MLDSA87_SEED.hex(),
        "address": "0x" + classical.address.hex(),
        "secp256k1_public_key": classical.public_key_bytes.hex(),
        "mldsa87_public_key_keccak256": mldsa87_key_id(pqc.public_key_bytes).hex(),
        "iterations": KEYSTORE_PBKDF2_MIN_ITERATIONS,
        "weak_iterations": WEAK_ITERATIONS,
        "v3_password": "testpassword",
        "v3_secret": "7a28b5ba57c53603b0b07b56bba752f7784bf506fa95edc395f5cf6c7514fe9d",
    }
    (HERE / "expected.json").write_text(json.dumps(expected, indent=2, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
