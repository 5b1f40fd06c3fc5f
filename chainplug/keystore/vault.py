"""Vaults: many key files under one password derivation (docs/keystore.md §4).

A vault is a directory::

    vault.json                          manifest: shared KDF salt/iterations, sealed under both factors
    0x<address>.<algorithm>.g<gen>.json one key file per (account, algorithm, generation)
    vault.lock                          flock(2) target: one writer at a time
    vault.next.json                     only while a rotation is in progress (rotate.py)

Every key file has the ordinary key-file format and the vault's KDF parameters, so :meth:`Vault.open`
runs PBKDF2 once (checking the manifest) and each key then costs one ML-KEM decapsulation, one
HKDF and one AES-GCM open. A key file with other KDF parameters (from another vault, or restored
from before a password rotation) is refused.
"""

from __future__ import annotations

import fcntl
import os
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from .. import _fs
from ..crypto import Secp256k1PrivateKey
from ..errors import KeyExists, KeyNotFound, MalformedKeyFile, RotationIncomplete
from ..types import Address
from . import _codec
from ._unlock import BulkUnlock, key_names
from .format import KdfParams, KeyAlgorithm, SealedKeyFile, VaultManifest
from .kem import check_kept_apart
from .keyfile import read_key_file
from .seal import Credentials, PrivateKey, UnlockedKey, open_key, open_manifest, seal_key, seal_manifest

MANIFEST_NAME = "vault.json"
NEXT_MANIFEST_NAME = "vault.next.json"
LOCK_NAME = "vault.lock"
_KEY_NAME = re.compile(r"0x([0-9a-f]{40})\.(secp256k1|ml-dsa-87)\.g(0|[1-9][0-9]{0,9})\.json")

Progress = Callable[[int, int], None]
"""``progress(done, total)``, called after each key."""


@dataclass(frozen=True, slots=True, order=True)
class KeyRef:
    """Names one key file of a vault."""

    address: Address
    """The account."""
    algorithm: KeyAlgorithm
    """secp256k1 or ML-DSA-87."""
    generation: int = 0
    """The key's generation (the migration engine's; 0 for a classical key)."""

    @property
    def file_name(self) -> str:
        return f"0x{self.address.hex()}.{self.algorithm.value}.g{self.generation}.json"

    @classmethod
    def from_file_name(cls, name: str) -> KeyRef | None:
        match = _KEY_NAME.fullmatch(name)
        if match is None or int(match[3]) > 2**32 - 1:
            return None
        return cls(Address(bytes.fromhex(match[1])), KeyAlgorithm(match[2]), int(match[3]))


@dataclass(frozen=True, slots=True)
class KeyToStore:
    """One key for :meth:`Vault.put`."""

    key: PrivateKey
    """The private key to seal."""
    address: Address | None = None
    """The account (required for an ML-DSA-87 key; derived for a secp256k1 key)."""
    classical_public_key: bytes | None = None
    """The account's secp256k1 public key, recorded in an ML-DSA-87 file when known."""
    generation: int = 0
    """Recorded in the header and the file name."""


@dataclass(frozen=True, slots=True)
class VaultInventory:
    """What a vault directory holds (names only; nothing is read or decrypted)."""

    keys: tuple[KeyRef, ...]
    """Key files, sorted."""
    leftovers: tuple[str, ...]
    """Temp files of interrupted writes: never authoritative; :meth:`Vault.wipe_leftovers` removes them."""
    unrecognised: tuple[str, ...]
    """Anything else (reported, never touched)."""


