"""The pure state machine: the transition table and its properties (docs/migration.md §1)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chainplug.errors import IllegalTransition
from chainplug.migration.state import (
    FORWARD,
    TRANSITIONS,
    Event,
    Phase,
    Position,
    apply,
    forward_path,
    rollback_event,
    target_phase,
)
from chainplug.types import AccountState


def test_the_whole_table() -> None:
    assert TRANSITIONS == {
        (None, Event.CREATE): Phase.CLASSICAL,
        (Phase.CLASSICAL, Event.BEGIN_HYBRID): Phase.HYBRID,
        (Phase.HYBRID, Event.FINALIZE): Phase.FINALIZING,
        (Phase.HYBRID, Event.ROLLBACK): Phase.CLASSICAL,
        (Phase.FINALIZING, Event.CLASSICAL_ERASED): Phase.CLASSICAL_ERASED,
        (Phase.CLASSICAL_ERASED, Event.COMPLETE): Phase.PQC_ONLY,
    }


def test_every_transition_strictly_increases_the_position() -> None:
    for (phase, event), _ in TRANSITIONS.items():
        before = Position(4, phase) if phase is not None else None
        after = apply(before, event)
        assert before is None or after > before
        assert after.generation >= (before.generation if before else 0)


def test_pqc_only_is_terminal_and_nothing_skips() -> None:
    for event in Event:
        with pytest.raises(IllegalTransition):
            apply(Position(0, Phase.PQC_ONLY), event)
    for (phase, _), after in TRANSITIONS.items():
        if phase is not None and after > phase:
            assert after == phase + 1, "a forward move skips a phase"


def test_rollback_only_from_hybrid_and_it_bumps_the_generation() -> None:
    assert apply(Position(2, Phase.HYBRID), Event.ROLLBACK) == Position(3, Phase.CLASSICAL)
    assert rollback_event(Phase.HYBRID) is Event.ROLLBACK
    for phase in Phase:
        if phase is not Phase.HYBRID:
            with pytest.raises(IllegalTransition, match="only possible from HYBRID"):
                rollback_event(phase)
            with pytest.raises(IllegalTransition):
                apply(Position(0, phase), Event.ROLLBACK)


def test_create_only_for_a_new_account() -> None:
    assert apply(None, Event.CREATE) == Position(0, Phase.CLASSICAL)
    for phase in Phase:
        with pytest.raises(IllegalTransition):
            apply(Position(0, phase), Event.CREATE)
    for event in Event:
        if event is not Event.CREATE:
            with pytest.raises(IllegalTransition, match="a new account"):
                apply(None, event)


@pytest.mark.parametrize(
    ("phase", "target", "events"),
    [
        (Phase.CLASSICAL, AccountState.CLASSICAL, ()),
        (Phase.CLASSICAL, AccountState.HYBRID, (Event.BEGIN_HYBRID,)),
        (Phase.CLASSICAL, AccountState.FINALIZING, (Event.BEGIN_HYBRID, Event.FINALIZE, Event.CLASSICAL_ERASED)),
        (
            Phase.CLASSICAL,
            AccountState.PQC_ONLY,
            (Event.BEGIN_HYBRID, Event.FINALIZE, Event.CLASSICAL_ERASED, Event.COMPLETE),
        ),
        (Phase.FINALIZING, AccountState.FINALIZING, (Event.CLASSICAL_ERASED,)),
        (Phase.CLASSICAL_ERASED, AccountState.FINALIZING, ()),
        (Phase.FINALIZING, AccountState.PQC_ONLY, (Event.CLASSICAL_ERASED, Event.COMPLETE)),
        (Phase.PQC_ONLY, AccountState.PQC_ONLY, ()),
    ],
)
def test_forward_path_takes_every_step(phase: Phase, target: AccountState, events: tuple[Event, ...]) -> None:
    assert forward_path(phase, target) == events
    position = Position(0, phase)
    for event in events:
        position = apply(position, event)
    assert position.phase == (phase if not events else target_phase(target))


def test_no_forward_path_goes_back() -> None:
    with pytest.raises(IllegalTransition, match="only way back is rollback"):
        forward_path(Phase.HYBRID, AccountState.CLASSICAL)
    with pytest.raises(IllegalTransition):
        forward_path(Phase.PQC_ONLY, AccountState.FINALIZING)


def test_public_view_of_phases() -> None:
    assert [p.account_state for p in Phase] == [
        AccountState.CLASSICAL,
        AccountState.HYBRID,
        AccountState.FINALIZING,
        AccountState.FINALIZING,
        AccountState.PQC_ONLY,
    ]
    assert {p for p in Phase if p.classical_retired} == {Phase.FINALIZING, Phase.CLASSICAL_ERASED, Phase.PQC_ONLY}
    assert FORWARD[Phase.HYBRID] is Event.FINALIZE and Phase.PQC_ONLY not in FORWARD


@given(st.lists(st.sampled_from(Event), max_size=30))
def test_any_event_sequence_is_monotone_or_refused(events: list[Event]) -> None:
    position: Position | None = None
    for event in events:
        try:
            after = apply(position, event)
        except IllegalTransition:
            continue
        assert position is None or after > position
        assert position is None or after.generation in (position.generation, position.generation + 1)
        position = after
