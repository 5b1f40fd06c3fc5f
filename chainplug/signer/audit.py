"""Hash-chained JSONL audit log: every signature and migration step, no secrets.

Each line is canonical JSON (sorted keys, no spaces) of ``{"seq", "time", "event", ..., "prev",
"hash"}`` where ``hash = sha256(prev || canonical JSON of the record without "hash")`` and ``prev`` is
the previous line's hash (64 zeros for the first). Editing, deleting or reordering any line breaks
every hash after it, which :func:`verify_audit_log` reports with the line number. Lines are appended
with one fsync each through chainplug._fs.
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
    """The audit log's hash chain does not verify (a line was edited, removed or reordered)."""

    default_reason = Reason.LOG_CORRUPT


def _canonical(record: dict[str, Any]) -> bytes:
    return json.dumps(record, sort_keys=True, separators=(",", ":")).encode()


def _chain_hash(prev: str, record: dict[str, Any]) -> str:
    return hashlib.sha256(bytes.fromhex(prev) + _canonical(record)).hexdigest()


class AuditLog:
    """Appends chained records to ``path`` (created if missing; continues an existing chain)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._prev, self._seq = GENESIS, 0
        if path.exists() and path.stat().st_size:
            last = verify_audit_log(path)
            self._prev, self._seq = last["hash"], last["seq"] + 1
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)

    def record(self, event: str, **fields: Any) -> dict[str, Any]:
        """Append one event. Field names that look like secrets are refused outright."""
        for name in fields:
            if any(word in name.lower() for word in _FORBIDDEN):
                raise ValueError(f"refusing to audit-log a field named {name!r}")
        with self._lock:
            record = {"seq": self._seq, "time": round(time.time(), 6), "event": event, **fields, "prev": self._prev}
            record["hash"] = _chain_hash(self._prev, record)
            append_durable(self._fd, _canonical(record) + b"\n", label="signer.audit.append")
            self._prev, self._seq = record["hash"], self._seq + 1
            return record

    def close(self) -> None:
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
