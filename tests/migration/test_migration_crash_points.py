"""Crash injection at every labelled crash point (docs/migration.md §7).

For each scenario — every transition, a group create, a batch, and recovery itself — a dry run of
the real engine in a fresh interpreter records every crash point it passes (CHAINPLUG_CRASH_TRACE).
Then, for each hit, a fresh copy of the starting store is given to a new process (forked by the
driver's fork server, same crash settings) that is SIGKILLed just before that step
(CHAINPLUG_CRASH_AT=label:nth). After each kill:

* two copies of the crashed store are recovered and must end byte-identical (deterministic), and a
  second recovery must change nothing (idempotent);
* every invariant of ``check_invariants`` holds (monotone state within [before, target], the keys
  the state needs load, no classical secret anywhere from CLASSICAL_ERASED on, nothing pending);
* re-running the same operation completes it, and the invariants hold again (resumable).
"""

from __future__ import annotations

import json
import queue
import subprocess
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from chainplug.migration import CRASH_POINTS, MigrationEngine, PlainFileKeyStore, Position
from chainplug.migration.recovery import RecoveryJSON
from chainplug.types import AccountState, Address
from tests.formal.tracecheck import KeyFacts, ModelGraph, check_trace, store_facts
from tests.migration._migration_support import (
    DRIVER_COMMAND,
    REPO_ROOT,
    ForkServer,
    check_invariants,
    copy_store,
    driver_env,
    known_key,
    known_secrets,
    mark_crashed,
    open_engine,
    positions,
    simulate_crash,
    snapshot,
    trace_labels,
    upper_bound,
)

SEED = 7
SECRETS = known_secrets(SEED, 12)
STATES = tuple(AccountState)


def address(index: int) -> Address:
    return known_key(SEED, index).address


def prepare(store: Path, states: tuple[AccountState, ...]) -> None:
    """Accounts 0..n-1 of SEED, account i advanced to states[i] (in-process, no crash)."""
    with open_engine(store, create=True) as engine:
        engine.create_accounts([known_key(SEED, i) for i in range(len(states))])
        for index, state in enumerate(states):
            if state is not AccountState.CLASSICAL:
                engine.advance(address(index), state)


def prepare_messy(store: Path) -> None:
    """A store that needs every recovery rule at once, built with in-process crashes."""
    prepare(store, (AccountState.HYBRID, AccountState.CLASSICAL, AccountState.HYBRID, AccountState.PQC_ONLY))
    backup_dir = store.parent / "old-backup"  # account 3's key file as an old backup held it
    backup_dir.mkdir()
    PlainFileKeyStore(backup_dir).put_classical([known_key(SEED, 3)])

    def op(action: Callable[[MigrationEngine], object]) -> Callable[[], object]:
        def run() -> object:
            with open_engine(store, recover=False) as engine:
                return action(engine)

        return run

    simulate_crash("keys.classical.wipe.unlink", 1, op(lambda e: e.advance(address(0), AccountState.PQC_ONLY)))
    simulate_crash("wal.append.write", 1, op(lambda e: e.create_account(known_key(SEED, 4))))
    simulate_crash("keys.pqc.wipe.overwrite", 1, op(lambda e: e.rollback(address(2))))
    for restored in backup_dir.iterdir():
        (store / "keys" / restored.name).write_bytes(restored.read_bytes())
    simulate_crash("keys.classical.put.rename", 1, op(lambda e: e.create_account(known_key(SEED, 5))))
    simulate_crash("wal.append.torn", 1, op(lambda e: e.advance(address(1), AccountState.HYBRID)))


@dataclass(frozen=True)
class Scenario:
    name: str
    states: tuple[AccountState, ...] | None
    """Starting accounts (None: no store; "messy": see prepare_messy)."""
    argv: tuple[str, ...]
    messy: bool = False


