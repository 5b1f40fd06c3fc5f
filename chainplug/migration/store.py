"""Store layout on disk and the per-store writer lock.

::

    STORE/
      LOCK              flock(2) target: one engine (one process) drives a store at a time
      migration.wal     the write-ahead log (wal.py)
      keys/             private keys, owned by the keystore port (keystore_port.py)
      public/           classical public key backups written during erasure (<address>.classical.pub)
"""

from __future__ import annotations

import fcntl
import os
import time
from dataclasses import dataclass
from pathlib import Path

from .. import _fs
from ..errors import ConfigError, StoreLocked
from ..types import Address


@dataclass(frozen=True, slots=True)
class StoreLayout:
    """Paths of one store."""

    root: Path
    """The store directory."""

    @property
    def wal(self) -> Path:
        """The write-ahead log."""
        return self.root / "migration.wal"

    @property
    def keys(self) -> Path:
        """Directory of private key files (keystore port)."""
        return self.root / "keys"

    @property
    def public(self) -> Path:
        """Directory of classical public key backups."""
        return self.root / "public"

    @property
    def lock(self) -> Path:
        """The lock file."""
        return self.root / "LOCK"

    def public_key_backup(self, address: Address) -> Path:
        """Where the classical public key of ``address`` is backed up before erasure."""
        return self.public / f"0x{address.hex()}.classical.pub"

    def require_exists(self) -> None:
        """Raise ConfigError unless this is an initialised store."""
        if not self.wal.is_file():
            raise ConfigError(f"{self.root} is not a chainplug store (no migration.wal); create one first")

    def leftovers(self) -> list[Path]:
        """Temp files of interrupted writes of the log or of public key backups. They hold no secret
        (the key directory's leftovers belong to the keystore port, which wipes them)."""
        found: list[Path] = []
        for directory in (self.root, self.public):
            names = sorted(os.listdir(directory)) if directory.is_dir() else []
            found.extend(directory / name for name in names if _fs.is_temp_name(name))
        return found

    def remove_leftovers(self) -> int:
        """Delete :meth:`leftovers`; returns how many."""
        found = self.leftovers()
        for path in found:
            path.unlink(missing_ok=True)
        return len(found)

    def create_directories(self) -> None:
        """Create the store's directories, each durably (idempotent)."""
        for directory in (self.root, self.keys, self.public):
            _fs.ensure_dir(directory, label="store.create")


_PID_WIDTH = 10


def _holder(fd: int) -> int | None:
    """The pid the holder wrote, if that process is alive (a reader may come between the holder's flock
    and its write and see its predecessor's pid: that one is dead, or it would still hold the lock)."""
    for _ in range(50):  # the holder writes right after taking the lock: give it a moment
        text = os.pread(fd, _PID_WIDTH + 1, 0).decode("ascii", "replace").strip()
        if text.isdigit() and _alive(int(text)):
            return int(text)
        time.sleep(0.002)
    return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return True


class StoreLock:
    """An exclusive, non-blocking flock on ``STORE/LOCK``, held for the engine's lifetime.

    The kernel releases it when the process dies, so a crashed engine never leaves a stale lock.
    """

    def __init__(self, layout: StoreLayout) -> None:
        fd = os.open(layout.lock, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fd)
            os.close(fd)
            who = f"pid {holder}" if holder is not None else "its pid is not known"
            raise StoreLocked(
                f"{layout.root} is in use by another process ({who}); try again when it is done"
            ) from None
        # Diagnostic only (who holds it), deliberately not durable: the lock itself is the flock. One
        # fixed-width pwrite, never a truncate first, so a reader sees the old or the new pid, never "".
        os.pwrite(fd, f"{os.getpid():>{_PID_WIDTH}}\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        """Drop the lock (closing the descriptor releases the flock)."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
