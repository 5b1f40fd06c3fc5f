"""The validator process: the follower loop plus its HTTP face (/attestations, /health, /metrics)."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from .validator import Validator


class ValidatorService:
    """Runs :meth:`Validator.catch_up` in a loop and serves what it attested."""

    def __init__(self, validator: Validator, *, poll_interval: float = 0.5) -> None:
        self.validator = validator
        self.poll_interval = poll_interval
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

    def app(self) -> web.Application:
        application = web.Application()
        application.router.add_get("/attestations", self._attestations)
        application.router.add_get("/attestations/{height}", self._attestation)
        application.router.add_get("/health", self._health)
        application.router.add_get("/metrics", self._metrics_view)
        application.on_startup.append(self._start)
        application.on_cleanup.append(self._stop)
        return application

    async def _start(self, _: web.Application) -> None:
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
            for attestation in made:
                self._blocks.labels(accepted=str(attestation.accepted).lower()).inc()
                for tx in attestation.txs:
                    if not tx.accepted:
                        self._rejects.labels(reason=tx.reason).inc()
                    elif tx.pqc:
                        self._pqc.labels(pqc=tx.pqc).inc()
                self._height.set(attestation.height)
            if made:
                self._latency.observe((time.perf_counter() - started) / len(made))
            await asyncio.sleep(self.poll_interval)

    async def _attestations(self, request: web.Request) -> web.Response:
        try:
            start = int(request.query.get("from", "0"))
            limit = min(int(request.query.get("limit", "1000")), 10_000)
        except ValueError:
            return web.json_response({"error": "from and limit must be integers"}, status=400)
        chosen = [a.to_json() for a in self.validator.log.attestations if a.height >= start][:limit]
        return web.json_response(chosen)

    async def _attestation(self, request: web.Request) -> web.Response:
        try:
            height = int(request.match_info["height"])
        except ValueError:
            return web.json_response({"error": "height must be an integer"}, status=400)
        for attestation in self.validator.log.attestations:
            if attestation.height == height:
                return web.json_response(attestation.to_json())
        return web.json_response({"error": f"no attestation for height {height} yet"}, status=404)

    async def _health(self, _: web.Request) -> web.Response:
        log = self.validator.log
        body: dict[str, Any] = {
            **self._labels,
            "ok": self.last_error is None,
            "height": log.attestations[-1].height if log.attestations else None,
            "workers": self.validator.workers,
            "error": self.last_error,
        }
        return web.json_response(body, status=200 if self.last_error is None else 503)

    async def _metrics_view(self, _: web.Request) -> web.Response:
        return web.Response(body=generate_latest(self.metrics), content_type="text/plain")
