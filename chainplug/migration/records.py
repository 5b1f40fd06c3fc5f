"""Write-ahead log records: one frame per event, with length, type, sequence, generation and checksum.

Frame (big-endian; docs/migration.md §2)::

    marker      4   0x89 'C' 'P' 'R'
    length      4   bytes from type to the end of body (33 + len(body))
    type        1   Event value
    seq         8   store-wide sequence number, 1, 2, 3, ... with no gaps
    generation  4   the account's generation *after* this event
    address    20   the account
    body        n   fixed length per type (below)
    crc32       4   zlib CRC-32 of length .. body

Bodies hold public facts only — never private key material:

    CREATE            64  classical public key x || y (the address is its keccak hash)
    BEGIN_HYBRID      32  ML-DSA-87 key id (keccak256 of the public key)
    FINALIZE          17  fleet gate evidence: ready u32, total u32, threshold num u32, den u32, forced u8
    CLASSICAL_ERASED   0
    COMPLETE           0
    ROLLBACK          32  key id of the destroyed ML-DSA-87 key
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from fractions import Fraction
from typing import Final

from ..types import Address, KeyId
from .state import Event

RECORD_MARKER: Final = b"\x89CPR"
"""Starts every frame; lets the reader look for valid frames after a damaged one."""
_PREFIX: Final = struct.Struct(">4sI")  # marker, length
_FIXED: Final = struct.Struct(">BQI20s")  # type, seq, generation, address
_CRC: Final = struct.Struct(">I")
FIXED_BYTES: Final = _FIXED.size
"""33: type + seq + generation + address."""
BODY_BYTES: Final = {
    Event.CREATE: 64,
    Event.BEGIN_HYBRID: 32,
    Event.FINALIZE: 17,
    Event.CLASSICAL_ERASED: 0,
    Event.COMPLETE: 0,
    Event.ROLLBACK: 32,
}
MAX_FRAME_BYTES: Final = _PREFIX.size + FIXED_BYTES + max(BODY_BYTES.values()) + _CRC.size
_GATE: Final = struct.Struct(">IIIIB")


@dataclass(frozen=True, slots=True)
class Record:
    """One durable event of one account."""

    event: Event
    """What happened (the frame's type byte)."""
    seq: int
    """Store-wide sequence number: exactly one more than the previous record's."""
    generation: int
    """The account's generation after the event."""
    address: Address
    """The 20-byte account address."""
    body: bytes
    """Type-specific public payload, fixed length per type (module docstring)."""


@dataclass(frozen=True, slots=True)
class GateEvidence:
    """What the fleet gate saw when it let an account into FINALIZING (kept in the record)."""

    ready: int
    """Validators reported upgraded."""
    total: int
    """Validators reported."""
    threshold: Fraction
    """Required upgraded fraction."""
    forced: bool
    """True if the operator overrode the gate with --force."""

    def to_bytes(self) -> bytes:
        """The 17-byte FINALIZE body."""
        return _GATE.pack(
            self.ready, self.total, self.threshold.numerator, self.threshold.denominator, int(self.forced)
        )

    @classmethod
    def from_bytes(cls, body: bytes) -> GateEvidence:
        """Parse a FINALIZE body."""
        ready, total, numerator, denominator, forced = _GATE.unpack(body)
        return cls(ready, total, Fraction(numerator, max(denominator, 1)), bool(forced))


def encode_frame(record: Record) -> bytes:
    """The on-disk frame of ``record``."""
    if len(record.body) != BODY_BYTES[record.event] or len(record.address) != 20:
        raise ValueError(f"{record.event.name} record has the wrong body or address length")
    inner = _FIXED.pack(record.event, record.seq, record.generation, record.address) + record.body
    checked = struct.pack(">I", len(inner)) + inner
    return RECORD_MARKER + checked + _CRC.pack(zlib.crc32(checked))


class FrameDamaged(Exception):  # internal signal: never leaves wal.scan()
    """The bytes at this offset are not a whole, intact frame (torn, or corrupt)."""


class FrameInvalid(Exception):  # internal signal: never leaves wal.scan()
    """An intact frame (checksum good) whose content this version cannot accept."""


def parse_frame(data: bytes, offset: int) -> tuple[Record, int]:
    """Parse the frame at ``offset``; return it and the offset after it.

    Raises :class:`FrameDamaged` for bytes that are not an intact frame (a torn tail looks like
    this) and :class:`FrameInvalid` for an intact frame with an unknown type or body length.
    """
    if len(data) - offset < _PREFIX.size:
        raise FrameDamaged("header runs past the end of the file")
    marker, length = _PREFIX.unpack_from(data, offset)
    if marker != RECORD_MARKER:
        raise FrameDamaged("no record marker")
    if not FIXED_BYTES <= length <= MAX_FRAME_BYTES:
        raise FrameDamaged(f"length {length} is out of range")
    end = offset + _PREFIX.size + length + _CRC.size
    if end > len(data):
        raise FrameDamaged("record runs past the end of the file")
    checked = data[offset + 4 : end - _CRC.size]
    (crc,) = _CRC.unpack_from(data, end - _CRC.size)
    if zlib.crc32(checked) != crc:
        raise FrameDamaged("checksum mismatch")
    type_byte, seq, generation, address = _FIXED.unpack_from(checked, 4)
    try:
        event = Event(type_byte)
    except ValueError:
        raise FrameInvalid(f"unknown record type {type_byte}") from None
    body = bytes(checked[4 + FIXED_BYTES :])
    if len(body) != BODY_BYTES[event]:
        raise FrameInvalid(f"{event.name} body is {len(body)} bytes, expected {BODY_BYTES[event]}")
    return Record(event, seq, generation, Address(bytes(address)), body), end


def create_body(classical_public_key: bytes) -> bytes:
    """CREATE body: the 64-byte classical public key."""
    return bytes(classical_public_key)


def key_id_body(key_id: KeyId) -> bytes:
    """BEGIN_HYBRID and ROLLBACK body: a 32-byte key id."""
    return bytes(key_id)
