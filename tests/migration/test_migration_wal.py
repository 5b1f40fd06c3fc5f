"""The write-ahead log: frame format, the torn-tail and corruption rules, and the vector fixtures."""

from __future__ import annotations

import json
import zlib
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chainplug.errors import Reason, WalCorrupt
from chainplug.migration.ledger import Ledger
from chainplug.migration.records import BODY_BYTES, Record, encode_frame, parse_frame
from chainplug.migration.state import Event
from chainplug.migration.wal import HEADER_BYTES, WalWriter, create_log, read_log, scan
from chainplug.types import Address
from tests.vectors.wal import regenerate

VECTORS = Path(regenerate.__file__).resolve().parent
EXPECTED = json.loads((VECTORS / "expected.json").read_text())


def test_one_frame_byte_for_byte() -> None:
    """The layout of docs/migration.md §2, spelled out."""
    frame = encode_frame(Record(Event.COMPLETE, 258, 3, Address(b"\x11" * 20), b""))
    assert (
        frame.hex()
        == (
            "89435052"  # marker 0x89 'C' 'P' 'R'
            "00000021"  # length 33: type + seq + generation + address + empty body
            "05"  # type COMPLETE
            "0000000000000102"  # seq 258
            "00000003"  # generation 3
            + "11" * 20  # address
            + f"{zlib.crc32(frame[4:-4]):08x}"
        )
    )


@given(
    event=st.sampled_from(Event),
    seq=st.integers(1, 2**64 - 1),
    generation=st.integers(0, 2**32 - 1),
    address=st.binary(min_size=20, max_size=20),
    data=st.data(),
)
def test_frames_round_trip(event: Event, seq: int, generation: int, address: bytes, data: st.DataObject) -> None:
    body = data.draw(st.binary(min_size=BODY_BYTES[event], max_size=BODY_BYTES[event]))
    record = Record(event, seq, generation, Address(address), body)
    frame = encode_frame(record)
    assert parse_frame(b"junk" + frame, 4) == (record, 4 + len(frame))


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_vector(name: str) -> None:
    expected = EXPECTED[name]
    data = (VECTORS / name).read_bytes()
    if expected["outcome"] == "error":
        with pytest.raises(WalCorrupt) as caught:
            Ledger.replay(scan(data, name), name)
        error = caught.value
        assert error.reason == Reason(expected["reason"])
        assert name in str(error) and error.path == name
        for field in ("record_index", "seq", "offset"):
            if field in expected:
                assert getattr(error, field) == expected[field], field
                assert str(expected[field]) in str(error)
        return
    log = scan(data, name)
    ledger = Ledger.replay(log, name)
    assert len(log.records) == expected["records"]
    assert log.torn_bytes == expected["torn_bytes"]
    assert log.valid_end + log.torn_bytes == len(data)
    accounts = {f"0x{a.hex()}": [acc.phase.name, acc.generation] for a, acc in ledger.accounts.items()}
    assert accounts == expected["accounts"]


def test_vectors_are_what_the_generator_makes() -> None:
    for name, data in regenerate.render().items():
        assert (VECTORS / name).read_bytes() == data, f"{name} is stale: python -m tests.vectors.wal.regenerate"


def test_every_truncation_is_a_torn_tail_never_an_error() -> None:
    valid = (VECTORS / "valid.wal").read_bytes()
    ends = [HEADER_BYTES + sum(len(f) for f in regenerate.FRAMES[:i]) for i in range(len(regenerate.FRAMES) + 1)]
    for length in range(HEADER_BYTES, len(valid) + 1):
        log = scan(valid[:length], "cut")
        complete = max(i for i, end in enumerate(ends) if end <= length)
        assert len(log.records) == complete
        assert log.valid_end == ends[complete] and log.torn_bytes == length - ends[complete]


def test_every_bit_flip_in_the_last_record_drops_it_and_in_a_middle_record_stops() -> None:
    valid = (VECTORS / "valid.wal").read_bytes()
    last, middle = regenerate.OFFSETS[-1], regenerate.OFFSETS[4]
    for offset in range(last, len(valid)):
        for bit in range(8):
            assert len(scan(regenerate.flip(valid, offset, bit), "flip").records) == 7
    for offset in range(middle, regenerate.OFFSETS[5]):
        for bit in range(8):
            with pytest.raises(WalCorrupt, match="record #4"):
                scan(regenerate.flip(valid, offset, bit), "flip")


def test_writer_cuts_a_torn_tail_before_appending(tmp_path: Path) -> None:
    path = tmp_path / "migration.wal"
    create_log(path)
    record = Record(Event.CREATE, 1, 0, Address(b"\x01" * 20), b"\x02" * 64)
    writer = WalWriter(path, HEADER_BYTES, 0)
    writer.commit([record])
    writer.close()
    with path.open("ab") as file:
        file.write(encode_frame(record)[:30])  # a torn second append
    log = read_log(path)
    assert log.torn_bytes == 30
    writer = WalWriter(path, log.valid_end, log.torn_bytes)
    second = Record(Event.BEGIN_HYBRID, 2, 0, Address(b"\x01" * 20), b"\x03" * 32)
    writer.commit([second])
    writer.close()
    assert read_log(path).records == (record, second)


def test_a_corrupt_log_stops_the_engine_naming_file_and_record(tmp_path: Path) -> None:
    from chainplug.migration import MigrationEngine

    store = tmp_path / "store"
    MigrationEngine.open(store, create=True).close()
    (store / "migration.wal").write_bytes((VECTORS / "bitflip_middle.wal").read_bytes())
    with pytest.raises(WalCorrupt, match=r"migration\.wal: record #3 .* at byte offset 311") as caught:
        MigrationEngine.open(store)
    assert caught.value.record_index == 3
    # nothing was rewritten
    assert (store / "migration.wal").read_bytes() == (VECTORS / "bitflip_middle.wal").read_bytes()
