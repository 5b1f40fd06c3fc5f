"""The report's definitions on hand-made observations: finality, stranding, valid transactions
rejected by the quorum, invalid ones accepted by upgraded validators, the finality gap, and the
expectation checks (including the cap at HYBRID on chains without PQC-only transactions)."""

from pathlib import Path
from typing import Any

from chainplug.devnet.analysis import analyse
from chainplug.devnet.attacks import AttackRecord
from chainplug.devnet.expectations import evaluate
from chainplug.devnet.observer import BlockSeen, BlockVerdict, TxSeen, TxVerdict, quorum_reached
from chainplug.devnet.scenario import parse_scenario
from chainplug.devnet.traffic import SentTx
from chainplug.errors import Reason
from chainplug.verify import PqcStatus

T0 = 1_000.0


def block(height: int, *hashes: str, tx_type: int = 2) -> BlockSeen:
    return BlockSeen(height, f"0x{height:064x}", T0 + height, tuple(TxSeen(h, "0xabc", tx_type) for h in hashes))


def verdict(name: str, version: str, height: int, accepted: bool, *txs: TxVerdict, lag: float = 0.2) -> BlockVerdict:
    reasons = tuple(sorted({t.reason for t in txs if not t.accepted and t.reason is not None}))
    return BlockVerdict(name, version, height, accepted, T0 + height + lag, reasons, txs)


def ok(tx_hash: str, pqc: str = "valid") -> TxVerdict:
    return TxVerdict(tx_hash, True, None, PqcStatus(pqc), pqc == "valid")


def bad(tx_hash: str, reason: str) -> TxVerdict:
    return TxVerdict(tx_hash, False, Reason(reason), None, False)


def test_quorum_is_two_thirds_of_the_whole_fleet() -> None:
    assert quorum_reached(3, 4) and not quorum_reached(2, 4)
    assert quorum_reached(4, 6) and not quorum_reached(3, 6)
    assert quorum_reached(2, 3) and not quorum_reached(1, 3)


def fleet_of_three() -> tuple[dict[int, BlockSeen], dict[str, dict[int, BlockVerdict]]]:
    """Block 2 carries a PQC-only tx the legacy v3 cannot read; block 3 is rejected by two of three."""
    blocks = {1: block(1, "0x01"), 2: block(2, "0x02", tx_type=0x50), 3: block(3, "0x03"), 4: block(4, "0x04")}
    verdicts: dict[str, dict[int, BlockVerdict]] = {"v1": {}, "v2": {}, "v3": {}}
    for name, version in (("v1", "upgraded"), ("v2", "upgraded")):
        verdicts[name][1] = verdict(name, version, 1, True, ok("0x01"))
        verdicts[name][2] = verdict(name, version, 2, True, ok("0x02"))
        verdicts[name][3] = verdict(name, version, 3, False, bad("0x03", "pqc-required"))
        verdicts[name][4] = verdict(name, version, 4, True, ok("0x04"))
    verdicts["v3"][1] = verdict("v3", "legacy", 1, True, ok("0x01", "not-checked"))
    verdicts["v3"][2] = verdict("v3", "legacy", 2, False, bad("0x02", "unsupported-transaction-type"))
    verdicts["v3"][3] = verdict("v3", "legacy", 3, True, ok("0x03", "not-checked"))
    return blocks, verdicts


def test_stranded_from_the_first_final_block_it_rejects() -> None:
    blocks, verdicts = fleet_of_three()
    facts = analyse(blocks, verdicts, [], [], activation_block=0, window_start=1, end_time=T0 + 10)
    assert [(b.height, b.final) for b in facts.blocks] == [(1, True), (2, True), (3, False), (4, True)]
    (stranded,) = facts.stranded
    assert stranded["validator"] == "v3" and stranded["block"] == 2
    assert stranded["reasons"] == ["unsupported-transaction-type"]
    assert facts.blocks[3].missing == 1, "v3 never attested block 4"


def test_valid_transactions_in_a_non_final_block_are_rejected_by_the_quorum() -> None:
    blocks, verdicts = fleet_of_three()
    facts = analyse(blocks, verdicts, [], [], activation_block=0, window_start=1, end_time=T0 + 10)
    assert [v["tx_hash"] for v in facts.valid_rejected] == ["0x03"]
    assert facts.valid_rejected[0]["rejected_by"] == ["v1", "v2"]
    assert facts.gap["never_final"] == [3]
    # The finalized head is stuck at 2 until the end of the run: every later block waits for it.
    assert facts.gap["longest_seconds"] == 10 - 3


