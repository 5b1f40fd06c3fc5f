"""The key port: how a signer's front processes reach the one process that holds the keys.

``chainplug signer serve --fronts N`` starts N front processes on the signer's own port (SO_REUSEPORT:
the kernel spreads connections over them; the key process leaves the port to them). A front does the per-request work
that needs no key — HTTP, the body and JSON limits, the bearer token, batches, the requests it
proxies to the node — and hands every method the signer answers itself to the key process over this
port, unchanged: one JSON-RPC request object per line, one answer per line, on a Unix socket in a
directory only the signer's user can enter. The key process answers it with the very dispatch its
HTTP endpoint uses, so a request means the same whichever process the client reached; keys, nonce
locks, the key guard and the audit log never leave the key process.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from ..rpc import INTERNAL_ERROR, RpcError, error_response

MAX_LINE = 16 * 1024 * 1024
"""Longest line either side reads: above any request a front lets through and any answer (a batch of
signing requests is split by the front into single calls)."""
HEALTH, METRICS = "keyport_health", "keyport_metrics"
"""What a front asks for its /health and /metrics (the key process's own): never reachable over HTTP."""


async def serve_keyport(
    path: Path,
    dispatch: Callable[[Any], Awaitable[Any]],
    internal: dict[str, Callable[[], Any]],
) -> asyncio.AbstractServer:
    """Answer key-port lines on the Unix socket ``path``: ``internal`` names (health, metrics) by
    their functions, every other request object by ``dispatch`` (which never raises)."""

    async def connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while line := await reader.readline():
                try:
                    call = json.loads(line)
                    method = call.get("method") if isinstance(call, dict) else None
                    if method in internal:
                        answer: Any = {"jsonrpc": "2.0", "id": call.get("id"), "result": internal[method]()}
                    else:
                        answer = await dispatch(call)
                except ValueError:
                    answer = error_response(None, RpcError(INTERNAL_ERROR, "key port: a line that is not JSON"))
                writer.write(json.dumps(answer, separators=(",", ":")).encode() + b"\n")
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
            pass  # a front went away (or broke the protocol): its requests are its own to fail
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    return await asyncio.start_unix_server(connection, path=str(path), limit=MAX_LINE)


class KeyPortClient:
    """A front's connections to the key port: one request at a time on each, as many as are in flight."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []

    async def call(self, request: Any) -> Any:
        """Send one request object; its answer (a JSON-RPC response object). Raises RpcError when the key
        process cannot be reached."""
        connection = self._idle.pop() if self._idle else None
        try:
            if connection is None:
                connection = await asyncio.open_unix_connection(str(self.path), limit=MAX_LINE)
            reader, writer = connection
            writer.write(json.dumps(request, separators=(",", ":")).encode() + b"\n")
            await writer.drain()
            line = await reader.readline()
            if not line:
                raise ConnectionError("closed")
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as exc:
            if connection is not None:
                connection[1].close()
            down = "the signer's key process is unavailable"
            raise RpcError(INTERNAL_ERROR, down, reason="key-process-down") from exc
        self._idle.append(connection)
        return json.loads(line)

    async def close(self) -> None:
        for _, writer in self._idle:
            writer.close()
        self._idle.clear()
