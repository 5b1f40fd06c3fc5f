"""Start chainplug services as real subprocesses on loopback ports for tests."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def chainplug_service(*args: str, timeout: float = 60) -> Iterator[dict[str, Any]]:
    """Run ``chainplug ARGS --json --listen 127.0.0.1:0``; yield its announcement (with ``url``)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "chainplug.cli.main", *args, "--json", "--listen", "127.0.0.1:0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line:
            raise RuntimeError(f"service {args[0]} did not start: {process.stderr.read() if process.stderr else ''}")
        info: dict[str, Any] = json.loads(line)
        info["process"] = process
        yield info
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
