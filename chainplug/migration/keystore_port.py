"""The small private-key storage interface the engine uses, and a plain-file implementation.

The engine touches private key material only through :class:`PrivateKeyStore`: the encrypted
keystore (chainplug.keystore, docs/keystore.md) implements these eight methods as
:class:`~chainplug.migration.keystore_adapter.VaultKeyStore`, and the engine does not change. Every
method takes a batch, so group commit works for any implementation.

:class:`PlainFileKeyStore` is the default when no vault is given. NOTE: its key files are NOT
encrypted: anyone who can read ``STORE/keys/`` has the keys. Erasure still overwrites and unlinks them.
"""

from __future__ import annotations

import os
import re
import struct
import zlib
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from .. import _fs
from ..crypto import MLDSA87SigningKey, PQCBackend, Secp256k1PrivateKey, get_backend, zeroize
from ..errors import CryptoError, KeyMaterialError
from ..types import Address


@dataclass(frozen=True, slots=True)
class KeyInventory:
    """What key files a store holds (names only; nothing is loaded)."""

    classical: frozenset[Address]
    """Accounts with a classical private key on disk."""
    pqc: frozenset[tuple[Address, int]]
    """(account, generation) pairs with an ML-DSA-87 key on disk."""
    leftovers: int
    """Temp files of interrupted writes (never authoritative; recovery wipes them)."""
    unrecognised: tuple[str, ...]
    """Other file names in the key directory (reported, never touched)."""


class PrivateKeyStore(ABC):
    """Durable storage for the private keys of one store's accounts."""

    @abstractmethod
    def put_classical(self, keys: Sequence[Secp256k1PrivateKey]) -> None:
        """Store secp256k1 keys durably (one group commit)."""

    @abstractmethod
    def load_classical(self, address: Address) -> Secp256k1PrivateKey:
        """Load one secp256k1 key; :class:`KeyMaterialError` if absent or not the account's key."""

    @abstractmethod
    def erase_classical(self, addresses: Sequence[Address]) -> int:
        """Overwrite and unlink every on-disk copy of these accounts' classical keys (including
        leftovers of interrupted writes), then fsync the directory. Idempotent; returns copies wiped."""

    @abstractmethod
    def put_pqc(self, items: Sequence[tuple[Address, int, MLDSA87SigningKey]]) -> None:
        """Store ML-DSA-87 keys durably, each under (account, generation) (one group commit)."""

    @abstractmethod
    def load_pqc(self, address: Address, generation: int) -> MLDSA87SigningKey:
        """Load one ML-DSA-87 key; :class:`KeyMaterialError` if absent or unreadable."""

    @abstractmethod
    def erase_pqc(self, items: Sequence[tuple[Address, int]]) -> int:
        """Overwrite and unlink ML-DSA-87 keys (rollback, stale generations). Idempotent."""

    @abstractmethod
    def inventory(self) -> KeyInventory:
        """List the key files present, without loading any."""

    @abstractmethod
    def wipe_leftovers(self) -> int:
        """Overwrite and unlink every leftover of an interrupted write. Returns how many."""


# NOTE: plain-file format, unencrypted (module docstring). 69 bytes:
# magic 8 | kind 1 | address 20 | generation u32 | secret 32 | crc32 u32 (of everything before it)
_MAGIC: Final = b"CPPLAIN\x01"
_KIND_SECP256K1: Final = 1
_KIND_MLDSA87: Final = 2
_HEAD: Final = struct.Struct(">8sB20sI")
_SECRET_BYTES: Final = 32
FILE_BYTES: Final = _HEAD.size + _SECRET_BYTES + 4
_CLASSICAL_NAME: Final = re.compile(r"0x([0-9a-f]{40})\.classical\.key")
_PQC_NAME: Final = re.compile(r"0x([0-9a-f]{40})\.pqc-g([0-9]{1,10})\.key")


