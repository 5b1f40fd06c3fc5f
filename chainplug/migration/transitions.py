"""The I/O of each transition, for many accounts at once (one account is a batch of one).

Every function makes its side effects durable *before* committing the record that states them, so
after a crash the log never claims more than the disk holds (docs/migration.md §4):

* create:            classical keys written  → CREATE committed
* begin_hybrid:      PQC keys written        → chain hook → BEGIN_HYBRID committed
* finalize:          chain hook              → FINALIZE committed (the erasure intent)
* erase_classical:   public key backed up → every classical copy overwritten, synced, unlinked,
                     directory fsynced → in-memory handles zeroed → CLASSICAL_ERASED committed
* complete:          PQC_ONLY committed
* roll_back:         chain hook → ROLLBACK committed → PQC key wiped (a leftover is wiped by recovery)
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from .. import _fs
from ..crypto import Secp256k1PrivateKey
from ..errors import IllegalTransition, MigrationError
from ..types import Address
from .crashpoints import crashpoint
from .ledger import Account, Draft
from .records import GateEvidence, create_body, key_id_body
from .session import Session
from .state import Event, Phase, rollback_event


def create(session: Session, keys: Sequence[Secp256k1PrivateKey]) -> list[Address]:
    """New CLASSICAL accounts for ``keys`` (group commit)."""
    addresses = [key.address for key in keys]
    if len(set(addresses)) != len(addresses):
        raise IllegalTransition("the same key appears twice")
    for address in addresses:
        if address in session.ledger.accounts:
            raise IllegalTransition(f"account 0x{address.hex()} already exists")
    session.keystore.put_classical(keys)
    session.commit(Draft(Event.CREATE, key.address, create_body(key.public_key_bytes)) for key in keys)
    return addresses


def begin_hybrid(session: Session, accounts: Sequence[Account]) -> list[tuple[Address, MigrationError]]:
    """CLASSICAL → HYBRID. Accounts whose classical key does not load are skipped and returned."""
    ready: list[Account] = []
    failed: list[tuple[Address, MigrationError]] = []
    for account in accounts:
        _require(account, Phase.CLASSICAL, "BEGIN_HYBRID")
        try:
            # The key must be present and be this account's before it gets a PQC partner: the
            # registry hook (chainplug.registry.hook) composite-signs the registration with it.
            session.load_classical(account.address, track=False).destroy()
        except MigrationError as exc:
            failed.append((account.address, exc))
            continue
        ready.append(account)
    keys = [session.backend.mldsa87_generate() for _ in ready]
    try:
        session.keystore.put_pqc([(a.address, a.generation, key) for a, key in zip(ready, keys, strict=True)])
        session.chain.on_hybrid_many(
            [
                (account.address, key.public_key_bytes, account.generation)
                for account, key in zip(ready, keys, strict=True)
            ]
        )
        session.commit(
            Draft(Event.BEGIN_HYBRID, a.address, key_id_body(key.key_id)) for a, key in zip(ready, keys, strict=True)
        )
    finally:
        for key in keys:
            key.destroy()
    return failed


def finalize(session: Session, accounts: Sequence[Account], evidence: GateEvidence) -> None:
    """HYBRID → FINALIZING, after the fleet gate produced ``evidence``. The record is the erasure intent."""
    for account in accounts:
        _require(account, Phase.HYBRID, "FINALIZE")
    session.chain.on_finalizing_many([(account.address, account.generation) for account in accounts])
    session.commit(Draft(Event.FINALIZE, a.address, evidence.to_bytes()) for a in accounts)


def erase_classical(session: Session, accounts: Sequence[Account]) -> int:
    """FINALIZING → CLASSICAL_ERASED: Erasure-Before-WAL. Idempotent; returns on-disk copies wiped."""
    for account in accounts:
        _require(account, Phase.FINALIZING, "CLASSICAL_ERASED")
    if not accounts:
        return 0
    layout = session.layout
    backups = [
        (layout.public_key_backup(a.address), a.classical_public_key)
        for a in accounts
        if not _holds(layout.public_key_backup(a.address), a.classical_public_key)
    ]
    _fs.atomic_write_many(backups, label="public.backup", mode=0o644)
    addresses = [a.address for a in accounts]
    wiped = session.keystore.erase_classical(addresses)
    crashpoint("erase.zero_memory", ",".join(a.hex() for a in addresses))
    session.destroy_classical_handles(addresses)
    session.commit(Draft(Event.CLASSICAL_ERASED, address, b"") for address in addresses)
    return wiped


def complete(session: Session, accounts: Sequence[Account]) -> None:
    """CLASSICAL_ERASED → PQC_ONLY."""
    for account in accounts:
        _require(account, Phase.CLASSICAL_ERASED, "COMPLETE")
    session.commit(Draft(Event.COMPLETE, a.address, b"") for a in accounts)


def roll_back(session: Session, account: Account) -> None:
    """HYBRID → CLASSICAL, generation + 1; the PQC key of the old generation is destroyed."""
    rollback_event(account.phase)
    assert account.key_id is not None  # every HYBRID account has one (ledger.fold)
    session.chain.on_rollback(account.address, account.generation + 1)
    session.commit([Draft(Event.ROLLBACK, account.address, key_id_body(account.key_id))])
    session.destroy_pqc_handles([account.address])
    session.keystore.erase_pqc([(account.address, account.generation)])


def _require(account: Account, phase: Phase, event: str) -> None:
    if account.phase is not phase:
        raise IllegalTransition(f"{event} needs 0x{account.address.hex()} in {phase.name}, not {account.phase.name}")


def _holds(path: Path, content: bytes) -> bool:
    try:
        return path.read_bytes() == content
    except FileNotFoundError:
        return False