SCENARIOS = [
    Scenario("create", None, ("create", "--seed", str(SEED), "--start", "0")),
    Scenario("create-group", None, ("create", "--seed", str(SEED), "--start", "0", "--count", "5")),
    Scenario("to-hybrid", (AccountState.CLASSICAL,), ("advance", "--seed", str(SEED), "--to", "HYBRID")),
    Scenario("to-finalizing", (AccountState.HYBRID,), ("advance", "--seed", str(SEED), "--to", "FINALIZING")),
    Scenario("to-pqc-only", (AccountState.FINALIZING,), ("advance", "--seed", str(SEED), "--to", "PQC_ONLY")),
    Scenario("classical-to-pqc-only", (AccountState.CLASSICAL,), ("advance", "--seed", str(SEED), "--to", "PQC_ONLY")),
    Scenario("rollback", (AccountState.HYBRID,), ("rollback", "--seed", str(SEED), "--generation", "0")),
    Scenario(
        "batch",
        (*[AccountState.CLASSICAL] * 5, AccountState.HYBRID, AccountState.FINALIZING),
        ("batch", "--to", "PQC_ONLY", "--batch-size", "4"),
    ),
    Scenario("recovery", None, ("recover",), messy=True),
]
KILLS: Counter[str] = Counter()
TRACED: Counter[str] = Counter()


def run_driver(store: Path, argv: tuple[str, ...], **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*DRIVER_COMMAND, str(store), *argv],
        cwd=REPO_ROOT,
        env=driver_env(**env),
        capture_output=True,
        text=True,
        timeout=120,
    )


def recover(store: Path, restored_allowed: frozenset[Address] = frozenset()) -> list[str]:
    """Open (= recover) and close in this process; returns what a crash alone must never make recovery report."""
    with open_engine(store) as engine:
        report = engine.last_recovery
    assert report is not None
    return _unexpected(report.to_json(), restored_allowed)


def recover_traced(server: ForkServer, store: Path, trace: Path, restored_allowed: frozenset[Address]) -> list[str]:
    """:func:`recover` in a forked child that appends to ``trace``."""
    if not (store / "migration.wal").exists():  # killed before the log existed: nothing to recover
        files = [p.name for p in store.rglob("*") if p.is_file() and p.name != "LOCK"]
        assert all(name.startswith(".migration.wal.") for name in files), files
        return []
    code, result = server.run([str(store), "recover"], {"CHAINPLUG_CRASH_TRACE": str(trace)})
    assert code == 0 and result is not None, f"recovery failed ({code}): see {server.stderr_path}"
    return _unexpected(json.loads(result), restored_allowed)


def _unexpected(report: RecoveryJSON, restored_allowed: frozenset[Address]) -> list[str]:
    unexpected = {bytes.fromhex(a[2:]) for a in report["restored_classical_keys_erased"]} - restored_allowed
    return report["problems"] + [f"recovery found a 'restored' classical key of 0x{a.hex()}" for a in unexpected]


def at_least(final: dict[Address, Position], store: Path) -> list[str]:
    now = positions(store)
    return [f"0x{a.hex()[:8]} did not finish: {now.get(a)} < {p}" for a, p in final.items() if now.get(a, p) < p]


def kill_and_check(
    server: ForkServer,
    template: Path | None,
    scenario: Scenario,
    label: str,
    nth: int,
    work: Path,
    run: DryRun,
    model: ModelGraph | str,
) -> list[str]:
    """Kill at ``label:nth``, recover, check, re-run; every step traced, and the trace checked against
    the TLA+ model (tests/formal/tracecheck.py) when TLC is available."""
    work.mkdir()
    store = work / "a"
    trace = work / "trace"
    if template is not None:
        copy_store(template, store)
    argv = [str(store), *scenario.argv]
    code, _ = server.run(argv, {"CHAINPLUG_CRASH_AT": f"{label}:{nth}", "CHAINPLUG_CRASH_TRACE": str(trace)})
    if code != -9:
        return [f"{label}:{nth} was not reached (exit {code}): see {server.stderr_path}"]
    mark_crashed(trace)
    twin = copy_store(store, work / "b") if store.exists() else None
    restored_allowed = frozenset({address(3)}) if scenario.messy else frozenset()
    problems = [f"{label}:{nth}: {p}" for p in recover_traced(server, store, trace, restored_allowed)]
    at_most = {a: upper_bound(p) for a, p in run.final.items()}
    if (store / "migration.wal").exists():
        violations = check_invariants(store, SECRETS, before=run.before, at_most=at_most)
        problems += [f"{label}:{nth}: {v}" for v in violations]
    if twin is not None and (twin / "migration.wal").exists():
        recover(twin, restored_allowed)
        if snapshot(store) != snapshot(twin):
            problems.append(f"{label}:{nth}: two recoveries of the same files disagree")
        once = snapshot(store)
        recover(store)
        if snapshot(store) != once:
            problems.append(f"{label}:{nth}: a second recovery changed the store")
    code, _ = server.run(argv, {"CHAINPLUG_CRASH_TRACE": str(trace)})
    if code != 0:
        return [*problems, f"{label}:{nth} rerun failed ({code}): see {server.stderr_path}"]
    problems += [f"{label}:{nth} rerun: {v}" for v in check_invariants(store, SECRETS, before=run.before)]
    problems += [f"{label}:{nth} rerun: {v}" for v in at_least(run.final, store)]
    if not isinstance(model, str):
        lines = trace.read_text().splitlines()
        checked = check_trace(model, lines, run.facts, store_facts(store), start_down=scenario.messy)
        problems += [f"{label}:{nth} trace: {p}" for p in checked.problems]
        TRACED[scenario.name] += checked.steps
    return problems


