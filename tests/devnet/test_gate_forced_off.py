"""The built-in gate-forced-off scenario: with the fleet gate forced off, accounts finalize while v5 and v6 still
run legacy; from the first PQC-only transaction they cannot follow the chain, and the report names
them and the block they stopped at. Four upgraded validators of six keep the chain final."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.devnet.browser import browser, read_page
from tests.devnet.harness import DEVNET, Run, run_devnet, tagged_processes


@pytest.fixture(scope="module")
def forced(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    yield run_devnet(DEVNET / "gate-forced-off.toml", tmp_path_factory.mktemp("forced"))


def test_forced_gate_strands_exactly_the_legacy_validators(forced: Run) -> None:
    run = forced
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


def test_the_page_says_stranded_as_expected_and_shows_why(forced: Run, tmp_path: Path) -> None:
    with browser(tmp_path / "profile") as driver:
        page = read_page(driver, forced.out / "report.html", forced.out / "report-page.png")
        assert page["h1"] == "gate-forced-off — PASSED"
        assert page["lead"] == (
            "every expectation held — v5 and v6 are stranded, as expected (the fleet gate was forced off)"
        )
        legacy_row = driver.execute_script(
            "return [...document.querySelectorAll('tr')].find(r => r.innerText.startsWith('legacy validators'))"
            ".innerText"
        )
        assert "refused" in legacy_row and "unsupported-transaction-type" in legacy_row
        assert "v5 from block" in page["body"] and "cannot read the transaction type" in page["body"]
