"""``chainplug account create`` and ``chainplug migrate ...`` as a user runs them: exit codes and --json."""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from chainplug.migration import PlainFileKeyStore
from chainplug.types import AccountState
from tests.migration._migration_support import known_key, open_engine, snapshot


def cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "chainplug.cli.main", *map(str, args)], capture_output=True, text=True, timeout=120
    )


def cli_json(*args: str | Path) -> tuple[int, dict[str, Any]]:
    out = cli(*args, "--json")
    return out.returncode, json.loads(out.stdout)


@pytest.fixture
def fleet(tmp_path: Path) -> dict[str, Path]:
    ready, half = tmp_path / "ready.json", tmp_path / "half.json"
    ready.write_text('{"validators": {"v1": true, "v2": true, "v3": true}}')
    half.write_text('{"validators": {"v1": true, "v2": false, "v3": true, "v4": false}}')
    return {"ready": ready, "half": half}


def test_create_status_advance_rollback(store: Path, fleet: dict[str, Path]) -> None:
    out = cli("account", "create", "--store", store)
    assert out.returncode == 0 and "UNENCRYPTED" in out.stdout
    code, created = cli_json("account", "create", "--store", store, "--count", "2")
    assert code == 0 and created["keys_encrypted"] is False and len(created["created"]) == 2
    first = created["created"][0]

    code, status = cli_json("migrate", "status", "--store", store)
    assert code == 0 and status["counts"]["CLASSICAL"] == 3 and status["needs_recovery"] is False

    out = cli("migrate", "advance", "--store", store)
    assert out.returncode == 2 and "holds 3 accounts; pass --address" in out.stderr

    code, account = cli_json("migrate", "advance", "--store", store, "--address", first)
    assert code == 0 and account["state"] == "HYBRID" and account["key_id"].startswith("0x")

    code, refused = cli_json("migrate", "advance", "--store", store, "--address", first, "--readiness", fleet["half"])
    assert code == 1 and refused["reason"] == "gate-rejected" and refused["not_ready"] == "v2,v4"

    code, account = cli_json(
        "migrate", "advance", "--store", store, "--address", first, "--to", "finalizing", "--readiness", fleet["ready"]
    )
    assert code == 0 and (account["state"], account["phase"]) == ("FINALIZING", "CLASSICAL_ERASED")
    out = cli("migrate", "status", "--store", store, "--address", first)
    assert "FINALIZING" in out.stdout and "needs recovery: no" in out.stdout

    code, account = cli_json("migrate", "advance", "--store", store, "--address", first)
    assert code == 0 and account["state"] == "PQC_ONLY"

    code, refused = cli_json("migrate", "rollback", "--store", store, "--address", first)
    assert code == 1 and refused["reason"] == "illegal-transition"
    second = created["created"][1]
    assert cli("migrate", "advance", "--store", store, "--address", second).returncode == 0
    code, account = cli_json("migrate", "rollback", "--store", store, "--address", second)
    assert code == 0 and (account["state"], account["generation"]) == ("CLASSICAL", 1)


def test_bad_input_is_exit_2(store: Path, fleet: dict[str, Path]) -> None:
    assert cli("migrate", "status", "--store", store).returncode == 2  # no store
    assert cli("account", "create", "--store", store).returncode == 0
    assert cli("migrate", "advance", "--store", store, "--to", "quantum").returncode == 2
    assert cli("migrate", "advance", "--store", store, "--address", "0x1234").returncode == 2
    code, error = cli_json("migrate", "advance", "--store", store, "--address", "0x" + "00" * 20)
    assert code == 2 and error["reason"] == "unknown-account"
    code, error = cli_json(
        "migrate", "batch", "--store", store, "--to", "PQC_ONLY", "--readiness", fleet["ready"], "--threshold", "1/2"
    )
    assert code == 2 and "2/3 quorum" in error["message"]
    intact = (store / "migration.wal").read_bytes()
    damaged = bytearray(intact)
    damaged[-5] ^= 1
    (store / "migration.wal").write_bytes(bytes(damaged) + intact[16:])  # a corrupt record, an intact one after it
    code, error = cli_json("migrate", "recover", "--store", store)
    assert code == 2 and error["reason"] == "wal-corrupt" and "migration.wal: record #0" in error["message"]


