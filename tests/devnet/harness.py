"""Run ``chainplug devnet run`` as a user would (a real process), and find any process it left behind.

Every devnet started by a test carries a unique ``CHAINPLUG_DEVNET_TEST_TAG`` in its environment,
which every child and grandchild (validator pool workers included) inherits; after the run, no
live process may still carry it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
DEVNET = ROOT / "chainplug" / "devnet" / "scenarios"
SCHEMA = Path(__file__).resolve().parents[2] / "chainplug" / "devnet" / "report.schema.json"
TAG = "CHAINPLUG_DEVNET_TEST_TAG"


@dataclass
class Run:
    code: int
    out: Path
    stdout: str
    stderr: str
    tag: str

    @property
    def report(self) -> dict[str, Any]:
        document: dict[str, Any] = json.loads((self.out / "report.json").read_text())
        return document

    def expectation(self, name: str) -> dict[str, Any]:
        (found,) = [c for c in self.report["expectations"] if c["name"] == name]
        return found


def devnet_command(scenario: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "chainplug.cli.main", "devnet", "run", str(scenario), "--out", str(out), *extra]


def tagged_env() -> tuple[str, dict[str, str]]:
    tag = uuid.uuid4().hex
    return tag, {**os.environ, TAG: tag}


def run_devnet(scenario: Path, out: Path, *extra: str, timeout: float = 240) -> Run:
    tag, env = tagged_env()
    done = subprocess.run(devnet_command(scenario, out, "--json", *extra), env=env, cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout, check=False)  # fmt: skip
    return Run(done.returncode, out, done.stdout, done.stderr, tag)


def tagged_processes(tag: str) -> list[str]:
    """Live (non-zombie) processes whose environment carries ``tag``: "pid cmdline" each."""
    found = []
    needle = f"{TAG}={tag}".encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if needle not in (entry / "environ").read_bytes().split(b"\0"):
                continue
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue  # gone meanwhile, or not ours to read
        if state != "Z":
            found.append(f"{entry.name} {cmdline}")
    return found
