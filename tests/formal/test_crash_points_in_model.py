"""The TLA+ model (docs/formal/Migration.tla) and the engine name the same durable steps.

``DurableSteps`` in the model lists crash-point *sites* (a label is ``<site>.<step>``; the site is
everything before the last dot). It must be exactly the sites of
:data:`chainplug.migration.crashpoints.CRASH_POINTS` that the one-key transitions and recovery
perform for a key, i.e. every site except :data:`NOT_PER_KEY`:

* ``store.create`` and ``wal.create`` — making the store's directories and the log file happen once
  per store, before any key exists; a crash there leaves no account.
* ``wal.truncate`` — dropping a torn log tail on open. The model's log holds only whole records: a
  torn record is one that was never appended (recovery rule 1).
* ``keys.leftover.wipe`` — wiping temp files of interrupted atomic writes (recovery rule 2). The model
  treats each ``put``/``backup`` site as atomic (the rename is the durable point) and a temp file as
  never authoritative, so leftovers are not modelled.

The transition table in the model must also be state.TRANSITIONS, event for event.
"""

from __future__ import annotations

import re
from pathlib import Path

from chainplug.migration.crashpoints import CRASH_POINTS
from chainplug.migration.state import TRANSITIONS, Phase

MODEL = Path(__file__).resolve().parents[2] / "docs" / "formal" / "Migration.tla"
NOT_PER_KEY = frozenset({"store.create", "wal.create", "wal.truncate", "keys.leftover.wipe"})


def _model() -> str:
    return MODEL.read_text(encoding="utf-8")


def _site(label: str) -> str:
    return label.rpartition(".")[0]


def test_model_durable_steps_are_the_engine_per_key_sites() -> None:
    match = re.search(r"^DurableSteps == \{([^}]*)\}", _model(), re.MULTILINE)
    assert match is not None, "Migration.tla must define DurableSteps == {...} on one line"
    declared = re.findall(r'"([^"]+)"', match.group(1))
    assert len(declared) == len(set(declared)), declared
    engine_sites = {_site(label) for label in CRASH_POINTS}
    assert NOT_PER_KEY <= engine_sites, "a site excluded here no longer exists in CRASH_POINTS"
    assert set(declared) == engine_sites - NOT_PER_KEY


def test_model_actions_only_take_declared_steps() -> None:
    """Every ``step' = "..."`` the model's actions set is a declared durable step or a non-durable event."""
    text = _model()
    declared = set(re.findall(r'"([^"]+)"', re.search(r"^DurableSteps == \{([^}]*)\}", text, re.M).group(1)))  # type: ignore[union-attr]
    used = set(re.findall(r"step' = \"([^\"]+)\"", text))
    assert used - declared == {"load", "crash", "restore", "recovered"}
    assert declared <= used, f"declared but never taken: {declared - used}"
    # the erase order of the engine's (Erasure-Before-WAL) branch
    order = re.search(r"ELSE <<(\"public\.backup\"[^>]*)>>", text)
    assert order is not None
    assert re.findall(r'"([^"]+)"', order.group(1)) == ["public.backup", "keys.classical.wipe", "erase", "wal.append"]


def test_model_transition_table_is_state_transitions() -> None:
    rows = re.findall(r"ph = (\w+) /\\ e = \"(\w+)\" -> (\w+)", _model())
    model = {(None if before == "NONE" else before, event, after) for before, event, after in rows}
    engine = {
        (None if before is None else Phase(before).name, event.name, after.name)
        for (before, event), after in TRANSITIONS.items()
    }
    assert model == engine
