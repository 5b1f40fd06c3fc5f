#!/usr/bin/env python3
"""Validator lag under load: how far validators fall behind the head, and what following costs the chain.

    python tools/validator_lag.py --validators 8 --senders 40 --rate 40 --seconds 60 [--per-process 8]

Starts real processes as an operator would — ``chainplug chain serve --block-time`` (KeyRegistry
deployed, PQC parts required from block 0), a gateway in front of it, and N upgraded validators
(``validator run --workers 1`` each, or ``validator host`` with ``--per-process`` of them per process) —
registers ``--senders`` composite (HYBRID) accounts, then sends composite transfers through the
gateway (``chainplug_sendEnvelope``) at ``--rate`` per second for ``--seconds``. Meanwhile it samples,
every 0.25 s, the head and each validator's last attested block (``/health``).

Prints one JSON document: transactions mined per second during the load, the lag (head − attested, in
blocks) over all samples (median, p95, max) and per validator, and the CPU seconds the chain, the
gateway and the validators used during the load (Linux /proc). Run it with ``--validators 0`` for the
chain's throughput with nobody following it. Only command-line interfaces are used, so the same
script measures an older chainplug (``PYTHONPATH=<checkout>``) that has no ``validator host``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import requests


def call(url: str, method: str, *params: Any, timeout: float = 60) -> Any:
    body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}
    answer = requests.post(url, json=body, timeout=timeout).json()
    if "error" in answer:
        raise RuntimeError(f"{method}: {answer['error']}")
    return answer["result"]


@contextmanager
def service(log_dir: Path, name: str, *args: str) -> Iterator[dict[str, Any]]:
    """``chainplug ARGS --json`` in its own process group; yields its announcement (with pid)."""
    log = (log_dir / f"{name}.log").open("w+b")
    process = subprocess.Popen([sys.executable, "-m", "chainplug.cli.main", *args, "--json"], stdout=log,
                               stderr=log, start_new_session=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while True:
            log.seek(0)
            lines = [line for line in log.read().splitlines() if line.startswith(b"{") and b'"url"' in line]
            if lines:
                yield {**json.loads(lines[0]), "pid": process.pid}
                break
            if process.poll() is not None or time.monotonic() > deadline:
                log.seek(0)
                raise RuntimeError(f"{name} did not start: {log.read()[-2000:].decode(errors='replace')}")
            time.sleep(0.1)
    finally:
        os.killpg(process.pid, 15)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, 9)
            process.wait()
        log.close()


def cpu_seconds(group: int) -> float:
    """User + system CPU of every live process of process group ``group``."""
    total = 0
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = Path(f"/proc/{entry}/stat").read_bytes().rsplit(b")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == group:
                total += sum(int(f) for f in fields[11:15])
    return total / os.sysconf("SC_CLK_TCK")


def stats(values: list[int]) -> dict[str, Any]:
    if not values:
        return {"samples": 0}
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, 95 * len(ordered) // 100)]
    return {"samples": len(ordered), "median": statistics.median(ordered), "p95": p95, "max": ordered[-1]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--validators", type=int, default=8)
    parser.add_argument("--per-process", type=int, default=1, help="validators per process (>1: validator host)")
    parser.add_argument("--senders", type=int, default=40)
    parser.add_argument("--rate", type=float, default=40.0, help="composite transfers per second offered")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--block-time", type=float, default=0.5)
    args = parser.parse_args()

    from eth_utils.address import to_checksum_address
    from web3 import Web3

    from chainplug.envelope import CompositeAccount
    from chainplug.registry import KeyRegistryContract, Transition, sign_transition

    root = Path(tempfile.mkdtemp(prefix="validator-lag-"))
    with ExitStack() as stack:
        chain = stack.enter_context(service(root, "chain", "chain", "serve", "--listen", "127.0.0.1:0",
                                            "--deploy-registry", "--activation-block", "0", "--accounts", "2",
                                            "--block-time", str(args.block_time)))  # fmt: skip
        url, registry = chain["url"], chain["registry"]
        gateway = stack.enter_context(service(root, "gateway", "gateway", "--upstream", url, "--registry", registry,
                                              "--listen", "127.0.0.1:0"))  # fmt: skip
        common = ["--rpc", url, "--registry", registry, "--sidecars", url, "--sidecars", gateway["url"],
                  "--poll-interval", "0.1"]  # fmt: skip
        validators: dict[str, str] = {}
        groups: list[int] = []
        names = [f"v{i + 1}" for i in range(args.validators)]
        if args.per_process > 1:
            for start in range(0, len(names), args.per_process):
                members = [{"name": n, "version": "upgraded", "state_dir": str(root / n), "listen": "127.0.0.1:0"}
                           for n in names[start : start + args.per_process]]  # fmt: skip
                spec = root / f"host{start}.json"
                spec.write_text(json.dumps(members))
                host = stack.enter_context(service(root, f"host{start}", "validator", "host", "--members", str(spec),
                                                   *common))  # fmt: skip
                validators.update(host.get("urls", {members[0]["name"]: host["url"]}))
                groups.append(host["pid"])
        else:
            for name in names:
                one = stack.enter_context(service(root, name, "validator", "run", "--version", "upgraded", "--name",
                                                  name, "--state-dir", str(root / name), "--workers", "1",
                                                  "--listen", "127.0.0.1:0", *common))  # fmt: skip
                validators[name] = one["url"]
                groups.append(one["pid"])

        w3 = Web3(Web3.HTTPProvider(url, request_kwargs={"timeout": 60}))
        contract = KeyRegistryContract(w3, registry)
        senders = [CompositeAccount.from_keys((i + 0x1000).to_bytes(32, "big"), (i + 0x9000).to_bytes(32, "big"))
                   for i in range(args.senders)]  # fmt: skip
        funder = w3.eth.accounts[0]
        funded = [w3.eth.send_transaction({"from": funder, "to": a.address, "value": 10**20, "gas": 21000})
                  for a in senders]  # fmt: skip
        for tx_hash in funded:
            w3.eth.wait_for_transaction_receipt(tx_hash, timeout=300)
        registered = [
            call(gateway["url"], "chainplug_sendEnvelope",
                 "0x" + sign_transition(w3, contract, a, Transition.REGISTER).envelope.hex())
            for a in senders
        ]  # fmt: skip
        for tx_hash in registered:
            w3.eth.wait_for_transaction_receipt(tx_hash, timeout=300)
        nonces: dict[str, int] = {a.address: int(w3.eth.get_transaction_count(a.address)) for a in senders}  # type: ignore[arg-type]
        sink = to_checksum_address("0x" + "5e" * 20)
        base_fee = int(w3.eth.get_block("latest")["baseFeePerGas"])
        fees = {"maxFeePerGas": 4 * base_fee + 10**9, "maxPriorityFeePerGas": 10**9}

        stop = threading.Event()
        samples: dict[str, list[int]] = {name: [] for name in validators}
        sent: list[str] = []
        refused: list[str] = []

        def sample() -> None:
            while not stop.wait(0.25):
                head = int(call(url, "eth_blockNumber"), 16)
                for name, vurl in validators.items():
                    try:
                        height = requests.get(f"{vurl}/health", timeout=5).json().get("height") or 0
                    except (requests.RequestException, ValueError):
                        continue
                    samples[name].append(max(0, head - int(height)))

        def load(offset: int, step: int) -> None:
            period = step / args.rate
            next_at = time.monotonic()
            mine = senders[offset::step]  # each thread its own senders: one nonce sequence per account
            index = 0
            while not stop.is_set():
                account = mine[index % len(mine)]
                index += 1
                tx = {"chainId": 1337, "nonce": nonces[account.address], "to": sink, "value": 1, "gas": 30_000,
                      **fees}  # fmt: skip
                try:
                    sent.append(call(gateway["url"], "chainplug_sendEnvelope",
                                     "0x" + account.sign_transaction(tx).envelope.hex()))  # fmt: skip
                    nonces[account.address] += 1
                except RuntimeError as exc:
                    refused.append(str(exc)[:200])
                next_at += period
                stop.wait(max(0.0, next_at - time.monotonic()))

        threads = 4
        workers = [threading.Thread(target=load, args=(i, threads)) for i in range(threads)]
        workers.append(threading.Thread(target=sample))
        pids = {"chain": chain["pid"], "gateway": gateway["pid"]}
        before = {name: cpu_seconds(pid) for name, pid in pids.items()}
        before["validators"] = sum(cpu_seconds(g) for g in groups)
        first = int(call(url, "eth_blockNumber"), 16)
        started = time.monotonic()
        for worker in workers:
            worker.start()
        time.sleep(args.seconds)
        stop.set()
        for worker in workers:
            worker.join()
        elapsed = time.monotonic() - started
        last = int(call(url, "eth_blockNumber"), 16)
        after = {name: cpu_seconds(pid) for name, pid in pids.items()}
        after["validators"] = sum(cpu_seconds(g) for g in groups)
        mined = sum(len(w3.eth.get_block(n)["transactions"]) for n in range(first + 1, last + 1))
        everyone = [lag for values in samples.values() for lag in values]
        print(json.dumps({
            "validators": args.validators, "per_process": args.per_process, "senders": args.senders,
            "offered_per_second": args.rate, "seconds": round(elapsed, 1), "sent": len(sent),
            "refused": len(refused), "refusals": refused[:3], "mined": mined,
            "mined_per_second": round(mined / elapsed, 1), "blocks": last - first,
            "lag_blocks": stats(everyone), "lag_by_validator": {n: stats(v) for n, v in samples.items()},
            "cpu_seconds_during_load": {n: round(after[n] - before[n], 1) for n in after},
            "load_average": os.getloadavg(),
        }, indent=1))  # fmt: skip


if __name__ == "__main__":
    main()
