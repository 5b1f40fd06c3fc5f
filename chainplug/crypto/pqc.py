"""ML-DSA-87 (FIPS 204) and ML-KEM-1024 (FIPS 203) behind one backend interface.

Two implementations: ``cryptography`` (OpenSSL; the default, always present) and ``liboqs``
(liboqs-python, used only when a liboqs shared library is already loadable; we never let
liboqs-python's import download and build one). Selection: an explicit ``name`` argument, else the
``CHAINPLUG_PQC_BACKEND`` environment variable (``cryptography``, ``liboqs`` or ``auto``), else
``auto`` = liboqs when loadable, otherwise cryptography.

Raw primitives: sign and verify composite envelopes through chainplug.envelope instead.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from functools import cache, lru_cache

from ..constants import (
    MLDSA87_PUBLIC_KEY_BYTES,
    MLDSA87_SEED_BYTES,
    MLDSA87_SIGNATURE_BYTES,
    MLDSA_MAX_CONTEXT_BYTES,
    MLKEM1024_CIPHERTEXT_BYTES,
    MLKEM1024_ENCAPSULATION_KEY_BYTES,
    MLKEM1024_SEED_BYTES,
    PQC_BACKEND_ENV,
)
from ..errors import BackendUnavailable, ConfigError, InvalidKey, InvalidSignature
from ..types import KeyId
from .keccak import keccak256


def check_context(context: bytes) -> None:
    """FIPS 204 §5.2: a context longer than 255 bytes is an error (never truncated)."""
    if len(context) > MLDSA_MAX_CONTEXT_BYTES:
        raise InvalidKey("ML-DSA context string is longer than 255 bytes")


def check_mldsa87_public_key(public_key: bytes) -> None:
    """Exact-length check for a raw ML-DSA-87 public key."""
    if len(public_key) != MLDSA87_PUBLIC_KEY_BYTES:
        raise InvalidKey(f"ML-DSA-87 public key must be {MLDSA87_PUBLIC_KEY_BYTES} bytes")


def mldsa87_key_id(public_key: bytes) -> KeyId:
    """Key id = keccak256(raw public key) (docs/design.md, "The envelope binding")."""
    check_mldsa87_public_key(public_key)
    return KeyId(keccak256(public_key))


class MLDSA87SigningKey(ABC):
    """An ML-DSA-87 private key in seed form (xi, 32 bytes)."""

    backend_name: str

    @property
    @abstractmethod
    def public_key_bytes(self) -> bytes:
        """Raw 2,592-byte public key."""

    @abstractmethod
    def seed_bytes(self) -> bytes:
        """The 32-byte seed xi. Dangerous: only for sealing into a keystore."""

    @abstractmethod
    def _sign(self, message: bytes, context: bytes) -> bytes: ...

    def sign(self, message: bytes, context: bytes) -> bytes:
        """Pure ML-DSA-87 signature (hedged) over ``message`` with FIPS 204 context ``context``."""
        check_context(context)
        return self._sign(message, context)

    @abstractmethod
    def destroy(self) -> None:
        """Wipe what we hold of the seed and drop the library handle."""

    @property
    def key_id(self) -> KeyId:
        """keccak256 of the public key."""
        return mldsa87_key_id(self.public_key_bytes)

    def __repr__(self) -> str:  # never show the seed
        return f"{type(self).__name__}(key_id=0x{self.key_id.hex()})"


class MLDSA87VerifyingKey(ABC):
    """A parsed ML-DSA-87 public key. Parse once, verify many times."""

    @property
    @abstractmethod
    def public_key_bytes(self) -> bytes:
        """Raw 2,592-byte public key."""

    @abstractmethod
    def _verify(self, signature: bytes, message: bytes, context: bytes) -> bool: ...

    def verify(self, signature: bytes, message: bytes, context: bytes) -> None:
        """Return if valid; raise :class:`InvalidSignature` otherwise (never a bare bool)."""
        check_context(context)
        if len(signature) != MLDSA87_SIGNATURE_BYTES or not self._verify(signature, message, context):
            raise InvalidSignature("ML-DSA-87 signature does not verify")


class MLKEM1024DecapsulationKey(ABC):
    """An ML-KEM-1024 decapsulation key in seed form (d || z, 64 bytes)."""

    @property
    @abstractmethod
    def encapsulation_key_bytes(self) -> bytes:
        """Raw 1,568-byte encapsulation key."""

    @abstractmethod
    def seed_bytes(self) -> bytes:
        """The 64-byte seed d || z. Dangerous: only for storing the KEM key."""

    @abstractmethod
    def _decapsulate(self, ciphertext: bytes) -> bytes: ...

    @abstractmethod
    def destroy(self) -> None:
        """Wipe what we hold of the seed and drop the library handle."""

    def decapsulate(self, ciphertext: bytes) -> bytes:
        """32-byte shared secret. A wrong ciphertext yields a pseudo-random secret (implicit rejection)."""
        if len(ciphertext) != MLKEM1024_CIPHERTEXT_BYTES:
            raise InvalidKey(f"ML-KEM-1024 ciphertext must be {MLKEM1024_CIPHERTEXT_BYTES} bytes")
        return self._decapsulate(ciphertext)


class PQCBackend(ABC):
    """Factory for ML-DSA-87 and ML-KEM-1024 keys from one implementation."""

    name: str
    """``cryptography`` or ``liboqs``: what ``CHAINPLUG_PQC_BACKEND`` selects."""

    @property
    @abstractmethod
    def description(self) -> str:
        """The library doing the work and its version, for operators (``chainplug --version``, /health)."""

    @abstractmethod
    def mldsa87_from_seed(self, seed: bytes) -> MLDSA87SigningKey:
        """Deterministic key generation from a 32-byte seed (FIPS 204 ML-DSA.KeyGen_internal)."""

    def mldsa87_generate(self) -> MLDSA87SigningKey:
        """A fresh key from the OS CSPRNG."""
        return self.mldsa87_from_seed(os.urandom(MLDSA87_SEED_BYTES))

    @abstractmethod
    def mldsa87_public_key(self, public_key: bytes) -> MLDSA87VerifyingKey:
        """Parse a raw public key (exact length checked)."""

    @abstractmethod
    def mlkem1024_from_seed(self, seed: bytes) -> MLKEM1024DecapsulationKey:
        """Deterministic key generation from a 64-byte seed d || z (FIPS 203 ML-KEM.KeyGen_internal)."""

    def mlkem1024_generate(self) -> MLKEM1024DecapsulationKey:
        """A fresh decapsulation key from the OS CSPRNG."""
        return self.mlkem1024_from_seed(os.urandom(MLKEM1024_SEED_BYTES))

    @abstractmethod
    def _encapsulate(self, encapsulation_key: bytes) -> tuple[bytes, bytes]: ...

    def mlkem1024_encapsulate(self, encapsulation_key: bytes) -> tuple[bytes, bytes]:
        """Return (shared secret 32 bytes, ciphertext 1,568 bytes) for ``encapsulation_key``."""
        if len(encapsulation_key) != MLKEM1024_ENCAPSULATION_KEY_BYTES:
            raise InvalidKey(f"ML-KEM-1024 encapsulation key must be {MLKEM1024_ENCAPSULATION_KEY_BYTES} bytes")
        return self._encapsulate(encapsulation_key)


BACKEND_NAMES = ("cryptography", "liboqs")


def liboqs_loadable() -> bool:
    """True if a liboqs shared library can be loaded *without* liboqs-python's auto-install."""
    from ._liboqs_probe import find_liboqs

    return find_liboqs() is not None


