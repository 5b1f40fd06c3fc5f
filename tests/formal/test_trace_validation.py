"""Trace validation (issue #9 item 4): runs of the real engine are behaviours of Migration.tla.

The crash harness (tests/migration/test_migration_crash_points.py, test_migration_random_kills.py)
checks every trace it records with :func:`tests.formal.tracecheck.check_trace`. This module checks
the checker: the model's graph is what TLC says, a real run passes, and traces of a wrong engine —
the textbook WAL order, a skipped step, a crash in the wrong place — are refused with a reason.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Sequence
from pathlib import Path

import pytest

from chainplug import _fs
from chainplug.migration import crashpoints, transitions
from chainplug.migration.crashpoints import CrashPlan, install
from chainplug.migration.ledger import Account, Draft
from chainplug.migration.session import Session
from chainplug.migration.state import Event, Phase
from chainplug.types import AccountState
from tests.formal.tlc import FORMAL
from tests.formal.tracecheck import (
    CONFIG,
    KeyFacts,
    ModelGraph,
    Step,
    build_model_graph,
    check_trace,
    key_steps,
    store_facts,
)
from tests.migration._migration_support import (
    DRIVER_COMMAND,
    REPO_ROOT,
    driver_env,
    known_key,
    mark_crashed,
    open_engine,
)

SEED = 11
COUNTER_BOUNDS = ("MaxCrashes", "MaxRestores")


def model_or_skip(model: ModelGraph | str) -> ModelGraph:
    if isinstance(model, str):
        print(model)
        pytest.skip(model)
    return model


def drive(store: Path, trace: Path, *argv: str, crash_at: str | None = None) -> int:
    env = driver_env(CHAINPLUG_CRASH_TRACE=str(trace))
    if crash_at:
        env["CHAINPLUG_CRASH_AT"] = crash_at
    done = subprocess.run(
        [*DRIVER_COMMAND, str(store), *argv], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    if done.returncode == -9:
        mark_crashed(trace)
    return done.returncode


def full_migration(tmp_path: Path) -> tuple[Path, list[str]]:
    """Two accounts: one CLASSICAL → PQC_ONLY, one rolled back once and then migrated by batch."""
    store, trace = tmp_path / "store", tmp_path / "trace"
    seed = str(SEED)
    assert drive(store, trace, "create", "--seed", seed, "--count", "2") == 0
    assert drive(store, trace, "advance", "--seed", seed, "--index", "0", "--to", "PQC_ONLY") == 0
    assert drive(store, trace, "advance", "--seed", seed, "--index", "1", "--to", "HYBRID") == 0
    assert drive(store, trace, "rollback", "--seed", seed, "--index", "1") == 0
    assert drive(store, trace, "batch", "--to", "PQC_ONLY") == 0
    return store, trace.read_text().splitlines()


def test_the_model_graph_is_tlcs(migration_model: ModelGraph | str) -> None:
    graph = model_or_skip(migration_model)
    print(f"MigrationTrace.cfg: {graph.tlc_summary}")
    assert len(graph.initial) == 1
    assert len(graph.states) < int(graph.tlc_summary.split(", ")[1].split()[0])  # counters merged
    phases = {state.phase for state in graph.states}
    assert phases == {None, *Phase}
    assert max(state.generation for state in graph.states) >= 3  # chaos runs roll back several times


def test_forgetting_the_counters_removes_the_bounds(tmp_path: Path, migration_model: ModelGraph | str) -> None:
    """The checker merges states that differ only in the crash and restore counters. With one more
    crash and one more restore allowed, the merged graph is the same: it is the unbounded model's,
    so a run may crash (or be restored) any number of times and still be checked exactly."""
    graph = model_or_skip(migration_model)
    config = (FORMAL / f"{CONFIG}.cfg").read_text()
    bounds = {name: int(re.search(rf"{name} = (\d+)", config).group(1)) + 1 for name in COUNTER_BOUNDS}  # type: ignore[union-attr]
    wider = build_model_graph(tmp_path, bounds)
    assert not isinstance(wider, str)
    print(f"{CONFIG}.cfg: {graph.tlc_summary} -> {len(graph.states)} states once merged; {bounds}: {wider.tlc_summary}")
    assert set(wider.states) == set(graph.states)
    assert wider.edges() == graph.edges()


def test_a_real_migration_is_a_model_behaviour(tmp_path: Path, migration_model: ModelGraph | str) -> None:
    graph = model_or_skip(migration_model)
    store, lines = full_migration(tmp_path)
    result = check_trace(graph, lines, {}, store_facts(store))
    assert result.problems == []
    assert result.keys == 2
    assert result.steps > 30


def test_a_crash_and_recovery_is_a_model_behaviour(tmp_path: Path, migration_model: ModelGraph | str) -> None:
    graph = model_or_skip(migration_model)
    store, trace = tmp_path / "store", tmp_path / "trace"
    assert drive(store, trace, "create", "--seed", str(SEED), "--count", "3") == 0
    before = store_facts(store)
    trace.unlink()
    # killed between wiping the classical key and zeroing memory: recovery must finish the erasure
    argv = ("batch", "--to", "PQC_ONLY")
    assert drive(store, trace, *argv, crash_at="erase.zero_memory") == -9
    assert drive(store, trace, "recover") == 0
    assert drive(store, trace, *argv) == 0
    lines = trace.read_text().splitlines()
    assert lines.count("@killed") == 1 and "@crash" in lines
    result = check_trace(graph, lines, before, store_facts(store))
    assert result.problems == []
    assert result.keys == 3


def test_the_textbook_wal_order_is_refused(tmp_path: Path, migration_model: ModelGraph | str) -> None:
    """The same run with CLASSICAL_ERASED logged before the erasure (MigrationStandardWAL's order)."""
    graph = model_or_skip(migration_model)
    store, lines = full_migration(tmp_path)
    commit = next(i for i, line in enumerate(lines) if line.startswith("wal.append.torn CLASSICAL_ERASED:"))
    backup = next(i for i, line in enumerate(lines) if line.startswith("public.backup."))
    moved = lines[:backup] + lines[commit - 1 : commit + 2] + lines[backup : commit - 1] + lines[commit + 2 :]
    result = check_trace(graph, moved, {}, store_facts(store))
    assert len(result.problems) == 1
    assert "is step wal.append CLASSICAL_ERASED, which the model does not allow" in result.problems[0]


def _erase_standard_wal(session: Session, accounts: Sequence[Account]) -> int:
    """transitions.erase_classical with the bug the model's StandardWAL variant has: log first."""
    addresses = [account.address for account in accounts]
    session.commit(Draft(Event.CLASSICAL_ERASED, address, b"") for address in addresses)
    backups = [(session.layout.public_key_backup(a.address), a.classical_public_key) for a in accounts]
    _fs.atomic_write_many(backups, label="public.backup", mode=0o644)
    wiped = session.keystore.erase_classical(addresses)
    crashpoints.crashpoint("erase.zero_memory", ",".join(address.hex() for address in addresses))
    session.destroy_classical_handles(addresses)
    return wiped


def test_an_engine_with_the_textbook_wal_order_is_refused(
    tmp_path: Path, migration_model: ModelGraph | str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Trace validation is tied to the code: break the engine, and its own trace is refused."""
    graph = model_or_skip(migration_model)
    store, trace = tmp_path / "store", tmp_path / "trace"
    monkeypatch.setattr(transitions, "erase_classical", _erase_standard_wal)
    install(CrashPlan(trace_path=str(trace)))
    try:
        with open_engine(store, create=True) as engine:
            engine.create_account(known_key(SEED, 0))
            engine.advance(known_key(SEED, 0).address, AccountState.PQC_ONLY)
    finally:
        install(None)
    result = check_trace(graph, trace.read_text().splitlines(), {}, store_facts(store))
    assert len(result.problems) == 1, result.problems
    assert "wal.append CLASSICAL_ERASED, which the model does not allow" in result.problems[0]


def test_a_skipped_step_or_a_wrong_end_is_refused(tmp_path: Path, migration_model: ModelGraph | str) -> None:
    graph = model_or_skip(migration_model)
    store, lines = full_migration(tmp_path)
    after = store_facts(store)
    no_zeroing = [line for line in lines if not line.startswith("erase.zero_memory")]
    assert "is step wal.append CLASSICAL_ERASED" in check_trace(graph, no_zeroing, {}, after).problems[0]
    # the classical key file still on disk at the end: not where the model's run ends
    address = next(iter(after))
    kept = {**after, address: KeyFacts(after[address].phase, after[address].generation, True, after[address].pqc, True)}
    (problem,) = check_trace(graph, lines, {}, kept).problems
    assert "the store ends as" in problem


def test_key_steps_reads_kills_and_crashes() -> None:
    a, b = "aa" * 20, "bb" * 20
    lines = [
        f"keys.classical.put.rename 0x{a}.classical.key",
        f"wal.append.write CREATE:{a},CREATE:{b}",
        f"wal.append.torn CREATE:{a},CREATE:{b}",
        "@killed",
        "@crash",
        f"wal.append.torn CREATE:{b}",
        "@killed",
        "@crash",
        f"keys.classical.wipe.unlink 0x{a}.classical.key",
        "@crash",
        "@recovered",
    ]
    address_a = bytes.fromhex(a)
    steps = key_steps(lines, address_a)  # type: ignore[arg-type]
    assert [(s.kind, s.detail, s.optional) for s in steps] == [
        ("keys.classical.put", None, False),
        ("wal.append", "CREATE", True),  # a torn group commit may have kept this record
        ("crash", None, False),
        ("crash", None, False),
        ("keys.classical.wipe", None, True),  # a random-time kill: it may or may not have run
        ("crash", None, False),
        ("recovered", None, False),
    ]
    steps_b = key_steps(lines, bytes.fromhex(b))  # type: ignore[arg-type]
    assert ("wal.append", "CREATE") not in [(s.kind, s.detail) for s in steps_b if not s.optional]
    assert all(isinstance(s, Step) for s in steps_b)
