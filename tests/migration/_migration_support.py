"""Shared helpers for the migration tests and the crash driver: deterministic test keys, store
snapshots, and the invariant checker every crash test runs after recovery.

Known keys are derived from (seed, index) so a test process can know the secrets a driver
subprocess created — and then prove they are gone. Never derive real keys like this.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from chainplug._fs import is_temp_name
from chainplug.crypto import Secp256k1PrivateKey, keccak256
from chainplug.errors import MigrationError
from chainplug.migration import MigrationEngine, PlainFileKeyStore, Position, StaticReadiness, read_status
from chainplug.migration.crashpoints import CrashPlan, SimulatedCrash, install
from chainplug.migration.state import Phase
from chainplug.types import Address

ALL_READY = StaticReadiness({"val-1": True, "val-2": True, "val-3": True}, origin="test fleet")


def known_secret(seed: int, index: int) -> bytes:
    """A deterministic, valid secp256k1 secret for tests."""
    return keccak256(b"chainplug-migration-tests" + seed.to_bytes(8, "big") + index.to_bytes(8, "big"))


def known_key(seed: int, index: int) -> Secp256k1PrivateKey:
    """The key of :func:`known_secret`."""
    return Secp256k1PrivateKey(known_secret(seed, index))


def known_secrets(seed: int, count: int) -> dict[Address, bytes]:
    """Address → secret for the first ``count`` test keys of ``seed``."""
    return {known_key(seed, index).address: known_secret(seed, index) for index in range(count)}


def open_engine(store: Path, **kwargs: object) -> MigrationEngine:
    """An engine whose fleet is fully upgraded."""
    kwargs.setdefault("readiness", ALL_READY)
    return MigrationEngine.open(store, **kwargs)  # type: ignore[arg-type]


def snapshot(store: Path) -> dict[str, bytes]:
    """Every file under ``store`` (except the lock, which holds a pid) by relative path."""
    files = {}
    for path in sorted(store.rglob("*")):
        if path.is_file() and path.name != "LOCK":
            files[str(path.relative_to(store))] = path.read_bytes()
    return files


def copy_store(source: Path, target: Path) -> Path:
    """A byte-for-byte copy of a store directory."""
    shutil.copytree(source, target, symlinks=True)
    return target


def positions(store: Path) -> dict[Address, Position]:
    """Every account's (generation, phase), read-only."""
    return {account.address: account.position for account in read_status(store).accounts}


def upper_bound(position: Position) -> Position:
    """The furthest an account may be after a crash and recovery when it was at, or an operation was
    heading for, ``position``: recovery finishes an erasure from FINALIZING, and nothing more."""
    if position.phase is Phase.FINALIZING:
        return Position(position.generation, Phase.CLASSICAL_ERASED)
    return position


def _contains_secret(data: bytes, secret: bytes) -> bool:
    return secret in data or secret.hex().encode() in data or secret.hex().upper().encode() in data


def check_invariants(
    store: Path,
    secrets: Mapping[Address, bytes],
    *,
    before: Mapping[Address, Position] | None = None,
    at_most: Mapping[Address, Position] | None = None,
) -> list[str]:
    """Every crash-safety invariant of docs/migration.md §7, on a recovered store. Returns violations.

    * state monotone: no account behind ``before`` (rollback raises the generation, so it counts
      as forward), none beyond ``at_most``;
    * the classical key loads (and is the account's) up to HYBRID; the PQC key loads and matches the
      logged key id from HYBRID on — so never both keys lost;
    * from CLASSICAL_ERASED on, the classical secret is in no file under the store (keys, log, public
      backups, temp files), raw or hex; no secret of any account is ever in the log;
    * nothing left to repair (no torn tail, no leftover temp files, no mismatch notes).
    """
    violations: list[str] = []
    status = read_status(store)
    keystore = PlainFileKeyStore(store / "keys")
    files = snapshot(store)
    wal = files.get("migration.wal", b"")
    for account in status.accounts:
        name = f"0x{account.address.hex()[:8]}"
        if before is not None and account.address in before and account.position < before[account.address]:
            violations.append(f"{name} went back: {before[account.address]} -> {account.position}")
        if at_most is not None and account.address in at_most and account.position > at_most[account.address]:
            violations.append(f"{name} went past its target: {account.position} > {at_most[account.address]}")
        if account.phase.needs_classical_key:
            try:
                keystore.load_classical(account.address).destroy()
            except MigrationError as exc:
                violations.append(f"{name} {account.phase.name}: classical key not loadable: {exc}")
        if account.phase.needs_pqc_key:
            try:
                key = keystore.load_pqc(account.address, account.generation)
                if key.key_id != account.key_id:
                    violations.append(f"{name}: PQC key on disk does not match the logged key id")
                key.destroy()
            except MigrationError as exc:
                violations.append(f"{name} {account.phase.name}: PQC key not loadable: {exc}")
        secret = secrets.get(account.address)
        if secret is None:
            violations.append(f"{name}: test does not know this account's secret")
            continue
        if account.phase >= Phase.CLASSICAL_ERASED:
            for path, data in files.items():
                if _contains_secret(data, secret):
                    violations.append(f"{name} {account.phase.name}: classical secret found in {path}")
    for address, secret in secrets.items():
        if _contains_secret(wal, secret):
            violations.append(f"0x{address.hex()[:8]}: secret found in the log")
    leftovers = [path for path in files if is_temp_name(Path(path).name)]
    if leftovers:
        violations.append(f"temp files left behind: {leftovers}")
    if status.needs_repair:
        violations.append(f"store still needs repair: {status.to_json()}")
    return violations


