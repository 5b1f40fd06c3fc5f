"""Single key files: one private key per file, with its own random salt (docs/keystore.md §2).

Opening a single file costs one PBKDF2; for many keys under one password use a
:class:`~chainplug.keystore.vault.Vault`, which shares the salt. Every write goes through
:func:`chainplug._fs.atomic_write` (temp → fsync → rename → fsync dir), so a crash leaves the old
file or the new one, and a refused open never writes anything.
"""

from __future__ import annotations

from pathlib import Path

from .. import _fs
from ..errors import KeyExists, KeyNotFound, WrongPassphraseOrKey
from ..types import Address
from . import _codec
from .format import SealedKeyFile
from .kem import check_kept_apart
from .seal import Credentials, PrivateKey, UnlockedKey, open_key, reseal, seal_key


def read_key_file(path: str | Path) -> SealedKeyFile:
    """Parse a key file *without decrypting it*: the header is not authenticated until
    :func:`open_key_file` succeeds, so treat what it says as a claim."""
    try:
        raw = _codec.read_limited(path, what="key file")
    except FileNotFoundError:
        raise KeyNotFound(f"no key file at {path}") from None
    if raw and not raw.strip(b"\0"):
        # _fs.wipe_files overwrites with zeros before it unlinks: this key is already destroyed
        raise KeyNotFound(f"{path} was zeroed by an interrupted erasure; erase it again to finish")
    return SealedKeyFile.decode(raw)


def open_key_file(path: Path, credentials: Credentials) -> UnlockedKey:
    """Read, decrypt and check one key file. Raises (and writes nothing) on any problem."""
    return open_key(read_key_file(path), credentials)


def write_key_file(path: Path, sealed: SealedKeyFile, *, label: str) -> None:
    """Atomically and durably replace ``path`` with ``sealed`` (mode 0600)."""
    _fs.atomic_write(path, sealed.encode(), label=label, mode=0o600)


def create_key_file(
    path: Path,
    key: PrivateKey,
    credentials: Credentials,
    *,
    address: Address | None = None,
    classical_public_key: bytes | None = None,
    generation: int = 0,
    label: str = "keystore.file.create",
) -> SealedKeyFile:
    """Seal ``key`` into a new single file with a fresh random salt. Never overwrites."""
    if path.exists():
        raise KeyExists(f"{path} already exists; refusing to overwrite a key file")
    check_kept_apart(credentials.kem_key, path.parent)
    sealed = seal_key(
        key,
        credentials=credentials,
        kdf=credentials.passphrase.policy.fresh_params(),
        address=address,
        classical_public_key=classical_public_key,
        generation=generation,
    )
    write_key_file(path, sealed, label=label)
    return sealed


def rotate_key_file_password(
    path: Path, old: Credentials, new: Credentials, *, label: str = "keystore.file.rotate"
) -> SealedKeyFile:
    """Re-seal one file under a new password (fresh salt, KEM ciphertext and nonce), atomically.
    ``old`` and ``new`` share the KEM key. A crash leaves the file openable with one of the two;
    running the rotation again finishes it (a file already under ``new`` is verified, left alone)."""
    return _rotate(path, old, new, fresh_salt=True, label=label)


def rotate_key_file_kem_key(
    path: Path, old: Credentials, new: Credentials, *, label: str = "keystore.file.rotate"
) -> SealedKeyFile:
    """Re-seal one file to a new KEM key (same password and salt), atomically."""
    return _rotate(path, old, new, fresh_salt=False, label=label)


def _rotate(path: Path, old: Credentials, new: Credentials, *, fresh_salt: bool, label: str) -> SealedKeyFile:
    sealed = read_key_file(path)
    try:
        unlocked = open_key(sealed, old)
    except WrongPassphraseOrKey:
        # An earlier, interrupted run may have finished this file: then it opens with ``new``
        # (if not, that attempt raises the same error and nothing is written).
        open_key(sealed, new).destroy()
        return sealed
    try:
        kdf = new.passphrase.policy.fresh_params() if fresh_salt else sealed.seal.kdf
        resealed = reseal(unlocked, credentials=new, kdf=kdf)
    finally:
        unlocked.destroy()
    write_key_file(path, resealed, label=label)
    return resealed
