"""Recovery: bring the key files in line with the log after a crash (docs/migration.md §5).

Runs every time an engine opens a store (and on ``chainplug migrate recover``). Deterministic: it
visits accounts and files in sorted order and writes records without timestamps, so two recoveries
of the same files produce the same bytes. Idempotent: a crash during recovery is recovered by
running it again. The rules, in order:

1. The torn log tail was already cut when the session opened.
2. Leftover temp files of interrupted writes are wiped (in keys/ they may hold a secret) or, for
   the log and public key backups, deleted. A temp file is never authoritative.
3. A classical key file with no CREATE record (crash inside create): CREATE is completed.
4. A classical key file for an account at CLASSICAL_ERASED or PQC_ONLY (a restored backup): never
   loaded, wiped again, and reported — the backup it came from still holds the key.
5. PQC key files: one of an older generation (crash inside rollback) is wiped; one of the current
   generation for a CLASSICAL account (crash inside begin_hybrid: the key is durable, the record
   is not) completes BEGIN_HYBRID; anything else unexpected is reported, never touched.
6. Accounts at FINALIZING (a crash mid-erasure): erasure is re-run, idempotently, to
   CLASSICAL_ERASED. FINALIZING is the erasure intent; classical material is never loaded again.
   Recovery never writes PQC_ONLY: that step is the operator's, like every other forward move.
7. What cannot be repaired (a key the state requires is missing) is reported as a problem.

Before any of it, recovery looks for files that prove an erasure the log does not hold (a log cut at
a record boundary — a truncation or an old copy — reads as a clean, shorter log; docs/migration.md
§5): a CLASSICAL account whose classical key is gone while its ML-DSA-87 key exists, or a classical
public-key backup (written only during erasure) for an account the log has not finalized. Rule 5 would
then write new history on top of the damaged log (a PQC_ONLY account came back as HYBRID), so recovery
refuses (:class:`~chainplug.errors.WalCorrupt`, nothing written) unless told to rebuild from the key
files: then it also writes what the files prove beyond HYBRID — FINALIZE (with gate evidence marked
forced, 0 of 0: the gate's original answer was lost with the log) and, through rule 6, CLASSICAL_ERASED.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from fractions import Fraction
from typing import TypedDict

from ..errors import MigrationError, WalCorrupt
from ..types import Address
from . import transitions
from .keystore_port import KeyInventory
from .ledger import Draft
from .records import GateEvidence, create_body, key_id_body
from .session import Session
from .state import Event, Phase

logger = logging.getLogger("chainplug.migration")


class RecoveryJSON(TypedDict):
    """JSON shape of a recovery report."""

    clean: bool
    torn_bytes_dropped: int
    leftovers_wiped: int
    creates_completed: list[str]
    hybrids_completed: list[str]
    stale_pqc_keys_wiped: int
    erasures_completed: list[str]
    restored_classical_keys_erased: list[str]
    lost_history: list[str]
    problems: list[str]


@dataclass(slots=True)
class RecoveryReport:
    """What recovery found and did."""

    torn_bytes_dropped: int = 0
    leftovers_wiped: int = 0
    creates_completed: list[Address] = field(default_factory=list)
    hybrids_completed: list[Address] = field(default_factory=list)
    stale_pqc_keys_wiped: int = 0
    erasures_completed: list[Address] = field(default_factory=list)
    restored_classical_keys_erased: list[Address] = field(default_factory=list)
    """Accounts past erasure whose classical key reappeared on disk: refused, wiped, reported."""
    lost_history: list[str] = field(default_factory=list)
    """Files proving history the log does not hold, rebuilt over because the caller asked to."""
    problems: list[str] = field(default_factory=list)
    """Inconsistencies recovery cannot repair."""

    @property
    def clean(self) -> bool:
        """Nothing to report that needs a person: no problems, no restored key, no lost history."""
        return not self.problems and not self.restored_classical_keys_erased and not self.lost_history

    def to_json(self) -> RecoveryJSON:
        """The report as JSON-safe data."""

        def hexes(addresses: list[Address]) -> list[str]:
            return [f"0x{a.hex()}" for a in addresses]

        return RecoveryJSON(
            clean=self.clean,
            torn_bytes_dropped=self.torn_bytes_dropped,
            leftovers_wiped=self.leftovers_wiped,
            creates_completed=hexes(self.creates_completed),
            hybrids_completed=hexes(self.hybrids_completed),
            stale_pqc_keys_wiped=self.stale_pqc_keys_wiped,
            erasures_completed=hexes(self.erasures_completed),
            restored_classical_keys_erased=hexes(self.restored_classical_keys_erased),
            lost_history=list(self.lost_history),
            problems=list(self.problems),
        )


def recover(session: Session, *, rebuild_from_keys: bool = False) -> RecoveryReport:
    """Apply the recovery rules (module docstring) to an open session.

    Raises :class:`WalCorrupt`, having written nothing, if the key files prove history the log lacks,
    unless ``rebuild_from_keys``: then the rules rebuild what the key files show and the report lists
    the evidence under ``lost_history``.
    """
    report = RecoveryReport(torn_bytes_dropped=session.torn_bytes)
    keystore, ledger = session.keystore, session.ledger
    evidence = lost_history(session, keystore.inventory())
    if evidence and not rebuild_from_keys:
        wal = session.layout.wal
        raise WalCorrupt(
            f"{wal} is missing records the key files prove were written (was it truncated, or restored from an "
            f"older copy?): {'; '.join(evidence)}. Nothing was changed. Restore {wal.name} from a copy at least as "
            "recent as the key files; if there is none, 'chainplug migrate recover --rebuild-from-keys' rebuilds "
            "what the key files show (up to the erasure they prove; the last step is then taken again).",
            path=str(wal),
        )
    report.lost_history = evidence
    report.leftovers_wiped = keystore.wipe_leftovers() + session.layout.remove_leftovers()
    inventory = keystore.inventory()

    creates: list[Draft] = []
    for address in sorted(inventory.classical - ledger.accounts.keys()):
        try:
            key = session.load_classical(address, track=False)
        except MigrationError as exc:
            report.problems.append(f"0x{address.hex()}: classical key file without an account is unusable: {exc}")
            continue
        creates.append(Draft(Event.CREATE, address, create_body(key.public_key_bytes)))
        key.destroy()
        report.creates_completed.append(address)
    session.commit(creates)

    restored = sorted(
        a for a in inventory.classical if a in ledger.accounts and ledger.accounts[a].phase >= Phase.CLASSICAL_ERASED
    )
    if restored:
        keystore.erase_classical(restored)
        report.restored_classical_keys_erased.extend(restored)
        for address in restored:
            logger.error(
                "0x%s is past erasure but its classical private key was back on disk (restored from a "
                "backup?). It was not loaded and has been wiped again; destroy the backup it came "
                "from.",
                address.hex(),
            )

    stale: list[tuple[Address, int]] = []
    unfinished: list[tuple[Address, int]] = []
    for address, generation in sorted(inventory.pqc):
        account = ledger.accounts.get(address)
        if account is None:
            report.problems.append(f"0x{address.hex()}: ML-DSA-87 key file for an unknown account (left alone)")
        elif generation < account.generation:
            stale.append((address, generation))
        elif generation > account.generation:
            report.problems.append(
                f"0x{address.hex()}: ML-DSA-87 key file from future generation {generation} "
                f"(account is at {account.generation}; left alone)"
            )
        elif account.phase is Phase.CLASSICAL:
            unfinished.append((address, generation))
    report.stale_pqc_keys_wiped = keystore.erase_pqc(stale) if stale else 0
    _complete_hybrids(session, unfinished, report)
    if report.lost_history:
        _rebuild_finalize(session)

    pending = ledger.in_phase(Phase.FINALIZING)
    transitions.erase_classical(session, pending)
    report.erasures_completed.extend(a.address for a in pending)

    _check_required_keys(session, report)
    return report


def lost_history(session: Session, inventory: KeyInventory) -> list[str]:
    """Files that prove an erasure the log does not record (never a crash: the classical key goes, and
    its public key is backed up, only after FINALIZE is durable)."""
    accounts = session.ledger.accounts
    found: list[str] = []
    for address, generation in sorted(inventory.pqc):
        account = accounts.get(address)
        if (
            account is not None
            and generation == account.generation
            and account.phase is Phase.CLASSICAL
            and address not in inventory.classical
        ):
            found.append(
                f"0x{address.hex()} is CLASSICAL in the log, but its classical key is gone and its ML-DSA-87 key exists"
            )
    for address in _erasure_backups(session):
        account = accounts.get(address)
        if account is not None and account.phase < Phase.FINALIZING:
            found.append(f"0x{address.hex()} was backed up for erasure, but the log says {account.state.name}")
    return found


def _erasure_backups(session: Session) -> list[Address]:
    public = session.layout.public
    found = []
    for name in sorted(p.name for p in public.iterdir()) if public.is_dir() else []:
        digits = name.removesuffix(".classical.pub").removeprefix("0x")
        if name.endswith(".classical.pub") and len(digits) == 40:
            try:
                found.append(Address(bytes.fromhex(digits)))
            except ValueError:
                continue
    return found


def _rebuild_finalize(session: Session) -> None:
    """With ``rebuild_from_keys``: HYBRID accounts whose classical key is gone and backed up for erasure
    were finalized; the FINALIZE the log lost is written again, its gate evidence marked forced (0 of 0)."""
    inventory = session.keystore.inventory()
    lost = GateEvidence(ready=0, total=0, threshold=Fraction(1), forced=True)
    drafts = [
        Draft(Event.FINALIZE, address, lost.to_bytes())
        for address in _erasure_backups(session)
        if (account := session.ledger.accounts.get(address)) is not None
        and account.phase is Phase.HYBRID
        and address not in inventory.classical
    ]
    session.commit(drafts)


def _complete_hybrids(session: Session, unfinished: list[tuple[Address, int]], report: RecoveryReport) -> None:
    drafts: list[Draft] = []
    for address, generation in unfinished:
        try:
            key = session.keystore.load_pqc(address, generation)
        except MigrationError as exc:
            report.problems.append(f"0x{address.hex()}: unfinished HYBRID key is unusable: {exc}")
            continue
        try:
            session.chain.on_hybrid(address, key.public_key_bytes, generation)
            drafts.append(Draft(Event.BEGIN_HYBRID, address, key_id_body(key.key_id)))
        finally:
            key.destroy()
        report.hybrids_completed.append(address)
    session.commit(drafts)


def _check_required_keys(session: Session, report: RecoveryReport) -> None:
    inventory = session.keystore.inventory()
    for address in sorted(session.ledger.accounts):
        account = session.ledger.accounts[address]
        if account.phase.needs_classical_key and address not in inventory.classical:
            report.problems.append(f"0x{address.hex()}: {account.state.name} but its classical key file is missing")
        if account.phase.needs_pqc_key and (address, account.generation) not in inventory.pqc:
            report.problems.append(f"0x{address.hex()}: {account.state.name} but its ML-DSA-87 key file is missing")
    for name in inventory.unrecognised:
        report.problems.append(f"{session.layout.keys / name}: unrecognised file in the key directory (left alone)")
