"""The run report: ``OUT/report.json`` (validated against ``report.schema.json``, shipped in this package), built from
the observer's data, the driver's ledgers and :mod:`.analysis`; plus the expectation checks that
decide the exit code."""

from __future__ import annotations

import json
import os
import statistics
from collections import Counter
from dataclasses import asdict
from pathlib import Path
from typing import Any

from .. import __version__
from ..types import AccountState
from .analysis import Facts, tx_kinds
from .attacks import AttackRecord
from .clock import BlockClock
from .driver import Driver
from .network import Network
from .observer import Observations
from .records import EventRecord, StepRecord
from .scenario import Scenario

SCHEMA_ID = "chainplug-devnet-report/1"
STATE_NAMES = tuple(state.name for state in AccountState)
"""The migration states' names, in migration order (AccountState is ordered)."""


def _stats(values: list[float]) -> dict[str, Any]:
    if not values:
        return {"count": 0, "min": None, "median": None, "max": None}
    return {
        "count": len(values),
        "min": round(min(values), 3),
        "median": round(statistics.median(values), 3),
        "max": round(max(values), 3),
    }


def _lag(values: list[int]) -> dict[str, Any]:
    """A validator's lag behind the head, in blocks, over the observer's polls (while it answered)."""
    if not values:
        return {"samples": 0, "median": None, "p95": None, "max": None}
    ordered = sorted(values)
    return {
        "samples": len(ordered),
        "median": statistics.median(ordered),
        "p95": ordered[min(len(ordered) - 1, (95 * len(ordered)) // 100)],
        "max": ordered[-1],
    }


def processes(network: Network, orchestrator_cpu: float) -> list[dict[str, Any]]:
    """What ran where: every process the run started (with the validators it ran) and the CPU it used."""
    cpu = network.supervisor.cpu_seconds
    hosts = network.hosts()
    rows = [{"name": "orchestrator", "role": "orchestrator", "validators": [],
             "cpu_seconds": round(orchestrator_cpu, 2)}]  # fmt: skip
    for name in network.supervisor.services:
        members = hosts.get(name, [])
        role = (
            ("validator-host" if len(members) > 1 or name not in network.validators else "validator")
            if members
            else name
        )
        rows.append({"name": name, "role": role, "validators": members, "cpu_seconds": round(cpu.get(name, 0.0), 2)})
    return rows


def _step_json(step: StepRecord) -> dict[str, Any]:
    seconds = round(step.done_at - step.requested_at, 3) if step.done_at is not None else None
    blocks = step.block_done - step.block_requested if step.block_done is not None else None
    return {**asdict(step), "seconds": seconds, "blocks": blocks}


def migration(steps: list[StepRecord], accounts: list[dict[str, Any]], order: list[str]) -> dict[str, Any]:
    """Per-account steps and latency per phase (target state) and end to end (first request →
    PQC_ONLY, including any wait for the fleet gate)."""
    final = {str(a["address"]).lower(): str(a["state"]) for a in accounts}
    per_account = []
    end_to_end = []
    for address in order:
        mine = [s for s in steps if s.account == address]
        done = [s for s in mine if s.outcome == "ok" and s.to == "PQC_ONLY" and s.done_at is not None]
        if mine and done and done[-1].done_at is not None:
            end_to_end.append(done[-1].done_at - mine[0].requested_at)
        per_account.append(
            {"address": address, "final_state": final.get(address, "unknown"), "steps": [_step_json(s) for s in mine]}
        )
    latency = {
        state: _stats(
            [s.done_at - s.requested_at for s in steps if s.to == state and s.outcome == "ok" and s.done_at is not None]
        )
        for state in STATE_NAMES[1:]
    }
    return {
        "accounts": per_account,
        "latency_seconds": latency,
        "end_to_end_seconds": _stats(end_to_end),
        "gate_refusals": sum(1 for s in steps if s.outcome == "gate-refused"),
    }


def judge_attacks(attacks: list[AttackRecord], data: Observations) -> list[dict[str, Any]]:
    """Each attack with where it ended: rejected at admission, rejected by upgraded validators,
    tolerated (before activation), or ACCEPTED."""
    judged = []
    for attack in attacks:
        mined = data.mined.get(attack.tx_hash) if attack.tx_hash else None
        by: dict[str, list[str]] = {"upgraded": [], "legacy": []}
        rejected_by: list[str] = []
        for name, heights in data.verdicts.items():
            verdict = heights.get(mined) if mined is not None else None
            for tx in verdict.txs if verdict is not None else ():
                if tx.tx_hash == attack.tx_hash:
                    (by[verdict.version] if tx.accepted else rejected_by).append(name)  # type: ignore[union-attr]
        if attack.outcome == "rejected-at-admission":
            verdict_text = "rejected-at-admission"
        elif attack.outcome == "skipped":
            verdict_text = "skipped"
        elif attack.expected == "tolerated":
            verdict_text = "tolerated"
        elif by["upgraded"]:
            verdict_text = "ACCEPTED"
        else:
            verdict_text = "rejected-by-upgraded-validators" if mined is not None else "not-mined"
        judged.append(
            {
                **asdict(attack),
                "mined_block": mined,
                "accepted_by_upgraded": by["upgraded"],
                "accepted_by_legacy": by["legacy"],
                "rejected_by": sorted(rejected_by),
                "verdict": verdict_text,
            }
        )
    return judged


def acceptance(
    data: Observations, sent: list[Any], attacks: list[AttackRecord], window_end: int | None
) -> list[dict[str, Any]]:
    """The acceptance matrix: every validator verdict on a mined transaction, by the validator's version
    at the time and the transaction's kind (an attack by its name), accepted or refused and why."""
    admitted = {a.tx_hash: a for a in attacks if a.tx_hash and a.outcome == "admitted"}
    kinds = tx_kinds(data.blocks, sent, data.verdicts, set(admitted))
    cells: dict[tuple[str, str], dict[str, Any]] = {}
    for by_height in data.verdicts.values():
        for height, verdict in by_height.items():
            if window_end is not None and height > window_end:
                continue
            for tx in verdict.txs:
                attack = admitted.get(tx.tx_hash)
                kind = kinds.get(tx.tx_hash, "unknown")
                if attack is not None:
                    tolerated = ", tolerated before activation" if attack.expected == "tolerated" else ""
                    kind = f"attack: {attack.kind}{tolerated}"
                cell = cells.setdefault(
                    (verdict.version, kind),
                    {"version": verdict.version, "kind": kind, "accepted": 0, "refused": 0, "reasons": Counter()},
                )
                cell["accepted" if tx.accepted else "refused"] += 1
                if not tx.accepted:
                    cell["reasons"][tx.reason] += 1
    return [{**cell, "reasons": dict(cell["reasons"])} for _, cell in sorted(cells.items())]


def _phase(submitted_at: float, events: list[EventRecord]) -> str:
    """The schedule event during which something was sent."""
    started = [e for e in events if e.started_at <= submitted_at]
    return started[-1].phase if started else ""


def build_report(
    scenario: Scenario,
    network: Network,
    driver: Driver | None,
    data: Observations,
    facts: Facts,
    *,
    started: float,
    ended: float,
    window_start: int,
    window_end: int | None,
    error: str | None,
    sent: list[Any],
    warnings: list[str],
    clock: BlockClock | None = None,
    setup_seconds: float = 0.0,
    orchestrator_cpu: float = 0.0,
    traffic_skipped: int = 0,
) -> dict[str, Any]:
    chain = network.require_chain()
    steps = driver.steps if driver else []
    order = driver.accounts if driver else []
    attacks = judge_attacks(driver.attacks if driver else [], data)
    for judged in attacks:
        judged["phase"] = _phase(judged["submitted_at"], driver.events if driver else [])
    states = Counter(str(a["state"]) for a in data.accounts)
    validators = []
    stranded = {s["validator"]: s for s in facts.stranded}
    for name, state in network.validators.items():
        mine = Counter(b.verdicts.get(name, "missing") for b in facts.blocks)
        validators.append(
            {
                "name": name,
                "initial_version": "legacy" if name in scenario.fleet.legacy else "upgraded",
                "final_version": state.version,
                "remote": state.remote,
                "url": state.url,
                "upgrades": state.upgrades,
                "restarts": state.restarts,
                "attested": mine["accept"] + mine["reject"],
                "accepted": mine["accept"],
                "rejected": mine["reject"],
                "stranded": name in stranded,
                "stranded_at_block": stranded.get(name, {}).get("block"),
                "process": state.process or None,
                "lag_blocks": _lag(data.lag.get(name, [])),
            }
        )
    refused = [asdict(t) for t in sent if t.error]
    valid_total = sum(n for kind, n in facts.kinds.items() if kind != "attack")
    ran = processes(network, orchestrator_cpu)
    cpu_total = sum(row["cpu_seconds"] for row in ran)
    mined_total = sum(facts.kinds.values())
    report: dict[str, Any] = {
        "schema": SCHEMA_ID,
        "chainplug_version": __version__,
        "scenario": {
            "name": scenario.name,
            "description": scenario.description,
            "source": str(scenario.source),
            "seed": scenario.seed,
            "timeout_seconds": scenario.timeout,
        },
        "run": {
            "started_at": started,
            "ended_at": ended,
            "wall_seconds": round(ended - started, 2),
            "analysed_from_block": window_start,
            "analysed_to_block": window_end,
            "error": error,
            "passed": False,
            "warnings": warnings,
            "setup_seconds": round(setup_seconds, 2),
            "cpu_seconds": round(cpu_total, 2),
            "cpu_per_transaction_ms": round(1000 * cpu_total / mined_total, 2) if mined_total else None,
        },
        "processes": ran,
        "chain": {
            "kind": chain.kind,
            "url": chain.url,
            "chain_id": chain.chain_id,
            "registry": chain.registry,
            "activation_block": chain.activation_block,
            "block_time": scenario.chain.block_time,
            "pqc_only_tx": chain.pqc_only_tx,
            "limitations": chain.limitations,
            "head": max((b.height for b in facts.blocks), default=0),
            "mined_by": "devnet" if clock is not None else "chain",
            "held": [
                {"block": h.block, "started_at": h.started_at, "seconds": round(h.seconds, 3)}
                for h in (clock.holds if clock is not None else [])
            ],
        },
        "fleet": {
            "size": len(network.validators),
            "quorum": "2/3",
            "threshold": scenario.fleet.threshold,
            "gate": "forced-off" if scenario.fleet.force_gate else "on",
            "per_process": scenario.fleet.per_process,
            "lag_blocks": _lag([n for values in data.lag.values() for n in values]),
        },
        "validators": validators,
        "blocks": [asdict(b) | {"hash": data.blocks[b.height].block_hash} for b in facts.blocks],
        "finality": {
            "final_blocks": sum(1 for b in facts.blocks if b.final),
            "non_final_blocks": [b.height for b in facts.blocks if not b.final],
            "attack_blocks": [b.height for b in facts.blocks if b.attack],
            **facts.gap,
        },
        "stranded": facts.stranded,
        "transactions": {
            "mined": sum(facts.kinds.values()),
            "valid": valid_total,
            "by_kind": facts.kinds,
            "sent_by_devnet": len(sent),
            "traffic_turns_skipped": traffic_skipped,
            "valid_rejected_by_quorum": len(facts.valid_rejected),
            "valid_rejected": facts.valid_rejected,
            "refused_at_submission": len(refused),
            "refusals": refused,
            "invalid_accepted_by_upgraded": len(facts.invalid_accepted),
            "invalid_accepted": facts.invalid_accepted,
            "pq": facts.pq,
        },
        "accounts_by_state": {state: states.get(state, 0) for state in STATE_NAMES},
        "account_samples": [asdict(s) for s in data.samples],
        "migration": migration(steps, data.accounts, order),
        "faults": [asdict(f) for f in (driver.faults if driver else [])],
        "attacks": attacks,
        "acceptance": acceptance(data, sent, driver.attacks if driver else [], window_end),
        "events": [asdict(e) for e in (driver.events if driver else [])],
    }
    return report


def write_json(path: Path, document: dict[str, Any]) -> None:
    """Write via a temporary file and rename, so a reader never sees half a report."""
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(json.dumps(document, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(temporary, path)


def schema_path(scenario_source: Path) -> Path | None:
    """``report.schema.json`` next to the scenario (an override), else the one shipped in this package."""
    for candidate in (scenario_source.parent / "report.schema.json", Path(__file__).with_name("report.schema.json")):
        if candidate.is_file():
            return candidate
    return None


def validate(report: dict[str, Any], schema_file: Path) -> list[str]:
    """Schema violations, one line each (empty: valid)."""
    import jsonschema

    schema = json.loads(schema_file.read_text(encoding="utf-8"))
    validator = jsonschema.Draft202012Validator(schema)
    return [f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}" for e in validator.iter_errors(report)]
