"""Runs the real migration engine for the crash tests, which SIGKILL it (docs/migration.md §7).

    python -m tests.migration.crash_driver STORE create  --seed S --start I [--count N]
    python -m tests.migration.crash_driver STORE advance --seed S --index I --to STATE
    python -m tests.migration.crash_driver STORE rollback --seed S --index I --generation G
    python -m tests.migration.crash_driver STORE recover
    python -m tests.migration.crash_driver STORE batch   --to STATE [--batch-size K]
    python -m tests.migration.crash_driver STORE chaos   --seed S --round R [--max-accounts M] [--ops N]

    python -m tests.migration.crash_driver --serve

(from the repository root). Crash points come from the environment (CHAINPLUG_CRASH_AT,
CHAINPLUG_CRASH_TRACE; see chainplug.migration.crashpoints). A one-shot run prints ``ready`` once
imported (PQC backend loaded), before the store is opened, so a random-time kill can land in
recovery too. Every operation converges: run again after a crash it finishes the job instead of
failing, which is how the tests check that a crashed run is resumable. Test-only: keys come from a
public seed.

``--serve`` is a fork server that makes a kill cost milliseconds instead of an interpreter start:
per request line ``{"argv": [...], "env": {...}}`` it forks a child that installs the crash
settings from ``env`` (the same code that reads the real environment), runs ``argv`` and exits
(printing ``result <r>``); it answers ``pid <n>``. The child is reaped only when the test writes
``reap`` (so a pid is never reused while the test may still kill it); then it answers ``exit <code>``
(``-9`` = SIGKILL).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path

from chainplug.crypto import get_backend
from chainplug.migration import MigrationEngine  # also installs crash points from the environment
from chainplug.migration.crashpoints import install_from_env
from chainplug.types import AccountState
from tests.migration._migration_support import ALL_READY, known_key


def _state(text: str) -> AccountState:
    return AccountState[text.upper()]


def parse(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("store", type=Path)
    parser.add_argument("op", choices=("create", "advance", "rollback", "recover", "batch", "chaos"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--start", type=int, default=0)
    parser.add_argument("--count", type=int, default=1)
    parser.add_argument("--index", type=int, default=0)
    parser.add_argument("--generation", type=int, default=0)
    parser.add_argument("--to", type=_state, default=AccountState.PQC_ONLY)
    parser.add_argument("--batch-size", type=int, default=2)
    parser.add_argument("--round", type=int, default=0)
    parser.add_argument("--max-accounts", type=int, default=40)
    parser.add_argument("--ops", type=int, default=30)
    return parser.parse_args(argv)


def run(argv: Sequence[str]) -> str:
    """Run one operation to completion; returns "done", for chaos "exhausted" when nothing is left, for
    recover the recovery report (JSON)."""
    args = parse(argv)
    with MigrationEngine.open(args.store, create=args.op in ("create", "chaos"), readiness=ALL_READY) as engine:
        if args.op == "create":
            keys = [known_key(args.seed, args.start + i) for i in range(args.count)]
            engine.create_accounts([key for key in keys if key.address not in engine.accounts])
        elif args.op == "advance":
            address = known_key(args.seed, args.index).address
            if engine.account(address).state < args.to:
                engine.advance(address, args.to)
        elif args.op == "rollback":
            account = engine.account(known_key(args.seed, args.index).address)
            if account.state is AccountState.HYBRID and account.generation == args.generation:
                engine.rollback(account.address)
        elif args.op == "batch":
            engine.batch(args.to, batch_size=args.batch_size)
        elif args.op == "chaos":
            return _chaos(engine, args)
        elif args.op == "recover":  # opening recovered the store; the report goes back as JSON
            assert engine.last_recovery is not None
            return json.dumps(engine.last_recovery.to_json())
    return "done"


def _chaos(engine: MigrationEngine, args: argparse.Namespace) -> str:
    """A seeded random workload over every operation, for random-time kills."""
    rng = random.Random(args.seed * 1_000_003 + args.round)
    for _ in range(args.ops):
        accounts = engine.accounts
        live = sorted(a for a, account in accounts.items() if account.state < AccountState.PQC_ONLY)
        hybrid = [a for a in live if accounts[a].state is AccountState.HYBRID]
        roll = rng.random()
        if len(accounts) < args.max_accounts and (not live or roll < 0.25):
            start = len(accounts)
            count = min(rng.choice((1, 1, 2, 4)), args.max_accounts - start)
            keys = [known_key(args.seed, start + i) for i in range(count)]
            engine.create_accounts([key for key in keys if key.address not in accounts])
        elif not live:
            return "exhausted"
        elif roll < 0.35:
            target = rng.choice((AccountState.HYBRID, AccountState.FINALIZING, AccountState.PQC_ONLY))
            engine.batch(target, batch_size=rng.choice((1, 2, 3, 8)))
        elif roll < 0.5 and hybrid:
            engine.rollback(rng.choice(hybrid))
        else:
            address = rng.choice(live)
            targets = [s for s in AccountState if s > accounts[address].state]
            engine.advance(address, rng.choice(targets))
    return "done"


def serve() -> None:
    """The fork server (module docstring).

    # NOTE: a child never writes to the server's stdout. An earlier version let children print their
    # result there; a child killed at the wrong instant could then leave the reply stream out of step
    # and the test waiting forever. Each child now hands its result back through its own pipe, which
    # the server reads after reaping it, so every request gets exactly two reply lines.
    """
    while line := sys.stdin.readline():
        request = json.loads(line)
        result_read, result_write = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(result_read)
            code = 0
            try:
                install_from_env(request.get("env", {}))
                os.write(result_write, str(run(request["argv"])).encode())
            except BaseException:
                traceback.print_exc()
                code = 3
            finally:
                sys.stderr.flush()
                os._exit(code)
        os.close(result_write)
        print(f"pid {pid}", flush=True)
        sys.stdin.readline()  # "reap"
        _, status = os.waitpid(pid, 0)
        with os.fdopen(result_read, "rb") as results:
            result = results.read().decode() or "-"
        print(f"exit {os.waitstatus_to_exitcode(status)} {result}", flush=True)


if __name__ == "__main__":
    get_backend()  # load the PQC backend (probing for liboqs) before "ready": import cost, not engine work
    if sys.argv[1:] == ["--serve"]:
        serve()
    else:
        print("ready", flush=True)
        print(run(sys.argv[1:]), flush=True)
