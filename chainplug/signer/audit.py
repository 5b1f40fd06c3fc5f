"""Hash-chained JSONL audit log: every signature and migration step, no secrets.

Each line is canonical JSON (sorted keys, no spaces) of ``{"seq", "time", "event", ..., "prev",
"hash"}`` where ``hash = sha256(prev || canonical JSON of the record without "hash")`` and ``prev`` is
the previous line's hash (64 zeros for the first). Editing, deleting or reordering any line breaks
every hash after it, which :func:`verify_audit_log` reports with the line number.

Group commit: records are chained in the order :meth:`AuditLog.record` is called (under one lock, so
concurrent signers get distinct, consecutive ``seq`` numbers), and a durable record returns only once
its line and every line before it are written and fsynced. Concurrent callers share one write and one
fsync: whoever flushes writes every line waiting at that moment, and the others find theirs already
durable. A signer therefore records a signature before the signature leaves it, at the cost of one
fsync per *burst* of signatures rather than one per signature. ``durable=False`` records (what happened
to a transaction after it was signed and recorded) ride along with the next flush; the only ones a
crash can lose are the last, and losing the tail of the chain never breaks it.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from pathlib import Path
from typing import Any

from .._fs import append_durable
from ..errors import ChainplugError, Reason

GENESIS = "0" * 64
_FORBIDDEN = ("secret", "private", "password", "seed", "passphrase")


class AuditLogError(ChainplugError):
    """The audit log's hash chain does not verify (a line was edited, removed or reordered), or the log
    could not be written (then nothing more is signed: a signature must never go unrecorded)."""

    default_reason = Reason.LOG_CORRUPT


def _canonical(record: dict[str, Any]) -> bytes:
    return json.dumps(record, sort_keys=True, separators=(",", ":")).encode()


def _chain_hash(prev: str, record: dict[str, Any]) -> str:
    return hashlib.sha256(bytes.fromhex(prev) + _canonical(record)).hexdigest()


class AuditLog:
    """Appends chained records to ``path`` (created if missing; continues an existing chain). Thread-safe."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        """Guards the chain head (``_prev``, ``_seq``) and the lines waiting to be written."""
        self._flush_lock = threading.Lock()
        """One writer at a time; the others wait here and usually find their line already durable."""
        self._prev, self._seq = GENESIS, 0
        if path.exists() and path.stat().st_size:
            last = verify_audit_log(path)
            self._prev, self._seq = last["hash"], last["seq"] + 1
        self._durable = self._seq - 1
        """The highest seq known written and fsynced."""
        self._waiting: list[bytes] = []
        self._failed: BaseException | None = None
        self.flushes = 0
        """Writes (each one fsync) so far: with concurrent signers, fewer than records."""
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)

    def record(self, event: str, *, durable: bool = True, **fields: Any) -> dict[str, Any]:
        """Append one event; with ``durable`` (the default) return only once it is on disk.

        Field names that look like secrets are refused outright. Raises :class:`AuditLogError` if the
        log could not be written (this call or an earlier one): the chain cannot go on past a line that
        is not on disk, so every later record fails too until the service is restarted.
        """
        for name in fields:
            if any(word in name.lower() for word in _FORBIDDEN):
                raise ValueError(f"refusing to audit-log a field named {name!r}")
        with self._lock:
            self._raise_if_failed()
            record = {"seq": self._seq, "time": round(time.time(), 6), "event": event, **fields, "prev": self._prev}
            record["hash"] = _chain_hash(self._prev, record)
            self._waiting.append(_canonical(record) + b"\n")
            self._prev, self._seq = record["hash"], self._seq + 1
        if durable:
            self._flush_through(record["seq"])
        return record

    def flush(self) -> None:
        """Make every record so far durable."""
        with self._lock:
            last = self._seq - 1
        self._flush_through(last)

    def _flush_through(self, seq: int) -> None:
        with self._flush_lock:
            if self._durable >= seq:
                self._raise_if_failed()
                return
            with self._lock:
                self._raise_if_failed()
                lines, self._waiting = self._waiting, []
                last = self._seq - 1
            try:
                append_durable(self._fd, b"".join(lines), label="signer.audit.append")
            except BaseException as exc:
                with self._lock:
                    self._failed = exc
                raise AuditLogError(f"{self.path}: audit log write failed: {exc}") from exc
            self._durable = last
            self.flushes += 1

    def _raise_if_failed(self) -> None:
        if self._failed is not None:
            raise AuditLogError(f"{self.path}: an earlier audit log write failed ({self._failed}); restart the signer")

    def close(self) -> None:
        """Flush what is waiting (if the log still works) and close the file."""
        try:
            if self._failed is None:
                self.flush()
        finally:
            os.close(self._fd)


def verify_audit_log(path: Path) -> dict[str, Any]:
    """Check the whole chain; return the last record. Raises AuditLogError naming the first bad line."""
    prev: str = GENESIS
    last: dict[str, Any] | None = None
    with path.open("rb") as handle:
        for number, line in enumerate(handle, start=1):
            try:
                record: dict[str, Any] = json.loads(line)
                claimed = str(record.pop("hash"))
            except (ValueError, KeyError, AttributeError) as exc:
                raise AuditLogError(f"{path}: line {number} is not an audit record") from exc
            if record.get("prev") != prev or record.get("seq") != number - 1:
                raise AuditLogError(f"{path}: line {number} does not follow line {number - 1} (removed or reordered)")
            if _chain_hash(prev, record) != claimed:
                raise AuditLogError(f"{path}: line {number} was modified (hash mismatch)")
            record["hash"] = claimed
            prev, last = claimed, record
    if last is None:
        raise AuditLogError(f"{path}: empty audit log")
    return last
