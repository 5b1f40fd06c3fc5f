"""The driver's ledgers: what each migration step, event and injected fault did (the report's input)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class StepRecord:
    """One account's migration step through the signer (``chainplug_advance``)."""

    account: str
    to: str
    requested_at: float
    block_requested: int
    outcome: str = "error"
    """"ok", "gate-refused", "skipped", "error", or "crashed" (the signer was killed mid-step on purpose)."""
    done_at: float | None = None
    block_done: int | None = None
    detail: str = ""


@dataclass
class EventRecord:
    index: int
    action: str
    phase: str
    started_at: float
    block_start: int
    ok: bool = True
    ended_at: float = 0.0
    block_end: int = 0
    detail: list[str] = field(default_factory=list)


@dataclass
class FaultRecord:
    kind: str
    """"validator-crash" or "signer-crash"."""
    target: str
    phase: str
    injected_at: float
    block: int
    crash_point: str | None = None
    recovered: bool = False
    recovered_at: float | None = None
    recovery: str = ""
    """What recovered it, in words, with the evidence."""
    lost: list[str] = field(default_factory=list)
    """Anything found missing after recovery (must stay empty)."""
