"""``chainplug account create`` and ``chainplug migrate ...`` as a user runs them: exit codes and --json."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from chainplug.migration import PlainFileKeyStore
from tests.migration._migration_support import known_key, open_engine


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
        assert code == 1 and error["reason"] == "store-locked"
    code, report = cli_json("migrate", "recover", "--store", store)
    assert code == 0 and report["clean"] is True
    PlainFileKeyStore(store / "keys").put_classical([known_key(3, 0)])
    out = cli("migrate", "recover", "--store", store)
    assert out.returncode == 1 and "Destroy the backup it came from" in out.stdout
    code, report = cli_json("migrate", "recover", "--store", store)
    assert code == 0 and report["restored_classical_keys_erased"] == []
