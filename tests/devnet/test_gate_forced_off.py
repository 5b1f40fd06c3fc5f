"""The built-in gate-forced-off scenario: with the fleet gate forced off, accounts finalize while v5 and v6 still
run legacy; from the first PQC-only transaction they cannot follow the chain, and the report names
them and the block they stopped at. Four upgraded validators of six keep the chain final."""

from __future__ import annotations

from pathlib import Path

from tests.devnet.harness import DEVNET, run_devnet, tagged_processes


def test_forced_gate_strands_exactly_the_legacy_validators(tmp_path: Path) -> None:
    run = run_devnet(DEVNET / "gate-forced-off.toml", tmp_path / "forced")
    assert run.code == 0, f"{run.stdout[-3000:]}\n{run.stderr[-3000:]}"
    assert tagged_processes(run.tag) == []
    report = run.report
    assert report["fleet"]["gate"] == "forced-off" and report["migration"]["gate_refusals"] == 0
    stranded = {s["validator"]: s for s in report["stranded"]}
    assert sorted(stranded) == ["v5", "v6"]
    first_pqc_only = min(b["height"] for b in report["blocks"] if b["kinds"].get("pqc-only"))
    for name, entry in stranded.items():
        assert entry["version"] == "legacy" and entry["block"] == first_pqc_only, entry
        assert entry["reasons"] == ["unsupported-transaction-type"]
        validator = next(v for v in report["validators"] if v["name"] == name)
        assert validator["stranded"] and validator["stranded_at_block"] == first_pqc_only
    block = next(b for b in report["blocks"] if b["height"] == first_pqc_only)
    assert block["final"] and block["accepts"] == 4, "the upgraded two thirds still finalize it"
    assert report["transactions"]["valid_rejected_by_quorum"] == 0
    assert {a["final_state"] for a in report["migration"]["accounts"]} == {"PQC_ONLY"}
