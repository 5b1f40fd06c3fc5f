"""The report's words: the verdict line an operator reads first, and attacks' outcomes."""

from typing import Any

from chainplug.devnet import wording


def report(*, failed: tuple[str, ...] = (), stranded: tuple[str, ...] = (), gate: str = "on") -> dict[str, Any]:
    checks = [{"name": "stranded validators", "passed": True}] + [{"name": n, "passed": False} for n in failed]
    return {
        "run": {"error": None},
        "expectations": checks,
        "stranded": [{"validator": v} for v in stranded],
        "fleet": {"gate": gate},
    }


def test_the_verdict_names_what_failed_and_who_is_stranded() -> None:
    assert wording.verdict(report()) == ("PASSED", "every expectation held; no validator stranded")
    assert wording.verdict(report(stranded=("v5", "v6"), gate="forced-off")) == (
        "PASSED",
        "every expectation held — v5 and v6 are stranded, as expected (the fleet gate was forced off)",
    )
    word, sentence = wording.verdict(report(failed=("stranded validators (2)",), stranded=("v5",)))
    assert word == "FAILED" and sentence == "1 expectation(s) failed: stranded validators (2)"
    broken = report()
    broken["run"]["error"] = "scenario timeout"
    broken["expectations"] = []
    assert wording.verdict(broken) == ("FAILED", "1 expectation(s) failed: the run did not complete")


def test_values_and_attack_outcomes_read_as_sentences() -> None:
    assert [wording.value(v) for v in (None, [], ["v5", "v6"], True, 3)] == ["—", "none", "v5 and v6", "yes", "3"]
    assert wording.names(["a", "b", "c"]) == "a, b and c"
    attack = {"verdict": "rejected-at-admission", "via": "gateway", "reason": "wrong-chain"}
    assert wording.attack_outcome(attack) == "refused when sent (gateway): wrong-chain (signed for another chain)"
    mined = {"verdict": "rejected-by-upgraded-validators", "mined_block": 31, "rejected_by": ["v1", "v2"]}
    assert wording.attack_outcome(mined) == "mined in block 31, rejected by v1 and v2"
    assert wording.reason("something-new") == "something-new" and wording.reason(None) == ""
    assert wording.seconds(0.5449) == "0.54 s" and wording.seconds(141.43) == "141.4 s"
