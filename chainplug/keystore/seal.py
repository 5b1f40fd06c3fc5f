"""Seal and open: the keystore's cryptographic core (docs/keystore.md §3).

    password key = PBKDF2-HMAC-SHA3-256(password, header.kdf.salt, header.kdf.iterations, 32)
    shared secret = ML-KEM-1024.Decaps(decapsulation key, header.kem.ciphertext)
    AD  = canonical JSON of the header
    KEK = HKDF-SHA3-256(IKM = password key || shared secret, salt = none,
                        info = "chainplug-keystore-v1/kek" || SHA3-256(AD), L = 32)
    ciphertext = AES-256-GCM(KEK, header.cipher.nonce, plaintext = secret, AD)

Every write encapsulates afresh and draws a fresh nonce; the KEK is bound to the header through
both the HKDF info and the AD. Opening re-derives the public key from the decrypted secret and
compares it with the header in constant time. A decryption failure is one error whatever its cause.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Callable
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from ..constants import KEYSTORE_HKDF_INFO, KEYSTORE_KEY_BYTES, KEYSTORE_NONCE_BYTES, KEYSTORE_TAG_BYTES
from ..crypto import MLDSA87SigningKey, PQCBackend, Secp256k1PrivateKey, get_backend, zeroize
from ..errors import CryptoError, MalformedKeyFile, PublicKeyMismatch, WrongPassphraseOrKey
from ..types import Address
from .format import SECRET_BYTES, KdfParams, KeyAlgorithm, KeyFileHeader, SealedKeyFile, SealParams, VaultManifest
from .kdf import Passphrase
from .kem import KemKey

RandomBytes = Callable[[int], bytes]
_SHA3_256 = hashes.SHA3_256()
PrivateKey = Secp256k1PrivateKey | MLDSA87SigningKey


@dataclass(frozen=True, slots=True)
class Credentials:
    """Both factors: a thief needs the password *and* the KEM decapsulation key."""

    passphrase: Passphrase
    """The password, with its per-(salt, iterations) derivation cache."""
    kem_key: KemKey
    """The ML-KEM-1024 decapsulation key, stored apart from the key files."""

    def destroy(self) -> None:
        """Wipe the password and its derived keys."""
        self.passphrase.destroy()


def derive_kek(password_key: bytes | bytearray, shared_secret: bytes, associated_data: bytes) -> bytearray:
    """HKDF-SHA3-256(password key || shared secret, info = KEYSTORE_HKDF_INFO || SHA3-256(AD))."""
    ikm = bytearray(password_key)
    ikm += shared_secret
    kek = bytearray(KEYSTORE_KEY_BYTES)
    info = KEYSTORE_HKDF_INFO + hashlib.sha3_256(associated_data).digest()
    try:
        HKDF(_SHA3_256, KEYSTORE_KEY_BYTES, None, info).derive_into(ikm, kek)
    finally:
        zeroize(ikm)
    return kek


def _new_seal(
    kdf: KdfParams, kem_key: KemKey, backend: PQCBackend, random_bytes: RandomBytes
) -> tuple[SealParams, bytes]:
    shared_secret, kem_ciphertext = backend.mlkem1024_encapsulate(kem_key.encapsulation_key_bytes)
    return SealParams(kdf, kem_key.key_id, kem_ciphertext, random_bytes(KEYSTORE_NONCE_BYTES)), shared_secret


def _encrypt(
    seal: SealParams, ad: bytes, shared_secret: bytes, plaintext: bytes | bytearray, creds: Credentials
) -> bytes:
    kek = derive_kek(creds.passphrase.key_for(seal.kdf), shared_secret, ad)
    try:
        out = bytearray(len(plaintext) + KEYSTORE_TAG_BYTES)
        AESGCM(kek).encrypt_into(seal.nonce, plaintext, ad, out)
        return bytes(out)
    finally:
        zeroize(kek)


def _decrypt_into(
    seal: SealParams, ad: bytes, ciphertext: bytes, out: bytearray, creds: Credentials, *, what: str
) -> None:
    """Decrypt into ``out`` or raise :class:`WrongPassphraseOrKey` (one error for every cause)."""
    password_key = creds.passphrase.key_for(seal.kdf)  # policy check first: a weak file is refused as such
    if not hmac.compare_digest(seal.kem_key_id, creds.kem_key.key_id):
        raise WrongPassphraseOrKey(
            f"cannot open {what}: it is sealed to KEM key {seal.kem_key_id.hex()[:16]}…, not to the KEM key "
            f"given ({creds.kem_key.key_id.hex()[:16]}…) — wrong KEM key, or the file was modified"
        )
    kek = derive_kek(password_key, creds.kem_key.decapsulate(seal.kem_ciphertext), ad)
    try:
        AESGCM(kek).decrypt_into(seal.nonce, ciphertext, ad, out)
    except InvalidTag:
        zeroize(out)
        # NOTE: ``from None``: InvalidTag says nothing more, and chaining would only add noise.
        raise WrongPassphraseOrKey(
            f"cannot open {what}: wrong password, wrong KEM key, or the file was modified"
        ) from None
    finally:
        zeroize(kek)


@dataclass(slots=True, eq=False)
class UnlockedKey:
    """A decrypted private key whose public key matched its file's header."""

    header: KeyFileHeader
    """The authenticated header it was sealed under."""
    private_key: PrivateKey
    """The usable key object (it holds the secret; call :meth:`destroy` when done)."""

    @property
    def address(self) -> Address:
        return self.header.address

    @property
    def algorithm(self) -> KeyAlgorithm:
        return self.header.algorithm

    @property
    def generation(self) -> int:
        return self.header.generation

    def classical(self) -> Secp256k1PrivateKey:
        """The secp256k1 key (raises if this is an ML-DSA-87 key)."""
        if not isinstance(self.private_key, Secp256k1PrivateKey):
            raise TypeError("this key file holds an ML-DSA-87 key")
        return self.private_key

    def pqc(self) -> MLDSA87SigningKey:
        """The ML-DSA-87 key (raises if this is a secp256k1 key)."""
        if not isinstance(self.private_key, MLDSA87SigningKey):
            raise TypeError("this key file holds a secp256k1 key")
        return self.private_key

    def destroy(self) -> None:
        """Wipe the key object's copy of the secret (best effort: docs/keystore.md §7)."""
        self.private_key.destroy()

    def __repr__(self) -> str:
        return f"UnlockedKey(address=0x{self.address.hex()}, algorithm={self.algorithm}, generation={self.generation})"


