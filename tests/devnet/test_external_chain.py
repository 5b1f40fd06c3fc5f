"""The smoke scenario against a stock dev chain (anvil): the same processes, wired by URL. Anvil has
no PQC-only transaction type, so the run stops at HYBRID and the report says so; the validators
still judge every PQC part, and a stripped transaction the stock chain mines after activation is
rejected by every upgraded validator. Skips with the reason when anvil is not installed."""

from __future__ import annotations

from pathlib import Path

from chainplug.devnet.report import validate
from tests.anvil import running_anvil
from tests.devnet.harness import DEVNET, SCHEMA, run_devnet, tagged_processes


def test_smoke_on_anvil_stops_at_hybrid_and_says_so(tmp_path: Path) -> None:
    with running_anvil() as w3:
        url = w3.provider.endpoint_uri  # type: ignore[attr-defined]
        run = run_devnet(DEVNET / "smoke.toml", tmp_path / "anvil", "--rpc-url", url)
    assert run.code == 0, f"{run.stdout[-3000:]}\n{run.stderr[-3000:]}"
    assert tagged_processes(run.tag) == []
    report = run.report
    assert validate(report, SCHEMA) == []
    chain = report["chain"]
    assert chain["kind"] == "external" and chain["pqc_only_tx"] is False
    assert any("no PQC-only transaction type" in text for text in chain["limitations"])
    assert {a["final_state"] for a in report["migration"]["accounts"]} == {"HYBRID"}
    check = run.expectation("every account reaches HYBRID")
    assert check["passed"] and "capped at HYBRID" in check["note"]
    skipped = [s for a in report["migration"]["accounts"] for s in a["steps"] if s["outcome"] == "skipped"]
    assert skipped and all("PQC-only" in s["detail"] for s in skipped)
    assert report["transactions"]["invalid_accepted_by_upgraded"] == 0
    assert report["transactions"]["valid_rejected_by_quorum"] == 0
    # anvil mines the stripped transaction after activation; the upgraded validators refuse its block.
    stripped = [a for a in report["attacks"] if a["kind"] == "strip" and a["expected"] == "rejected"]
    assert stripped and all(a["verdict"] == "rejected-by-upgraded-validators" for a in stripped), stripped
    assert all(a["rejected_by"] and a["accepted_by_upgraded"] == [] for a in stripped)
    assert report["finality"]["attack_blocks"], "the rejected block is marked, and finality goes around it"
