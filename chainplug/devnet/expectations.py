"""The scenario's ``[expect]`` table checked against a report, and the report's headline summary.

Every check is listed in the report with what was expected and what was found, so a failing run
says exactly which claim broke. On a chain without the PQC-only transaction type, the final state
expected of every account is capped at HYBRID, and the check says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError
from ..types import AccountState
from ._table import Table


@dataclass(frozen=True, slots=True)
class Expectations:
    """What the report must show for the run to pass (None: not checked)."""

    final_state: str | None = "PQC_ONLY"
    stranded: tuple[str, ...] | None = ()
    valid_rejected_by_quorum: int | None = 0
    invalid_accepted: int | None = 0
    faults_recovered: bool = True
    attacks_rejected: bool = True
    max_finality_gap_blocks: int | None = None
    min_transactions: int = 0


def parse_expectations(table: Table, validators: tuple[str, ...]) -> Expectations:
    """The ``[expect]`` table."""
    final_state = table.get("final_state", str, "PQC_ONLY")
    stranded = table.get("stranded", list, [])
    gap = table.get("max_finality_gap_blocks", int, None)
    spec = Expectations(
        final_state=None if final_state == "any" else final_state,
        stranded=tuple(sorted(stranded)),
        valid_rejected_by_quorum=table.get("valid_rejected_by_quorum", int, 0),
        invalid_accepted=table.get("invalid_accepted", int, 0),
        faults_recovered=table.get("faults_recovered", bool, True),
        attacks_rejected=table.get("attacks_rejected", bool, True),
        max_finality_gap_blocks=gap,
        min_transactions=table.get("min_transactions", int, 0),
    )
    table.done()
    if spec.final_state is not None and spec.final_state not in AccountState.__members__:
        raise ConfigError(f'{table.where}: final_state must be an account state or "any"')
    if not set(stranded) <= set(validators):
        raise ConfigError(f"{table.where}: stranded names unknown validator(s)")
    return spec


def _check(name: str, expected: Any, actual: Any, passed: bool, note: str = "") -> dict[str, Any]:
    return {"name": name, "expected": expected, "actual": actual, "passed": bool(passed), "note": note}


def evaluate(expect: Expectations, accounts: int, report: dict[str, Any]) -> list[dict[str, Any]]:
    """Each check of ``expect`` (and the ones always made) against the report; ``accounts``: how many
    accounts the scenario created."""
    error = report["run"]["error"]
    checks = [_check("schedule completed", "without error", error or "without error", error is None)]
    events = report["events"]
    failed_events = [f"#{e['index'] + 1} {e['phase']}: {'; '.join(e['detail'])}" for e in events if not e["ok"]]
    checks.append(
        _check(
            "every event succeeded",
            f"{len(events)} of {len(events)}",
            f"{len(events) - len(failed_events)} of {len(events)}",
            not failed_events,
            "; ".join(failed_events),
        )
    )
    if expect.final_state is not None:
        wanted, note = expect.final_state, ""
        if not report["chain"]["pqc_only_tx"] and AccountState[wanted] > AccountState.HYBRID:
            wanted, note = "HYBRID", "capped at HYBRID: this chain cannot execute PQC-only transactions"
        states = {a["address"]: a["final_state"] for a in report["migration"]["accounts"]}
        off = {a: s for a, s in states.items() if s != wanted}
        checks.append(
            _check(
                f"every account reaches {wanted}",
                accounts,
                len(states) - len(off),
                bool(states) and not off,
                note,
            )
        )
    if expect.stranded is not None:
        found = sorted(s["validator"] for s in report["stranded"])
        checks.append(_check("stranded validators", list(expect.stranded), found, found == list(expect.stranded)))
    transactions = report["transactions"]
    if expect.valid_rejected_by_quorum is not None:
        actual = transactions["valid_rejected_by_quorum"]
        checks.append(
            _check(
                "valid transactions rejected by quorum",
                expect.valid_rejected_by_quorum,
                actual,
                actual == expect.valid_rejected_by_quorum,
            )
        )
    checks.append(
        _check(
            "valid transactions refused at submission",
            0,
            transactions["refused_at_submission"],
            transactions["refused_at_submission"] == 0,
        )
    )
    if expect.invalid_accepted is not None:
        actual = transactions["invalid_accepted_by_upgraded"]
        checks.append(
            _check(
                "invalid transactions accepted by an upgraded validator",
                expect.invalid_accepted,
                actual,
                actual == expect.invalid_accepted,
            )
        )
    if expect.faults_recovered:
        faults = report["faults"]
        bad = [f"{f['kind']} {f['target']}: {f['recovery']}" for f in faults if not f["recovered"]]
        checks.append(_check("every injected fault recovered", len(faults), len(faults) - len(bad), not bad))
    if expect.attacks_rejected:
        attacks = report["attacks"]
        bad = [
            f"{a['kind']} via {a['via']}: {a['verdict']}" for a in attacks if a["verdict"] in ("ACCEPTED", "skipped")
        ]
        checks.append(
            _check(
                "every attack rejected (or tolerated before activation)",
                len(attacks),
                len(attacks) - len(bad),
                not bad,
                "; ".join(bad),
            )
        )
    if expect.max_finality_gap_blocks is not None:
        gap = report["finality"]["longest_blocks"]
        checks.append(
            _check(
                "longest finality gap (blocks)",
                f"<= {expect.max_finality_gap_blocks}",
                gap,
                gap <= expect.max_finality_gap_blocks,
            )
        )
    if expect.min_transactions:
        valid = transactions["valid"]
        checks.append(
            _check("valid transactions mined", f">= {expect.min_transactions}", valid, valid >= expect.min_transactions)
        )
    return checks


def summary(report: dict[str, Any]) -> dict[str, Any]:
    """The headline figures (README, final report, the HTML page's first table)."""
    migration = report["migration"]
    finality = report["finality"]
    return {
        "passed": report["run"]["passed"],
        "wall_seconds": report["run"]["wall_seconds"],
        "validators": report["fleet"]["size"],
        "validators_legacy_at_start": sum(1 for v in report["validators"] if v["initial_version"] == "legacy"),
        "accounts": len(migration["accounts"]),
        "accounts_by_state": report["accounts_by_state"],
        "blocks": report["chain"]["head"],
        "transactions_mined": report["transactions"]["mined"],
        "transactions_valid": report["transactions"]["valid"],
        "transactions_by_kind": report["transactions"]["by_kind"],
        "valid_rejected_by_quorum": report["transactions"]["valid_rejected_by_quorum"],
        "invalid_accepted_by_upgraded": report["transactions"]["invalid_accepted_by_upgraded"],
        "stranded": [f"{s['validator']} from block {s['block']}" for s in report["stranded"]],
        "longest_finality_gap_blocks": finality["longest_blocks"],
        "longest_finality_gap_seconds": finality["longest_seconds"],
        "median_finality_seconds": finality["median_seconds"],
        "validator_lag_blocks": {k: report["fleet"]["lag_blocks"][k] for k in ("median", "p95", "max")},
        "cpu_seconds": report["run"]["cpu_seconds"],
        "cpu_per_transaction_ms": report["run"]["cpu_per_transaction_ms"],
        "migration_latency_median_seconds": {k: v["median"] for k, v in migration["latency_seconds"].items()},
        "migration_end_to_end_seconds": migration["end_to_end_seconds"],
        "faults_injected": len(report["faults"]),
        "faults_recovered": sum(1 for f in report["faults"] if f["recovered"]),
        "attacks": len(report["attacks"]),
        "attacks_rejected": sum(1 for a in report["attacks"] if a["verdict"].startswith("rejected")),
        "pq": report["transactions"]["pq"],
    }