@dataclass(frozen=True)
class DryRun:
    template: Path | None
    before: dict[Address, Position]
    final: dict[Address, Position]
    trace: list[str]
    facts: dict[Address, KeyFacts]
    """The model's view of the starting store (tests/formal/tracecheck.py)."""


@pytest.fixture(scope="module")
def dry_runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, DryRun]]:
    """Each scenario's starting store, run once to the end with every crash point traced."""
    runs = {}
    for scenario in SCENARIOS:
        tmp = tmp_path_factory.mktemp(scenario.name)
        template: Path | None = None
        if scenario.messy:
            template = tmp / "template" / "store"
            template.parent.mkdir()
            prepare_messy(template)
        elif scenario.states is not None:
            template = tmp / "template"
            prepare(template, scenario.states)
        dry = tmp / "dry"
        if template is not None:
            copy_store(template, dry)
        trace_file = tmp / "trace"
        done = run_driver(dry, scenario.argv, CHAINPLUG_CRASH_TRACE=str(trace_file))
        assert done.returncode == 0, done.stderr
        before = positions(template) if template is not None else {}
        runs[scenario.name] = DryRun(template, before, positions(dry), trace_labels(trace_file), store_facts(template))
    yield runs
    hits = Counter(label for run in runs.values() for label in run.trace)
    kills = sum(KILLS.values())
    print(f"\ncrash points listed: {len(CRASH_POINTS)}, exercised: {len(hits)}; kills: {kills} {dict(KILLS)}")
    print(f"model steps of the traces checked against Migration.tla: {sum(TRACED.values())} {dict(TRACED)}")


def test_every_listed_crash_point_is_exercised(dry_runs: dict[str, DryRun]) -> None:
    hit = {label for run in dry_runs.values() for label in run.trace}
    assert hit <= set(CRASH_POINTS)
    assert sorted(set(CRASH_POINTS) - hit) == []


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_sigkill_at_every_crash_point_then_recover(
    scenario: Scenario, dry_runs: dict[str, DryRun], migration_model: ModelGraph | str, tmp_path: Path
) -> None:
    run = dry_runs[scenario.name]
    seen: Counter[str] = Counter()
    points = []
    for label in run.trace:
        seen[label] += 1
        points.append((label, seen[label]))
    assert points, "the scenario passed no crash point"

    servers: queue.Queue[ForkServer] = queue.Queue()
    for worker in range(2):
        servers.put(ForkServer(tmp_path / f"server-{worker}.stderr"))

    def one(item: tuple[int, tuple[str, int]]) -> list[str]:
        index, (label, nth) = item
        server = servers.get()
        try:
            return kill_and_check(
                server, run.template, scenario, label, nth, tmp_path / f"k{index}", run, migration_model
            )
        finally:
            servers.put(server)

    try:
        with ThreadPoolExecutor(max_workers=2) as pool:
            problems = [problem for result in pool.map(one, enumerate(points)) for problem in result]
    finally:
        while not servers.empty():
            servers.get().close()
    KILLS[scenario.name] += len(points)
    assert not problems, "\n".join(problems[:40])
