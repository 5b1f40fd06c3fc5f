"""Regenerate the write-ahead-log fixtures of this folder (see README.md).

    python -m tests.vectors.wal.regenerate            # from the repository root; rewrites the files
    python -m tests.vectors.wal.regenerate --check    # exit 1 if a file would change

Everything is deterministic. The expected outcomes in ``expected.json`` are written out by hand
below (record counts, offsets, reasons), not computed by the reader they test.
"""

from __future__ import annotations

import json
import sys
from fractions import Fraction
from pathlib import Path

from chainplug.crypto import keccak256
from chainplug.migration.records import GateEvidence, Record, encode_frame
from chainplug.migration.state import Event
from chainplug.migration.wal import HEADER_BYTES, header_bytes
from chainplug.types import Address

HERE = Path(__file__).resolve().parent
A = Address(bytes.fromhex("aa" * 20))
B = Address(bytes.fromhex("bb" * 20))
PUB_A = keccak256(b"public key A, x") + keccak256(b"public key A, y")  # 64 bytes; the log does not parse it
PUB_B = keccak256(b"public key B, x") + keccak256(b"public key B, y")
KEY_ID_A = keccak256(b"ML-DSA-87 public key of A")
KEY_ID_B = keccak256(b"ML-DSA-87 public key of B")
GATE = GateEvidence(ready=3, total=3, threshold=Fraction(1), forced=False).to_bytes()

# Account A goes all the way to PQC_ONLY; B goes HYBRID and rolls back (generation 1).
RECORDS = [
    Record(Event.CREATE, 1, 0, A, PUB_A),
    Record(Event.CREATE, 2, 0, B, PUB_B),
    Record(Event.BEGIN_HYBRID, 3, 0, A, KEY_ID_A),
    Record(Event.FINALIZE, 4, 0, A, GATE),
    Record(Event.BEGIN_HYBRID, 5, 0, B, KEY_ID_B),
    Record(Event.ROLLBACK, 6, 1, B, KEY_ID_B),
    Record(Event.CLASSICAL_ERASED, 7, 0, A, b""),
    Record(Event.COMPLETE, 8, 0, A, b""),
]
FRAMES = [encode_frame(record) for record in RECORDS]
OFFSETS = [HEADER_BYTES + sum(len(frame) for frame in FRAMES[:i]) for i in range(len(FRAMES))]
VALID = header_bytes() + b"".join(FRAMES)


def flip(data: bytes, offset: int, bit: int = 0) -> bytes:
    return data[:offset] + bytes([data[offset] ^ (1 << bit)]) + data[offset + 1 :]


def with_record(index: int, record: Record) -> bytes:
    frames = list(FRAMES)
    frames[index] = encode_frame(record)
    return header_bytes() + b"".join(frames)


FINAL = {"0x" + "aa" * 20: ["PQC_ONLY", 0], "0x" + "bb" * 20: ["CLASSICAL", 1]}
BEFORE_LAST = {"0x" + "aa" * 20: ["CLASSICAL_ERASED", 0], "0x" + "bb" * 20: ["CLASSICAL", 1]}

# name -> (bytes, expected outcome, what the file shows)
FIXTURES: dict[str, tuple[bytes, dict[str, object], str]] = {
    "valid.wal": (VALID, {"outcome": "ok", "records": 8, "torn_bytes": 0, "accounts": FINAL},
                  "eight intact records: A to PQC_ONLY, B to HYBRID and rolled back"),
    "truncated_tail.wal": (VALID[:-9], {"outcome": "ok", "records": 7, "torn_bytes": len(FRAMES[7]) - 9,
                                        "accounts": BEFORE_LAST},
                           "the last record cut 9 bytes short (a torn append): dropped"),
    "zero_tail.wal": (VALID + bytes(512), {"outcome": "ok", "records": 8, "torn_bytes": 512, "accounts": FINAL},
                      "512 zero bytes after the last record (file grown, data never written): dropped"),
    "bitflip_last.wal": (flip(VALID, OFFSETS[7] + 12), {"outcome": "ok", "records": 7,
                                                        "torn_bytes": len(FRAMES[7]), "accounts": BEFORE_LAST},
                         "one bit flipped in the last record's sequence number: fails its checksum, nothing "
                         "intact follows, so it is a torn tail and dropped"),
    "bitflip_middle.wal": (flip(VALID, OFFSETS[3] + 45, 3), {"outcome": "error", "reason": "wal-corrupt",
                                                             "record_index": 3, "offset": OFFSETS[3]},
                           "one bit flipped inside record #3 (FINALIZE) with four intact records after it: "
                           "corruption, the engine stops and names file, record and offset"),
    "duplicate_seq.wal": (with_record(4, Record(Event.BEGIN_HYBRID, 4, 0, B, KEY_ID_B)),
                          {"outcome": "error", "reason": "wal-corrupt", "record_index": 4, "seq": 4,
                           "offset": OFFSETS[4]},
                          "record #4 carries sequence number 4 again (valid checksum): refused"),
    "future_generation.wal": (with_record(4, Record(Event.BEGIN_HYBRID, 5, 7, B, KEY_ID_B)),
                              {"outcome": "error", "reason": "wal-generation", "record_index": 4, "seq": 5,
                               "offset": OFFSETS[4]},
                              "record #4 claims generation 7 while the account is at 0 (a record spliced from "
                              "another history): refused"),
    "state_regression.wal": (VALID + encode_frame(Record(Event.BEGIN_HYBRID, 9, 0, A, KEY_ID_A)),
                             {"outcome": "error", "reason": "illegal-transition", "record_index": 8, "seq": 9,
                              "offset": len(VALID)},
                             "an intact ninth record moves A from PQC_ONLY back to HYBRID: refused"),
    "bad_header.wal": (flip(VALID, 2), {"outcome": "error", "reason": "wal-corrupt"},
                       "one bit flipped in the file header: not a chainplug log"),
}  # fmt: skip


def render() -> dict[str, bytes]:
    """Every file of the folder this script owns, by name."""
    files = {name: data for name, (data, _, _) in FIXTURES.items()}
    expected = {name: {**outcome, "shows": shows} for name, (_, outcome, shows) in FIXTURES.items()}
    files["expected.json"] = (json.dumps(expected, indent=2, sort_keys=True) + "\n").encode()
    return files


def main(argv: list[str]) -> int:
    files = render()
    if argv == ["--check"]:
        stale = [name for name, data in files.items() if (HERE / name).read_bytes() != data]
        print("stale: " + ", ".join(stale) if stale else "all fixtures up to date")
        return 1 if stale else 0
    for name, data in files.items():
        (HERE / name).write_bytes(data)
    print(f"wrote {len(files)} files to {HERE}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
