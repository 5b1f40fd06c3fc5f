"""What erasure removes from process memory, measured from outside the process (docs/migration.md §8).

The numbers in the docs come from ``python -m tests.migration.memscan``. Here the measurement must
show what we do guarantee — the engine's own copy is overwritten, so erasure leaves at least one copy
fewer than a live handle — and that the scanner really sees copies that survive (the control).
Zero copies after erasure is what we observe, not what we promise, so it is printed, not asserted.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.migration import memscan

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/<pid>/mem (Linux only)")


def raw_copies(found: dict[str, memscan.Counter[str]]) -> int:
    return sum(found["raw"].values())


def run(tmp_path: Path, **options: bool) -> dict[str, dict[str, memscan.Counter[str]]]:
    try:
        return memscan.measure(tmp_path, **options)
    except PermissionError as exc:  # e.g. kernel.yama.ptrace_scope=3
        pytest.skip(f"this kernel does not let a parent read its child's memory: {exc}")


def test_erasure_overwrites_the_engines_copy(tmp_path: Path) -> None:
    results = run(tmp_path)
    print("\n" + memscan.table(results))
    assert raw_copies(results["loaded"]) >= 1  # positive control: a live key is visible
    assert raw_copies(results["erased"]) <= raw_copies(results["loaded"]) - 1
    assert raw_copies(results["churned"]) <= raw_copies(results["erased"])


def test_a_copy_the_caller_keeps_survives_and_is_seen(tmp_path: Path) -> None:
    results = run(tmp_path, keep_copy=True)
    print("\n" + memscan.table(results))
    assert raw_copies(results["erased"]) >= 1
