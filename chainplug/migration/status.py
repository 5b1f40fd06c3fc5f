"""Read-only status of a store: no lock, no writes, no key loaded.

Safe to run while an engine works on the store; a commit in flight shows as a torn tail.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TypedDict

from ..errors import ConfigError
from ..types import AccountState, Address
from .keystore_port import KeyInventory, PlainFileKeyStore, PrivateKeyStore
from .ledger import Account, Ledger
from .state import Phase
from .store import StoreLayout
from .wal import read_log


class AccountJSON(TypedDict):
    """JSON shape of one account's status."""

    address: str
    state: str
    phase: str
    generation: int
    key_id: str | None
    erasure_pending: bool
    notes: list[str]


class StatusJSON(TypedDict):
    """JSON shape of a store's status."""

    store: str
    accounts: list[AccountJSON]
    counts: dict[str, int]
    torn_tail_bytes: int
    leftover_temp_files: int
    needs_recovery: bool


@dataclass(frozen=True, slots=True)
class StoreStatus:
    """A snapshot of a store."""

    root: Path
    accounts: tuple[Account, ...]
    """Every account, by address."""
    notes: dict[Address, tuple[str, ...]]
    """Per account: mismatches between the log and the key files (what recovery repairs or reports)."""
    torn_tail_bytes: int
    inventory: KeyInventory
    leftovers: int
    """Temp files of interrupted writes (key directory included)."""

    @property
    def erasure_pending(self) -> frozenset[Address]:
        """Accounts whose erasure a crash interrupted; the next engine open (recovery) finishes it."""
        return frozenset(a.address for a in self.accounts if a.phase is Phase.FINALIZING)

    @property
    def needs_repair(self) -> bool:
        """True if the files disagree with the log: a torn tail, leftovers, or any note."""
        return bool(self.torn_tail_bytes or self.leftovers or self.notes)

    @property
    def needs_recovery(self) -> bool:
        """True if opening an engine (or ``migrate recover``) would change something."""
        return self.needs_repair or bool(self.erasure_pending)

    def to_json(self) -> StatusJSON:
        """The snapshot as JSON-safe data."""
        counts = {state.name: 0 for state in AccountState}
        for account in self.accounts:
            counts[account.state.name] += 1
        return StatusJSON(
            store=str(self.root),
            accounts=[account_json(a, self.notes.get(a.address, ())) for a in self.accounts],
            counts=counts,
            torn_tail_bytes=self.torn_tail_bytes,
            leftover_temp_files=self.leftovers,
            needs_recovery=self.needs_recovery,
        )


def account_json(account: Account, notes: tuple[str, ...] = ()) -> AccountJSON:
    """One account as JSON-safe data."""
    return AccountJSON(
        address=f"0x{account.address.hex()}",
        state=account.state.name,
        phase=account.phase.name,
        generation=account.generation,
        key_id=f"0x{account.key_id.hex()}" if account.key_id is not None else None,
        erasure_pending=account.phase is Phase.FINALIZING,
        notes=list(notes),
    )


def read_status(root: Path, keystore: PrivateKeyStore | None = None) -> StoreStatus:
    """Status of the store at ``root`` (raises WalCorrupt for a corrupt log, ConfigError if no store)."""
    layout = StoreLayout(root)
    if not root.is_dir():
        raise ConfigError(f"{root}: no such store directory")
    layout.require_exists()
    log = read_log(layout.wal)
    ledger = Ledger.replay(log, str(layout.wal))
    inventory = (keystore or PlainFileKeyStore(layout.keys)).inventory()
    notes = {address: _notes(account, inventory) for address, account in ledger.accounts.items()}
    for address in inventory.classical - ledger.accounts.keys():
        notes[address] = ("classical key without a CREATE record: recovery completes the create",)
    accounts = tuple(ledger.accounts[a] for a in sorted(ledger.accounts))
    leftovers = inventory.leftovers + len(layout.leftovers())
    return StoreStatus(root, accounts, {a: n for a, n in notes.items() if n}, log.torn_bytes, inventory, leftovers)


def _notes(account: Account, inventory: KeyInventory) -> tuple[str, ...]:
    notes: list[str] = []
    has_classical = account.address in inventory.classical
    if account.phase >= Phase.CLASSICAL_ERASED and has_classical:
        notes.append("classical private key back on disk after erasure (restored backup?): refused; recovery wipes it")
    if account.phase.needs_classical_key and not has_classical:
        notes.append("classical key file missing")
    if account.phase.needs_pqc_key and (account.address, account.generation) not in inventory.pqc:
        notes.append("ML-DSA-87 key file missing")
    if any(a == account.address and g != account.generation for a, g in inventory.pqc):
        notes.append("ML-DSA-87 key file of another generation: recovery wipes an older one")
    if account.phase is Phase.CLASSICAL and (account.address, account.generation) in inventory.pqc:
        notes.append("ML-DSA-87 key written but BEGIN_HYBRID not committed: recovery completes HYBRID")
    return tuple(notes)
