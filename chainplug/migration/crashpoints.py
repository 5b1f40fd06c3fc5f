"""Labelled crash points: kill the process at an exact step, for crash-injection tests.

Every durable step of the migration layer — each write, sync, rename, unlink and overwrite, in
every transition and in recovery — passes a label to :mod:`chainplug._fs`; the engine adds one of
its own. :data:`CRASH_POINTS` is the complete list and the only place it lives (a TLA+ model of the
engine must use the same list). Tests check that every label the engine passes is listed and every
listed label is passed by some scenario. Other layers' durable writes name their own sites
(``chainplug.keystore.CRASH_POINTS``, ``signer.audit.*``, ``validator.log.*``): a plan traces them
and can target them, and otherwise lets them pass.

Environment, read once when this module is imported:

``CHAINPLUG_CRASH_AT=label[:nth]``
    SIGKILL this process just *before* the nth (default first) execution of ``label``.
``CHAINPLUG_CRASH_TRACE=path``
    append every label hit to ``path``, one per line, as ``label`` or ``label subject`` (a dry run
    enumerates the crash points). The subject is the file name or ``EVENT:address,...`` of the
    records a step concerns; ``@recovered`` marks a store recovered and open, and ``@killed``
    follows the label the plan killed the process *before*. tests/formal/tracecheck.py splits a
    trace per key and checks it is a behaviour of docs/formal/Migration.tla.

With neither set nothing is installed, and each step costs two ``None`` checks in ``_fs``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Final

from .. import _fs

CRASH_AT_ENV: Final = "CHAINPLUG_CRASH_AT"
CRASH_TRACE_ENV: Final = "CHAINPLUG_CRASH_TRACE"

# fmt: off
CRASH_POINTS: Final[tuple[str, ...]] = (
    # store directories (root, keys/, public/): mkdir, then fsync of the parent
    "store.create.mkdir", "store.create.dir_sync",
    # the log file: created atomically with its header; each commit appends + fsyncs
    "wal.create.tmp_write", "wal.create.torn", "wal.create.tmp_sync", "wal.create.rename",
    "wal.create.dir_sync",
    "wal.append.write", "wal.append.torn", "wal.append.fsync",
    "wal.truncate.truncate", "wal.truncate.fsync",            # dropping a torn tail on open
    # private keys (keystore port): atomic writes, and wipes (overwrite, sync, unlink, dir fsync)
    "keys.classical.put.tmp_write", "keys.classical.put.torn", "keys.classical.put.tmp_sync",
    "keys.classical.put.rename", "keys.classical.put.dir_sync",
    "keys.pqc.put.tmp_write", "keys.pqc.put.torn", "keys.pqc.put.tmp_sync",
    "keys.pqc.put.rename", "keys.pqc.put.dir_sync",
    "keys.classical.wipe.overwrite", "keys.classical.wipe.sync", "keys.classical.wipe.unlink",
    "keys.classical.wipe.dir_sync",
    "keys.pqc.wipe.overwrite", "keys.pqc.wipe.sync", "keys.pqc.wipe.unlink", "keys.pqc.wipe.dir_sync",
    "keys.leftover.wipe.overwrite", "keys.leftover.wipe.sync", "keys.leftover.wipe.unlink",
    "keys.leftover.wipe.dir_sync",
    # Erasure-Before-WAL: classical public key backup, then (after the wipe) the in-memory zeroing
    "public.backup.tmp_write", "public.backup.torn", "public.backup.tmp_sync", "public.backup.rename",
    "public.backup.dir_sync",
    "erase.zero_memory",
)
# fmt: on


class SimulatedCrash(BaseException):  # not an error: a stand-in for SIGKILL
    """Raised instead of SIGKILL by in-process tests. A ``BaseException`` so that no ``except
    Exception`` on the way up can run recovery-like cleanup a real crash would never run."""


class CrashPlan:
    """A crash hook: die before the ``nth`` hit of ``label``; optionally trace every hit."""

    def __init__(self, label: str | None = None, nth: int = 1, *, trace_path: str | None = None) -> None:
        if label is not None and "." not in label:
            raise ValueError(f"crash point {label!r} is not a '<site>.<step>' label")
        if nth < 1:
            raise ValueError("nth counts from 1")
        self.label = label
        self.nth = nth
        self.hits = 0
        self.traces = bool(trace_path)
        self._trace_fd = (
            os.open(trace_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600) if trace_path else None
        )

    def __call__(self, label: str) -> bool:
        if label != self.label:
            return False
        self.hits += 1
        if self.hits != self.nth:
            return False
        if self._trace_fd is not None:
            os.write(self._trace_fd, b"@killed\n")
        return True

    def close(self) -> None:
        """Close the trace file (for plans used in-process; a killed process needs no close)."""
        if self._trace_fd is not None:
            os.close(self._trace_fd)
            self._trace_fd = None

    def trace(self, label: str, subject: str) -> None:
        """Append ``label [subject]`` to the trace file (installed as the trace hook)."""
        if self._trace_fd is not None:
            # unbuffered, not fsynced: the trace must survive SIGKILL, not power loss
            os.write(self._trace_fd, f"{label} {subject}\n".encode() if subject else f"{label}\n".encode())


def parse_crash_at(spec: str) -> tuple[str, int]:
    """``"label"`` or ``"label:nth"`` → (label, nth)."""
    label, _, nth = spec.strip().partition(":")
    return label, int(nth) if nth else 1


def install(plan: CrashPlan | None, *, action: Callable[[], None] | None = None) -> None:
    """Route every crash point to ``plan`` (``None`` uninstalls). ``action`` replaces SIGKILL."""
    _fs.set_crash_hook(plan, action)
    _fs.set_trace_hook(plan.trace if plan is not None and plan.traces else None)


def install_from_env(environ: Mapping[str, str]) -> CrashPlan | None:
    """Install a plan from ``CHAINPLUG_CRASH_AT`` / ``CHAINPLUG_CRASH_TRACE`` if either is set."""
    spec = environ.get(CRASH_AT_ENV)
    trace = environ.get(CRASH_TRACE_ENV)
    if not spec and not trace:
        return None
    label, nth = parse_crash_at(spec) if spec else (None, 1)
    plan = CrashPlan(label, nth, trace_path=trace)
    install(plan)
    return plan


crashpoint = _fs.crashpoint
"""Mark an engine-level crash point (the file primitives mark their own)."""

install_from_env(os.environ)
