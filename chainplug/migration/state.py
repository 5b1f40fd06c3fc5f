"""The migration state machine as a pure core: no I/O, no clock, no randomness (docs/migration.md §1).

The engine stores more than the four public :class:`~chainplug.types.AccountState` values: erasure
of the classical key is a durable fact of its own (the seed audit's HIG-007), so the engine walks
five *phases*. ``CLASSICAL_ERASED`` reports as ``FINALIZING`` to everything outside this layer.

Every transition there is, on one screen::

    (no account) --CREATE--------------> CLASSICAL       generation 0
    CLASSICAL    --BEGIN_HYBRID--------> HYBRID          ML-DSA-87 key generated and persisted
    HYBRID       --FINALIZE------------> FINALIZING      fleet gate passed; the erasure intent
    HYBRID       --ROLLBACK------------> CLASSICAL       generation + 1; PQC key destroyed
    FINALIZING   --CLASSICAL_ERASED----> CLASSICAL_ERASED  every classical private key copy wiped
    CLASSICAL_ERASED --COMPLETE--------> PQC_ONLY        terminal

Nothing else: no skipping, no way back except the one rollback, nothing out of PQC_ONLY. Every
transition strictly increases (generation, phase), which is how "monotone" is checked.

FINALIZING is an intent, not a place to rest: an advance to FINALIZING runs on through the erasure
and rests at CLASSICAL_ERASED (still FINALIZING in public), waiting for the explicit step to
PQC_ONLY. An account is found *at* FINALIZING only after a crash mid-erasure; recovery finishes it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Final

from ..errors import IllegalTransition
from ..types import AccountState


class Phase(IntEnum):
    """Where an account is in the engine; ordered. Values are internal (not the registry encoding)."""

    CLASSICAL = 0
    HYBRID = 1
    FINALIZING = 2
    CLASSICAL_ERASED = 3
    PQC_ONLY = 4

    @property
    def account_state(self) -> AccountState:
        """The public four-state view (``CLASSICAL_ERASED`` is still ``FINALIZING``)."""
        return _PUBLIC[self]

    @property
    def classical_retired(self) -> bool:
        """From FINALIZING on, classical private material is never loaded again."""
        return self >= Phase.FINALIZING

    @property
    def needs_pqc_key(self) -> bool:
        """From HYBRID on, the account's ML-DSA-87 key must exist."""
        return self >= Phase.HYBRID

    @property
    def needs_classical_key(self) -> bool:
        """Up to HYBRID, the account's secp256k1 key must exist."""
        return self <= Phase.HYBRID


_PUBLIC: Final = {
    Phase.CLASSICAL: AccountState.CLASSICAL,
    Phase.HYBRID: AccountState.HYBRID,
    Phase.FINALIZING: AccountState.FINALIZING,
    Phase.CLASSICAL_ERASED: AccountState.FINALIZING,
    Phase.PQC_ONLY: AccountState.PQC_ONLY,
}


class Event(IntEnum):
    """What happened to an account. The value is the log's record type byte (docs/migration.md §2)."""

    CREATE = 1
    BEGIN_HYBRID = 2
    FINALIZE = 3
    CLASSICAL_ERASED = 4
    COMPLETE = 5
    ROLLBACK = 6


# (phase before, event) -> phase after. None = the account does not exist yet.
TRANSITIONS: Final[dict[tuple[Phase | None, Event], Phase]] = {
    (None, Event.CREATE): Phase.CLASSICAL,
    (Phase.CLASSICAL, Event.BEGIN_HYBRID): Phase.HYBRID,
    (Phase.HYBRID, Event.FINALIZE): Phase.FINALIZING,
    (Phase.HYBRID, Event.ROLLBACK): Phase.CLASSICAL,
    (Phase.FINALIZING, Event.CLASSICAL_ERASED): Phase.CLASSICAL_ERASED,
    (Phase.CLASSICAL_ERASED, Event.COMPLETE): Phase.PQC_ONLY,
}
GENERATION_BUMPS: Final = frozenset({Event.ROLLBACK})
"""Events that raise the generation: a rolled-back account never reuses its old PQC key's slot."""
FORWARD: Final = {
    phase: event for (phase, event), _ in TRANSITIONS.items() if phase is not None and event not in GENERATION_BUMPS
}
"""The one forward event out of each non-terminal phase."""


@dataclass(frozen=True, slots=True, order=True)
class Position:
    """An account's place in its history. Ordered by (generation, phase): every event increases it."""

    generation: int
    """Rises by one at each rollback; never falls."""
    phase: Phase
    """The engine phase within that generation."""


def apply(position: Position | None, event: Event) -> Position:
    """The position after ``event``; raises :class:`IllegalTransition` if the table has no such move."""
    before = position.phase if position is not None else None
    after = TRANSITIONS.get((before, event))
    if after is None:
        where = "a new account" if before is None else before.name
        raise IllegalTransition(f"{event.name} is not a legal event for {where}")
    generation = position.generation if position is not None else 0
    return Position(generation + (1 if event in GENERATION_BUMPS else 0), after)


def target_phase(state: AccountState) -> Phase:
    """The phase an ``advance --to state`` ends in: FINALIZING ends erased (``CLASSICAL_ERASED``)."""
    return _TARGETS[state]


_TARGETS: Final = {
    AccountState.CLASSICAL: Phase.CLASSICAL,
    AccountState.HYBRID: Phase.HYBRID,
    AccountState.FINALIZING: Phase.CLASSICAL_ERASED,
    AccountState.PQC_ONLY: Phase.PQC_ONLY,
}


def forward_path(phase: Phase, target: AccountState) -> tuple[Event, ...]:
    """The events that take ``phase`` forward to ``target``, one step at a time; empty if already there.

    Raises :class:`IllegalTransition` for a target behind the account: the only way back is
    :func:`rollback_event` from HYBRID.
    """
    if phase.account_state > target:
        raise IllegalTransition(
            f"cannot move from {phase.account_state.name} back to {target.name}; "
            "the only way back is rollback from HYBRID to CLASSICAL"
        )
    events: list[Event] = []
    while phase < target_phase(target):
        event = FORWARD[phase]
        events.append(event)
        phase = TRANSITIONS[(phase, event)]
    return tuple(events)


def rollback_event(phase: Phase) -> Event:
    """The rollback event, if ``phase`` allows it (HYBRID only)."""
    if (phase, Event.ROLLBACK) not in TRANSITIONS:
        raise IllegalTransition(f"rollback is only possible from HYBRID, not from {phase.account_state.name}")
    return Event.ROLLBACK
