"""Real service processes on loopback ports, and their teardown on every exit path.

Each service is ``python -m chainplug.cli.main ARGS --json`` in its own session (process group):
a validator's verification pool dies with it when the group is killed, and a Ctrl-C in the
terminal reaches only the orchestrator, which then stops the children in order. stdout (the one
JSON announcement line) and stderr go to ``OUT/logs/<name>.log`` — no pipe that nobody reads can
fill up and block a chatty service.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from .rpc import DevnetError

START_TIMEOUT: Final = 90.0
"""Seconds a service may take to announce itself (imports on a loaded 2-core machine are slow)."""
STOP_TIMEOUT: Final = 10.0
"""Seconds between SIGTERM and SIGKILL."""
STRIPPED_ENV: Final = ("CHAINPLUG_CRASH_AT", "CHAINPLUG_CRASH_TRACE")
"""Never inherited by children: crash injection is given to one process on purpose, not to all."""


_HANDED_OUT: set[tuple[str, int]] = set()
_HANDED_OUT_LOCK = threading.Lock()


def free_port(host: str = "127.0.0.1") -> int:
    """A port that is free now and that this process never handed out before (bound and released;
    services get fixed ports so restarts keep URLs). The kernel may offer a released port again at
    once, and a service given a port does not listen on it until it has started: without the memory,
    two services of one devnet could be given the same port (seen: the signer's and a validator's)."""
    with _HANDED_OUT_LOCK:
        for _ in range(1000):
            with socket.socket() as sock:
                sock.bind((host, 0))
                port: int = sock.getsockname()[1]
            if (host, port) not in _HANDED_OUT:
                _HANDED_OUT.add((host, port))
                return port
    raise DevnetError(f"no free port on {host} that was not handed out already")


@dataclass
class Service:
    """One running (or finished) service process."""

    name: str
    args: tuple[str, ...]
    process: subprocess.Popen[bytes]
    log_path: Path
    info: dict[str, Any] = field(default_factory=dict)
    """The JSON announcement line (with ``url``)."""

    @property
    def url(self) -> str:
        return str(self.info["url"])

    @property
    def alive(self) -> bool:
        return self.process.poll() is None


class Supervisor:
    """Starts, stops and kills the devnet's processes; :meth:`close` leaves none behind."""

    def __init__(self, log_dir: Path, *, env: Mapping[str, str] | None = None) -> None:
        self.log_dir = log_dir
        log_dir.mkdir(parents=True, exist_ok=True)
        base = dict(os.environ if env is None else env)
        self._env = {k: v for k, v in base.items() if k not in STRIPPED_ENV}
        self.services: dict[str, Service] = {}
        self.cpu_seconds: dict[str, float] = {}
        """CPU time (user + system) each service used, every incarnation and its pool workers, counted
        when it is stopped or killed (Linux: read from /proc; empty elsewhere)."""
        self._groups: set[int] = set()
        """Every process group ever started: close() kills leftovers (orphaned pool workers) too."""

    def spawn(self, name: str, args: Sequence[str], *, extra_env: Mapping[str, str] | None = None) -> Service:
        """Start ``chainplug ARGS --json`` without waiting for its announcement."""
        if name in self.services and self.services[name].alive:
            raise DevnetError(f"{name} is already running")
        log_path = self.log_dir / f"{name}.log"
        with log_path.open("ab") as log:
            log.write(f"=== {time.strftime('%H:%M:%S')} start: chainplug {' '.join(args)}\n".encode())
            log.flush()
            offset = log.tell()
            process = subprocess.Popen(
                [sys.executable, "-m", "chainplug.cli.main", *args, "--json"],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                env={**self._env, **(extra_env or {})},
                start_new_session=True,
            )
            log.write(f"=== pid {process.pid} (its own process group)\n".encode())
        self._groups.add(process.pid)
        service = Service(name, tuple(args), process, log_path)
        service.info["_offset"] = offset
        self.services[name] = service
        return service

    def wait_announced(self, service: Service, timeout: float = START_TIMEOUT) -> Service:
        """Block until the service prints its JSON line; raise with its log tail if it dies first."""
        deadline = time.monotonic() + timeout
        offset = int(service.info.pop("_offset", 0))
        while True:
            with service.log_path.open("rb") as log:
                log.seek(offset)
                for line in log.read().splitlines():
                    if line.startswith(b"{") and b'"url"' in line:
                        with contextlib.suppress(ValueError):
                            service.info = {**json.loads(line), "pid": service.process.pid}
                            return service
            if service.process.poll() is not None:
                raise DevnetError(f"{service.name} exited ({service.process.returncode}): {self.tail(service)}")
            if time.monotonic() > deadline:
                raise DevnetError(f"{service.name} did not announce itself within {timeout:.0f} s")
            time.sleep(0.05)

    def start(self, name: str, args: Sequence[str], *, extra_env: Mapping[str, str] | None = None) -> Service:
        return self.wait_announced(self.spawn(name, args, extra_env=extra_env))

    def start_many(self, specs: Sequence[tuple[str, Sequence[str]]]) -> list[Service]:
        """Start several services at once (their imports overlap) and wait for all of them."""
        spawned = [self.spawn(name, args) for name, args in specs]
        return [self.wait_announced(service) for service in spawned]

    def tail(self, service: Service, size: int = 1500) -> str:
        data = service.log_path.read_bytes()
        return data[-size:].decode(errors="replace").strip()

    def stop(self, name: str, timeout: float = STOP_TIMEOUT) -> int | None:
        """SIGTERM, wait, then SIGKILL the whole group; returns the exit code."""
        service = self.services.get(name)
        if service is None:
            return None
        if service.alive:
            self._count_cpu(service)
            with contextlib.suppress(ProcessLookupError):
                service.process.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                service.process.wait(timeout)
        return self._reap(service)

    def kill(self, name: str) -> int | None:
        """SIGKILL the service's whole process group at once (a crash, not a shutdown)."""
        service = self.services.get(name)
        return self._reap(service) if service is not None else None

    def _count_cpu(self, service: Service) -> None:
        if service.alive:
            used = group_cpu_seconds(service.process.pid)
            self.cpu_seconds[service.name] = self.cpu_seconds.get(service.name, 0.0) + used

    def _reap(self, service: Service) -> int | None:
        self._count_cpu(service)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(service.process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            service.process.wait(STOP_TIMEOUT)
        return service.process.returncode

    def close(self) -> None:
        """Stop everything: SIGTERM to all first (they shut down in parallel), then SIGKILL groups.
        A Ctrl-C or SIGTERM arriving during teardown is held until teardown is done, then re-raised."""
        caught: list[int] = []
        saved: dict[int, Any] = {}
        if threading.current_thread() is threading.main_thread():
            for held in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
                saved[held] = signal.signal(held, lambda number, _: caught.append(number))
        try:
            self._close()
        finally:
            for number, handler in saved.items():
                signal.signal(number, handler)
        if caught:
            signal.raise_signal(caught[0])  # now handled as it would have been

    def _close(self) -> None:
        for service in self.services.values():
            if service.alive:
                self._count_cpu(service)
                with contextlib.suppress(ProcessLookupError):
                    service.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        for service in self.services.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                service.process.wait(max(0.1, deadline - time.monotonic()))
        for group in sorted(self._groups):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(group, signal.SIGKILL)
        for service in self.services.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                service.process.wait(STOP_TIMEOUT)


def group_cpu_seconds(group: int) -> float:
    """User + system CPU seconds of every live process in process group ``group`` and of the children they
    waited for (0.0 where /proc is missing)."""
    ticks = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    total = 0
    try:
        entries = os.listdir("/proc")
    except OSError:
        return 0.0
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as stat:
                fields = stat.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        # After the command's closing parenthesis: state, ppid, pgrp, ..., utime, stime, cutime, cstime
        # (proc(5) fields 14-17, here 11-14).
        if len(fields) > 14 and int(fields[2]) == group:
            total += sum(int(f) for f in fields[11:15])
    return total / ticks


class Interrupted(BaseException):
    """SIGTERM or SIGHUP arrived: unwind like Ctrl-C so every ``finally`` tears down."""


def install_signal_handlers() -> None:
    """Turn SIGTERM and SIGHUP into :class:`Interrupted` in the main thread (SIGINT already raises
    KeyboardInterrupt)."""

    def handler(signum: int, _: Any) -> None:
        raise Interrupted(signal.Signals(signum).name)

    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, handler)
