"""A hypothesis RuleBasedStateMachine over the real engine, with a crash rule (STYLE.md habit 18).

Rules create accounts, advance, roll back, batch-migrate, reopen, restore an old backup of an erased
classical key, and *arm a crash*: the first later operation that reaches the chosen crash point dies
there (in-process, SimulatedCrash), after which the engine is reopened — which recovers it. The model keeps each
account's last known position and checks every result against it: exact after a clean operation,
within [before, target] after a crash (recovery may finish an erasure), never back. A spy keystore
proves no classical key is loaded for an account that was FINALIZING or later. Every run is traced
and, at teardown, checked to be a behaviour of docs/formal/Migration.tla (tests/formal/tracecheck.py).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, initialize, invariant, multiple, rule

from chainplug.errors import ClassicalKeyRetired, IllegalTransition
from chainplug.migration import CRASH_POINTS, MigrationEngine, PlainFileKeyStore, Position
from chainplug.migration.crashpoints import CrashPlan, SimulatedCrash, install
from chainplug.migration.state import Phase, target_phase
from chainplug.types import AccountState, Address
from tests.formal.tracecheck import ModelGraph, check_trace, store_facts
from tests.migration._migration_support import (
    check_invariants,
    known_key,
    known_secrets,
    mark_crashed,
    open_engine,
    upper_bound,
)

SEED = 11
MAX_ACCOUNTS = 12
SECRETS = known_secrets(SEED, MAX_ACCOUNTS)


class SpyKeyStore(PlainFileKeyStore):
    """Records every classical key load."""

    def __init__(self, directory: Path) -> None:
        super().__init__(directory)
        self.classical_loads: list[Address] = []

    def load_classical(self, address: Address):  # type: ignore[no-untyped-def]
        self.classical_loads.append(address)
        return super().load_classical(address)


def _crash() -> None:
    raise SimulatedCrash


_MODEL: list[ModelGraph | str] = ["the model graph was not built"]


@pytest.fixture(autouse=True)
def _model_for_the_machine(migration_model: ModelGraph | str) -> None:
    """Hand the session's model graph to the state machine (a unittest-style case takes no fixtures)."""
    _MODEL[0] = migration_model


