"""Durable file writes: the one audited place where chainplug makes bytes survive a crash.

Every durable write in the project goes through this module (STYLE.md habit 15, reth's
``atomic_write_file``):

* :func:`atomic_write` / :func:`atomic_write_many` — temp file in the same directory → write →
  sync → rename over the target → fsync the directory. Readers see the old file or the new one.
* :func:`append_durable` — append + fsync: a log commit.
* :func:`truncate_durable` — cut a torn log tail + fsync.
* :func:`wipe_files` — overwrite in place with zeros → sync → unlink → fsync the directory.
* :func:`fsync_dir`, :func:`ensure_dir`.

Group commit: ``atomic_write_many`` and ``wipe_files`` make many files durable with one
``syncfs(2)`` (Linux: one flush of the file system holding them) instead of one fsync per file;
elsewhere, or for a handful of files, they fsync each file. :data:`SYNC_STATS` counts every sync
call made here, so benchmarks can report syncs per key.

Crash points: before each step the installed crash hook (:func:`set_crash_hook`) is asked about the
label ``"<site>.<step>"``; callers name the site, ``chainplug.migration.crashpoints`` lists every
label. With no hook installed a step costs two ``None`` checks (crash and trace). See docs/migration.md §7.

Traces: a trace hook (:func:`set_trace_hook`) is told each step's label and its *subject*, the file
name or the records a step concerns, so a trace can be split per key and checked against the TLA+
model (docs/formal/README.md, "Trace validation").
"""

from __future__ import annotations

import ctypes
import itertools
import os
import signal
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

Buffer = bytes | bytearray | memoryview

TEMP_SUFFIX: Final = ".tmp"
"""Temp files are ``.<target name>.<pid>.<n>.tmp`` next to their target; never authoritative."""
GROUP_SYNC_MIN_FILES: Final = 4
"""From this many files on, one syncfs(2) replaces per-file fsyncs (when the platform has it)."""
_ZEROS: Final = bytes(64 * 1024)

CrashHook = Callable[[str], bool]
"""Asked before each step with its label; returning True means "the process dies here"."""
TraceHook = Callable[[str, str], None]
"""Told before each step (and before the crash hook) its label and subject ("" when none)."""


@dataclass(slots=True)
class SyncStats:
    """Counts of sync system calls made through this module (process-wide, not thread-safe)."""

    file_fsyncs: int = 0
    """fsync(2) on regular files."""
    dir_fsyncs: int = 0
    """fsync(2) on directories (after create, rename, unlink)."""
    fs_syncs: int = 0
    """syncfs(2) calls, each flushing one whole file system (group commit)."""

    @property
    def total(self) -> int:
        """Every sync call: what one "fsync per key" counts."""
        return self.file_fsyncs + self.dir_fsyncs + self.fs_syncs

    def snapshot(self) -> SyncStats:
        """A copy, for differences: ``after.since(before)``."""
        return SyncStats(self.file_fsyncs, self.dir_fsyncs, self.fs_syncs)

    def since(self, before: SyncStats) -> SyncStats:
        """Calls made between ``before`` and this snapshot."""
        return SyncStats(
            self.file_fsyncs - before.file_fsyncs,
            self.dir_fsyncs - before.dir_fsyncs,
            self.fs_syncs - before.fs_syncs,
        )


SYNC_STATS: Final = SyncStats()


def _sigkill() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


_crash_hook: CrashHook | None = None
_trace_hook: TraceHook | None = None
_crash_action: Callable[[], None] = _sigkill
_temp_counter = itertools.count()


def set_crash_hook(hook: CrashHook | None, action: Callable[[], None] | None = None) -> None:
    """Install (or with ``None`` remove) the crash hook. ``action`` runs when the hook says "crash"
    (default: SIGKILL this process; in-process tests raise instead)."""
    global _crash_hook, _crash_action
    _crash_hook = hook
    _crash_action = action if action is not None else _sigkill


def set_trace_hook(hook: TraceHook | None) -> None:
    """Install (or with ``None`` remove) the trace hook."""
    global _trace_hook
    _trace_hook = hook


