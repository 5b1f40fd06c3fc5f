"""The KEM side: an ML-KEM-1024 decapsulation key kept apart from the key files.

A thief needs the password *and* this key (docs/keystore.md §1). It is stored in its own small
file — on another device, a secret-manager mount or an HSM export path — never next to the key
files: its path comes from the command line or ``CHAINPLUG_KEM_KEY`` and has no default, and
:func:`check_kept_apart` refuses a KEM key that lives in the keystore's own directory.

File format (canonical JSON, mode 0600)::

    {"algorithm":"ml-kem-1024","format":"chainplug-kem-key","key_id":<hex>,"seed":<hex d||z>,"version":1}
"""

from __future__ import annotations

import hashlib
import logging
import os
import stat
from pathlib import Path

from .. import _fs
from ..constants import KEM_KEY_FORMAT, KEM_KEY_VERSION, MLKEM1024_SEED_BYTES
from ..crypto import MLKEM1024DecapsulationKey, PQCBackend, get_backend
from ..errors import ConfigError, KeyExists, MalformedKeyFile, Reason
from . import _codec as c
from .format import KEM_KEY_ID_BYTES, KEM_NAME

log = logging.getLogger(__name__)

_FIELDS = frozenset({"algorithm", "format", "key_id", "seed", "version"})


def kem_key_id(encapsulation_key: bytes) -> bytes:
    """SHA3-256 of the encapsulation key (FIPS 203 H(ek)): public, names the key in file headers."""
    return hashlib.sha3_256(encapsulation_key).digest()


class KemKey:
    """An ML-KEM-1024 decapsulation key, with its id and (if loaded from disk) its path."""

    __slots__ = ("_key", "key_id", "path")

    def __init__(self, key: MLKEM1024DecapsulationKey, *, path: Path | None = None) -> None:
        self._key = key
        self.key_id = kem_key_id(key.encapsulation_key_bytes)
        """32-byte SHA3-256 of the encapsulation key."""
        self.path = path
        """Where the key was loaded from or saved to, if anywhere."""

    @classmethod
    def generate(cls, backend: PQCBackend | None = None) -> KemKey:
        """A fresh key from the OS CSPRNG."""
        return cls((backend or get_backend()).mlkem1024_generate())

    @classmethod
    def from_seed(cls, seed: bytes, backend: PQCBackend | None = None) -> KemKey:
        """Deterministic key from the 64-byte seed d || z (test vectors)."""
        return cls((backend or get_backend()).mlkem1024_from_seed(seed))

    @property
    def encapsulation_key_bytes(self) -> bytes:
        """The public 1,568-byte encapsulation key (sealing needs only this)."""
        return self._key.encapsulation_key_bytes

    def decapsulate(self, ciphertext: bytes) -> bytes:
        """The 32-byte shared secret (a wrong ciphertext gives a pseudo-random one: implicit rejection)."""
        return self._key.decapsulate(ciphertext)

    def encode(self) -> bytes:
        """The key file bytes. Contains the secret seed."""
        return c.canonical_file(
            {
                "algorithm": KEM_NAME,
                "format": KEM_KEY_FORMAT,
                "key_id": self.key_id.hex(),
                "seed": self._key.seed_bytes().hex(),
                "version": KEM_KEY_VERSION,
            }
        )

    def save(self, path: Path, *, label: str = "keystore.kem.create") -> None:
        """Write a new KEM key file (mode 0600, atomically and durably); never overwrites."""
        if path.exists():
            raise KeyExists(f"{path} already exists; refusing to overwrite a KEM key")
        _fs.atomic_write(path, self.encode(), label=label, mode=0o600)
        self.path = path

    @classmethod
    def load(cls, path: Path, backend: PQCBackend | None = None) -> KemKey:
        """Read and check a KEM key file: canonical, and the seed re-derives the recorded key id."""
        raw = c.read_limited(path, what="KEM key file")
        mode = os.stat(path).st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            log.warning("KEM key file %s is accessible to other users (mode %o); chmod 600 it", path, mode & 0o777)
        obj = c.fields(c.parse_json(raw, what="KEM key file"), _FIELDS, where="KEM key file")
        c.constant(obj["format"], KEM_KEY_FORMAT, where="KEM key file format", reason=Reason.MALFORMED)
        if obj["version"] != KEM_KEY_VERSION:
            raise MalformedKeyFile("unsupported KEM key file version", reason=Reason.UNSUPPORTED_VERSION)
        c.constant(obj["algorithm"], KEM_NAME, where="KEM key file algorithm")
        key_id = c.hex_bytes(obj["key_id"], KEM_KEY_ID_BYTES, where="KEM key file key_id")
        seed = c.hex_bytes(obj["seed"], MLKEM1024_SEED_BYTES, where="KEM key file seed")
        key = cls.from_seed(seed, backend)
        if key.key_id != key_id:
            raise MalformedKeyFile(f"KEM key file {path}: the seed does not match the recorded key id")
        if raw != key.encode():
            raise MalformedKeyFile(f"KEM key file {path} is not in canonical form", reason=Reason.NON_CANONICAL)
        key.path = path
        return key

    def __repr__(self) -> str:
        return f"KemKey(key_id={self.key_id.hex()[:16]}…)"


def check_kept_apart(kem_key: KemKey, key_directory: Path) -> None:
    """Refuse a KEM key file stored in the directory that holds the key files (a vault, or a single
    key file's directory) or below it: there it adds nothing for a thief of that directory."""
    if kem_key.path is None:
        return
    kem_dir = kem_key.path.resolve().parent
    home = key_directory.resolve()
    if kem_dir == home or home in kem_dir.parents:
        raise ConfigError(
            f"the KEM key {kem_key.path} is kept with the key files in {home}; store it on another path "
            "(another device or secret store), or the password alone protects the keys"
        )