def secret_of(key: PrivateKey) -> bytes:
    """The 32 bytes a key file seals: the secp256k1 scalar or the ML-DSA-87 seed."""
    return key.secret_bytes() if isinstance(key, Secp256k1PrivateKey) else key.seed_bytes()


def algorithm_of(key: PrivateKey) -> KeyAlgorithm:
    return KeyAlgorithm.SECP256K1 if isinstance(key, Secp256k1PrivateKey) else KeyAlgorithm.MLDSA87


def seal_key(
    key: PrivateKey,
    *,
    credentials: Credentials,
    kdf: KdfParams,
    address: Address | None = None,
    classical_public_key: bytes | None = None,
    generation: int = 0,
    backend: PQCBackend | None = None,
    random_bytes: RandomBytes = os.urandom,
) -> SealedKeyFile:
    """Seal one private key. A secp256k1 key gives its own address; an ML-DSA-87 key needs
    ``address`` and, when known, the account's ``classical_public_key`` (recorded and checked)."""
    backend = backend or get_backend()
    if isinstance(key, Secp256k1PrivateKey):
        if address is not None and address != key.address:
            raise PublicKeyMismatch("the address given is not the address of this secp256k1 key")
        address, classical_public_key = key.address, None
    elif address is None:
        raise MalformedKeyFile("an ML-DSA-87 key file needs the account address")
    seal, shared_secret = _new_seal(kdf, credentials.kem_key, backend, random_bytes)
    header = KeyFileHeader(address, algorithm_of(key), generation, key.public_key_bytes, classical_public_key, seal)
    placeholder = SealedKeyFile(header, bytes(SECRET_BYTES + KEYSTORE_TAG_BYTES))
    secret = bytearray(secret_of(key))
    try:
        ciphertext = _encrypt(seal, placeholder.associated_data, shared_secret, secret, credentials)
    finally:
        zeroize(secret)
    return SealedKeyFile(header, ciphertext)


def _rebuild(algorithm: KeyAlgorithm, secret: bytearray, backend: PQCBackend | None) -> PrivateKey:
    try:
        if algorithm is KeyAlgorithm.SECP256K1:
            return Secp256k1PrivateKey(secret)
        return (backend or get_backend()).mldsa87_from_seed(bytes(secret))
    except CryptoError:
        # Authenticated, so written by someone holding both factors — but not a valid key.
        raise PublicKeyMismatch(f"the sealed {algorithm} secret is not a valid key") from None


def open_key(sealed: SealedKeyFile, credentials: Credentials, *, backend: PQCBackend | None = None) -> UnlockedKey:
    """Decrypt, rebuild the key, and check it re-derives the header's public key (anchors #15)."""
    header = sealed.header
    secret = bytearray(SECRET_BYTES)
    try:
        _decrypt_into(sealed.seal, sealed.associated_data, sealed.ciphertext, secret, credentials, what="key file")
        private_key = _rebuild(header.algorithm, secret, backend)
    finally:
        zeroize(secret)
    if not hmac.compare_digest(private_key.public_key_bytes, header.public_key):
        private_key.destroy()
        raise PublicKeyMismatch(f"key file for 0x{header.address.hex()}: the sealed key does not match its public key")
    return UnlockedKey(header, private_key)


def reseal(
    unlocked: UnlockedKey,
    *,
    credentials: Credentials,
    kdf: KdfParams,
    backend: PQCBackend | None = None,
    random_bytes: RandomBytes = os.urandom,
) -> SealedKeyFile:
    """Seal an opened key again (rotation): same address, public keys and generation; new KEM
    ciphertext and nonce, and the given KDF parameters and credentials."""
    header = unlocked.header
    return seal_key(
        unlocked.private_key,
        credentials=credentials,
        kdf=kdf,
        address=header.address,
        classical_public_key=header.classical_public_key,
        generation=header.generation,
        backend=backend,
        random_bytes=random_bytes,
    )


def seal_manifest(
    kdf: KdfParams,
    credentials: Credentials,
    *,
    backend: PQCBackend | None = None,
    random_bytes: RandomBytes = os.urandom,
) -> VaultManifest:
    """A vault manifest: the vault's KDF parameters, sealed (empty plaintext) under both factors."""
    seal, shared_secret = _new_seal(kdf, credentials.kem_key, backend or get_backend(), random_bytes)
    placeholder = VaultManifest(seal, bytes(KEYSTORE_TAG_BYTES))
    return VaultManifest(seal, _encrypt(seal, placeholder.associated_data, shared_secret, b"", credentials))


def open_manifest(manifest: VaultManifest, credentials: Credentials) -> None:
    """Check both factors against the manifest (one PBKDF2, cached for the vault's keys)."""
    _decrypt_into(manifest.seal, manifest.associated_data, manifest.ciphertext, bytearray(), credentials, what="vault")