def tracing() -> bool:
    """True while a trace hook is installed (callers skip building subjects otherwise)."""
    return _trace_hook is not None


def trace_event(name: str, subject: str = "") -> None:
    """Record a non-durable event (``@name``) in the trace, if one is being taken."""
    if _trace_hook is not None:
        _trace_hook(f"@{name}", subject)


def crashpoint(label: str, subject: str = "") -> None:
    """A labelled crash point outside the file primitives (e.g. between erasure and the log)."""
    if _trace_hook is not None:
        _trace_hook(label, subject)
    if _crash_hook is not None and _crash_hook(label):
        _crash_action()


def _cp(site: str, step: str, subject: str = "") -> None:
    if _trace_hook is not None:
        _trace_hook(f"{site}.{step}", subject)
    if _crash_hook is not None and _crash_hook(f"{site}.{step}"):
        _crash_action()


def _torn(site: str, fd: int, data: Buffer, subject: str = "") -> None:
    """Crash point ``<site>.torn``: write the first half of ``data``, then die (a torn write)."""
    if _trace_hook is not None:
        _trace_hook(f"{site}.torn", subject)
    if _crash_hook is not None and _crash_hook(f"{site}.torn"):
        view = memoryview(data).cast("B")
        _write_all(fd, view[: len(view) // 2])
        _crash_action()


def _load_syncfs() -> Callable[[int], int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        function = ctypes.CDLL(None, use_errno=True).syncfs
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_int]
    function.restype = ctypes.c_int
    syncfs: Callable[[int], int] = function
    return syncfs


_syncfs = _load_syncfs()
HAS_SYNCFS: Final = _syncfs is not None
"""True where group commit uses one syncfs(2) (Linux); elsewhere it fsyncs each file."""


def _fd_path(fd: int) -> str:
    """The path of an open descriptor, for error messages (a write or fsync error carries no file name)."""
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return f"<file descriptor {fd}>"


def _name(error: OSError, name: str) -> OSError:
    if not error.filename:
        error.filename = name
    return error


def _write_all(fd: int, data: Buffer) -> None:
    view = memoryview(data).cast("B")
    try:
        while view:
            written = os.write(fd, view)
            view = view[written:]
    except OSError as exc:  # disk full: say which file
        raise _name(exc, _fd_path(fd)) from None


def _fsync_file(fd: int) -> None:
    try:
        os.fsync(fd)
    except OSError as exc:
        raise _name(exc, _fd_path(fd)) from None
    SYNC_STATS.file_fsyncs += 1


def _sync_files(fds: Sequence[int]) -> None:
    """Make the data of every open file in ``fds`` durable: one syncfs, or one fsync each."""
    if _syncfs is not None and len(fds) >= GROUP_SYNC_MIN_FILES:
        if _syncfs(fds[0]) != 0:
            errno = ctypes.get_errno()
            raise OSError(errno, os.strerror(errno), os.path.dirname(_fd_path(fds[0])))
        SYNC_STATS.fs_syncs += 1
        return
    for fd in fds:
        _fsync_file(fd)


def fsync_dir(directory: Path) -> None:
    """fsync a directory, making creations, renames and unlinks in it durable."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    except OSError as exc:
        raise _name(exc, str(directory)) from None
    finally:
        os.close(fd)
    SYNC_STATS.dir_fsyncs += 1


def ensure_dir(directory: Path, *, label: str) -> None:
    """Create ``directory`` (mode 0700) if missing, and make its entry durable in the parent."""
    if directory.is_dir():
        return
    _cp(label, "mkdir")
    try:
        directory.mkdir(mode=0o700)
    except FileExistsError:  # created concurrently; its creator makes the entry durable
        return
    _cp(label, "dir_sync")
    fsync_dir(directory.parent)


def is_temp_name(name: str) -> bool:
    """True for the name of an :func:`atomic_write` temp file (a leftover if found after a crash)."""
    return name.startswith(".") and name.endswith(TEMP_SUFFIX)


def _temp_path(target: Path) -> Path:
    return target.with_name(f".{target.name}.{os.getpid()}.{next(_temp_counter)}{TEMP_SUFFIX}")


def atomic_write(path: Path, data: Buffer, *, label: str, mode: int = 0o600) -> None:
    """Replace ``path`` with ``data`` atomically and durably (temp → sync → rename → fsync dir)."""
    atomic_write_many([(path, data)], label=label, mode=mode)


def atomic_write_many(items: Sequence[tuple[Path, Buffer]], *, label: str, mode: int = 0o600) -> None:
    """Atomically replace many files of one directory with one sync and one directory fsync.

    Each file individually is either old or new after a crash; the set as a whole is not atomic
    (callers commit the fact in their log only after this returns).
    """
    if not items:
        return
    directory = items[0][0].parent
    if any(path.parent != directory for path, _ in items):
        raise ValueError("atomic_write_many: all files must be in one directory")
    temps: list[Path] = []
    fds: list[int] = []
    try:
        for path, data in items:
            temp = _temp_path(path)
            _cp(label, "tmp_write", path.name)
            try:
                fds.append(os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, mode))
                temps.append(temp)
                _torn(label, fds[-1], data, path.name)
                _write_all(fds[-1], data)
            except OSError as exc:  # name the file being written, not our temp file
                exc.filename = str(path)
                raise
        _cp(label, "tmp_sync")
        _sync_files(fds)
    except Exception:  # a failed write, not a crash: a crash leaves temps for recovery to wipe
        _discard(temps)
        raise
    finally:
        for fd in fds:
            os.close(fd)
    for (path, _), temp in zip(items, temps, strict=True):
        _cp(label, "rename", path.name)
        os.replace(temp, path)
    _cp(label, "dir_sync")
    fsync_dir(directory)


def _discard(temps: Sequence[Path]) -> None:
    """Best effort after a failed write (not a crash): zero and unlink our temp files."""
    for temp in temps:
        try:
            fd = os.open(temp, os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
            try:
                _overwrite(fd)
            finally:
                os.close(fd)
            temp.unlink()
        except OSError:
            pass


def append_durable(fd: int, data: Buffer, *, label: str, subject: str = "") -> None:
    """Append ``data`` to the file open (``O_APPEND``) on ``fd`` and fsync it: one commit.
    ``subject`` names what the data says, for traces (never its content)."""
    _cp(label, "write", subject)
    _torn(label, fd, data, subject)
    _write_all(fd, data)
    _cp(label, "fsync", subject)
    _fsync_file(fd)


def truncate_durable(fd: int, size: int, *, label: str) -> None:
    """Cut the file on ``fd`` to ``size`` bytes and fsync it."""
    _cp(label, "truncate")
    try:
        os.ftruncate(fd, size)
    except OSError as exc:
        raise _name(exc, _fd_path(fd)) from None
    _cp(label, "fsync")
    _fsync_file(fd)


def _overwrite(fd: int) -> None:
    remaining = os.fstat(fd).st_size
    offset = 0
    while remaining > 0:
        written = os.pwrite(fd, _ZEROS[: min(remaining, len(_ZEROS))], offset)
        offset += written
        remaining -= written


def wipe_files(paths: Sequence[Path], *, label: str) -> int:
    """Overwrite each existing file with zeros, sync, unlink, fsync the directories. Idempotent.

    Missing files are skipped; symlinks are refused (``O_NOFOLLOW``), so a planted link cannot
    redirect the overwrite. Returns how many files were wiped. What this does and does not
    guarantee on real storage (journals, SSD remapping, copy-on-write) is in docs/migration.md.
    """
    opened: list[tuple[Path, int]] = []
    try:
        for path in paths:
            try:
                fd = os.open(path, os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
            except FileNotFoundError:
                continue
            opened.append((path, fd))
            _cp(label, "overwrite", path.name)
            _overwrite(fd)
        if not opened:
            return 0
        _cp(label, "sync")
        _sync_files([fd for _, fd in opened])
    finally:
        for _, fd in opened:
            os.close(fd)
    for path, _ in opened:
        _cp(label, "unlink", path.name)
        path.unlink(missing_ok=True)
    _cp(label, "dir_sync")
    for directory in sorted({path.parent for path, _ in opened}):
        fsync_dir(directory)
    return len(opened)
