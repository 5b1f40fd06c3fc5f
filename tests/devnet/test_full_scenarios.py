"""The long scenarios end to end (rolling-upgrade and chaos: 1.5 to 2.5 minutes each on the shared
2-core build machine). Marked slow: ``pytest -m slow tests/devnet`` runs them; so does
``chainplug devnet run <name>``."""

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
