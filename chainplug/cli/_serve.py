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


def serve(app: web.Application, listen: str, info: dict[str, Any], *, as_json: bool, banner: str = "") -> int:
    """Serve ``app`` on ``listen``; once bound (and only then), print ``banner`` and one line (JSON with
    ``url`` when ``as_json``, the banner left out)."""
    return serve_many([("", app, listen)], info, as_json=as_json, banner=banner)


def serve_many(
    apps: Sequence[tuple[str, web.Application, str]],
    info: dict[str, Any],
    *,
    as_json: bool,
    banner: str = "",
    background: Callable[[], Coroutine[Any, Any, None]] | None = None,
) -> int:
    """Serve several (name, app, listen) in one process; once all are bound, announce one line (``url``:
    the first; ``urls``: by name, when there are several) and run ``background`` until SIGINT/SIGTERM."""
    import asyncio

    from aiohttp import web

    from ..rpc import IDLE_TIMEOUT

    async def main() -> None:
        runners: list[web.AppRunner] = []
        urls: dict[str, str] = {}
        try:
            for name, app, listen in apps:
                host, port = parse_listen(listen)
                runner = web.AppRunner(app, handle_signals=False, keepalive_timeout=IDLE_TIMEOUT)
                await runner.setup()
                runners.append(runner)
                try:
                    await web.TCPSite(runner, host, port).start()
                except OSError as exc:
                    why = str(exc).rsplit(": ", 1)[-1]  # asyncio prefixes "error while attempting to bind on ..."
                    raise ConfigError(f"cannot listen on {host}:{port}: {why}") from None
                bound_host, bound_port = runner.addresses[0][:2]
                urls[name] = f"http://{bound_host}:{bound_port}"
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
            for runner in runners:
                await runner.cleanup()

    asyncio.run(main())
    return 0
