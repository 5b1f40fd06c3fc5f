"""Run TLC on the fleet-gate model (docs/formal/Fleet.tla): with the gate no validator is stranded,
with the gate forced off (FleetNoGate) TLC finds a stranded legacy validator.

Same requirements and skip behaviour as ``test_tla.py`` (``java`` 17+ and ``tla2tools.jar``), whose
helpers this module reuses.
"""

from __future__ import annotations

import re
from fractions import Fraction
from pathlib import Path

from chainplug.migration.gate import ALL, QUORUM, FleetGate
from tests.formal.test_tla import FORMAL, checked_without_error, violation_trace


def _cfg_constant(module: str, name: str) -> str:
    match = re.search(rf"^\s*{name} = (.+)$", (FORMAL / f"{module}.cfg").read_text(encoding="utf-8"), re.MULTILINE)
    assert match is not None, f"{module}.cfg does not set {name}"
    return match.group(1).strip()


def test_model_gate_matches_gate_py() -> None:
    """The model checks gate.py's default (every validator) and its 2/3 floor."""
    threshold = Fraction(int(_cfg_constant("Fleet", "ThresholdNum")), int(_cfg_constant("Fleet", "ThresholdDen")))
    assert threshold == ALL == FleetGate().threshold
    assert _cfg_constant("Fleet", "GateOn") == "TRUE"
    assert _cfg_constant("FleetNoGate", "GateOn") == "FALSE"
    assert QUORUM == Fraction(2, 3)
    assert "ASSUME GateOn => 3 * ThresholdNum >= 2 * ThresholdDen" in (FORMAL / "Fleet.tla").read_text(encoding="utf-8")


def test_fleet_model_has_no_error(tmp_path: Path) -> None:
    checked_without_error("Fleet", tmp_path, min_distinct=5000)


def test_no_gate_strands_a_legacy_validator(tmp_path: Path) -> None:
    trace = violation_trace("FleetNoGate", "NoStranding", tmp_path)
    assert "<Finalize" in trace, trace
    # the last state: a FINALIZING account's PQC-only tx broadcast, accepted by the two upgraded
    # validators (a 2/3 finality quorum) and unreadable for the third, legacy one
    last = trace[trace.rindex("State ") :]
    assert "<Send" in last, last
    assert '<<"pqconly", a1>>' in last or '<<"pqconly", a2>>' in last, last
    upgraded = re.search(r"/\\ upgraded = \{([^}]*)\}", last)
    assert upgraded is not None, last
    assert len([v for v in upgraded.group(1).split(",") if v.strip()]) == 2, last
    assert re.search(r":> 3", last), last  # some account is FINALIZING (3)
