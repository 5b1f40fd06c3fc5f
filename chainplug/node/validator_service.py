"""The validator process: the follower loop plus its HTTP face.

``GET /attestations?from=H&limit=N``, ``GET /attestations/H``, ``/health`` and ``/metrics`` for people and
scrapers, and the same answers over JSON-RPC at ``POST /`` (``chainplug_attestations``,
``chainplug_attestation``, ``chainplug_validatorHealth``) through the shared endpoint and its limits.
Every refusal, on either face, is a JSON-RPC error document with a reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from ..crypto import get_backend
from ..rpc import INVALID_PARAMS, JsonRpcEndpoint, Limits, RpcError, error_response, json_application, param_count
from .attestations import Attestation
from .validator import Validator

LIMITS = Limits(max_body_bytes=64 * 1024, max_depth=8, max_batch=20, max_string=1024)
"""Requests to a validator carry a few block heights: anything bigger is refused unparsed."""
MAX_LIMIT = 10_000
"""Most attestations one answer holds."""
MAX_HEIGHT = (1 << 63) - 1


def _height(value: Any, name: str) -> int:
    """A block height: a JSON integer, a decimal string (query strings) or a 0x quantity, in 0..2**63-1."""
    number: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str) and 0 < len(value) <= 20:
        if value.isascii() and value.isdigit():
            number = int(value)
        elif value[:2] in ("0x", "0X") and len(value) > 2 and all(c in "0123456789abcdefABCDEF" for c in value[2:]):
            number = int(value, 16)
    if number is None or not 0 <= number <= MAX_HEIGHT:
        raise RpcError(INVALID_PARAMS, f"{name} must be a block height (an integer in 0..{MAX_HEIGHT})")
    return number


def _query_error(error: RpcError, status: int) -> web.Response:
    return web.json_response(error_response(None, error), status=status)


class ValidatorService:
    """Runs :meth:`Validator.catch_up` in a loop and serves what it attested. ``follow=False``: someone
    else drives the validator (a :class:`~.validator_host.ValidatorHost`) and reports to :meth:`record`."""

    def __init__(self, validator: Validator, *, poll_interval: float = 0.5, follow: bool = True) -> None:
        self.validator = validator
        self.poll_interval = poll_interval
        self.follow = follow
        self.last_error: str | None = None
        self.metrics = CollectorRegistry()
        labels = {"validator": validator.config.name, "version": validator.config.version.value}
        self._blocks = Counter("chainplug_validator_blocks", "blocks attested", ["accepted"], registry=self.metrics)
        self._rejects = Counter("chainplug_validator_tx_rejects", "transactions rejected", ["reason"],
                                registry=self.metrics)  # fmt: skip
        self._pqc = Counter("chainplug_validator_tx_pqc", "transactions by PQC status", ["pqc"], registry=self.metrics)
        self._latency = Histogram("chainplug_validator_block_verify_seconds", "time to check one block",
                                  registry=self.metrics)  # fmt: skip
        self._height = Gauge("chainplug_validator_height", "last attested height", registry=self.metrics)
        self._labels = labels
        self._task: asyncio.Task[None] | None = None
        # Resolved now, in the main thread before anything runs: resolving it lazily in a /health
        # request imported a module while the verification pool forked from another thread, and the
        # worker inherited the held import lock (a deadlocked validator).
        self._pqc_backend = get_backend().name

    def app(self) -> web.Application:
        endpoint = JsonRpcEndpoint(
            {
                "chainplug_attestations": self._rpc_attestations,
                "chainplug_attestation": self._rpc_attestation,
                "chainplug_validatorHealth": self._rpc_health,
            },
            limits=LIMITS,
        )
        application = json_application(LIMITS)
        application.router.add_post("/", endpoint.handle)
        application.router.add_get("/attestations", self._attestations)
        application.router.add_get("/attestations/{height}", self._attestation)
        application.router.add_get("/health", self._health)
        application.router.add_get("/metrics", self._metrics_view)
        application.on_startup.append(self._start)
        application.on_cleanup.append(self._stop)
        return application

    async def _start(self, _: web.Application) -> None:
        if self.follow:
            self._task = asyncio.create_task(self._follow())

    async def _stop(self, _: web.Application) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await asyncio.to_thread(self.validator.close)

    async def _follow(self) -> None:
        while True:
            started = time.perf_counter()
            try:
                made = await asyncio.to_thread(self.validator.catch_up)
                self.last_error = None
            except Exception as exc:  # node down, RPC hiccup: report, back off, retry
                self.last_error = f"{type(exc).__name__}: {exc}"
                sys.stderr.write(f"validator {self.validator.config.name}: {self.last_error}\n")
                made = []
                await asyncio.sleep(self.poll_interval * 4)
            self.record(made, time.perf_counter() - started)
            await asyncio.sleep(self.poll_interval)

    def record(self, made: list[Attestation], seconds: float) -> None:
        """Count new attestations in the metrics (``seconds``: the time it took to make them)."""
        for attestation in made:
            self._blocks.labels(accepted=str(attestation.accepted).lower()).inc()
            for tx in attestation.txs:
                if not tx.accepted:
                    self._rejects.labels(reason=tx.reason).inc()
                elif tx.pqc:
                    self._pqc.labels(pqc=tx.pqc).inc()
            self._height.set(attestation.height)
        if made:
            self._latency.observe(seconds / len(made))

    # --- queries (one implementation for both faces) ----------------------------------------------

    def _since(self, start: int, limit: int) -> list[dict[str, Any]]:
        return [a.to_json() for a in self.validator.log.attestations if a.height >= start][:limit]

    def _at(self, height: int) -> Attestation | None:
        for attestation in self.validator.log.attestations:
            if attestation.height == height:
                return attestation
        return None

    def _health_body(self) -> dict[str, Any]:
        log = self.validator.log
        return {
            **self._labels,
            "ok": self.last_error is None,
            "height": log.attestations[-1].height if log.attestations else None,
            "workers": self.validator.workers,
            "error": self.last_error,
            "pqc_backend": self._pqc_backend,
        }

    def _rpc_attestations(self, params: list[Any]) -> list[dict[str, Any]]:
        param_count(params, 0, 2)
        start = _height(params[0], "from") if params else 0
        limit = _height(params[1], "limit") if len(params) > 1 else 1000
        if not 0 < limit <= MAX_LIMIT:
            raise RpcError(INVALID_PARAMS, f"limit must be in 1..{MAX_LIMIT}")
        return self._since(start, limit)

    def _rpc_attestation(self, params: list[Any]) -> dict[str, Any] | None:
        param_count(params, 1)
        found = self._at(_height(params[0], "height"))
        return found.to_json() if found is not None else None

    def _rpc_health(self, params: list[Any]) -> dict[str, Any]:
        param_count(params, 0)
        return self._health_body()

    # --- HTTP GET ----------------------------------------------------------------------------------

    async def _attestations(self, request: web.Request) -> web.Response:
        try:
            start = _height(request.query.get("from", "0"), "from")
            limit = min(_height(request.query.get("limit", "1000"), "limit"), MAX_LIMIT)
        except RpcError as exc:
            return _query_error(exc, 400)
        return web.json_response(self._since(start, limit))

    async def _attestation(self, request: web.Request) -> web.Response:
        try:
            height = _height(request.match_info["height"], "height")
        except RpcError as exc:
            return _query_error(exc, 400)
        found = self._at(height)
        if found is None:
            return _query_error(
                RpcError(INVALID_PARAMS, f"no attestation for height {height} yet", reason="not-found"), 404
            )
        return web.json_response(found.to_json())

    async def _health(self, _: web.Request) -> web.Response:
        return web.json_response(self._health_body(), status=200 if self.last_error is None else 503)

    async def _metrics_view(self, _: web.Request) -> web.Response:
        return web.Response(body=generate_latest(self.metrics), content_type="text/plain")
