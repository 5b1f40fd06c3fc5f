"""chainplug._fs: the one durable-write helper, its sync accounting and its crash points."""

from __future__ import annotations

import errno
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from chainplug import _fs
from chainplug.migration.crashpoints import CRASH_POINTS, CrashPlan, parse_crash_at


def syncs_of(action) -> _fs.SyncStats:  # type: ignore[no-untyped-def]
    before = _fs.SYNC_STATS.snapshot()
    action()
    return _fs.SYNC_STATS.snapshot().since(before)


def test_atomic_write_replaces_durably_and_leaves_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "file"
    target.write_bytes(b"old")
    stats = syncs_of(lambda: _fs.atomic_write(target, bytearray(b"new"), label="t"))
    assert target.read_bytes() == b"new"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert os.listdir(tmp_path) == ["file"]
    assert (stats.file_fsyncs, stats.dir_fsyncs, stats.fs_syncs) == (1, 1, 0)


def test_group_write_uses_one_sync_for_many_files(tmp_path: Path) -> None:
    items = [(tmp_path / f"f{i}", bytes([i]) * 10) for i in range(50)]
    stats = syncs_of(lambda: _fs.atomic_write_many(items, label="t"))
    assert all(path.read_bytes() == data for path, data in items)
    assert stats.dir_fsyncs == 1
    if _fs.HAS_SYNCFS:
        assert (stats.fs_syncs, stats.file_fsyncs) == (1, 0)
    else:
        assert stats.file_fsyncs == 50


def test_group_write_refuses_files_in_two_directories(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    with pytest.raises(ValueError, match="one directory"):
        _fs.atomic_write_many([(tmp_path / "a", b"1"), (tmp_path / "sub" / "b", b"2")], label="t")


def test_a_failed_write_leaves_no_temp_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_write = os.write
    calls = []

    def failing_write(fd: int, data: object) -> int:
        calls.append(fd)
        if len(calls) == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, data)  # type: ignore[arg-type]

    monkeypatch.setattr(_fs.os, "write", failing_write)
    with pytest.raises(OSError, match="No space"):
        _fs.atomic_write_many([(tmp_path / "a", b"secret-1"), (tmp_path / "b", b"secret-2")], label="t")
    assert os.listdir(tmp_path) == []


def test_wipe_overwrites_in_place_before_unlinking(tmp_path: Path) -> None:
    secret = tmp_path / "key"
    secret.write_bytes(b"\x5a" * 69)
    os.link(secret, tmp_path / "second-name")  # same inode: shows what the overwrite did to the data
    assert _fs.wipe_files([secret, tmp_path / "missing"], label="t") == 1
    assert not secret.exists()
    assert (tmp_path / "second-name").read_bytes() == bytes(69)
    assert _fs.wipe_files([secret], label="t") == 0  # idempotent


def test_wipe_refuses_to_follow_a_planted_symlink(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_bytes(b"keep me")
    (tmp_path / "key").symlink_to(victim)
    with pytest.raises(OSError) as caught:
        _fs.wipe_files([tmp_path / "key"], label="t")
    assert caught.value.errno == errno.ELOOP
    assert victim.read_bytes() == b"keep me"


def test_append_and_truncate_are_synced(tmp_path: Path) -> None:
    path = tmp_path / "log"
    path.write_bytes(b"")
    fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    try:
        stats = syncs_of(lambda: _fs.append_durable(fd, b"abcdef", label="t"))
        _fs.truncate_durable(fd, 3, label="t")
    finally:
        os.close(fd)
    assert path.read_bytes() == b"abc" and stats.file_fsyncs == 1


def test_each_step_asks_the_crash_hook_in_order(tmp_path: Path) -> None:
    asked: list[str] = []
    _fs.set_crash_hook(lambda label: asked.append(label) is None and False)
    try:
        _fs.atomic_write(tmp_path / "f", b"x", label="site")
        _fs.wipe_files([tmp_path / "f"], label="wipe")
    finally:
        _fs.set_crash_hook(None)
    assert asked == [
        "site.tmp_write",
        "site.torn",
        "site.tmp_sync",
        "site.rename",
        "site.dir_sync",
        "wipe.overwrite",
        "wipe.sync",
        "wipe.unlink",
        "wipe.dir_sync",
    ]


def test_a_torn_crash_writes_half_then_dies(tmp_path: Path) -> None:
    class Died(BaseException):
        pass

    def die() -> None:
        raise Died

    path = tmp_path / "log"
    path.write_bytes(b"")
    fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    _fs.set_crash_hook(lambda label: label == "t.torn", die)
    try:
        with pytest.raises(Died):
            _fs.append_durable(fd, b"0123456789", label="t")
    finally:
        _fs.set_crash_hook(None)
        os.close(fd)
    assert path.read_bytes() == b"01234"


def _hook_in_fresh_interpreter(**env: str) -> str:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CHAINPLUG_CRASH")}
    code = "import chainplug.migration, chainplug._fs as f; print(type(f._crash_hook).__name__)"
    return subprocess.run(
        [sys.executable, "-c", code], env={**clean, **env}, capture_output=True, text=True, check=True
    ).stdout.strip()


def test_no_hook_is_installed_unless_the_environment_asks() -> None:
    assert _hook_in_fresh_interpreter() == "NoneType"
    assert _hook_in_fresh_interpreter(CHAINPLUG_CRASH_AT="wal.append.fsync:2") == "CrashPlan"


def test_crash_plan_targets_and_traces(tmp_path: Path) -> None:
    assert parse_crash_at("wal.append.fsync:3") == ("wal.append.fsync", 3)
    assert parse_crash_at("erase.zero_memory") == ("erase.zero_memory", 1)
    with pytest.raises(ValueError, match="is not a '<site>\\.<step>' label"):
        CrashPlan("fsync")
    plan = CrashPlan("wal.append.fsync", 2, trace_path=str(tmp_path / "trace"))
    assert [plan("wal.append.fsync"), plan("signer.audit.append.fsync"), plan("wal.append.fsync")] == [
        False,
        False,
        True,
    ]
    plan.trace("wal.append.fsync", "CREATE:00ff")
    plan.trace("erase.zero_memory", "")
    trace = (tmp_path / "trace").read_text().splitlines()
    assert trace == ["@killed", "wal.append.fsync CREATE:00ff", "erase.zero_memory"]
    assert len(CRASH_POINTS) == len(set(CRASH_POINTS))
    assert all("." in label and label == label.strip() for label in CRASH_POINTS)
