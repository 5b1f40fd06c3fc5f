"""Start a real anvil (npm package @foundry-rs/anvil) on a free loopback port for tests.

Found via $CHAINPLUG_ANVIL, then PATH, then ./node_modules/.bin/anvil (what `.ci/run` installs with
`npm install --prefix .ci-tools @foundry-rs/anvil`, see README). Tests skip with the reason when absent.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from web3 import Web3

ROOT = Path(__file__).resolve().parent.parent


def find_anvil() -> str | None:
    explicit = os.environ.get("CHAINPLUG_ANVIL")
    if explicit:
        return explicit
    for candidate in (ROOT / ".ci-tools" / "node_modules" / ".bin" / "anvil", ROOT / "node_modules" / ".bin" / "anvil"):
        if candidate.exists():
            return str(candidate)
    return shutil.which("anvil")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def running_anvil() -> Iterator[Web3]:
    binary = find_anvil()
    if binary is None:
        pytest.skip("anvil not found: npm install --prefix .ci-tools @foundry-rs/anvil (or set CHAINPLUG_ANVIL)")
    port = free_port()
    process = subprocess.Popen(
        [binary, "--host", "127.0.0.1", "--port", str(port), "--silent"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        w3 = Web3(Web3.HTTPProvider(f"http://127.0.0.1:{port}", request_kwargs={"timeout": 10}))
        deadline = time.monotonic() + 30
        while not w3.is_connected():
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"anvil did not start on port {port}")
            time.sleep(0.1)
        yield w3
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
