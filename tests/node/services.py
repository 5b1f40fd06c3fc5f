"""Start chainplug services as real subprocesses on loopback ports for tests."""

from __future__ import annotations

import json
import selectors
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import requests
from aiohttp import web


@contextmanager
def chainplug_service(*args: str, timeout: float = 60, listen: bool = True) -> Iterator[dict[str, Any]]:
    """Run ``chainplug ARGS --json --listen 127.0.0.1:0`` (without ``--listen`` if not ``listen``: a
    validator host takes its addresses from its members file); yield its announcement (with ``url``)."""
    # stderr goes to a file: a pipe nobody reads would block a chatty service once it fills.
    errors = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 - closed in the finally below
    process = subprocess.Popen(
        [sys.executable, "-m", "chainplug.cli.main", *args, "--json", *(["--listen", "127.0.0.1:0"] if listen else [])],
        stdout=subprocess.PIPE,
        stderr=errors,
        text=True,
    )
    try:
        assert process.stdout is not None
        with selectors.DefaultSelector() as selector:
            selector.register(process.stdout, selectors.EVENT_READ)
            if not selector.select(timeout=timeout):
                raise RuntimeError(f"chainplug {' '.join(args[:2])} did not announce itself within {timeout} s")
        line = process.stdout.readline()
        if not line:
            process.wait(timeout=10)
            errors.seek(0)
            raise RuntimeError(f"service {args[0]} did not start: {errors.read()[-2000:]}")
        info: dict[str, Any] = json.loads(line)
        info["process"] = process
        info["stderr"] = errors
        yield info
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        errors.seek(0)
        tail = errors.read()[-3000:]
        errors.close()
        if tail.strip():
            sys.stderr.write(f"--- stderr of chainplug {' '.join(args[:2])} ---\n{tail}\n")


def wait_ready(url: str, timeout: float = 120) -> dict[str, Any]:
    """Wait until a service's ``/health`` answers 200 (ready); its body."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        health = requests.get(url + "/health", timeout=10)
        if health.status_code == 200:
            body: dict[str, Any] = health.json()
            return body
        time.sleep(0.05)
    raise AssertionError(f"{url} never became ready")


async def serve_app(app: web.Application) -> tuple[web.AppRunner, str]:
    """Serve an aiohttp app in this event loop on a free loopback port: (its runner, its URL)."""
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, f"http://127.0.0.1:{port}/"