def scan_for_secrets(blobs: Iterable[tuple[str, bytes | str]], secrets: Iterable[bytes]) -> list[str]:
    """Names of ``blobs`` containing any of ``secrets`` (raw, lower or upper hex)."""
    found = []
    secrets = list(secrets)
    for name, blob in blobs:
        data = blob.encode("utf-8", "surrogateescape") if isinstance(blob, str) else blob
        found.extend(name for secret in secrets if _contains_secret(data, secret))
    return found


def trace_labels(trace: Path) -> list[str]:
    """The crash-point labels of a CHAINPLUG_CRASH_TRACE file, in order (subjects and @events dropped)."""
    lines = trace.read_text().splitlines() if trace.exists() else []
    return [line.partition(" ")[0] for line in lines if line and not line.startswith("@")]


def mark_crashed(trace: Path) -> None:
    """Record in a trace that the traced process was SIGKILLed (tests/formal/tracecheck.py)."""
    with trace.open("a") as out:
        out.write("@crash\n")


REPO_ROOT = Path(__file__).resolve().parents[2]
DRIVER_COMMAND = (sys.executable, "-m", "tests.migration.crash_driver")
"""Run from REPO_ROOT (so ``tests`` imports)."""


def driver_env(**extra: str) -> dict[str, str]:
    """Environment for a driver subprocess: no inherited crash settings, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHAINPLUG_CRASH")}
    env.update(extra)
    return env


def _raise_simulated_crash() -> None:
    raise SimulatedCrash


def simulate_crash(label: str, nth: int, action: Callable[[], object]) -> None:
    """Run ``action`` in this process and require it to "die" just before the nth hit of ``label``.

    The crash raises :class:`SimulatedCrash` (a BaseException) exactly where SIGKILL would strike;
    nothing the engine does on the way out writes to disk (``close`` only frees memory and the lock).
    """
    install(CrashPlan(label, nth), action=_raise_simulated_crash)
    try:
        action()
    except SimulatedCrash:
        return
    finally:
        install(None)
    raise AssertionError(f"{label}:{nth} was never reached")


READ_TIMEOUT = 300
"""Seconds a fork-server reply may take (a loaded CI machine is slow, never this slow)."""


class ForkServer:
    """A ``crash_driver --serve`` process: runs engine operations in forked children it can kill."""

    def __init__(self, stderr_path: Path) -> None:
        self._stderr = stderr_path.open("w")
        self._process = subprocess.Popen(
            [*DRIVER_COMMAND, "--serve"],
            cwd=REPO_ROOT,
            env=driver_env(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
            bufsize=1,
        )
        self.stderr_path = stderr_path

    def _send(self, line: str) -> None:
        assert self._process.stdin is not None
        self._process.stdin.write(line + "\n")
        self._process.stdin.flush()

    def _read(self) -> str:
        assert self._process.stdout is not None
        ready, _, _ = select.select([self._process.stdout], [], [], READ_TIMEOUT)
        if not ready:  # never hang a test run: fail with what the server said
            raise RuntimeError(f"fork server silent for {READ_TIMEOUT} s: {self.stderr_path.read_text()[-2000:]}")
        line = self._process.stdout.readline()
        if not line:
            raise RuntimeError(f"fork server died: {self.stderr_path.read_text()[-2000:]}")
        return line.strip()

    def start(self, argv: Iterable[str], env: Mapping[str, str] | None = None) -> int:
        """Fork a child running ``argv`` (crash settings in ``env``); returns its pid."""
        self._send(json.dumps({"argv": list(argv), "env": dict(env or {})}))
        kind, _, pid = self._read().partition(" ")
        assert kind == "pid", kind
        return int(pid)

    def reap(self) -> tuple[int, str | None]:
        """Wait for the child; returns (exit code, -9 for SIGKILL; its result or None)."""
        self._send("reap")
        kind, _, rest = self._read().partition(" ")
        assert kind == "exit", kind
        code, _, result = rest.partition(" ")
        return int(code), None if result in ("", "-") else result

    def run(self, argv: Iterable[str], env: Mapping[str, str] | None = None) -> tuple[int, str | None]:
        """Run to the end (or to the crash point set in ``env``)."""
        self.start(argv, env)
        return self.reap()

    def close(self) -> None:
        """Stop the server."""
        assert self._process.stdin is not None
        self._process.stdin.close()
        self._process.wait(timeout=30)
        self._stderr.close()
