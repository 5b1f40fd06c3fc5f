"""Batch migration at custody scale: thousands of accounts per run, group commit, resumable.

Accounts are taken in address order, in chunks of ``batch_size``. Within a chunk each step runs
once for all its accounts — one group write of the new keys (one syncfs + one directory fsync),
one log commit (one fsync) per event type — so a chunk of 1,000 accounts costs a handful of syncs
instead of thousands (docs/migration.md §6). A crash loses at most the chunk in flight; re-running
the same command (which recovers first, like every engine open) continues where it stopped,
because every account's progress is in the log. The fleet gate is evaluated once, before anything
changes, so a rejected batch changes nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TypedDict

from .. import _fs
from ..errors import MigrationError
from ..types import AccountState, Address
from . import transitions
from .gate import FleetGate, ReadinessSource
from .ledger import Account
from .records import GateEvidence
from .session import Session
from .state import Phase, target_phase

Progress = Callable[[int, int], None]
"""Called with (accounts done, accounts to do) after each chunk."""
DEFAULT_BATCH_SIZE = 1000


class BatchJSON(TypedDict):
    """JSON shape of a batch report."""

    target: str
    to_do: int
    reached_target: int
    already_there: int
    failed: dict[str, str]
    chunks: int
    syncs: int
    seconds: float
    gate_forced: bool


@dataclass(slots=True)
class BatchReport:
    """What one batch run did."""

    target: AccountState
    to_do: int = 0
    """Accounts that were behind the target when the run started."""
    reached_target: int = 0
    already_there: int = 0
    """Accounts at or past the target (left alone)."""
    failed: dict[Address, MigrationError] = field(default_factory=dict)
    """Accounts skipped because their classical key would not load."""
    gate: GateEvidence | None = None
    """What the fleet gate saw (None if the run did not cross HYBRID → FINALIZING)."""
    chunks: int = 0
    syncs: _fs.SyncStats = field(default_factory=_fs.SyncStats)
    """Sync calls made by this run (through chainplug._fs)."""
    seconds: float = 0.0

    def to_json(self) -> BatchJSON:
        """The report as JSON-safe data."""
        return BatchJSON(
            target=self.target.name,
            to_do=self.to_do,
            reached_target=self.reached_target,
            already_there=self.already_there,
            failed={f"0x{a.hex()}": str(e) for a, e in sorted(self.failed.items())},
            chunks=self.chunks,
            syncs=self.syncs.total,
            seconds=round(self.seconds, 6),
            gate_forced=self.gate is not None and self.gate.forced,
        )


def run_batch(
    session: Session,
    target: AccountState,
    *,
    gate: FleetGate,
    readiness: ReadinessSource | None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    addresses: Sequence[Address] | None = None,
    progress: Progress | None = None,
) -> BatchReport:
    """Move ``addresses`` (default: every account) forward to ``target``, ``batch_size`` at a time."""
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    started, syncs_before = time.perf_counter(), _fs.SYNC_STATS.snapshot()
    report = BatchReport(target)
    chosen = sorted(set(addresses)) if addresses is not None else sorted(session.ledger.accounts)
    to_do = [address for address in chosen if session.account(address).phase < target_phase(target)]
    report.to_do, report.already_there = len(to_do), len(chosen) - len(to_do)
    if target >= AccountState.FINALIZING and any(session.account(a).phase <= Phase.HYBRID for a in to_do):
        report.gate = gate.evaluate(readiness)
    if progress is not None:
        progress(0, len(to_do))
    for start in range(0, len(to_do), batch_size):
        chunk = to_do[start : start + batch_size]
        _advance_chunk(session, chunk, target, report)
        report.chunks += 1
        if progress is not None:
            progress(start + len(chunk), len(to_do))
    report.reached_target = sum(1 for a in to_do if session.account(a).phase >= target_phase(target))
    report.seconds = time.perf_counter() - started
    report.syncs = _fs.SYNC_STATS.since(syncs_before)
    return report


def _advance_chunk(
    session: Session,
    chunk: Sequence[Address],
    target: AccountState,
    report: BatchReport,
) -> None:
    def in_phase(phase: Phase) -> list[Account]:
        return [account for a in chunk if (account := session.account(a)).phase is phase]

    if target >= AccountState.HYBRID:
        report.failed.update(transitions.begin_hybrid(session, in_phase(Phase.CLASSICAL)))
    if target >= AccountState.FINALIZING:
        if report.gate is not None:
            transitions.finalize(session, in_phase(Phase.HYBRID), report.gate)
        transitions.erase_classical(session, in_phase(Phase.FINALIZING))
    if target is AccountState.PQC_ONLY:
        transitions.complete(session, in_phase(Phase.CLASSICAL_ERASED))
