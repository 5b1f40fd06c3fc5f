"""Fold log records into per-account state; stage new records against it (pure, no I/O).

Replay refuses any record the state machine does not allow — an account moving back, a record from
a future or past generation, an event for an account never created — naming the file and record
(docs/migration.md §3: that is how a log spliced from a backup is caught).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

from ..errors import MigrationError, Reason, WalCorrupt
from ..types import AccountState, Address, KeyId
from .records import Record
from .state import Event, Phase, Position, apply
from .wal import LogScan


@dataclass(frozen=True, slots=True)
class Account:
    """One account as the log says it is."""

    address: Address
    """20-byte Ethereum address."""
    position: Position
    """(generation, phase)."""
    classical_public_key: bytes
    """64-byte secp256k1 public key x || y, from the CREATE record (public; survives erasure)."""
    key_id: KeyId | None
    """ML-DSA-87 key id of the current generation's PQC key; None before HYBRID and after rollback."""

    @property
    def phase(self) -> Phase:
        """The engine phase."""
        return self.position.phase

    @property
    def generation(self) -> int:
        """Rollback counter; only rises."""
        return self.position.generation

    @property
    def state(self) -> AccountState:
        """The public four-state view."""
        return self.position.phase.account_state

    def __repr__(self) -> str:
        key = f"0x{self.key_id.hex()}" if self.key_id is not None else None
        return f"Account(0x{self.address.hex()}, {self.phase.name}, generation={self.generation}, key_id={key})"


def fold(account: Account | None, record: Record) -> Account:
    """The account after ``record`` (pure). Raises IllegalTransition or a WAL_GENERATION WalCorrupt."""
    position = apply(account.position if account is not None else None, record.event)
    if record.generation != position.generation:
        when = "future" if record.generation > position.generation else "past"
        raise WalCorrupt(
            f"record is from a {when} generation ({record.generation}; the account is at {position.generation})",
            reason=Reason.WAL_GENERATION,
        )
    if record.event is Event.CREATE:
        return Account(record.address, position, record.body, None)
    assert account is not None  # apply() allows only CREATE for a missing account
    if record.event is Event.BEGIN_HYBRID:
        return replace(account, position=position, key_id=KeyId(record.body))
    if record.event is Event.ROLLBACK:
        return replace(account, position=position, key_id=None)
    return replace(account, position=position)


@dataclass(frozen=True, slots=True)
class Draft:
    """A record to be committed; the ledger assigns its sequence number and generation."""

    event: Event
    address: Address
    body: bytes


@dataclass(frozen=True, slots=True)
class Staged:
    """Records ready to commit and the accounts they produce (applied only after the commit)."""

    records: tuple[Record, ...]
    accounts: Mapping[Address, Account]


class Ledger:
    """Every account of a store, folded from its log."""

    def __init__(self) -> None:
        self.accounts: dict[Address, Account] = {}
        self.last_seq = 0

    @classmethod
    def replay(cls, log: LogScan, path: str) -> Ledger:
        """Fold every record of ``log``; a refused record raises WalCorrupt naming it."""
        ledger = cls()
        for index, (record, offset) in enumerate(zip(log.records, log.offsets, strict=True)):
            try:
                ledger.accounts[record.address] = fold(ledger.accounts.get(record.address), record)
            except MigrationError as exc:
                raise WalCorrupt(
                    f"{path}: record #{index} (seq {record.seq}, {record.event.name} for "
                    f"0x{record.address.hex()}) at byte offset {offset} is refused: {exc}",
                    path=path,
                    record_index=index,
                    seq=record.seq,
                    offset=offset,
                    reason=exc.reason,
                ) from None
            ledger.last_seq = record.seq
        return ledger

    def stage(self, drafts: Iterable[Draft]) -> Staged:
        """Number and check ``drafts`` against the current state, without changing it."""
        overlay: dict[Address, Account] = {}
        records: list[Record] = []
        seq = self.last_seq
        for draft in drafts:
            before = overlay.get(draft.address) or self.accounts.get(draft.address)
            position = apply(before.position if before is not None else None, draft.event)
            seq += 1
            record = Record(draft.event, seq, position.generation, draft.address, draft.body)
            overlay[draft.address] = fold(before, record)
            records.append(record)
        return Staged(tuple(records), overlay)

    def accept(self, staged: Staged) -> None:
        """Apply committed records (call only after the commit's fsync returned)."""
        if staged.records:
            self.accounts.update(staged.accounts)
            self.last_seq = staged.records[-1].seq

    def in_phase(self, *phases: Phase) -> Sequence[Account]:
        """Accounts currently in any of ``phases``, sorted by address (deterministic order)."""
        return [self.accounts[a] for a in sorted(self.accounts) if self.accounts[a].phase in phases]
