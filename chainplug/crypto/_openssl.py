"""The default PQC backend: pyca/cryptography (OpenSSL 3.5+ ML-DSA and ML-KEM)."""

from __future__ import annotations

from cryptography.exceptions import InvalidSignature as _CryptoInvalidSignature
from cryptography.hazmat.primitives.asymmetric import mldsa, mlkem

from ..constants import MLDSA87_SEED_BYTES, MLKEM1024_SEED_BYTES
from ..errors import InvalidKey
from .pqc import (
    MLDSA87SigningKey,
    MLDSA87VerifyingKey,
    MLKEM1024DecapsulationKey,
    PQCBackend,
    check_mldsa87_public_key,
)
from .zeroize import zeroize


class _SigningKey(MLDSA87SigningKey):
    backend_name = "cryptography"

    def __init__(self, seed: bytes | bytearray) -> None:
        if len(seed) != MLDSA87_SEED_BYTES:
            raise InvalidKey("ML-DSA-87 seed must be 32 bytes")
        self._seed = bytearray(seed)
        self._key: mldsa.MLDSA87PrivateKey | None = mldsa.MLDSA87PrivateKey.from_seed_bytes(bytes(seed))
        self._public = self._key.public_key().public_bytes_raw()

    @property
    def public_key_bytes(self) -> bytes:
        return self._public

    def _live(self) -> mldsa.MLDSA87PrivateKey:
        if self._key is None:
            raise InvalidKey("ML-DSA-87 key has been destroyed")
        return self._key

    def seed_bytes(self) -> bytes:
        self._live()
        return bytes(self._seed)

    def _sign(self, message: bytes, context: bytes) -> bytes:
        return self._live().sign(message, context)

    def destroy(self) -> None:
        zeroize(self._seed)
        self._key = None


class _VerifyingKey(MLDSA87VerifyingKey):
    __slots__ = ("_key", "_raw")

    def __init__(self, public_key: bytes) -> None:
        check_mldsa87_public_key(public_key)
        try:
            self._key = mldsa.MLDSA87PublicKey.from_public_bytes(public_key)
        except ValueError as exc:
            raise InvalidKey("not a valid ML-DSA-87 public key") from exc
        self._raw = bytes(public_key)

    @property
    def public_key_bytes(self) -> bytes:
        return self._raw

    def _verify(self, signature: bytes, message: bytes, context: bytes) -> bool:
        try:
            self._key.verify(signature, message, context)
        except _CryptoInvalidSignature:
            return False
        return True


class _DecapsulationKey(MLKEM1024DecapsulationKey):
    def __init__(self, seed: bytes | bytearray) -> None:
        if len(seed) != MLKEM1024_SEED_BYTES:
            raise InvalidKey("ML-KEM-1024 seed must be 64 bytes")
        self._seed = bytearray(seed)
        self._key: mlkem.MLKEM1024PrivateKey | None = mlkem.MLKEM1024PrivateKey.from_seed_bytes(bytes(seed))
        self._ek = self._key.public_key().public_bytes_raw()

    @property
    def encapsulation_key_bytes(self) -> bytes:
        return self._ek

    def _live(self) -> mlkem.MLKEM1024PrivateKey:
        if self._key is None:
            raise InvalidKey("ML-KEM-1024 key has been destroyed")
        return self._key

    def seed_bytes(self) -> bytes:
        self._live()
        return bytes(self._seed)

    def _decapsulate(self, ciphertext: bytes) -> bytes:
        return self._live().decapsulate(ciphertext)

    def destroy(self) -> None:
        zeroize(self._seed)
        self._key = None


class OpenSSLBackend(PQCBackend):
    """ML-DSA-87 / ML-KEM-1024 from the ``cryptography`` wheel's bundled OpenSSL."""

    name = "cryptography"

    @property
    def description(self) -> str:
        import cryptography
        from cryptography.hazmat.backends.openssl import backend

        return f"{backend.openssl_version_text()} via cryptography {cryptography.__version__}"

    def mldsa87_from_seed(self, seed: bytes) -> MLDSA87SigningKey:
        return _SigningKey(seed)

    def mldsa87_public_key(self, public_key: bytes) -> MLDSA87VerifyingKey:
        return _VerifyingKey(public_key)

    def mlkem1024_from_seed(self, seed: bytes) -> MLKEM1024DecapsulationKey:
        return _DecapsulationKey(seed)

    def _encapsulate(self, encapsulation_key: bytes) -> tuple[bytes, bytes]:
        try:
            public = mlkem.MLKEM1024PublicKey.from_public_bytes(encapsulation_key)
        except ValueError as exc:
            raise InvalidKey("not a valid ML-KEM-1024 encapsulation key") from exc
        shared_secret, ciphertext = public.encapsulate()
        return shared_secret, ciphertext
