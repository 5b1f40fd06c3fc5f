"""The migration engine: the public face of the layer (docs/migration.md).

Open a store, and every account in it can be created, advanced one state at a time (or several,
each step durable), rolled back from HYBRID, batch-migrated, and recovered::

    with MigrationEngine.open(Path("store"), create=True, readiness=StaticReadiness({...})) as engine:
        address = engine.create_account()
        engine.advance(address, AccountState.PQC_ONLY)

Opening takes the store's lock (one engine per store), replays the log and runs recovery, so an
engine never works on a store a crash left half-done.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from types import MappingProxyType, TracebackType

from .. import _fs
from ..crypto import MLDSA87SigningKey, PQCBackend, Secp256k1PrivateKey
from ..errors import ChainplugError, IllegalTransition
from ..types import AccountState, Address
from . import transitions
from .batch import DEFAULT_BATCH_SIZE, BatchReport, Progress, run_batch
from .chain import ChainHook
from .gate import FleetGate, ReadinessSource
from .keystore_port import PrivateKeyStore
from .ledger import Account
from .records import GateEvidence
from .recovery import RecoveryReport, recover
from .session import Session
from .state import Event, forward_path, rollback_event


class MigrationEngine:
    """Drives the accounts of one store through CLASSICAL → HYBRID → FINALIZING → PQC_ONLY."""

    def __init__(self, session: Session, gate: FleetGate, readiness: ReadinessSource | None) -> None:
        self._session = session
        self.gate = gate
        """The HYBRID → FINALIZING check."""
        self.readiness = readiness
        """Where the gate learns the fleet's readiness (None: the gate refuses unless forced)."""
        self.last_recovery: RecoveryReport | None = None
        """The report of the recovery run when the engine opened (None if opened with recover=False)."""
        self.last_gate: GateEvidence | None = None
        """What the fleet gate saw at the last advance that crossed HYBRID → FINALIZING."""

    @classmethod
    def open(
        cls,
        store: Path | str,
        *,
        create: bool = False,
        keystore: PrivateKeyStore | None = None,
        chain: ChainHook | None = None,
        backend: PQCBackend | None = None,
        gate: FleetGate | None = None,
        readiness: ReadinessSource | None = None,
        recover: bool = True,
        rebuild_from_keys: bool = False,
    ) -> MigrationEngine:
        """Lock and open the store at ``store`` (creating it with ``create``), then recover it.

        ``keystore`` defaults to the unencrypted :class:`PlainFileKeyStore` in ``store/keys``;
        ``chain`` to :class:`NoChainHook` (no on-chain step). ``recover=False`` is for inspection
        only: transitions on an unrecovered store are still safe, but leftovers stay until recovery.
        Recovery refuses a log that key files prove is missing records (``WalCorrupt``) unless
        ``rebuild_from_keys`` (docs/migration.md §5).
        """
        session = Session.open(Path(store), create=create, keystore=keystore, chain=chain, backend=backend)
        engine = cls(session, gate if gate is not None else FleetGate(), readiness)
        if recover:
            try:
                engine.last_recovery = engine.recover(rebuild_from_keys=rebuild_from_keys)
            except BaseException:
                session.close()
                raise
            _fs.trace_event("recovered")  # the store is consistent and open (trace validation)
        return engine

    def close(self) -> None:
        """Destroy every key handle the engine handed out and release the store. Writes nothing."""
        self._session.close()

    def __enter__(self) -> MigrationEngine:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    @property
    def root(self) -> Path:
        """The store directory."""
        return self._session.layout.root

    @property
    def accounts(self) -> Mapping[Address, Account]:
        """Every account, read-only."""
        return MappingProxyType(self._session.ledger.accounts)

    def account(self, address: Address) -> Account:
        """One account, or :class:`~chainplug.errors.UnknownAccount`."""
        return self._session.account(address)

    def create_account(self, key: Secp256k1PrivateKey | None = None) -> Address:
        """A new CLASSICAL account: ``key`` (imported; stays the caller's) or a fresh secp256k1 key."""
        if key is not None:
            return self.create_accounts([key])[0]
        fresh = Secp256k1PrivateKey.generate()
        try:
            return self.create_accounts([fresh])[0]
        finally:
            fresh.destroy()

    def create_accounts(self, keys: Sequence[Secp256k1PrivateKey]) -> list[Address]:
        """Many CLASSICAL accounts with one group commit. The key objects stay the caller's."""
        return transitions.create(self._session, keys)

    def advance(self, address: Address, to: AccountState | None = None) -> Account:
        """Move one account forward to ``to`` (default: the next state), every step durable.

        The fleet gate is asked before anything changes when the path crosses HYBRID → FINALIZING.
        ``to=FINALIZING`` runs on through Erasure-Before-WAL and rests erased (phase
        CLASSICAL_ERASED), waiting for the explicit step to PQC_ONLY.
        """
        session = self._session
        account = session.account(address)
        path = forward_path(account.phase, to if to is not None else next_state(account))
        evidence = self.gate.evaluate(self.readiness) if Event.FINALIZE in path else None
        self.last_gate = evidence or self.last_gate
        for event in path:
            account = session.account(address)
            if event is Event.BEGIN_HYBRID:
                failed = transitions.begin_hybrid(session, [account])
                if failed:
                    raise failed[0][1]
            elif event is Event.FINALIZE:
                assert evidence is not None
                transitions.finalize(session, [account], evidence)
            elif event is Event.CLASSICAL_ERASED:
                transitions.erase_classical(session, [account])
            else:
                transitions.complete(session, [account])
        return session.account(address)

    def rollback(self, address: Address) -> Account:
        """HYBRID → CLASSICAL: the generation rises and the ML-DSA-87 key is destroyed."""
        account = self._session.account(address)
        rollback_event(account.phase)
        transitions.roll_back(self._session, account)
        return self._session.account(address)

    def batch(
        self,
        to: AccountState,
        *,
        batch_size: int = DEFAULT_BATCH_SIZE,
        addresses: Sequence[Address] | None = None,
        progress: Progress | None = None,
    ) -> BatchReport:
        """Move many accounts forward to ``to`` with group commit (chainplug.migration.batch)."""
        return run_batch(
            self._session,
            to,
            gate=self.gate,
            readiness=self.readiness,
            batch_size=batch_size,
            addresses=addresses,
            progress=progress,
        )

    def recover(self, *, rebuild_from_keys: bool = False) -> RecoveryReport:
        """Run recovery now (it also runs on every open)."""
        return recover(self._session, rebuild_from_keys=rebuild_from_keys)

    def load_classical_key(self, address: Address) -> Secp256k1PrivateKey:
        """The account's secp256k1 key, for signing while CLASSICAL or HYBRID.

        Refused (:class:`~chainplug.errors.ClassicalKeyRetired`) from FINALIZING on. The handle is
        destroyed (zeroed, unusable) when the account's classical key is erased or the engine closes.
        """
        self.account(address)
        return self._session.load_classical(address, track=True)

    def load_pqc_key(self, address: Address) -> MLDSA87SigningKey:
        """The account's ML-DSA-87 key (HYBRID on). Destroyed at rollback or when the engine closes."""
        return self._session.load_pqc(address)

    def check_keys(self) -> list[str]:
        """Load every key the accounts' states require, compare it with the log and destroy it at once
        (Web3Signer-style import integrity, for a signer's health). One problem per account whose key
        file is missing, unreadable or holds another key; the keys are not kept in memory."""
        problems = []
        for address, account in self.accounts.items():
            where = f"0x{address.hex()}"
            try:
                if account.phase.needs_classical_key:
                    key = self._session.load_classical(address, track=False)
                    if key.address != address:
                        problems.append(f"{where}: classical key file holds a different key")
                    key.destroy()
                if account.phase.needs_pqc_key:
                    pqc = self._session.load_pqc(address, track=False)
                    if account.key_id is None or pqc.key_id != account.key_id:
                        problems.append(f"{where}: ML-DSA-87 key file holds a different key")
                    pqc.destroy()
            except ChainplugError as exc:
                problems.append(f"{where}: {exc}")
        return problems


def next_state(account: Account) -> AccountState:
    """The state one forward step from ``account`` (IllegalTransition at PQC_ONLY)."""
    if account.state is AccountState.PQC_ONLY:
        raise IllegalTransition(f"0x{account.address.hex()} is PQC_ONLY: there is no next state")
    return AccountState(account.state + 1)
