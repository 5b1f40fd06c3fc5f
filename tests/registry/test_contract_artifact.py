"""The committed KeyRegistry artifact is exactly what the pinned compiler makes of the source."""

import json
from pathlib import Path

import pytest

from chainplug.registry.artifact import ARTIFACT_PATH, compile_artifact, load_artifact

ROOT = Path(__file__).resolve().parents[2]


def test_package_and_contracts_artifacts_are_identical() -> None:
    assert ARTIFACT_PATH.read_text() == (ROOT / "contracts" / "KeyRegistry.json").read_text()


def test_committed_artifact_matches_a_fresh_compile() -> None:
    pytest.importorskip("vyper", reason="vyper is a dev dependency: pip install -e '.[dev]'")
    fresh = compile_artifact((ROOT / "contracts" / "KeyRegistry.vy").read_text())
    committed = load_artifact()
    assert fresh["compiler"] == committed["compiler"], "rebuild with tools/build_contract.py"
    assert fresh["source_sha256"] == committed["source_sha256"], "contract changed: run tools/build_contract.py"
    assert fresh["bytecode"] == committed["bytecode"]
    assert json.dumps(fresh["abi"], sort_keys=True) == json.dumps(committed["abi"], sort_keys=True)
