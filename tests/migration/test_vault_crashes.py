"""The migration engine over an encrypted vault, crashed at every crash point it passes.

The SIGKILL harness (test_migration_crash_points.py) drives the plain-file key store. This runs the
same kind of workload with the engine's keys sealed in a vault (``VaultKeyStore``): a dry run traces
every crash point; then, for each hit, a fresh copy "dies" there in-process (``SimulatedCrash``, a
BaseException raised where SIGKILL would strike, so no cleanup a real crash would skip runs), the
store is reopened over a freshly opened vault — which recovers it — and the workload re-run to the
end. After each: every account is PQC_ONLY, its PQC key opens from the vault, no classical secret is
in any file, and the whole trace (crashed run, recovery, re-run) is a behaviour of
docs/formal/Migration.tla (tests/formal/tracecheck.py).
"""

from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path

import pytest

from chainplug.keystore import Credentials, KdfPolicy, KemKey, Passphrase, Vault
from chainplug.migration import MigrationEngine
from chainplug.migration.crashpoints import CrashPlan, SimulatedCrash, install
from chainplug.migration.keystore_adapter import VaultKeyStore
from chainplug.types import AccountState
from tests.formal.tracecheck import ModelGraph, check_trace, store_facts
from tests.migration._migration_support import ALL_READY, known_key, known_secrets, mark_crashed, trace_labels

SEED = 23
ACCOUNTS = 2
POLICY = KdfPolicy.unsafe_for_testing(1000)  # explicit, test-only
SECRETS = known_secrets(SEED, ACCOUNTS)


def credentials() -> Credentials:
    return Credentials(Passphrase("vault password", POLICY), KemKey.from_seed(bytes(range(64))))


def open_engine(root: Path, *, create: bool = False) -> MigrationEngine:
    vault_dir = root / "vault"
    root.mkdir(exist_ok=True)
    vault = Vault.create(vault_dir, credentials()) if create else Vault.open(vault_dir, credentials())
    return MigrationEngine.open(root / "store", create=create, keystore=VaultKeyStore(vault), readiness=ALL_READY)


def workload(root: Path, *, create: bool) -> None:
    """Create two accounts, take the first to PQC_ONLY, roll the second back once, then batch both to
    PQC_ONLY. Convergent: run again after a crash, it finishes the job."""
    with open_engine(root, create=create) as engine:
        keys = [known_key(SEED, i) for i in range(ACCOUNTS)]
        engine.create_accounts([key for key in keys if key.address not in engine.accounts])
        first, second = (key.address for key in keys)
        if engine.account(first).state < AccountState.PQC_ONLY:
            engine.advance(first, AccountState.PQC_ONLY)
        if engine.account(second).generation == 0:
            if engine.account(second).state is AccountState.CLASSICAL:
                engine.advance(second, AccountState.HYBRID)
            engine.rollback(second)
        engine.batch(AccountState.PQC_ONLY, batch_size=2)


def _crash() -> None:
    raise SimulatedCrash


def traced(trace: Path, label: str | None = None, nth: int = 1) -> CrashPlan:
    plan = CrashPlan(label, nth, trace_path=str(trace))
    install(plan, action=_crash)
    return plan


def check_result(root: Path) -> list[str]:
    problems = []
    with open_engine(root) as engine:
        for address, account in engine.accounts.items():
            if account.state is not AccountState.PQC_ONLY:
                problems.append(f"0x{address.hex()[:8]} ended {account.state.name}")
            engine.load_pqc_key(address).destroy()
    files = b"".join(p.read_bytes() for p in root.rglob("*") if p.is_file())
    for address, secret in SECRETS.items():
        if secret in files or secret.hex().encode() in files:
            problems.append(f"0x{address.hex()[:8]}: classical secret still in a file")
    return problems


def test_the_engine_over_a_vault_survives_a_crash_at_every_point(
    tmp_path: Path, migration_model: ModelGraph | str
) -> None:
    dry = tmp_path / "dry"
    plan = traced(dry.with_suffix(".trace"))
    try:
        workload(dry, create=True)
    finally:
        install(None)
        plan.close()
    assert check_result(dry) == []
    seen: Counter[str] = Counter()
    points = []
    for label in trace_labels(dry.with_suffix(".trace")):
        seen[label] += 1
        points.append((label, seen[label]))
    assert len(points) > 50 and {"keys.classical.wipe.unlink", "erase.zero_memory", "wal.append.torn"} <= set(seen)

    problems: list[str] = []
    steps = 0
    for index, (label, nth) in enumerate(points):
        root, trace = tmp_path / f"k{index}", tmp_path / f"k{index}.trace"
        plan = traced(trace, label, nth)
        try:
            with pytest.raises(SimulatedCrash):
                workload(root, create=True)
            mark_crashed(trace)
            plan.label = None
            if (root / "vault" / "vault.json").exists() and (root / "store" / "migration.wal").exists():
                workload(root, create=False)  # opening recovers, then the rest of the work
            else:  # died while making the vault or the store: start again from nothing
                shutil.rmtree(root)
                workload(root, create=True)
        finally:
            install(None)
            plan.close()
        problems += [f"{label}:{nth}: {p}" for p in check_result(root)]
        if not isinstance(migration_model, str):
            facts = store_facts(root / "store", root / "vault")
            checked = check_trace(migration_model, trace.read_text().splitlines(), {}, facts)
            problems += [f"{label}:{nth} trace: {p}" for p in checked.problems]
            steps += checked.steps
        shutil.rmtree(root)
    print(f"\nvault-backed engine: {len(points)} crash points, {steps} model steps checked against Migration.tla")
    assert not problems, "\n".join(problems[:30])
