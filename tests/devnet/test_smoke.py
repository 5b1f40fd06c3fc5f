"""The built-in smoke scenario end to end on the embedded chain: real chain, gateway, four validators and the
signer as processes; the report must show the zero-downtime migration the issue asks for."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from chainplug.devnet import find_scenario, load_scenario
from chainplug.devnet.html import render
from chainplug.devnet.report import validate
from chainplug.devnet.scenario import SETUP_BLOCKS, before_activation
from tests.devnet.browser import browser, read_page, top
from tests.devnet.harness import DEVNET, SCHEMA, Run, run_devnet, tagged_processes


@pytest.fixture(scope="module")
def smoke(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    yield run_devnet(DEVNET / "smoke.toml", tmp_path_factory.mktemp("smoke"))


def test_the_run_passes_and_leaves_no_process_behind(smoke: Run) -> None:
    assert smoke.code == 0, f"{smoke.stdout[-3000:]}\n{smoke.stderr[-3000:]}"
    assert tagged_processes(smoke.tag) == []
    assert smoke.report["run"]["passed"] and smoke.report["run"]["error"] is None


def test_report_matches_the_shipped_schema(smoke: Run) -> None:
    assert validate(smoke.report, SCHEMA) == []


def test_every_account_reaches_pqc_only(smoke: Run) -> None:
    report = smoke.report
    accounts = report["migration"]["accounts"]
    assert len(accounts) == 3 and {a["final_state"] for a in accounts} == {"PQC_ONLY"}
    assert report["accounts_by_state"]["PQC_ONLY"] == 3
    for account in accounts:  # each went through every state, and each step has a latency
        done = [s for s in account["steps"] if s["outcome"] == "ok"]
        assert [s["to"] for s in done] == ["HYBRID", "FINALIZING", "PQC_ONLY"], account
        assert all(s["seconds"] is not None and s["seconds"] >= 0 for s in done)
    assert report["transactions"]["by_kind"].get("pqc-only", 0) > 0, "PQC-only traffic flowed after migration"


def test_zero_valid_rejected_and_zero_invalid_accepted(smoke: Run) -> None:
    transactions = smoke.report["transactions"]
    assert transactions["valid_rejected_by_quorum"] == 0, transactions["valid_rejected"][:5]
    assert transactions["invalid_accepted_by_upgraded"] == 0, transactions["invalid_accepted"]
    assert transactions["refused_at_submission"] == 0, transactions["refusals"]
    assert transactions["valid"] >= 20
    assert transactions["pq"]["present"] > 0 and transactions["pq"]["pqc_only"] > 0


def test_no_validator_is_stranded_with_the_gate_on(smoke: Run) -> None:
    report = smoke.report
    assert report["fleet"]["gate"] == "on" and report["stranded"] == []
    legacy = [v for v in report["validators"] if v["initial_version"] == "legacy"]
    assert legacy and all(v["final_version"] == "upgraded" and len(v["upgrades"]) == 1 for v in legacy)
    assert report["migration"]["gate_refusals"] >= 1, "the gate refused FINALIZING while legacy validators ran"
    refusal = next(s for a in report["migration"]["accounts"] for s in a["steps"] if s["outcome"] == "gate-refused")
    assert refusal["to"] == "FINALIZING" and "fleet gate" in refusal["detail"]


def test_every_attack_is_refused_or_tolerated_only_before_activation(smoke: Run) -> None:
    attacks = smoke.report["attacks"]
    assert {a["kind"] for a in attacks} == {"strip", "pqc-swap", "replay", "forged-pqc-only"}
    activation = smoke.report["chain"]["activation_block"]
    for attack in attacks:
        if attack["verdict"] == "tolerated":  # OR-mode before activation: mined, counted as PQ missing
            assert attack["kind"] in ("strip", "pqc-swap") and attack["block"] + 1 < activation, attack
        else:
            assert attack["verdict"] == "rejected-at-admission" and attack["reason"], attack
            assert attack["accepted_by_upgraded"] == [] and attack["mined_block"] is None, attack
    reasons = {a["kind"]: a["reason"] for a in attacks if a["verdict"] == "rejected-at-admission"}
    assert reasons.get("forged-pqc-only") == "key-mismatch"
    assert reasons.get("pqc-swap") == "invalid-signature"


def test_finality_never_stopped(smoke: Run) -> None:
    """What does not depend on this machine's speed: every block became final, with every validator's
    verdict. (How many blocks a block waits for finality is a race between the block clock and four
    validators on a shared machine: the report shows it, the test does not bound it.)"""
    report = smoke.report
    finality = report["finality"]
    assert finality["non_final_blocks"] == [] and finality["never_final"] == []
    analysed = [b for b in report["blocks"] if b["height"] >= report["run"]["analysed_from_block"]]
    assert analysed and all(b["final"] and b["missing"] == 0 for b in analysed)
    assert finality["final_blocks"] == len(report["blocks"])
    assert 0 <= finality["longest_seconds"] and finality["at_block"] in {b["height"] for b in analysed}


def test_the_schedule_holds_to_blocks_not_to_this_machine(smoke: Run) -> None:
    """Setup ends at block 2 however long the processes took to start; the steps scheduled before
    activation (the rolling upgrade, as slow as this machine makes it) all end before it, and the strip
    sent after them is still tolerated."""
    report = smoke.report
    activation = report["chain"]["activation_block"]
    assert report["chain"]["mined_by"] == "devnet" and report["run"]["warnings"] == []
    assert report["run"]["analysed_from_block"] == SETUP_BLOCKS + 1
    scenario = load_scenario(find_scenario("smoke"))
    early = report["events"][: before_activation(scenario)]
    assert [e["phase"] for e in early] == ["register", "gate check", "rolling upgrade", "strip before activation"]
    assert all(e["block_end"] < activation for e in early), early
    (strip,) = [a for a in report["attacks"] if a["kind"] == "strip" and a["expected"] == "tolerated"]
    assert strip["verdict"] == "tolerated" and strip["mined_block"] < activation
    for hold in report["chain"]["held"]:
        assert hold["block"] < activation and hold["seconds"] >= 0


def test_picture_and_page_are_written(smoke: Run) -> None:
    picture = Path(smoke.out / "timeline.png").read_bytes()
    assert picture[:8] == b"\x89PNG\r\n\x1a\n" and len(picture) > 20_000
    page = (smoke.out / "report.html").read_text()
    assert "<h1>smoke — <span" in page and "data:image/png;base64," in page and "Expectations" in page


def test_the_report_page_reads_in_a_browser(smoke: Run, tmp_path: Path) -> None:
    """In a real browser: the verdict first, then the key figures, the picture, the acceptance matrix and
    the attacks; warnings (none here) and, in a copy of the report that has one, above everything else."""
    with browser(tmp_path / "profile") as driver:
        page = read_page(driver, smoke.out / "report.html", smoke.out / "report-page.png")
        assert page["h1"] == "smoke — PASSED" and page["title"].startswith("smoke — PASSED")
        assert page["lead"] == "every expectation held; no validator stranded"
        assert page["notes"] == []
        assert page["headings"][:4] == ["Timeline", "Which validator accepted what", "Attacks", "Expectations"]
        assert "accounts at PQC_ONLY" in page["figures"] and "longest finality gap" in page["figures"]
        sections = ("header", ".figures", "#timeline img", "#acceptance table", "#attacks table", "#expectations")
        order = [top(driver, s) for s in sections]
        assert order == sorted(order), order
        started = time.strftime("%Y-%m-%d", time.localtime(smoke.report["run"]["started_at"]))
        assert f"Started {started} " in page["body"]  # local time, not epoch seconds
        assert "tolerated before activation: mined in block" in page["body"]
        assert (
            "refused when sent (chain): pqc-required (a HYBRID sender's transaction needs its PQC part" in page["body"]
        )

        report = json.loads((smoke.out / "report.json").read_text())
        report["run"]["warnings"] = ["the chain passed the activation block (20) during setup"]
        picture = (smoke.out / "timeline.png").read_bytes()
        warned = tmp_path / "warned.html"
        warned.write_text(render(report, picture), encoding="utf-8")
        page = read_page(driver, warned, tmp_path / "warned.png")
        assert page["notes"] == ["Warning: the chain passed the activation block (20) during setup"]
        assert top(driver, "header") < top(driver, ".notes") < top(driver, ".figures") < top(driver, "figure img")