def test_an_attack_block_rightly_rejected_does_not_count_against_finality() -> None:
    blocks, verdicts = fleet_of_three()
    attack = AttackRecord("strip", "0xabc", "HYBRID", "chain", T0, 2, "rejected", "admitted", "0x03")
    facts = analyse(blocks, verdicts, [], [attack], activation_block=0, window_start=1, end_time=T0 + 10)
    assert facts.valid_rejected == [] and facts.blocks[2].attack
    assert facts.gap["never_final"] == [] and facts.gap["longest_seconds"] < 1
    assert facts.invalid_accepted == [], "the upgraded validators rejected it"
    assert facts.kinds == {"hybrid": 2, "pqc-only": 1, "attack": 1}


def test_invalid_accepted_by_an_upgraded_validator_is_counted() -> None:
    blocks = {1: block(1, "0x0a"), 2: block(2, "0x0b")}
    upgraded = {
        1: verdict("v1", "upgraded", 1, True, ok("0x0a")),
        2: verdict("v1", "upgraded", 2, True, ok("0x0b", "missing")),
    }
    legacy = {h: verdict("v2", "legacy", h, True, ok(t, "not-checked")) for h, t in ((1, "0x0a"), (2, "0x0b"))}
    verdicts = {"v1": upgraded, "v2": legacy}
    forged = AttackRecord("forged-pqc-only", "0xabc", "PQC_ONLY", "chain", T0, 0, "rejected", "admitted", "0x0a")
    facts = analyse(blocks, verdicts, [], [forged], activation_block=2, window_start=1, end_time=T0 + 5)
    assert {(f["validator"], f["tx_hash"], f["why"]) for f in facts.invalid_accepted} == {
        ("v1", "0x0a", "attack accepted"),
        ("v1", "0x0b", "PQC part missing after activation"),
    }
    # Legacy validators cannot check PQC parts: they are never counted here.
    assert all(f["validator"] == "v1" for f in facts.invalid_accepted)


def test_pq_counts_come_from_upgraded_validators() -> None:
    blocks = {1: block(1, "0x0a", "0x0b"), 2: block(2, "0x0c", tx_type=0x50)}
    verdicts = {"v1": {1: verdict("v1", "upgraded", 1, True, ok("0x0a"), ok("0x0b", "not-expected")),
                       2: verdict("v1", "upgraded", 2, True, ok("0x0c"))}}  # fmt: skip
    sent = [SentTx("0xabc", "hybrid", T0, tx_hash="0x0a")]
    facts = analyse(blocks, verdicts, sent, [], activation_block=0, window_start=1, end_time=T0 + 3)
    assert facts.pq == {"present": 1, "missing": 0, "pqc_only": 1, "not_expected": 1}
    assert facts.kinds == {"hybrid": 1, "classical": 1, "pqc-only": 1}


def minimal_report(**changes: Any) -> dict[str, Any]:
    report: dict[str, Any] = {
        "run": {"error": None},
        "events": [],
        "chain": {"pqc_only_tx": True},
        "migration": {"accounts": [{"address": "0x1", "final_state": "PQC_ONLY"}]},
        "stranded": [],
        "transactions": {"valid_rejected_by_quorum": 0, "refused_at_submission": 0,
                         "invalid_accepted_by_upgraded": 0, "valid": 10},
        "faults": [],
        "attacks": [],
        "finality": {"longest_blocks": 2},
    }  # fmt: skip
    report.update(changes)
    return report


def test_expectations_pass_and_fail_by_name() -> None:
    scenario = parse_scenario({"accounts": {"count": 1}, "expect": {"max_finality_gap_blocks": 3}}, Path("x.toml"))
    assert all(c["passed"] for c in evaluate(scenario.expect, scenario.accounts, minimal_report()))
    broken = minimal_report(stranded=[{"validator": "v4", "block": 9}], finality={"longest_blocks": 7})
    failed = {c["name"] for c in evaluate(scenario.expect, scenario.accounts, broken) if not c["passed"]}
    assert failed == {"stranded validators", "longest finality gap (blocks)"}


def test_final_state_is_capped_at_hybrid_on_a_stock_chain() -> None:
    scenario = parse_scenario({"accounts": {"count": 1}}, Path("x.toml"))
    report = minimal_report(chain={"pqc_only_tx": False},
                            migration={"accounts": [{"address": "0x1", "final_state": "HYBRID"}]})  # fmt: skip
    checks = evaluate(scenario.expect, scenario.accounts, report)
    (check,) = [c for c in checks if c["name"].startswith("every account")]
    assert check["passed"] and check["name"] == "every account reaches HYBRID"
    assert "cannot execute PQC-only" in check["note"]
