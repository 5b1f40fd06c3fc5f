"""A slow setup does not move the schedule: the devnet holds the embedded chain until setup is done, so
a step scheduled before activation still runs before it.

The setup is delayed on purpose by a validator "on another host" (``[fleet.remote]``) that this test
starts only after waiting for longer than the whole activation budget takes at the scenario's block
time. A chain that mined by the clock during setup would pass activation before the schedule began,
and the stripped transaction would be refused instead of tolerated. Nothing is timed: the delay only
has to be long, and the assertions are about blocks."""

from __future__ import annotations

import json
import os
import selectors
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from chainplug.devnet.processes import free_port
from tests.devnet.harness import ROOT, devnet_command, tagged_env, tagged_processes

ACTIVATION = 10
BLOCK_TIME = 0.5
DELAY = 2 * ACTIVATION * BLOCK_TIME
"""Seconds the remote validator is held back: twice what the chain needs to reach activation by time."""

SCENARIO = f"""
[scenario]
name = "held-setup"
seed = 4
timeout = 240
[chain]
block_time = {BLOCK_TIME}
activation_block = {ACTIVATION}
[fleet]
validators = ["v1"]
[fleet.remote]
late = "http://127.0.0.1:{{port}}"
[accounts]
count = 1
[traffic]
rate = 2.0
[[events]]
action = "register"
[[events]]
action = "attack"
kind = "strip"
phase = "strip before activation"
[[events]]
action = "wait"
until = "activation"
[[events]]
action = "attack"
kind = "strip"
phase = "strip after activation"
[expect]
final_state = "HYBRID"
"""


@pytest.mark.slow  # ~50 s on a loaded 2-core machine; test_smoke checks the same on every run, test_clock the mechanism
def test_a_delayed_setup_leaves_the_schedule_before_activation(tmp_path: Path) -> None:
    port = free_port()
    scenario = tmp_path / "held-setup.toml"
    scenario.write_text(SCENARIO.format(port=port))
    out = tmp_path / "out"
    tag, env = tagged_env()
    devnet = subprocess.Popen(devnet_command(scenario, out, "--json"), env=env, cwd=ROOT, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)  # fmt: skip
    remote: subprocess.Popen[str] | None = None
    try:
        assert devnet.stderr is not None
        command = _remote_command(devnet)
        time.sleep(DELAY)  # the setup waits for "late" meanwhile
        args = shlex.split(command)[1:]
        args[args.index("--state-dir") + 1] = str(tmp_path / "late-state")
        remote = subprocess.Popen([sys.executable, "-m", "chainplug.cli.main", *args], env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                  start_new_session=True)  # fmt: skip
        stdout, stderr = devnet.communicate(timeout=240)
    finally:
        if devnet.poll() is None:  # SIGTERM: it tears down every process it started (SIGKILL would not)
            devnet.terminate()
            try:
                devnet.wait(timeout=90)
            except subprocess.TimeoutExpired:
                devnet.kill()
                devnet.wait()
        if remote is not None:  # not the devnet's to stop: it runs "on another host"
            os.killpg(remote.pid, signal.SIGTERM)
            try:
                remote.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(remote.pid, signal.SIGKILL)
                remote.wait()
    assert devnet.returncode == 0, f"{stdout[-2000:]}\n{stderr[-3000:]}"
    assert tagged_processes(tag) == []
    report = json.loads((out / "report.json").read_text())
    assert report["run"]["setup_seconds"] >= DELAY
    assert report["run"]["analysed_from_block"] == 3 and report["chain"]["mined_by"] == "devnet"
    assert report["run"]["warnings"] == []
    before, after = report["attacks"]
    assert before["verdict"] == "tolerated" and before["mined_block"] < ACTIVATION, before
    assert after["verdict"] == "rejected-at-admission" and after["reason"] == "pqc-required", after


def _remote_command(devnet: subprocess.Popen[str]) -> str:
    """The command the devnet prints for the remote validator's operator."""
    assert devnet.stderr is not None
    seen = ""
    deadline = time.monotonic() + 180
    fd = devnet.stderr.fileno()  # raw reads: a buffered readline could keep the line we wait for
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        while time.monotonic() < deadline and devnet.poll() is None:
            if selector.select(timeout=1):
                seen += os.read(fd, 65536).decode()
                for line in seen.splitlines():
                    if line.strip().startswith("chainplug validator run") and seen.endswith("\n"):
                        return line.strip()
    raise AssertionError(f"the devnet never asked for the remote validator: {seen[-2000:]}")
