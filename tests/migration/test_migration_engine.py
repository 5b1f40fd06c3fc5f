"""The engine end to end (in-process): transitions, lock, fleet gate, rollback, erasure, batch, hooks."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

import pytest

from chainplug.crypto import MLDSA87SigningKey, Secp256k1PrivateKey
from chainplug.errors import (
    ClassicalKeyRetired,
    ConfigError,
    GateRejected,
    IllegalTransition,
    InvalidKey,
    KeyMaterialError,
    StoreLocked,
    UnknownAccount,
)
from chainplug.migration import (
    ChainHook,
    FleetGate,
    KeyInventory,
    MigrationEngine,
    PlainFileKeyStore,
    PrivateKeyStore,
    StaticReadiness,
    read_status,
)
from chainplug.migration.records import GateEvidence
from chainplug.migration.state import Event, Phase
from chainplug.migration.wal import read_log
from chainplug.types import AccountState, Address
from tests.migration._migration_support import ALL_READY, known_key, open_engine, simulate_crash


def test_one_account_all_the_way(store: Path) -> None:
    with open_engine(store, create=True) as engine:
        address = engine.create_account(known_key(1, 0))
        assert engine.account(address).state is AccountState.CLASSICAL
        assert engine.advance(address).state is AccountState.HYBRID
        assert engine.advance(address).state is AccountState.FINALIZING
        assert engine.advance(address).state is AccountState.PQC_ONLY
        with pytest.raises(IllegalTransition, match="no next state"):
            engine.advance(address)
        key = engine.load_pqc_key(address)
        assert key.key_id == engine.account(address).key_id
    events = [r.event for r in read_log(store / "migration.wal").records]
    assert events == [Event.CREATE, Event.BEGIN_HYBRID, Event.FINALIZE, Event.CLASSICAL_ERASED, Event.COMPLETE]
    assert (store / "public" / f"0x{address.hex()}.classical.pub").read_bytes() == known_key(1, 0).public_key_bytes
    assert sorted(os.listdir(store / "keys")) == [f"0x{address.hex()}.pqc-g0.key"]
    with pytest.raises(InvalidKey):  # closing the engine destroyed the handle it gave out
        key.sign(b"m", b"")


def test_store_lock_allows_one_engine(store: Path) -> None:
    with open_engine(store, create=True), pytest.raises(StoreLocked, match=f"pid {os.getpid()}"):
        open_engine(store)
    open_engine(store).close()  # released on close


def test_a_killed_holder_never_leaves_a_stale_lock(store: Path) -> None:
    open_engine(store, create=True).close()
    code = (
        "import sys, time; from chainplug.migration import MigrationEngine as E; e = E.open(sys.argv[1]); "
        "print('locked', flush=True); time.sleep(60)"
    )
    holder = subprocess.Popen([sys.executable, "-c", code, str(store)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        with pytest.raises(StoreLocked, match=f"pid {holder.pid}"):
            open_engine(store)
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    open_engine(store).close()


def test_gate_rejection_names_the_validators_and_changes_nothing(store: Path) -> None:
    fleet = StaticReadiness({"v1": True, "v2": False, "v3": True, "v4": False})
    with open_engine(store, create=True, readiness=fleet) as engine:
        address = engine.create_account()
        with pytest.raises(GateRejected, match=r"2/4 validators upgraded.*not ready: v2, v4") as caught:
            engine.advance(address, AccountState.PQC_ONLY)
        assert caught.value.not_ready == ("v2", "v4")
        assert engine.account(address).state is AccountState.CLASSICAL  # refused before any step
        engine.advance(address, AccountState.HYBRID)
    with open_engine(store, readiness=None) as engine, pytest.raises(GateRejected, match="no readiness source"):
        engine.advance(address)


def test_gate_thresholds() -> None:
    fleet = StaticReadiness({"a": True, "b": True, "c": False})
    assert FleetGate(Fraction(2, 3)).evaluate(fleet) == GateEvidence(2, 3, Fraction(2, 3), False)
    with pytest.raises(GateRejected):
        FleetGate().evaluate(fleet)
    with pytest.raises(ConfigError, match="below the 2/3 quorum"):
        FleetGate(Fraction(1, 2))
    assert FleetGate(Fraction(1, 2), force=True).evaluate(fleet).forced is False  # passes on its own
    with pytest.raises(GateRejected, match="reports no validators"):
        FleetGate().evaluate(StaticReadiness({}))


def test_forcing_the_gate_is_loud_and_recorded(store: Path, caplog: pytest.LogCaptureFixture) -> None:
    fleet = StaticReadiness({"old-1": False, "new-1": True})
    with open_engine(store, create=True, readiness=fleet, gate=FleetGate(force=True)) as engine:
        address = engine.create_account()
        with caplog.at_level(logging.WARNING, logger="chainplug.migration"):
            engine.advance(address, AccountState.FINALIZING)
    assert "FLEET GATE FORCED" in caplog.text and "old-1" in caplog.text
    finalize = next(r for r in read_log(store / "migration.wal").records if r.event is Event.FINALIZE)
    assert GateEvidence.from_bytes(finalize.body) == GateEvidence(1, 2, Fraction(1), True)


def test_readiness_file(tmp_path: Path) -> None:
    path = tmp_path / "fleet.json"
    path.write_text('{"validators": {"b": false, "a": true}}')
    assert [(v.name, v.upgraded) for v in StaticReadiness.from_file(path).validators()] == [("a", True), ("b", False)]
    path.write_text('{"validators": ["a"]}')
    with pytest.raises(ConfigError):
        StaticReadiness.from_file(path)


def test_rollback_destroys_the_pqc_key_and_raises_the_generation(store: Path) -> None:
    with open_engine(store, create=True) as engine:
        address = engine.create_account()
        engine.advance(address)
        handle = engine.load_pqc_key(address)
        account = engine.rollback(address)
        assert (account.state, account.generation, account.key_id) == (AccountState.CLASSICAL, 1, None)
        with pytest.raises(InvalidKey):
            handle.sign(b"m", b"")
        assert not any(".pqc-" in name for name in os.listdir(store / "keys"))
        again = engine.advance(address)
        assert again.generation == 1 and (store / "keys" / f"0x{address.hex()}.pqc-g1.key").exists()
        for phase_state in (AccountState.FINALIZING, AccountState.PQC_ONLY):
            engine.advance(address, phase_state)
            with pytest.raises(IllegalTransition, match="only possible from HYBRID"):
                engine.rollback(address)


def test_finalizing_erases_and_destroys_every_handle(store: Path) -> None:
    with open_engine(store, create=True) as engine:
        address = engine.create_account(known_key(1, 1))
        handle = engine.load_classical_key(address)
        engine.advance(address, AccountState.HYBRID)
        handle.sign_digest(b"\x01" * 32)  # handed out while CLASSICAL: live until erasure
        account = engine.advance(address, AccountState.FINALIZING)
        assert (account.state, account.phase) == (AccountState.FINALIZING, Phase.CLASSICAL_ERASED)
        assert handle.destroyed  # erasure zeroed and dropped every handle the engine gave out
        with pytest.raises(InvalidKey):
            handle.sign_digest(b"\x01" * 32)
        assert not (store / "keys" / f"0x{address.hex()}.classical.key").exists()
        assert engine.advance(address).state is AccountState.PQC_ONLY  # the explicit last step


def test_classical_key_is_never_loaded_after_finalizing(store: Path) -> None:
    with open_engine(store, create=True) as engine:
        address = engine.create_account(known_key(1, 1))
        engine.advance(address, AccountState.HYBRID)

    def finalize() -> None:
        with open_engine(store) as engine:
            engine.advance(address, AccountState.FINALIZING)

    simulate_crash("public.backup.tmp_write", 1, finalize)  # FINALIZING is durable, erasure not begun
    assert (store / "keys" / f"0x{address.hex()}.classical.key").exists()
    spy = SpyKeyStore(store / "keys")
    with open_engine(store, keystore=spy, recover=False) as engine:
        assert engine.account(address).phase is Phase.FINALIZING
        with pytest.raises(ClassicalKeyRetired):  # the file is there; the engine will not read it
            engine.load_classical_key(address)
        assert engine.recover().erasures_completed == [address]
        assert engine.account(address).phase is Phase.CLASSICAL_ERASED
    assert spy.classical_loads == []
    assert not (store / "keys" / f"0x{address.hex()}.classical.key").exists()


def test_a_restored_classical_key_is_refused_wiped_and_reported(store: Path) -> None:
    with open_engine(store, create=True) as engine:
        address = engine.create_account(known_key(1, 2))
        engine.advance(address, AccountState.PQC_ONLY)
    PlainFileKeyStore(store / "keys").put_classical([known_key(1, 2)])  # an old backup, restored
    assert "restored backup" in " ".join(read_status(store).notes[address])
    spy = SpyKeyStore(store / "keys")
    with open_engine(store, keystore=spy) as engine:
        assert engine.last_recovery is not None
        assert engine.last_recovery.restored_classical_keys_erased == [address]
        assert not engine.last_recovery.clean
        with pytest.raises(ClassicalKeyRetired):
            engine.load_classical_key(address)
    assert spy.classical_loads == []
    assert not (store / "keys" / f"0x{address.hex()}.classical.key").exists()


def test_batch_group_commit_and_sync_budget(store: Path) -> None:
    with open_engine(store, create=True) as engine:
        engine.create_accounts([Secp256k1PrivateKey.generate() for _ in range(300)])
        progress: list[tuple[int, int]] = []
        report = engine.batch(AccountState.PQC_ONLY, batch_size=100, progress=lambda d, t: progress.append((d, t)))
        assert (report.to_do, report.reached_target, report.chunks) == (300, 300, 3)
        assert report.syncs.total <= 10 * report.chunks  # a handful per chunk, not per key
        assert progress == [(0, 300), (100, 300), (200, 300), (300, 300)]
        assert all(a.state is AccountState.PQC_ONLY for a in engine.accounts.values())
        again = engine.batch(AccountState.PQC_ONLY)
        assert (again.to_do, again.already_there) == (0, 300)


def test_batch_resumes_after_a_crash(store: Path) -> None:
    with open_engine(store, create=True) as engine:
        engine.create_accounts([Secp256k1PrivateKey.generate() for _ in range(40)])

    def batch() -> None:
        with open_engine(store) as engine:
            engine.batch(AccountState.PQC_ONLY, batch_size=16)

    simulate_crash("keys.pqc.put.rename", 20, batch)  # inside the second chunk
    states = [a.state for a in read_status(store).accounts]
    assert states.count(AccountState.PQC_ONLY) == 16 and AccountState.CLASSICAL in states
    with open_engine(store) as engine:  # recovery completes what is durable ...
        report = engine.batch(AccountState.PQC_ONLY, batch_size=16)  # ... and the rerun does the rest
        assert report.already_there >= 16 and report.reached_target == report.to_do
        assert all(a.state is AccountState.PQC_ONLY for a in engine.accounts.values())


def test_batch_skips_an_account_whose_classical_key_is_broken(store: Path) -> None:
    with open_engine(store, create=True) as engine:
        good, bad = engine.create_accounts([known_key(1, 3), known_key(1, 4)])
        path = store / "keys" / f"0x{bad.hex()}.classical.key"
        path.write_bytes(path.read_bytes()[:-1] + b"\x00")
        report = engine.batch(AccountState.HYBRID)
        assert list(report.failed) == [bad] and isinstance(report.failed[bad], KeyMaterialError)
        assert engine.account(good).state is AccountState.HYBRID
        assert engine.account(bad).state is AccountState.CLASSICAL
        with pytest.raises(KeyMaterialError, match="not an intact plain key file"):
            engine.advance(bad)


class RecordingHook(ChainHook):
    def __init__(self) -> None:
        self.calls: list[tuple[str, Address, int]] = []

    def on_hybrid(self, address: Address, pqc_public_key: bytes, generation: int) -> None:
        assert len(pqc_public_key) == 2592
        self.calls.append(("hybrid", address, generation))

    def on_finalizing(self, address: Address, generation: int) -> None:
        self.calls.append(("finalizing", address, generation))

    def on_rollback(self, address: Address, generation: int) -> None:
        self.calls.append(("rollback", address, generation))


def test_chain_hook_is_called_before_each_on_chain_step(store: Path) -> None:
    hook = RecordingHook()
    with open_engine(store, create=True, chain=hook) as engine:
        a = engine.create_account()
        engine.advance(a)
        engine.rollback(a)
        engine.advance(a, AccountState.PQC_ONLY)
    assert hook.calls == [("hybrid", a, 0), ("rollback", a, 1), ("hybrid", a, 1), ("finalizing", a, 1)]

    def crash_before_the_record() -> None:
        with open_engine(store, chain=hook, recover=False) as engine:
            engine.advance(engine.create_account(), AccountState.HYBRID)

    hook.calls.clear()
    simulate_crash("wal.append.write", 2, crash_before_the_record)
    with open_engine(store, chain=hook) as engine:  # recovery completes HYBRID: the hook runs again
        assert engine.last_recovery is not None and len(engine.last_recovery.hybrids_completed) == 1
    assert [c[0] for c in hook.calls] == ["hybrid", "hybrid"]


class MemoryKeyStore(PrivateKeyStore):
    """A whole different keystore: the engine must not care (the encrypted keystore will slot in so)."""

    def __init__(self) -> None:
        self.classical: dict[Address, bytes] = {}
        self.pqc: dict[tuple[Address, int], bytes] = {}

    def put_classical(self, keys: Sequence[Secp256k1PrivateKey]) -> None:
        self.classical.update({k.address: k.secret_bytes() for k in keys})

    def load_classical(self, address: Address) -> Secp256k1PrivateKey:
        if address not in self.classical:
            raise KeyMaterialError("missing")
        return Secp256k1PrivateKey(self.classical[address])

    def erase_classical(self, addresses: Sequence[Address]) -> int:
        return sum(self.classical.pop(a, None) is not None for a in addresses)

    def put_pqc(self, items: Sequence[tuple[Address, int, MLDSA87SigningKey]]) -> None:
        self.pqc.update({(a, g): k.seed_bytes() for a, g, k in items})

    def load_pqc(self, address: Address, generation: int) -> MLDSA87SigningKey:
        from chainplug.crypto import get_backend

        return get_backend().mldsa87_from_seed(self.pqc[(address, generation)])

    def erase_pqc(self, items: Sequence[tuple[Address, int]]) -> int:
        return sum(self.pqc.pop(item, None) is not None for item in items)

    def inventory(self) -> KeyInventory:
        return KeyInventory(frozenset(self.classical), frozenset(self.pqc), 0, ())

    def wipe_leftovers(self) -> int:
        return 0


def test_any_private_key_store_slots_in(store: Path) -> None:
    keys = MemoryKeyStore()
    with open_engine(store, create=True, keystore=keys) as engine:
        address = engine.create_account()
        engine.advance(address)
        engine.rollback(address)
        engine.advance(address, AccountState.PQC_ONLY)
        assert keys.classical == {} and list(keys.pqc) == [(address, 1)]
    assert os.listdir(store / "keys") == []


def test_usage_errors(store: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such store"):
        MigrationEngine.open(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="not a chainplug store"):
        MigrationEngine.open(tmp_path / "empty")
    with open_engine(store, create=True) as engine:
        with pytest.raises(UnknownAccount):
            engine.advance(Address(b"\x00" * 20))
        address = engine.create_account(known_key(1, 5))
        with pytest.raises(IllegalTransition, match="already exists"):
            engine.create_account(known_key(1, 5))
        engine.advance(address, AccountState.HYBRID)
        with pytest.raises(IllegalTransition, match="back to CLASSICAL"):
            engine.advance(address, AccountState.CLASSICAL)
        assert engine.advance(address, AccountState.HYBRID).phase is Phase.HYBRID  # already there: no-op


class SpyKeyStore(PlainFileKeyStore):
    def __init__(self, directory: Path) -> None:
        super().__init__(directory)
        self.classical_loads: list[Address] = []

    def load_classical(self, address: Address) -> Secp256k1PrivateKey:
        self.classical_loads.append(address)
        return super().load_classical(address)


def test_all_ready_fixture_is_a_full_fleet() -> None:
    assert FleetGate().evaluate(ALL_READY).ready == 3


def test_check_keys_reports_a_wrong_key_file_and_keeps_no_key_in_memory(store: Path) -> None:
    """A signer's health check loads every key: each must be compared and destroyed at once, not kept
    alive for the engine's lifetime (10,000 custody keys would otherwise all stay in memory)."""
    with open_engine(store, create=True) as engine:
        first, second = engine.create_accounts([known_key(5, 0), known_key(5, 1)])
        engine.advance(first, AccountState.HYBRID)
        assert engine.check_keys() == []
        session = engine._session  # white box: the handles the engine would destroy at close
        assert not session._classical_handles and not session._pqc_handles
    keys = PlainFileKeyStore(store / "keys")
    keys.classical_path(second).write_bytes(keys.classical_path(first).read_bytes())
    with open_engine(store) as engine:
        (problem,) = engine.check_keys()
        assert problem.startswith(f"0x{second.hex()}: ") and "this account" in problem
