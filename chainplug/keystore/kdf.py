"""The password side: PBKDF2-HMAC-SHA3-256 under an enforced policy, derived once per unlock.

A :class:`Passphrase` holds the password (in a ``bytearray``) and caches the derived password key
per (salt, iterations). A vault shares one salt, so opening 10,000 of its keys runs PBKDF2 once
(docs/keystore.md §5). The :class:`KdfPolicy` decides which parameters a *file* may ask for: fewer
iterations than the minimum are refused, never obeyed (anchors §16 #15).
"""

from __future__ import annotations

import os
import unicodedata
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

from ..constants import (
    KEYSTORE_KEY_BYTES,
    KEYSTORE_PBKDF2_ITERATIONS,
    KEYSTORE_PBKDF2_MAX_ITERATIONS,
    KEYSTORE_PBKDF2_MIN_ITERATIONS,
    KEYSTORE_SALT_BYTES,
)
from ..crypto import zeroize
from ..errors import ConfigError, WeakKdfParameters
from .format import KdfParams


@dataclass(frozen=True, slots=True)
class KdfPolicy:
    """Iterations used for new files, and the range accepted when reading one."""

    iterations: int = KEYSTORE_PBKDF2_ITERATIONS
    """PBKDF2 iterations for files this process writes."""
    min_iterations: int = KEYSTORE_PBKDF2_MIN_ITERATIONS
    """Files asking for fewer are refused."""
    unsafe_weak: bool = False
    """Set only by :meth:`unsafe_for_testing`: allows a minimum below the production floor."""

    def __post_init__(self) -> None:
        floor = 1 if self.unsafe_weak else KEYSTORE_PBKDF2_MIN_ITERATIONS
        if not floor <= self.min_iterations <= self.iterations <= KEYSTORE_PBKDF2_MAX_ITERATIONS:
            raise ConfigError(
                f"PBKDF2 iterations must satisfy {floor} <= minimum <= iterations <= {KEYSTORE_PBKDF2_MAX_ITERATIONS}"
            )

    @classmethod
    def unsafe_for_testing(cls, iterations: int) -> KdfPolicy:
        """Write *and accept* files with as few as ``iterations`` iterations. Tests and benchmarks
        only: there is deliberately no environment variable that does this."""
        return cls(iterations=iterations, min_iterations=iterations, unsafe_weak=True)

    def check(self, kdf: KdfParams) -> None:
        """Refuse parameters a file may not ask for."""
        if kdf.iterations < self.min_iterations:
            raise WeakKdfParameters(
                f"file asks for {kdf.iterations} PBKDF2 iterations; at least {self.min_iterations} are required"
            )
        if kdf.iterations > KEYSTORE_PBKDF2_MAX_ITERATIONS:
            raise WeakKdfParameters(
                f"file asks for {kdf.iterations} PBKDF2 iterations; "
                f"more than {KEYSTORE_PBKDF2_MAX_ITERATIONS} is refused"
            )

    def fresh_params(self) -> KdfParams:
        """New parameters: this policy's iterations and a random 32-byte salt."""
        return KdfParams(self.iterations, os.urandom(KEYSTORE_SALT_BYTES))


def normalize_password(password: str | bytes | bytearray) -> bytearray:
    """Password bytes: a ``str`` is NFKC-normalized then UTF-8 encoded (the same password typed on
    two systems gives the same bytes); ``bytes`` are taken as they are. Empty is refused."""
    data = bytearray(unicodedata.normalize("NFKC", password).encode("utf-8") if isinstance(password, str) else password)
    if not data:
        raise ConfigError("the password is empty")
    return data


class Passphrase:
    """A password plus its derived keys, cached per (salt, iterations). Never printed.

    :attr:`derivations` counts PBKDF2 runs (tests and benchmarks check "once per vault").
    """

    __slots__ = ("_cache", "_password", "derivations", "policy")

    def __init__(self, password: str | bytes | bytearray, policy: KdfPolicy | None = None) -> None:
        self._password = normalize_password(password)
        self.policy = policy if policy is not None else KdfPolicy()
        self._cache: dict[tuple[bytes, int], bytearray] = {}
        self.derivations = 0

    def key_for(self, kdf: KdfParams) -> bytearray:
        """The 32-byte password key for ``kdf`` (checked against the policy; PBKDF2 on a cache miss).
        The caller must not modify or keep the returned buffer past :meth:`destroy`."""
        self.policy.check(kdf)
        cache_key = (kdf.salt, kdf.iterations)
        key = self._cache.get(cache_key)
        if key is None:
            if not self._password:
                raise ConfigError("this passphrase has been destroyed")
            pbkdf2 = PBKDF2HMAC(hashes.SHA3_256(), KEYSTORE_KEY_BYTES, kdf.salt, kdf.iterations)
            key = bytearray(pbkdf2.derive(self._password))
            self.derivations += 1
            self._cache[cache_key] = key
        return key

    def destroy(self) -> None:
        """Wipe the password and every derived key held here."""
        zeroize(self._password)
        self._password = bytearray()
        for key in self._cache.values():
            zeroize(key)
        self._cache.clear()

    def __repr__(self) -> str:
        return f"Passphrase(<hidden>, derivations={self.derivations})"
