"""Random-time SIGKILL loop (docs/migration.md §7): kill a seeded random workload at arbitrary moments.

Each round forks the real engine in a new process (the driver's fork server) on the same store —
it recovers first, so kills also land inside recovery — sleeps a random time and SIGKILLs it. Then
two copies of the store are recovered and must agree byte for byte, and every invariant is checked
against the state before the round. Where each kill landed is taken from the crash-point trace.
The default run makes a few hundred kills; the ``slow`` test makes thousands.
"""

from __future__ import annotations

import json
import os
import random
import signal
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.formal.tracecheck import ModelGraph, check_trace, store_facts
from tests.migration._migration_support import (
    ForkServer,
    check_invariants,
    copy_store,
    known_secrets,
    mark_crashed,
    open_engine,
    positions,
    snapshot,
    trace_labels,
)

MAX_ACCOUNTS = 30
MAX_DELAY = 0.08
"""Seconds; a forked workload round of 60 operations runs for roughly that long."""


@dataclass
class Campaign:
    kills: int = 0
    completed_rounds: int = 0
    stores: int = 1
    landed: Counter[str] = field(default_factory=Counter)
    traced_steps: int = 0
    problems: list[str] = field(default_factory=list)


def run_campaign(seed: int, kills_wanted: int, work: Path, model: ModelGraph | str) -> Campaign:
    server = ForkServer(work / "server.stderr")
    try:
        return _campaign(server, seed, kills_wanted, work, model)
    finally:
        server.close()


def _campaign(server: ForkServer, seed: int, kills_wanted: int, work: Path, model: ModelGraph | str) -> Campaign:
    rng = random.Random(seed)
    secrets = known_secrets(seed, MAX_ACCOUNTS + 8)
    campaign = Campaign()
    store = work / "store-0"
    trace = work / "trace"
    round_number = 0
    while campaign.kills < kills_wanted and not campaign.problems:
        before = positions(store) if (store / "migration.wal").exists() else {}
        trace.unlink(missing_ok=True)
        argv = [
            str(store),
            "chaos",
            "--seed",
            str(seed),
            "--round",
            str(round_number),
            "--max-accounts",
            str(MAX_ACCOUNTS),
            "--ops",
            "60",
        ]
        round_number += 1
        facts = store_facts(store)
        pid = server.start(argv, {"CHAINPLUG_CRASH_TRACE": str(trace)})
        time.sleep(rng.uniform(0, MAX_DELAY))
        os.kill(pid, signal.SIGKILL)  # harmless if it already exited: it stays a zombie until reaped
        code, result = server.reap()
        if code == -9:
            campaign.kills += 1
            mark_crashed(trace)
            passed = trace_labels(trace)
            campaign.landed[f"after {passed[-1]}" if passed else "before the first crash point"] += 1
        elif code == 0:
            campaign.completed_rounds += 1
            if result == "exhausted":  # every account is PQC_ONLY: continue on a fresh store
                store = work / f"store-{campaign.stores}"
                campaign.stores += 1
                continue
        else:
            campaign.problems.append(f"round {round_number}: driver failed ({code}): see {server.stderr_path}")
            break
        if not (store / "migration.wal").exists():
            continue
        twin = copy_store(store, work / f"twin-{round_number}")
        code, result = server.run([str(store), "recover"], {"CHAINPLUG_CRASH_TRACE": str(trace)})
        if code != 0 or result is None:
            campaign.problems.append(f"round {round_number}: recovery failed ({code}): see {server.stderr_path}")
            break
        if not json.loads(result)["clean"]:  # a crash alone never leaves a problem or a "restored" classical key
            campaign.problems.append(f"round {round_number}: recovery not clean: {result}")
        open_engine(twin).close()
        if snapshot(store) != snapshot(twin):
            campaign.problems.append(f"round {round_number}: two recoveries of the same files disagree")
        violations = check_invariants(store, secrets, before=before)
        campaign.problems += [f"round {round_number}: {v}" for v in violations]
        if not isinstance(model, str):
            checked = check_trace(model, trace.read_text().splitlines(), facts, store_facts(store))
            campaign.problems += [f"round {round_number} trace: {p}" for p in checked.problems]
            campaign.traced_steps += checked.steps
    return campaign


def run_campaigns(kills_per_campaign: int, tmp_path: Path, model: ModelGraph | str) -> None:
    seeds = (101, 202)
    for seed in seeds:
        (tmp_path / str(seed)).mkdir()
    with ThreadPoolExecutor(max_workers=len(seeds)) as pool:
        campaigns = list(pool.map(lambda s: run_campaign(s, kills_per_campaign, tmp_path / str(s), model), seeds))
    kills = sum(c.kills for c in campaigns)
    landed = sum((c.landed for c in campaigns), Counter())
    print(
        f"\nrandom-time kills: {kills} (plus {sum(c.completed_rounds for c in campaigns)} rounds that finished "
        f"first) over {sum(c.stores for c in campaigns)} stores; kills landed after {len(landed)} distinct "
        f"crash points: {dict(landed.most_common())}"
    )
    if isinstance(model, str):
        print(f"traces not checked against Migration.tla: {model}")
    else:
        print(
            f"model steps of the round traces checked against Migration.tla: {sum(c.traced_steps for c in campaigns)}"
        )
    problems = [p for c in campaigns for p in c.problems]
    assert not problems, "\n".join(problems[:20])
    assert kills == 2 * kills_per_campaign
    assert len(landed) > 10, "kills should land all over the engine, not in one place"


def test_random_time_sigkill_loop(tmp_path: Path, migration_model: ModelGraph | str) -> None:
    run_campaigns(100, tmp_path, migration_model)


@pytest.mark.slow
def test_random_time_sigkill_loop_thousands(tmp_path: Path, migration_model: ModelGraph | str) -> None:
    run_campaigns(1500, tmp_path, migration_model)
