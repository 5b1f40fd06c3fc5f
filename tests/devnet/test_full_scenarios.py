"""The long scenarios end to end (rolling-upgrade and chaos: 1.5 to 2.5 minutes each on the shared
2-core build machine; large: 5 to 10 minutes). Marked slow: ``pytest -m slow tests/devnet`` runs them;
so does ``chainplug devnet run <name>``."""

from __future__ import annotations

from pathlib import Path

import pytest

from chainplug.devnet.report import validate
from tests.devnet.harness import DEVNET, SCHEMA, run_devnet, tagged_processes

pytestmark = pytest.mark.slow


def test_chaos_every_crash_recovered_nothing_lost(tmp_path: Path) -> None:
    run = run_devnet(DEVNET / "chaos.toml", tmp_path / "chaos", timeout=500)
    assert run.code == 0, run.stdout[-4000:]
    assert tagged_processes(run.tag) == []
    report = run.report
    assert validate(report, SCHEMA) == []
    faults = report["faults"]
    assert {f["kind"] for f in faults} == {"validator-crash", "signer-crash"}
    assert all(f["recovered"] and f["lost"] == [] for f in faults), [f["recovery"] for f in faults]
    crash_points = {f["crash_point"] for f in faults if f["crash_point"]}
    assert {"keys.classical.wipe.unlink", "wal.append.write", "keys.pqc.put.rename"} <= crash_points
    assert {a["final_state"] for a in report["migration"]["accounts"]} == {"PQC_ONLY"}
    assert report["transactions"]["valid_rejected_by_quorum"] == 0
    assert report["transactions"]["invalid_accepted_by_upgraded"] == 0
    assert report["stranded"] == []


def test_rolling_upgrade_is_zero_downtime(tmp_path: Path) -> None:
    run = run_devnet(DEVNET / "rolling-upgrade.toml", tmp_path / "rolling", timeout=900)
    assert run.code == 0, run.stdout[-4000:]
    assert tagged_processes(run.tag) == []
    report = run.report
    assert [v["name"] for v in report["validators"] if len(v["upgrades"]) == 1] == ["v4", "v5", "v6"]
    assert report["migration"]["gate_refusals"] == 2
    assert report["finality"]["never_final"] == [] and report["stranded"] == []
    assert {a["final_state"] for a in report["migration"]["accounts"]} == {"PQC_ONLY"}


def test_large_32_validators_1000_accounts(tmp_path: Path) -> None:
    """#14 goal 4. The invariants only: the wall time and the finality are the report's to state (and
    devnet/README.md's), never a test's: they depend on the machine."""
    run = run_devnet(DEVNET / "large.toml", tmp_path / "large", timeout=1800)
    assert run.code == 0, run.stdout[-4000:]
    assert tagged_processes(run.tag) == []
    report = run.report
    assert validate(report, SCHEMA) == []
    assert len(report["validators"]) == 32 and report["fleet"]["per_process"] > 1
    assert {a["final_state"] for a in report["migration"]["accounts"]} == {"PQC_ONLY"}
    assert len(report["migration"]["accounts"]) == 1000
    assert report["transactions"]["valid_rejected_by_quorum"] == 0
    assert report["transactions"]["invalid_accepted_by_upgraded"] == 0
    assert report["stranded"] == [] and report["finality"]["never_final"] == []
    upgraded = [v["name"] for v in report["validators"] if v["upgrades"]]
    assert len(upgraded) == 11 and all(v["final_version"] == "upgraded" for v in report["validators"])
    hosts = [p for p in report["processes"] if p["role"] == "validator-host"]
    assert sorted(v for p in hosts for v in p["validators"]) == sorted(v["name"] for v in report["validators"])
    assert all(v["attested"] == len(report["blocks"]) for v in report["validators"])