class Vault:
    """An opened vault: both factors checked against the manifest; PBKDF2 has run once."""

    def __init__(self, directory: Path, credentials: Credentials, manifest: VaultManifest) -> None:
        """Use :meth:`create` or :meth:`open`."""
        self.directory = directory
        self.credentials = credentials
        self.manifest = manifest
        self._dir = os.fspath(directory)

    @property
    def kdf(self) -> KdfParams:
        """The KDF parameters every key of this vault is sealed with."""
        return self.manifest.seal.kdf

    # --- opening ---------------------------------------------------------------------------

    @classmethod
    def create(cls, directory: Path, credentials: Credentials, *, label: str = "keystore.vault.create") -> Vault:
        """Create an empty vault (fresh salt, the policy's iterations) in a new or empty directory."""
        check_kept_apart(credentials.kem_key, directory)
        if (directory / MANIFEST_NAME).exists():
            raise KeyExists(f"{directory} is already a vault")
        # an interrupted create leaves at most its lock file and temp files: those may be reused
        if directory.is_dir() and any(n != LOCK_NAME and not _fs.is_temp_name(n) for n in os.listdir(directory)):
            raise KeyExists(f"{directory} is not empty; a vault needs a directory of its own")
        _fs.ensure_dir(directory, label=label)
        manifest = seal_manifest(credentials.passphrase.policy.fresh_params(), credentials)
        with vault_lock(directory, exclusive=True):  # creates vault.lock: later refusals change nothing
            _fs.atomic_write(directory / MANIFEST_NAME, manifest.encode(), label=label, mode=0o600)
        return cls(directory, credentials, manifest)

    @classmethod
    def open(cls, directory: Path, credentials: Credentials) -> Vault:
        """Open a vault: refuse an unfinished rotation, then check both factors (one PBKDF2)."""
        check_kept_apart(credentials.kem_key, directory)
        manifest = read_manifest(directory)
        if rotation_pending(directory):
            raise _rotation_incomplete(directory)
        open_manifest(manifest, credentials)
        return cls(directory, credentials, manifest)

    # --- reading ---------------------------------------------------------------------------

    def path_for(self, ref: KeyRef) -> Path:
        return self.directory / ref.file_name

    def inventory(self) -> VaultInventory:
        return inventory(self.directory)

    def read(self, ref: KeyRef) -> SealedKeyFile:
        """Parse one key file and check it belongs here (name, header and vault KDF agree)."""
        path = os.path.join(self._dir, ref.file_name)  # NOTE: not pathlib: this runs once per key per unlock
        try:
            sealed = read_key_file(path)
        except KeyNotFound:
            if os.path.exists(path):  # zeroed by an interrupted erasure: say so
                raise
            raise KeyNotFound(
                f"no {ref.algorithm} key of generation {ref.generation} for 0x{ref.address.hex()}"
            ) from None
        header = sealed.header
        if (header.address, header.algorithm, header.generation) != (ref.address, ref.algorithm, ref.generation):
            raise MalformedKeyFile(f"{path}: the header names another key (renamed or moved file)")
        if sealed.seal.kdf != self.kdf:
            raise MalformedKeyFile(f"{path}: not sealed with this vault's password parameters (foreign or stale file)")
        return sealed

    def load(self, ref: KeyRef) -> UnlockedKey:
        """Decrypt one key and check its public key."""
        return open_key(self.read(ref), self.credentials)

    def unlock_all(self, *, progress: Progress | None = None) -> list[UnlockedKey]:
        """Decrypt every key of the vault (one PBKDF2 already done; then per key: KEM + HKDF + GCM),
        in :meth:`inventory` order. All or nothing: on the first failure the keys opened so far are
        destroyed and it raises what :meth:`load` raises for that key."""
        with self._locked(exclusive=False), self._bulk() as bulk:
            return self._finish(bulk, progress)

    @classmethod
    def open_and_unlock(
        cls, directory: Path, credentials: Credentials, *, progress: Progress | None = None, threads: int | None = None
    ) -> tuple[Vault, list[UnlockedKey]]:
        """:meth:`open` then :meth:`unlock_all`, with the same checks, errors and result. With
        ``threads`` ≥ 2 (the default where more than one CPU is available) PBKDF2 runs in a second
        thread while this one reads, parses and decapsulates the key files; decryption starts only
        after the manifest has confirmed both factors. ``threads=1`` runs everything in the calling
        thread, one step after the other; more than two threads are never used."""
        if threads is None:
            threads = 2 if _usable_cpus() > 1 else 1
        if threads < 1:
            raise ValueError("threads must be at least 1")
        if threads == 1:
            vault = cls.open(directory, credentials)
            return vault, vault.unlock_all(progress=progress)
        check_kept_apart(credentials.kem_key, directory)
        with vault_lock(directory, exclusive=False):
            manifest = read_manifest(directory)
            if rotation_pending(directory):
                raise _rotation_incomplete(directory)
            credentials.passphrase.policy.check(manifest.seal.kdf)  # a weak vault: refused before any work
            vault = cls(directory, credentials, manifest)
            with vault._bulk() as bulk:
                bulk.prepare_during(lambda: open_manifest(manifest, credentials))  # PBKDF2 in a second thread
                return vault, vault._finish(bulk, progress)

    @contextmanager
    def _bulk(self) -> Iterator[BulkUnlock]:
        fd = os.open(self._dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            yield BulkUnlock(fd, key_names(fd, _KEY_NAME), self.kdf, self.credentials.kem_key)
        finally:
            os.close(fd)

    def _finish(self, bulk: BulkUnlock, progress: Progress | None) -> list[UnlockedKey]:
        return bulk.finish(self.credentials.passphrase.key_for(self.kdf), self._load_name, progress)

    def _load_name(self, name: str) -> UnlockedKey:
        """:meth:`load` by file name: the bulk loop's general path, which says what is wrong."""
        ref = KeyRef.from_file_name(name)
        if ref is None:  # pragma: no cover - the names come from the same pattern
            raise KeyNotFound(f"{name} does not name a key file")
        return self.load(ref)

    # --- writing ---------------------------------------------------------------------------

    def put(self, items: Sequence[KeyToStore], *, label: str = "keystore.put", overwrite: bool = True) -> list[KeyRef]:
        """Seal and store keys durably with one group commit (:func:`_fs.atomic_write_many`)."""
        refs = [_ref_of(item) for item in items]
        sealed = [
            seal_key(
                item.key,
                credentials=self.credentials,
                kdf=self.kdf,
                address=item.address,
                classical_public_key=item.classical_public_key,
                generation=item.generation,
            )
            for item in items
        ]
        with self._locked(exclusive=True):
            # Another process may have rotated the vault since this object opened it: sealing
            # under the old parameters would leave keys only the old password opens.
            if rotation_pending(self.directory) or read_manifest(self.directory) != self.manifest:
                raise RotationIncomplete(f"{self.directory} was rotated since it was opened; open it again")
            if not overwrite:
                existing = [ref for ref in refs if self.path_for(ref).exists()]
                if existing:
                    raise KeyExists(f"{self.directory} already holds {existing[0].file_name}")
            files = [(self.path_for(ref), s.encode()) for ref, s in zip(refs, sealed, strict=True)]
            _fs.atomic_write_many(files, label=label, mode=0o600)
        return refs

    def erase(self, refs: Sequence[KeyRef], *, label: str = "keystore.erase") -> int:
        """Overwrite with zeros, sync, unlink and fsync the directory: each key file and every
        leftover temp copy of it. Idempotent; returns how many files were wiped."""
        with self._locked(exclusive=True):
            names = os.listdir(self.directory)
            paths: list[Path] = []
            for ref in refs:
                prefix = f".{ref.file_name}."
                paths.append(self.path_for(ref))
                paths += [self.directory / n for n in sorted(names) if n.startswith(prefix) and _fs.is_temp_name(n)]
            return _fs.wipe_files(paths, label=label)

    def wipe_leftovers(self, *, label: str = "keystore.leftover.wipe") -> int:
        """Overwrite and unlink every temp file of an interrupted write (they may hold sealed keys)."""
        with self._locked(exclusive=True):
            temps = [self.directory / n for n in inventory(self.directory).leftovers]
            return _fs.wipe_files(temps, label=label) if temps else 0

    @contextmanager
    def _locked(self, *, exclusive: bool) -> Iterator[None]:
        with vault_lock(self.directory, exclusive=exclusive):
            yield


def _usable_cpus() -> int:
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1  # pragma: no cover - not Linux


def _rotation_incomplete(directory: Path) -> RotationIncomplete:
    return RotationIncomplete(
        f"a password or KEM-key rotation of {directory} was interrupted; run the same rotation again to finish it"
    )


def _ref_of(item: KeyToStore) -> KeyRef:
    if isinstance(item.key, Secp256k1PrivateKey):
        return KeyRef(item.key.address, KeyAlgorithm.SECP256K1, item.generation)
    if item.address is None:
        raise MalformedKeyFile("an ML-DSA-87 key needs the account address")
    return KeyRef(item.address, KeyAlgorithm.MLDSA87, item.generation)


@contextmanager
def vault_lock(directory: Path, *, exclusive: bool) -> Iterator[None]:
    """flock(2) on ``vault.lock``: writers exclusive, readers shared; released if the process dies.
    Readers never create the file (reading writes nothing): every writer does, so where it is
    missing — a vault copied without it, a read-only mount — no writer holds it either."""
    flags = os.O_RDWR | os.O_CREAT if exclusive else os.O_RDONLY
    try:
        fd = os.open(directory / LOCK_NAME, flags | os.O_CLOEXEC, 0o600)
    except OSError:
        if exclusive:
            raise
        yield
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        yield
    finally:
        os.close(fd)


def read_manifest(directory: Path, name: str = MANIFEST_NAME) -> VaultManifest:
    try:
        raw = _codec.read_limited(directory / name, what="vault manifest")
    except FileNotFoundError:
        raise KeyNotFound(
            f"{directory} is not a vault (no {name}); create one with `chainplug keystore init`"
        ) from None
    return VaultManifest.decode(raw)


def rotation_pending(directory: Path) -> bool:
    """True if an unfinished rotation's ``vault.next.json`` is present (:func:`stale_next_manifest`
    tells the harmless leftovers apart)."""
    return (directory / NEXT_MANIFEST_NAME).exists() and not stale_next_manifest(directory)


def stale_next_manifest(directory: Path) -> bool:
    """``vault.next.json`` is a leftover, not a pending rotation, when it equals ``vault.json`` (the
    rotation committed, then the process died before removing it) or is all zeros (it died inside
    the wipe that removes it, after the overwrite and before the unlink)."""
    try:
        next_raw = (directory / NEXT_MANIFEST_NAME).read_bytes()
    except FileNotFoundError:
        return False
    return not next_raw.strip(b"\0") or next_raw == (directory / MANIFEST_NAME).read_bytes()


def inventory(directory: Path) -> VaultInventory:
    keys: list[KeyRef] = []
    leftovers: list[str] = []
    unrecognised: list[str] = []
    for name in sorted(os.listdir(directory)):
        ref = KeyRef.from_file_name(name)
        if ref is not None:
            keys.append(ref)
        elif _fs.is_temp_name(name):
            leftovers.append(name)
        elif name not in (MANIFEST_NAME, NEXT_MANIFEST_NAME, LOCK_NAME):
            unrecognised.append(name)
    return VaultInventory(tuple(sorted(keys)), tuple(leftovers), tuple(unrecognised))
