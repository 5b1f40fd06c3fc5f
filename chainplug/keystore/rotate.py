"""Password and KEM-key rotation: re-seal every key, each file atomically, resumably (docs §6).

A vault rotation is a small protocol over :mod:`chainplug._fs` writes, under the vault's lock:

1. check the old factors against ``vault.json`` and open *every* key with them (a wrong password
   or a bad file stops here, before anything is written);
2. write ``vault.next.json``: the target manifest, sealed under the new factors (for a password
   rotation it carries the new salt, so a resumed run re-uses it);
3. re-seal each key under the target, in batches of atomic writes (each file is old or new);
4. commit: ``vault.json`` := ``vault.next.json``; then wipe ``vault.next.json``.

A crash anywhere leaves every key openable with the old factors or the new ones. Until step 4 the
vault refuses normal use (:class:`RotationIncomplete`); running the same rotation again with the
same old and new factors finishes it: files already re-sealed are verified and kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from .. import _fs
from ..errors import ConfigError, MalformedKeyFile, WrongPassphraseOrKey
from . import _codec
from .format import SealedKeyFile, VaultManifest
from .kem import check_kept_apart
from .keyfile import read_key_file, rotate_key_file_kem_key, rotate_key_file_password
from .seal import Credentials, UnlockedKey, open_key, open_manifest, reseal, seal_manifest
from .vault import (
    MANIFEST_NAME,
    NEXT_MANIFEST_NAME,
    KeyRef,
    Progress,
    inventory,
    read_manifest,
    stale_next_manifest,
    vault_lock,
)

RESEAL_BATCH = 256
"""Files per group commit while re-sealing (one syncfs per batch on Linux)."""


class RotationKind(Enum):
    PASSWORD = "password"  # noqa: S105 - a name, not a password
    KEM_KEY = "kem-key"


@dataclass(frozen=True, slots=True)
class RotationReport:
    """What a rotation run did."""

    resealed: int
    """Key files this run re-sealed."""
    already_done: int
    """Key files an earlier, interrupted run had already re-sealed (verified, kept)."""
    resumed: bool
    """True if this run finished an interrupted rotation."""


def rotate_password(
    path: Path, old: Credentials, new: Credentials, *, progress: Progress | None = None
) -> RotationReport:
    """Re-seal a vault directory or a single key file under a new password (same KEM key)."""
    if old.kem_key.key_id != new.kem_key.key_id:
        raise ConfigError("a password rotation keeps the KEM key; rotate the KEM key separately")
    if path.is_dir():
        return _rotate_vault(path, old, new, RotationKind.PASSWORD, progress)
    check_kept_apart(new.kem_key, path.parent)
    before = _codec.read_limited(path, what="key file")
    after = rotate_key_file_password(path, old, new).encode()
    return RotationReport(int(after != before), int(after == before), after == before)


def rotate_kem_key(
    path: Path, old: Credentials, new: Credentials, *, progress: Progress | None = None
) -> RotationReport:
    """Re-seal a vault directory or a single key file to a new KEM key (same password and salt)."""
    if old.kem_key.key_id == new.kem_key.key_id:
        raise ConfigError("the new KEM key is the current one")
    if path.is_dir():
        return _rotate_vault(path, old, new, RotationKind.KEM_KEY, progress)
    check_kept_apart(new.kem_key, path.parent)
    before = _codec.read_limited(path, what="key file")
    after = rotate_key_file_kem_key(path, old, new).encode()
    return RotationReport(int(after != before), int(after == before), after == before)


def _rotate_vault(
    directory: Path, old: Credentials, new: Credentials, kind: RotationKind, progress: Progress | None
) -> RotationReport:
    check_kept_apart(old.kem_key, directory)
    check_kept_apart(new.kem_key, directory)
    next_path = directory / NEXT_MANIFEST_NAME
    with vault_lock(directory, exclusive=True):
        current = read_manifest(directory)
        stale = stale_next_manifest(directory)  # a committed rotation's leftover, removed below
        pending = read_manifest(directory, NEXT_MANIFEST_NAME) if next_path.exists() and not stale else None
        try:
            open_manifest(current, old)
        except WrongPassphraseOrKey:
            if pending is not None:
                raise
            open_manifest(current, new)  # raises unless an earlier run committed this rotation
            done = _verify_all(directory, current, new)
            if stale:
                _fs.wipe_files([next_path], label="keystore.rotate.cleanup")
            return RotationReport(0, done, resumed=True)
        if pending is not None:
            _check_same_kind(current, pending, kind)
            open_manifest(pending, new)
            target = pending
        else:
            kdf = new.passphrase.policy.fresh_params() if kind is RotationKind.PASSWORD else current.seal.kdf
            target = seal_manifest(kdf, new)
        todo, done = _open_everything(directory, current, target, old, new, progress)
        try:
            # Temp files of interrupted writes may hold keys sealed under the old factors: wipe them
            # (only now, after every key has opened: a refused rotation changes nothing).
            leftovers = [directory / name for name in inventory(directory).leftovers]
            if leftovers:
                _fs.wipe_files(leftovers, label="keystore.leftover.wipe")
            if stale:
                _fs.wipe_files([next_path], label="keystore.rotate.cleanup")
            if pending is None:
                _fs.atomic_write(next_path, target.encode(), label="keystore.rotate.next", mode=0o600)
            total = len(todo) + done
            for start in range(0, len(todo), RESEAL_BATCH):
                batch = todo[start : start + RESEAL_BATCH]
                files = [
                    (directory / ref.file_name, reseal(key, credentials=new, kdf=target.seal.kdf).encode())
                    for ref, key in batch
                ]
                _fs.atomic_write_many(files, label="keystore.rotate.reseal", mode=0o600)
                if progress is not None:
                    progress(total + done + start + len(batch), 2 * total)
            _fs.atomic_write(directory / MANIFEST_NAME, target.encode(), label="keystore.rotate.commit", mode=0o600)
            _fs.wipe_files([next_path], label="keystore.rotate.cleanup")
        finally:
            for _, key in todo:
                key.destroy()
        return RotationReport(len(todo), done, resumed=pending is not None)


def _check_same_kind(current: VaultManifest, pending: VaultManifest, kind: RotationKind) -> None:
    password_change = pending.seal.kdf != current.seal.kdf and pending.seal.kem_key_id == current.seal.kem_key_id
    kem_change = pending.seal.kdf == current.seal.kdf and pending.seal.kem_key_id != current.seal.kem_key_id
    if (kind is RotationKind.PASSWORD and not password_change) or (kind is RotationKind.KEM_KEY and not kem_change):
        other = "KEM-key" if kind is RotationKind.PASSWORD else "password"
        raise ConfigError(f"the interrupted rotation of this vault is a {other} rotation; finish that one first")


def _read(directory: Path, ref: KeyRef) -> SealedKeyFile:
    sealed = read_key_file(directory / ref.file_name)
    if (sealed.header.address, sealed.header.algorithm, sealed.header.generation) != (
        ref.address,
        ref.algorithm,
        ref.generation,
    ):
        raise MalformedKeyFile(f"{directory / ref.file_name}: the header names another key (renamed or moved file)")
    return sealed


def _open_everything(
    directory: Path,
    current: VaultManifest,
    target: VaultManifest,
    old: Credentials,
    new: Credentials,
    progress: Progress | None,
) -> tuple[list[tuple[KeyRef, UnlockedKey]], int]:
    """Open every key with the factors it is under (target → verify only; current → keep for
    re-sealing). All or nothing: on any failure the opened keys are destroyed and it raises."""
    refs = inventory(directory).keys
    todo: list[tuple[KeyRef, UnlockedKey]] = []
    done = 0
    try:
        for index, ref in enumerate(refs, 1):
            sealed = _read(directory, ref)
            if sealed.seal.kdf == target.seal.kdf and sealed.seal.kem_key_id == target.seal.kem_key_id:
                open_key(sealed, new).destroy()
                done += 1
            elif sealed.seal.kdf == current.seal.kdf and sealed.seal.kem_key_id == current.seal.kem_key_id:
                todo.append((ref, open_key(sealed, old)))
            else:
                raise MalformedKeyFile(
                    f"{directory / ref.file_name}: sealed with neither the vault's current nor its target parameters"
                )
            if progress is not None:
                progress(index, 2 * len(refs))
    except BaseException:
        for _, key in todo:
            key.destroy()
        raise
    return todo, done


def _verify_all(directory: Path, manifest: VaultManifest, credentials: Credentials) -> int:
    _, done = _open_everything(directory, manifest, manifest, credentials, credentials, None)
    return done