def test_batch_force_is_loud(store: Path, fleet: dict[str, Path]) -> None:
    assert cli("account", "create", "--store", store, "--count", "5").returncode == 0
    code, report = cli_json("migrate", "batch", "--store", store, "--to", "PQC_ONLY", "--readiness", fleet["half"])
    assert code == 1 and report["reason"] == "gate-rejected"
    out = cli(
        "migrate", "batch", "--store", store, "--to", "PQC_ONLY", "--readiness", fleet["half"], "--force", "--progress"
    )
    assert out.returncode == 0, out.stderr
    assert "5/5 accounts reached PQC_ONLY" in out.stdout
    assert "FLEET GATE FORCED" in out.stderr and "WARNING: the fleet gate was FORCED" in out.stderr
    assert "5/5 100%" in out.stderr  # the progress line


def test_recover_reports_a_restored_key_and_a_locked_store(store: Path) -> None:
    with open_engine(store, create=True) as engine:
        address = engine.create_account(known_key(3, 0))
        engine.advance(address, engine.account(address).state.PQC_ONLY)
        code, error = cli_json("migrate", "recover", "--store", store)
        assert code == 2 and error["reason"] == "store-locked"
    code, report = cli_json("migrate", "recover", "--store", store)
    assert code == 0 and report["clean"] is True
    PlainFileKeyStore(store / "keys").put_classical([known_key(3, 0)])
    out = cli("migrate", "recover", "--store", store)
    assert out.returncode == 1 and "Destroy the backup it came from" in out.stdout
    code, report = cli_json("migrate", "recover", "--store", store)
    assert code == 0 and report["restored_classical_keys_erased"] == []


def test_a_locked_store_is_exit_2_from_every_command_and_names_the_live_holder(store: Path) -> None:
    """#13: StoreLocked was exit 2 from account create but 1 from migrate (a verification failure)."""
    with open_engine(store, create=True) as engine:
        engine.create_account(known_key(4, 0))
        for command in (
            ["account", "create", "--store", store],
            ["migrate", "advance", "--store", store],
            ["migrate", "rollback", "--store", store],
            ["migrate", "recover", "--store", store],
            ["migrate", "batch", "--store", store, "--to", "HYBRID"],
        ):
            code, error = cli_json(*command)
            assert code == 2 and error["reason"] == "store-locked", (command, error)
            assert f"pid {os.getpid()}" in error["message"], error


def test_a_stale_pid_in_the_lock_file_is_never_named(store: Path) -> None:
    """The LOCK file's pid is a diagnostic: a dead one (left by an earlier holder) is not reported."""
    with open_engine(store, create=True):
        pass
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()  # a pid that is certainly dead now
    with open_engine(store) as engine:
        assert engine is not None
        (store / "LOCK").write_text(f"{child.pid:>10}\n")  # as if we had not written ours yet
        code, error = cli_json("migrate", "recover", "--store", store)
    assert code == 2 and str(child.pid) not in error["message"] and "pid is not known" in error["message"]


def test_commands_on_a_directory_that_is_no_store_leave_nothing_behind(tmp_path: Path) -> None:
    """#17: a failed command on an empty directory used to leave a LOCK file in it."""
    empty = tmp_path / "empty"
    empty.mkdir()
    for command in (["migrate", "status"], ["migrate", "advance"], ["migrate", "recover"], ["migrate", "rollback"],
                    ["migrate", "batch", "--to", "HYBRID"]):  # fmt: skip
        code, error = cli_json(*command, "--store", empty)
        assert code == 2 and error["reason"] == "bad-config", (command, error)
        assert list(empty.iterdir()) == [], command


