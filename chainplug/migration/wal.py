"""The write-ahead log file: header, scan with torn-tail / corrupt-middle rules, durable appends.

Mode of operation (docs/migration.md §2): one append-only file per store. The header is written
once, atomically (temp, fsync, rename, fsync directory). A commit appends one or many frames with
one ``write`` and one ``fsync`` (group commit); the engine acts on a record only after its commit
returned. On open, the reader applies two rules:

* a damaged frame with no intact frame after it is a **torn tail** — the remains of a commit that
  never returned — and is dropped (the writer truncates it away, durably, before appending);
* a damaged frame *followed by* an intact one, a broken sequence, or an intact frame this version
  cannot read is **corruption**: :class:`~chainplug.errors.WalCorrupt`, naming the file, the record
  index, its sequence number and byte offset. History is never silently rewritten.
"""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from .. import _fs
from ..errors import WalCorrupt
from .records import RECORD_MARKER, FrameDamaged, FrameInvalid, Record, encode_frame, parse_frame

WAL_MAGIC: Final = b"\x89CPWAL\r\n"
"""File signature (PNG-style: a high byte and CR LF catch text-mode and 7-bit mangling)."""
WAL_VERSION: Final = 1
_HEADER: Final = struct.Struct(">8sHHI")  # magic, version, flags (0), crc32 of the first 12 bytes
HEADER_BYTES: Final = _HEADER.size


def header_bytes() -> bytes:
    """The 16-byte header of a version-1 log."""
    head = struct.pack(">8sHH", WAL_MAGIC, WAL_VERSION, 0)
    return head + struct.pack(">I", zlib.crc32(head))


@dataclass(frozen=True, slots=True)
class LogScan:
    """The intact prefix of a log file."""

    records: tuple[Record, ...]
    """Every record before the torn tail, in order."""
    offsets: tuple[int, ...]
    """Byte offset of each record."""
    valid_end: int
    """Offset just past the last intact record: where the next commit goes."""
    torn_bytes: int
    """Bytes of torn tail after ``valid_end`` (0 if none)."""


def _intact_frames_from(data: bytes, start: int) -> int:
    """How many intact frames can be found at or after ``start`` (looking for record markers)."""
    found = 0
    position = data.find(RECORD_MARKER, start)
    while position != -1:
        try:
            _, end = parse_frame(data, position)
        except (FrameDamaged, FrameInvalid):
            position = data.find(RECORD_MARKER, position + 1)
            continue
        found += 1
        position = data.find(RECORD_MARKER, end)
    return found


def scan(data: bytes, path: str) -> LogScan:
    """Apply the torn-tail and corruption rules to the bytes of a log file."""
    if len(data) < HEADER_BYTES or data[:HEADER_BYTES] != header_bytes():
        raise WalCorrupt(f"{path}: not a version-{WAL_VERSION} chainplug migration log (bad header)", path=path)
    records: list[Record] = []
    offsets: list[int] = []
    position = HEADER_BYTES
    while position < len(data):
        index = len(records)
        where = f"{path}: record #{index} (expected seq {index + 1}) at byte offset {position}"
        try:
            record, end = parse_frame(data, position)
        except FrameInvalid as exc:
            raise WalCorrupt(f"{where}: {exc}", path=path, record_index=index, offset=position) from None
        except FrameDamaged as exc:
            following = _intact_frames_from(data, position + 1)
            if following:
                raise WalCorrupt(
                    f"{where} is corrupt ({exc}) and {following} intact record(s) follow it; "
                    "refusing to rewrite history",
                    path=path,
                    record_index=index,
                    seq=index + 1,
                    offset=position,
                ) from None
            return LogScan(tuple(records), tuple(offsets), position, len(data) - position)
        if record.seq != index + 1:
            kind = "repeats an earlier" if record.seq <= index else "skips ahead of the expected"
            raise WalCorrupt(
                f"{where}: sequence number {record.seq} {kind} sequence number",
                path=path,
                record_index=index,
                seq=record.seq,
                offset=position,
            )
        records.append(record)
        offsets.append(position)
        position = end
    return LogScan(tuple(records), tuple(offsets), position, 0)


def read_log(path: Path) -> LogScan:
    """Read and scan the log at ``path`` (read-only; a torn tail is reported, not removed)."""
    return scan(path.read_bytes(), str(path))


def create_log(path: Path) -> None:
    """Create an empty log atomically (header only)."""
    _fs.atomic_write(path, header_bytes(), label="wal.create")


def _subject(records: Sequence[Record]) -> str:
    """``EVENT:address,...``: what a commit says, for crash traces (never a record's body)."""
    return ",".join(f"{record.event.name}:{record.address.hex()}" for record in records)


class WalWriter:
    """Appends committed records to an open log. One writer per store (the store lock)."""

    def __init__(self, path: Path, valid_end: int, torn_bytes: int) -> None:
        self.path = path
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC)
        if torn_bytes:
            _fs.truncate_durable(self._fd, valid_end, label="wal.truncate")
        self._broken = False

    def commit(self, records: Sequence[Record]) -> None:
        """Append ``records`` with one write and one fsync. After an I/O error the writer refuses
        further commits: the engine must be reopened, which re-reads what actually reached disk."""
        if self._broken:
            raise WalCorrupt(f"{self.path}: an earlier commit failed; reopen the store", path=str(self.path))
        if not records:
            return
        data = b"".join(encode_frame(record) for record in records)
        try:
            _fs.append_durable(self._fd, data, label="wal.append", subject=_subject(records) if _fs.tracing() else "")
        except OSError:
            self._broken = True
            raise

    def close(self) -> None:
        """Close the file descriptor (no write happens here)."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
