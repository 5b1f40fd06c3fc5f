"""Teardown on every exit path: Ctrl-C mid-run, and a run whose expectations fail. Nothing the devnet
started (validators' verification workers included) may survive it."""

from __future__ import annotations

import json
import selectors
import signal
import subprocess
import time
from pathlib import Path

from tests.devnet.harness import DEVNET, ROOT, devnet_command, run_devnet, tagged_env, tagged_processes

FAILING = """
[scenario]
name = "must-fail"
seed = 5
timeout = 90
[chain]
block_time = 0.5
activation_block = 1000
[fleet]
validators = 3
[accounts]
count = 1
[traffic]
rate = 2.0
[[events]]
action = "register"
[expect]
final_state = "HYBRID"
stranded = ["v1"]
"""


def test_ctrl_c_mid_run_stops_every_process_and_writes_a_partial_report(tmp_path: Path) -> None:
    tag, env = tagged_env()
    out = tmp_path / "interrupted"
    process = subprocess.Popen(devnet_command(DEVNET / "smoke.toml", out), env=env, cwd=ROOT,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    assert process.stderr is not None
    seen = ""
    try:
        with selectors.DefaultSelector() as selector:
            selector.register(process.stderr, selectors.EVENT_READ)
            deadline = time.monotonic() + 120
            # Interrupt once the schedule runs: every service is up, traffic flows.
            while "] register" not in seen and time.monotonic() < deadline and process.poll() is None:
                if selector.select(timeout=1):
                    seen += process.stderr.readline()
        assert "] register" in seen, seen[-2000:]
        assert len(tagged_processes(tag)) >= 7, "chain, gateway, 4 validators and the signer were running"
        process.send_signal(signal.SIGINT)
        code = process.wait(timeout=90)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert code == 130, seen[-2000:]
    assert tagged_processes(tag) == []
    report = json.loads((out / "report.json").read_text())
    assert "interrupted" in report["run"]["error"] and not report["run"]["passed"]


def test_a_failed_expectation_exits_1_names_it_and_leaves_nothing_running(tmp_path: Path) -> None:
    scenario = tmp_path / "must-fail.toml"
    scenario.write_text(FAILING)
    run = run_devnet(scenario, tmp_path / "out", timeout=150)
    assert run.code == 1, run.stderr[-3000:]
    assert tagged_processes(run.tag) == []
    summary = json.loads(run.stdout)
    assert summary["passed"] is False and summary["schema_errors"] == []
    assert summary["schema"].startswith("checked against") and summary["schema"].endswith("report.schema.json")
    failed = [c["name"] for c in summary["expectations"] if not c["passed"]]
    assert failed == ["stranded validators"]
    assert run.expectation("every account reaches HYBRID")["passed"]
