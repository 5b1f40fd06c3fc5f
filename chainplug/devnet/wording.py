"""A report in an operator's words: the verdict line, local times, units, reason codes explained. Shared
by the HTML page and ``chainplug devnet run``'s text output, so both say the same thing."""

from __future__ import annotations

import time
from typing import Any

REASONS = {
    "pqc-required": "a HYBRID sender's transaction needs its PQC part from the activation block on",
    "invalid-signature": "the PQC signature does not sign this transaction",
    "wrong-chain": "signed for another chain",
    "key-mismatch": "not signed with the sender's registered ML-DSA-87 key",
    "key-not-registered": "the sender has no registered ML-DSA-87 key",
    "unsupported-transaction-type": "this validator version cannot read the transaction type",
    "classical-not-allowed": "the sender is past HYBRID: classical signatures no longer count",
}
"""Reason codes (chainplug.errors.Reason values) as a sentence."""


def reason(code: str | None) -> str:
    """``code`` with its meaning, e.g. "pqc-required (a HYBRID sender's ...)"."""
    if not code:
        return ""
    meaning = REASONS.get(code)
    return f"{code} ({meaning})" if meaning else code


def local_time(unix: float | None) -> str:
    """Unix seconds as this machine's local date and time, with its zone."""
    if not unix:
        return ""
    return time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(unix))


def clock_time(unix: float | None) -> str:
    """Unix seconds as local time of day (the date is in the page's header)."""
    return time.strftime("%H:%M:%S", time.localtime(unix)) if unix else ""


def seconds(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:.2f} s" if value < 10 else f"{value:.1f} s"


def names(items: list[str]) -> str:
    """ "v5 and v6", "v1, v2 and v3", "none"."""
    if not items:
        return "none"
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


def verdict(report: dict[str, Any]) -> tuple[str, str]:
    """("PASSED" or "FAILED", one sentence an operator reads first)."""
    run = report["run"]
    failed = [c["name"] for c in report.get("expectations", []) if not c["passed"]]
    stranded = [s["validator"] for s in report["stranded"]]
    if run["error"] and not failed:
        failed = ["the run did not complete"]
    if failed:
        return "FAILED", f"{len(failed)} expectation(s) failed: {'; '.join(failed)}"
    if stranded:
        gate = "the fleet gate was forced off" if report["fleet"]["gate"] == "forced-off" else "the scenario says so"
        verb = "is" if len(stranded) == 1 else "are"
        return "PASSED", f"every expectation held — {names(stranded)} {verb} stranded, as expected ({gate})"
    return "PASSED", "every expectation held; no validator stranded"


def value(item: Any) -> str:
    """An expected or found value of an expectation check, as text."""
    if item is None:
        return "—"
    if isinstance(item, bool):
        return "yes" if item else "no"
    if isinstance(item, list):
        return names([str(x) for x in item])
    return str(item)


def attack_outcome(attack: dict[str, Any]) -> str:
    """What happened to one attack, in words."""
    outcome = attack["verdict"]
    if outcome == "rejected-at-admission":
        return f"refused when sent ({attack['via']}): {reason(attack['reason'])}"
    if outcome == "tolerated":
        return (
            f"tolerated before activation: mined in block {attack['mined_block']}, counted as a missing PQC part"
            if attack["mined_block"] is not None
            else "tolerated before activation, not mined"
        )
    if outcome == "rejected-by-upgraded-validators":
        return f"mined in block {attack['mined_block']}, rejected by {names(attack['rejected_by'])}"
    if outcome == "not-mined":
        return "admitted but never mined"
    if outcome == "ACCEPTED":
        return f"ACCEPTED by upgraded validator(s) {names(attack['accepted_by_upgraded'])}"
    return f"not sent: {attack['detail']}"