class PlainFileKeyStore(PrivateKeyStore):
    """One unencrypted file per key under ``directory``. A stand-in for chainplug.keystore."""

    def __init__(self, directory: Path, backend: PQCBackend | None = None) -> None:
        self.directory = directory
        self._backend = backend if backend is not None else get_backend()

    def classical_path(self, address: Address) -> Path:
        """File of the account's classical key."""
        return self.directory / f"0x{address.hex()}.classical.key"

    def pqc_path(self, address: Address, generation: int) -> Path:
        """File of the account's ML-DSA-87 key of ``generation``."""
        return self.directory / f"0x{address.hex()}.pqc-g{generation}.key"

    def put_classical(self, keys: Sequence[Secp256k1PrivateKey]) -> None:
        blobs = [self._seal(_KIND_SECP256K1, key.address, 0, key.secret_bytes()) for key in keys]
        try:
            items = [(self.classical_path(key.address), blob) for key, blob in zip(keys, blobs, strict=True)]
            _fs.atomic_write_many(items, label="keys.classical.put")
        finally:
            for blob in blobs:
                zeroize(blob)

    def load_classical(self, address: Address) -> Secp256k1PrivateKey:
        path = self.classical_path(address)
        secret = self._unseal(path, _KIND_SECP256K1, address, 0)
        try:
            key = Secp256k1PrivateKey(secret)
        except CryptoError as exc:
            raise KeyMaterialError(f"{path}: not a valid secp256k1 key") from exc
        finally:
            zeroize(secret)
        if key.address != address:
            key.destroy()
            raise KeyMaterialError(f"{path}: holds the key of another address")
        return key

    def erase_classical(self, addresses: Sequence[Address]) -> int:
        paths = [copy for address in addresses for copy in self._copies(self.classical_path(address))]
        return _fs.wipe_files(paths, label="keys.classical.wipe")

    def put_pqc(self, items: Sequence[tuple[Address, int, MLDSA87SigningKey]]) -> None:
        blobs = [self._seal(_KIND_MLDSA87, address, generation, key.seed_bytes()) for address, generation, key in items]
        try:
            files = [(self.pqc_path(a, g), blob) for (a, g, _), blob in zip(items, blobs, strict=True)]
            _fs.atomic_write_many(files, label="keys.pqc.put")
        finally:
            for blob in blobs:
                zeroize(blob)

    def load_pqc(self, address: Address, generation: int) -> MLDSA87SigningKey:
        path = self.pqc_path(address, generation)
        seed = self._unseal(path, _KIND_MLDSA87, address, generation)
        try:
            return self._backend.mldsa87_from_seed(bytes(seed))
        except CryptoError as exc:
            raise KeyMaterialError(f"{path}: not a valid ML-DSA-87 seed") from exc
        finally:
            zeroize(seed)

    def erase_pqc(self, items: Sequence[tuple[Address, int]]) -> int:
        paths = [copy for address, generation in items for copy in self._copies(self.pqc_path(address, generation))]
        return _fs.wipe_files(paths, label="keys.pqc.wipe")

    def inventory(self) -> KeyInventory:
        classical: set[Address] = set()
        pqc: set[tuple[Address, int]] = set()
        leftovers = 0
        unrecognised: list[str] = []
        for name in sorted(os.listdir(self.directory)) if self.directory.is_dir() else []:
            if match := _CLASSICAL_NAME.fullmatch(name):
                classical.add(Address(bytes.fromhex(match[1])))
            elif match := _PQC_NAME.fullmatch(name):
                pqc.add((Address(bytes.fromhex(match[1])), int(match[2])))
            elif _fs.is_temp_name(name):
                leftovers += 1
            else:
                unrecognised.append(name)
        return KeyInventory(frozenset(classical), frozenset(pqc), leftovers, tuple(unrecognised))

    def wipe_leftovers(self) -> int:
        names = sorted(os.listdir(self.directory)) if self.directory.is_dir() else []
        temps = [self.directory / name for name in names if _fs.is_temp_name(name)]
        return _fs.wipe_files(temps, label="keys.leftover.wipe") if temps else 0

    def _copies(self, path: Path) -> list[Path]:
        """The key file and any leftover temp file of an interrupted write of it."""
        prefix = f".{path.name}."
        names = sorted(os.listdir(self.directory)) if self.directory.is_dir() else []
        return [path, *(self.directory / n for n in names if n.startswith(prefix) and _fs.is_temp_name(n))]

    @staticmethod
    def _seal(kind: int, address: Address, generation: int, secret: bytes) -> bytearray:
        blob = bytearray(_HEAD.pack(_MAGIC, kind, address, generation))
        blob += secret
        blob += zlib.crc32(blob).to_bytes(4, "big")
        return blob

    @staticmethod
    def _unseal(path: Path, kind: int, address: Address, generation: int) -> bytearray:
        """Read ``path`` into a bytearray (no immutable copy of the secret), check it, return the secret."""
        blob = bytearray(FILE_BYTES + 1)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except FileNotFoundError:
            raise KeyMaterialError(f"{path}: key file is missing") from None
        with os.fdopen(fd, "rb", buffering=0) as file:
            size = file.readinto(blob)
        try:
            expected_head = _HEAD.pack(_MAGIC, kind, address, generation)
            crc_ok = zlib.crc32(blob[: FILE_BYTES - 4]) == int.from_bytes(blob[FILE_BYTES - 4 : FILE_BYTES], "big")
            if size != FILE_BYTES or blob[: _HEAD.size] != expected_head or not crc_ok:
                raise KeyMaterialError(f"{path}: not an intact plain key file for this account")
            return blob[_HEAD.size : _HEAD.size + _SECRET_BYTES]
        finally:
            zeroize(blob)
