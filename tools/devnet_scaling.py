#!/usr/bin/env python3
"""The devnet's scaling table: the ``large`` scenario's schedule at other sizes, run one after another.

    python tools/devnet_scaling.py --validators 4 8 16 32 --accounts 12 100 1000 --out devnet-out/scaling

For each (validators, accounts) it writes a scenario derived from ``large`` — a third of the validators
legacy at the start (rounded), each process's legacy validators upgraded in one wave, the validators in
four processes (``per_process`` = a quarter of the fleet, as ``large``: a wave then takes at most a
quarter of the fleet down, and the rest is still a 2/3 quorum), the accounts migrated in batches of at most 100, the
same attacks and expectations — runs ``chainplug devnet run`` on it, and prints one markdown row per run:
wall time, setup time, blocks, transactions mined, median finality, validator lag, CPU in all and per
mined transaction, and whether every expectation held. Rows are also appended to ``OUT/scaling.jsonl``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def scenario(validators: int, accounts: int, per_process: int, rate: float) -> str:
    names = [f"v{i}" for i in range(1, validators + 1)]
    legacy = names[validators - round(validators / 3) :]
    hosts = [names[i : i + per_process] for i in range(0, validators, per_process)]
    waves = [[v for v in host if v in legacy] for host in hosts]
    waves = [wave for wave in waves if wave]
    funding_blocks = -(-accounts // 25)
    batch = min(100, accounts)
    lines = [
        "[scenario]",
        f'name = "scale-{validators}x{accounts}"',
        f'description = "large\'s schedule with {validators} validators and {accounts} accounts"',
        "seed = 32",
        "timeout = 1800",
        "[chain]",
        "block_time = 0.5",
        f"activation_block = {1 + funding_blocks + 3}",
        "[fleet]",
        f"validators = {validators}",
        f"legacy = {json.dumps(legacy)}",
        f"per_process = {per_process}",
        'threshold = "all"',
        "poll_interval = 0.1",
        "[accounts]",
        f"count = {accounts}",
        "fund_ether = 1",
        "[traffic]",
        f"rate = {rate}",
        "plain_share = 0.25",
    ]
    events = [
        {"action": "wait", "until": "activation"},
        {"action": "register", "batch": batch},
        {"action": "attack", "kind": "strip"},
        {"action": "attack", "kind": "pqc-swap"},
        {"action": "attack", "kind": "replay"},
        {"action": "finalize", "accounts": [0], "expect": "gate-refused"},
        *({"action": "upgrade", "validators": wave, "after_blocks": 4} for wave in waves),
        {"action": "migrate", "batch": batch},
        {"action": "attack", "kind": "forged-pqc-only"},
        {"action": "attack", "kind": "replay", "accounts": [0]},
        {"action": "wait", "blocks": 8},
    ]
    for event in events:
        lines.append("[[events]]")
        lines += [f"{key} = {json.dumps(value)}" for key, value in event.items()]
    lines += ["[expect]", 'final_state = "PQC_ONLY"', "stranded = []", "valid_rejected_by_quorum = 0",
              "invalid_accepted = 0", "attacks_rejected = true"]  # fmt: skip
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--validators", type=int, nargs="+", default=[4, 8, 16, 32])
    parser.add_argument("--accounts", type=int, nargs="+", default=[12, 100, 1000])
    parser.add_argument("--per-process", type=int, default=0, help="validators per process (0: a quarter of the fleet)")
    parser.add_argument("--rate", type=float, default=8.0, help="traffic, transfers per second")
    parser.add_argument("--out", type=Path, default=Path("devnet-out/scaling"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    print("| validators | accounts | wall | setup | blocks | txs mined | median finality | lag p95 / max (blocks) "
          "| CPU | CPU / tx | passed | load |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for accounts in args.accounts:
        for validators in args.validators:
            name = f"scale-{validators}x{accounts}"
            path = args.out / f"{name}.toml"
            per_process = args.per_process or max(1, validators // 4)
            path.write_text(scenario(validators, accounts, min(per_process, validators), args.rate))
            load_before = os.getloadavg()[0]
            started = time.monotonic()
            done = subprocess.run([sys.executable, "-m", "chainplug.cli.main", "devnet", "run", str(path), "--out",
                                   str(args.out / name), "--json"], cwd=ROOT, capture_output=True, text=True,
                                  check=False)  # fmt: skip
            wall = time.monotonic() - started
            load = (load_before + os.getloadavg()[0]) / 2
            try:
                report = json.loads((args.out / name / "report.json").read_text())
            except (OSError, ValueError):
                print(f"| {validators} | {accounts} | {wall:.0f} s | run failed (exit {done.returncode}) |")
                continue
            summary, run = report["summary"], report["run"]
            lag = summary["validator_lag_blocks"]
            row = {
                "validators": validators, "accounts": accounts, "wall_seconds": round(wall, 1),
                "setup_seconds": run["setup_seconds"], "blocks": summary["blocks"],
                "transactions_mined": summary["transactions_mined"],
                "median_finality_seconds": summary["median_finality_seconds"], "lag": lag,
                "cpu_seconds": run["cpu_seconds"], "cpu_per_transaction_ms": run["cpu_per_transaction_ms"],
                "passed": summary["passed"], "load_average": round(load, 1), "exit": done.returncode,
            }  # fmt: skip
            with (args.out / "scaling.jsonl").open("a") as jsonl:
                jsonl.write(json.dumps(row) + "\n")
            print(f"| {validators} | {accounts} | {wall:.0f} s | {run['setup_seconds']:.0f} s | {summary['blocks']} "
                  f"| {summary['transactions_mined']} | {summary['median_finality_seconds']:.2f} s "
                  f"| {lag['p95']} / {lag['max']} | {run['cpu_seconds']:.0f} s "
                  f"| {run['cpu_per_transaction_ms']:.0f} ms | {'yes' if summary['passed'] else 'NO'} | {load:.1f} |",
                  flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
