"""A signer front process (``chainplug signer serve --fronts N`` starts them; see :mod:`.keyport`).

It serves the signer's port beside the key process, with the same limits, the same bearer token (or
the same loopback-only rules) and the same answers: every method the signer answers itself goes to
the key process over the key port, unchanged; every other method goes straight to the node, as the
key process would send it. It holds no key and no state of its own, so a client cannot tell which
process it reached — except that the work of HTTP, JSON and proxying no longer queues behind
signatures on the key process's single event loop.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection
from pathlib import Path
from typing import Any

from aiohttp import web

from ..rpc import (
    AsyncRpcClient,
    Forwarded,
    JsonRpcEndpoint,
    RpcError,
    json_application,
)
from .access import bearer_authorized, loopback_only
from .keyport import HEALTH, METRICS, KeyPortClient
from .service import LIMITS, LOCAL_METHODS


class FrontService:
    """The HTTP side of one front process."""

    def __init__(
        self, keyport: Path, *, token: str | None, rpc_url: str, allowed_origins: Collection[str] = ()
    ) -> None:
        self._keys = KeyPortClient(keyport)
        self._token = token.encode() if token is not None else None
        self._allowed_origins = frozenset(origin.rstrip("/") for origin in allowed_origins)
        self._upstream = AsyncRpcClient(rpc_url, timeout=60)

    def app(self) -> web.Application:
        endpoint = JsonRpcEndpoint(
            {name: self._forwarder(name) for name in LOCAL_METHODS},
            limits=LIMITS,
            fallback=self._upstream.relay,
            authorize=self._authorized if self._token is not None else None,
        )
        application = json_application(LIMITS)
        if self._token is None:
            application.middlewares.append(loopback_only(self._allowed_origins, lambda _: None))
        application.router.add_post("/", endpoint.handle)
        application.router.add_get("/health", self._health)
        application.router.add_get("/metrics", self._metrics)
        application.on_cleanup.append(self._cleanup)
        return application

    def _authorized(self, request: web.Request) -> bool:
        assert self._token is not None
        return bearer_authorized(request, self._token)

    def _forwarder(self, method: str) -> Callable[[list[Any]], Awaitable[Any]]:
        async def forward(params: list[Any]) -> Forwarded:
            return Forwarded(await self._keys.call({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}))

        return forward

    async def _internal(self, name: str) -> Any:
        answer = await self._keys.call({"jsonrpc": "2.0", "id": 1, "method": name, "params": []})
        return answer["result"]

    async def _health(self, _: web.Request) -> web.Response:
        try:
            body = await self._internal(HEALTH)
        except RpcError as exc:
            return web.json_response({"ready": False, "problems": [exc.message]}, status=503)
        return web.json_response(body, status=200 if body.get("ready") else 503)

    async def _metrics(self, _: web.Request) -> web.Response:
        try:
            text = await self._internal(METRICS)
        except RpcError as exc:
            return web.Response(text=f"# {exc.message}\n", status=503, content_type="text/plain")
        return web.Response(text=str(text), content_type="text/plain")

    async def _cleanup(self, _: web.Application) -> None:
        await self._keys.close()
        await self._upstream.close()
