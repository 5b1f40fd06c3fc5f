"""Run an aiohttp application until SIGINT/SIGTERM, announcing where it listens (shared by services)."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from typing import Any

from aiohttp import web

from ..errors import ConfigError


def parse_listen(value: str) -> tuple[str, int]:
    """HOST:PORT -> (host, port); port 0 picks a free one."""
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit():
        raise ConfigError(f"--listen must be HOST:PORT, got {value!r}")
    return host.strip("[]"), int(port)


def serve(app: web.Application, listen: str, info: dict[str, Any], *, as_json: bool, banner: str = "") -> int:
    """Serve ``app`` on ``listen``; once bound (and only then), print ``banner`` and one line (JSON with
    ``url`` when ``as_json``, the banner left out)."""
    from ..rpc import IDLE_TIMEOUT

    host, port = parse_listen(listen)

    async def main() -> None:
        runner = web.AppRunner(app, handle_signals=False, keepalive_timeout=IDLE_TIMEOUT)
        await runner.setup()
        try:
            await web.TCPSite(runner, host, port).start()
        except OSError as exc:
            await runner.cleanup()
            why = str(exc).rsplit(": ", 1)[-1]  # asyncio prefixes "error while attempting to bind on address ..."
            raise ConfigError(f"cannot listen on {host}:{port}: {why}") from None
        bound_host, bound_port = runner.addresses[0][:2]
        announcement = {**info, "url": f"http://{bound_host}:{bound_port}"}
        line = (
            json.dumps(announcement)
            if as_json
            else f"{info.get('service', 'service')} listening on {announcement['url']}"
        )
        sys.stdout.write(("" if as_json or not banner else banner.rstrip("\n") + "\n") + line + "\n")
        sys.stdout.flush()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        try:
            await stop.wait()
        finally:
            await runner.cleanup()

    asyncio.run(main())
    return 0