@cache
def _load(name: str) -> PQCBackend:
    if name == "cryptography":
        from ._openssl import OpenSSLBackend

        return OpenSSLBackend()
    if name == "liboqs":
        from ._liboqs import LiboqsBackend

        backend: PQCBackend = LiboqsBackend()
        return backend
    raise ConfigError(f"unknown PQC backend {name!r}; choose one of {', '.join(BACKEND_NAMES)} or auto")


def get_backend(name: str | None = None) -> PQCBackend:
    """The selected backend (argument, else $CHAINPLUG_PQC_BACKEND, else auto). Cached per name.

    Hot paths call this per key (keystore unlock, migration): the choice is cached per selection and
    per liboqs search location (``$OQS_INSTALL_PATH``, ``$HOME``), which is all ``auto`` depends on.
    """
    environ = os.environ
    return _select(name or environ.get(PQC_BACKEND_ENV) or "auto", environ.get("OQS_INSTALL_PATH"), environ.get("HOME"))


@lru_cache(maxsize=16)
def _select(choice: str, install_path: str | None, home: str | None) -> PQCBackend:
    choice = choice.strip().lower()
    if choice == "auto":
        choice = "liboqs" if liboqs_loadable() else "cryptography"
    return _load(choice)


def backend_name(name: str | None = None) -> str:
    """Name of the PQC backend that runs (``cryptography`` or ``liboqs``): the one :func:`get_backend`
    selects, loaded (so ``auto`` is resolved). For status output such as a service's /health.

    Raises :class:`BackendUnavailable` (or :class:`ConfigError` for an unknown name) exactly when the
    selected backend cannot run.
    """
    return get_backend(name).name


@cache
def available_backends() -> tuple[str, ...]:
    """Names of the backends that load on this machine (probed once per process)."""
    names = []
    for name in BACKEND_NAMES:
        try:
            _load(name)
        except BackendUnavailable:
            continue
        names.append(name)
    return tuple(names)