class MigrationMachine(RuleBasedStateMachine):
    accounts = Bundle("accounts")

    def __init__(self) -> None:
        super().__init__()
        self.tmp = Path(tempfile.mkdtemp(prefix="chainplug-sm-"))
        self.store = self.tmp / "store"
        self.model: dict[Address, Position] = {}
        self.next_index = 0
        self.crash: tuple[str, int] | None = None
        self.spy = SpyKeyStore(self.store / "keys")
        self.trace = self.tmp / "trace"
        self.plan = CrashPlan(trace_path=str(self.trace))  # traces throughout; armed by arm_crash
        install(self.plan)
        self.engine: MigrationEngine = open_engine(self.store, create=True, keystore=self.spy)

    def _reopen(self) -> None:
        self.engine.close()
        self.spy = SpyKeyStore(self.store / "keys")
        self.engine = open_engine(self.store, keystore=self.spy)

    def _perform(self, action: Callable[[], object], targets: dict[Address, Position]) -> None:
        """Run ``action`` (crashing it if a crash is armed), reopen after a crash, check the model."""
        retired = {a for a, p in self.model.items() if p.phase.classical_retired}
        self.spy.classical_loads.clear()
        crashed = False
        if self.crash is not None:
            self.plan.label, self.plan.nth = self.crash
            self.plan.hits = 0
            install(self.plan, action=_crash)
        try:
            action()
        except SimulatedCrash:
            crashed = True
        except IllegalTransition:
            assert not targets, "a legal operation was refused"
        finally:
            self.plan.label = None
            install(self.plan)
        if crashed:
            mark_crashed(self.trace)
            self.crash = None  # an armed crash stays armed until an operation reaches its label
        assert not set(self.spy.classical_loads) & retired, "classical key loaded after FINALIZING"
        event("operation crashed" if crashed else "operation completed")
        if crashed:
            self._reopen()
            assert not set(self.spy.classical_loads) & retired, "recovery loaded a retired classical key"
            assert self.engine.last_recovery is not None and self.engine.last_recovery.clean
        for address, now in {a: acc.position for a, acc in self.engine.accounts.items()}.items():
            before = self.model.get(address)
            target = targets.get(address, before)
            assert target is not None, "an account appeared that no operation created"
            if before is not None:
                assert now >= before, f"went back: {before} -> {now}"
            if not crashed:
                assert now == target, f"clean operation ended at {now}, expected {target}"
            else:
                assert now <= upper_bound(target), f"{now} is beyond the operation's target {target}"
            self.model[address] = now
        if not crashed:
            assert set(targets) <= set(self.model), "a clean create did not create"

    @initialize()
    def no_accounts(self) -> None:
        assert not self.engine.accounts

    @rule(target=accounts, count=st.integers(1, 3))
    def create(self, count: int) -> object:
        count = min(count, MAX_ACCOUNTS - self.next_index)
        keys = [known_key(SEED, self.next_index + i) for i in range(count)]
        self.next_index += count
        targets = {key.address: Position(0, Phase.CLASSICAL) for key in keys}
        self._perform(lambda: self.engine.create_accounts(keys), targets)
        return multiple(*(key.address for key in keys if key.address in self.model))

    @rule(address=accounts, to=st.sampled_from(AccountState))
    def advance(self, address: Address, to: AccountState) -> None:
        now = self.model[address]
        targets = {address: Position(now.generation, target_phase(to))} if to > now.phase.account_state else {}
        if to == now.phase.account_state:  # already there: a no-op, not a refusal
            targets = {address: now}
        self._perform(lambda: self.engine.advance(address, to), targets)

    @rule(address=accounts)
    def rollback(self, address: Address) -> None:
        now = self.model[address]
        targets = {address: Position(now.generation + 1, Phase.CLASSICAL)} if now.phase is Phase.HYBRID else {}
        self._perform(lambda: self.engine.rollback(address), targets)

    @rule(to=st.sampled_from(AccountState), batch_size=st.integers(1, 4))
    def batch(self, to: AccountState, batch_size: int) -> None:
        targets = {
            a: Position(p.generation, target_phase(to)) if p.phase.account_state < to else p
            for a, p in self.model.items()
        }
        self._perform(lambda: self.engine.batch(to, batch_size=batch_size), targets)

    @rule(label=st.sampled_from(CRASH_POINTS), nth=st.integers(1, 2))
    def arm_crash(self, label: str, nth: int) -> None:
        self.crash = (label, nth)

    @rule()
    def reopen(self) -> None:
        pending = {a: upper_bound(p) for a, p in self.model.items()}
        self._perform(self._reopen, {a: p for a, p in pending.items()})

    @rule(address=accounts)
    def restore_old_backup_of_classical_key(self, address: Address) -> None:
        """An operator restores a backup taken before erasure: it must be refused and wiped again."""
        if self.model[address].phase < Phase.CLASSICAL_ERASED:
            return
        index = next(i for i in range(MAX_ACCOUNTS) if known_key(SEED, i).address == address)
        self.engine.close()
        mark_crashed(self.trace)  # the store is down while the operator works (the model's Restore)
        install(None)  # the operator's copy is not a step of the engine
        PlainFileKeyStore(self.store / "keys").put_classical([known_key(SEED, index)])
        install(self.plan)
        with self.trace.open("a") as out:
            out.write(f"@restore {address.hex()}\n")
        self.spy = SpyKeyStore(self.store / "keys")
        self.engine = open_engine(self.store, keystore=self.spy)
        assert self.engine.last_recovery is not None
        assert address in self.engine.last_recovery.restored_classical_keys_erased
        assert address not in self.spy.classical_loads

    @rule(address=accounts)
    def load_classical_key(self, address: Address) -> None:
        if self.model[address].phase.classical_retired:
            try:
                self.engine.load_classical_key(address)
            except ClassicalKeyRetired:
                return
            raise AssertionError("a retired classical key was handed out")
        key = self.engine.load_classical_key(address)
        assert key.address == address

    @invariant()
    def store_is_consistent(self) -> None:
        assert check_invariants(self.store, SECRETS, at_most={a: upper_bound(p) for a, p in self.model.items()}) == []

    def teardown(self) -> None:
        self.engine.close()
        install(None)
        self.plan.close()
        try:
            if not isinstance(_MODEL[0], str):
                lines = self.trace.read_text().splitlines()
                checked = check_trace(_MODEL[0], lines, {}, store_facts(self.store))
                assert checked.problems == [], "\n".join(checked.problems)
                event(f"model steps checked: {checked.steps // 50 * 50}+")
        finally:
            shutil.rmtree(self.tmp, ignore_errors=True)


MigrationMachine.TestCase.settings = settings(
    max_examples=100, stateful_step_count=40, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
TestMigrationMachine = MigrationMachine.TestCase
