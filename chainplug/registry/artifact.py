"""The committed KeyRegistry build artifact, and the compile step that must reproduce it."""

from __future__ import annotations

import hashlib
import json
from functools import cache
from pathlib import Path
from typing import Any

ARTIFACT_PATH = Path(__file__).with_name("KeyRegistry.json")
"""Package copy of contracts/KeyRegistry.json (the two are checked equal by the tests)."""


@cache
def load_artifact() -> dict[str, Any]:
    """ABI, bytecode, compiler version and source hash of the committed build."""
    artifact: dict[str, Any] = json.loads(ARTIFACT_PATH.read_text())
    return artifact


def compile_artifact(source: str) -> dict[str, Any]:
    """Compile the contract source with the installed ``vyper`` (a development dependency)."""
    import vyper

    output = vyper.compile_code(source, output_formats=["abi", "bytecode"])
    return {
        "contract": "KeyRegistry",
        "compiler": f"vyper {vyper.__version__}",
        "source_sha256": hashlib.sha256(source.encode()).hexdigest(),
        "abi": output["abi"],
        "bytecode": output["bytecode"],
    }