def _file_size_limit(limit: int) -> Any:
    def apply() -> None:  # in the child: writes past ``limit`` bytes fail with EFBIG, as a full disk fails them
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


def test_a_full_disk_names_the_file(tmp_path: Path) -> None:
    """#13: a failed write ended with an empty file name (``No space left on device: ``). A write past the
    file-size limit fails the same way a full disk does (an OSError from write(2), which names no file)."""
    store = tmp_path / "store"

    def run(limit: int, *args: str | Path) -> subprocess.CompletedProcess[str]:
        # Coverage's own data file would hit the same limit (and say so on stderr): not measured here.
        env = {k: v for k, v in os.environ.items() if not k.startswith("COVERAGE_")}
        return subprocess.run([sys.executable, "-m", "chainplug.cli.main", *map(str, args)], capture_output=True,
                              text=True, timeout=120, env=env, preexec_fn=_file_size_limit(limit))  # fmt: skip

    for limit in (8, 64):  # the log's header, then the first key file
        created = run(limit, "account", "create", "--store", store)
        message = created.stderr.strip()
        assert created.returncode == 2 and message.startswith(
            f"chainplug: StorageFailed (storage-failed): File too large: {store}/"
        ), message
        assert message.endswith(("migration.wal", ".key")), message
    assert cli("account", "create", "--store", store, "--count", "2").returncode == 0
    wal_size = (store / "migration.wal").stat().st_size
    appended = run(wal_size + 8, "migrate", "batch", "--store", store, "--to", "HYBRID")  # a log append
    assert appended.returncode == 2 and appended.stderr.strip().endswith(f": {store / 'migration.wal'}")
    assert "File too large" in appended.stderr


@pytest.mark.parametrize("cut_after", ["CREATE", "BEGIN_HYBRID"])
def test_a_truncated_log_is_refused_and_rebuilt_only_on_request(store: Path, cut_after: str) -> None:
    """#13: after a WAL truncation, recover used to append new history on top of the damaged log (a PQC_ONLY
    account came back as HYBRID with a fresh BEGIN_HYBRID). The key files prove the lost history, so
    every command that opens the store now refuses, changing nothing, until the log is restored or the
    operator asks for a rebuild from the key files."""
    with open_engine(store, create=True) as engine:
        address = engine.create_account(known_key(5, 0))
        if cut_after == "BEGIN_HYBRID":
            engine.advance(address, AccountState.HYBRID)
        old_log = (store / "migration.wal").read_bytes()  # the log as it was: a clean prefix of the real one
        engine.advance(address, AccountState.PQC_ONLY)
    (store / "migration.wal").write_bytes(old_log)
    before = snapshot(store)
    for command in (["migrate", "recover"], ["migrate", "advance"], ["account", "create"]):
        code, error = cli_json(*command, "--store", store)
        assert code == 2 and error["reason"] == "wal-corrupt", (command, error)
        assert "--rebuild-from-keys" in error["message"] and f"0x{address.hex()}" in error["message"]
        assert snapshot(store) == before, command  # nothing written
    code, report = cli_json("migrate", "recover", "--store", store, "--rebuild-from-keys")
    assert code == 1 and not report["clean"] and report["lost_history"] and not report["problems"], report
    assert report["erasures_completed"] == [f"0x{address.hex()}"]
    code, status = cli_json("migrate", "status", "--store", store)
    assert status["accounts"][0]["state"] == "FINALIZING" and not status["accounts"][0]["erasure_pending"]
    code, report = cli_json("migrate", "recover", "--store", store)  # rebuilt: opening is no longer refused
    assert code == 0 and report["clean"], report
    code, account = cli_json("migrate", "advance", "--store", store)  # and the account moves on
    assert code == 0 and account["state"] == "PQC_ONLY", account
