"""Compile contracts/KeyRegistry.vy and write the committed artifact (ABI + bytecode + compiler).

Run after editing the contract: ``python tools/build_contract.py``. tests/registry checks that the
committed artifact equals a fresh compile.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from chainplug.registry.artifact import ARTIFACT_PATH, compile_artifact  # noqa: E402


def main() -> None:
    artifact = compile_artifact((ROOT / "contracts" / "KeyRegistry.vy").read_text())
    text = json.dumps(artifact, indent=2, sort_keys=True) + "\n"
    ARTIFACT_PATH.write_text(text)
    (ROOT / "contracts" / "KeyRegistry.json").write_text(text)
    print(f"wrote {ARTIFACT_PATH} and contracts/KeyRegistry.json ({artifact['compiler']})")


if __name__ == "__main__":
    main()
