"""Run an aiohttp application until SIGINT/SIGTERM, announcing where it listens (shared by services)."""

from __future__ import annotations

import contextlib
import json
import signal
import sys
from collections.abc import Callable, Coroutine, Sequence
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError

if TYPE_CHECKING:  # aiohttp is imported when a service starts, not for every command's parser
    from aiohttp import web


def parse_listen(value: str) -> tuple[str, int]:
    """HOST:PORT -> (host, port); port 0 picks a free one."""
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit():
        raise ConfigError(f"--listen must be HOST:PORT, got {value!r}")
    return host.strip("[]"), int(port)


def serve(
    app: web.Application,
    listen: str,
    info: dict[str, Any],
    *,
    as_json: bool,
    banner: str = "",
    reuse_port: bool = False,
    on_bound: Callable[[str, int], Coroutine[Any, Any, Callable[[], Coroutine[Any, Any, None]]]] | None = None,
    hand_over_port: bool = False,
) -> int:
    """Serve ``app`` on ``listen``; once bound (and only then), print ``banner`` and one line (JSON with
    ``url`` when ``as_json``, the banner left out). ``reuse_port``: bind with SO_REUSEPORT, so that other
    processes can serve the same port. ``on_bound(host, port)`` runs once bound, before the line is
    printed, and returns what to run when the service stops; with ``hand_over_port`` this process then
    stops listening, leaving the port to the processes ``on_bound`` started."""
    return serve_many([("", app, listen)], info, as_json=as_json, banner=banner, reuse_port=reuse_port,
                      on_bound=on_bound, hand_over_port=hand_over_port)  # fmt: skip


def serve_many(
    apps: Sequence[tuple[str, web.Application, str]],
    info: dict[str, Any],
    *,
    as_json: bool,
    banner: str = "",
    background: Callable[[], Coroutine[Any, Any, None]] | None = None,
    reuse_port: bool = False,
    on_bound: Callable[[str, int], Coroutine[Any, Any, Callable[[], Coroutine[Any, Any, None]]]] | None = None,
    hand_over_port: bool = False,
) -> int:
    """Serve several (name, app, listen) in one process; once all are bound, announce one line (``url``:
    the first; ``urls``: by name, when there are several) and run ``background`` until SIGINT/SIGTERM."""
    import asyncio

    from aiohttp import web

    from ..rpc import IDLE_TIMEOUT

    async def main() -> None:
        runners: list[web.AppRunner] = []
        urls: dict[str, str] = {}
        on_stop: Callable[[], Coroutine[Any, Any, None]] | None = None
        try:
            for name, app, listen in apps:
                host, port = parse_listen(listen)
                runner = web.AppRunner(app, handle_signals=False, keepalive_timeout=IDLE_TIMEOUT)
                await runner.setup()
                runners.append(runner)
                try:
                    await web.TCPSite(runner, host, port, reuse_port=reuse_port or None).start()
                except OSError as exc:
                    why = str(exc).rsplit(": ", 1)[-1]  # asyncio prefixes "error while attempting to bind on ..."
                    raise ConfigError(f"cannot listen on {host}:{port}: {why}") from None
                bound_host, bound_port = runner.addresses[0][:2]
                urls[name] = f"http://{bound_host}:{bound_port}"
            if on_bound is not None:
                on_stop = await on_bound(*runners[0].addresses[0][:2])
                if hand_over_port:  # the processes on_bound started serve it now (SO_REUSEPORT)
                    for site in list(runners[0].sites):
                        await site.stop()
            announcement = {**info, "url": next(iter(urls.values()))}
            if len(apps) > 1:
                announcement["urls"] = urls
            line = (
                json.dumps(announcement)
                if as_json
                else f"{info.get('service', 'service')} listening on {', '.join(urls.values())}"
            )
            sys.stdout.write(("" if as_json or not banner else banner.rstrip("\n") + "\n") + line + "\n")
            sys.stdout.flush()
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
            task = asyncio.create_task(background()) if background is not None else None
            try:
                await stop.wait()
            finally:
                if task is not None:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
        finally:
            if on_stop is not None:
                await on_stop()
            for runner in runners:
                await runner.cleanup()

    asyncio.run(main())
    return 0
