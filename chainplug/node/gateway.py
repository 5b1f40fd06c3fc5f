"""The JSON-RPC gateway: a policy front in front of any Ethereum node's RPC (docs/design.md §gateway).

* ``eth_sendRawTransaction``: admitted or rejected by the node version's policy, then forwarded.
* ``chainplug_sendEnvelope(envelope)``: the envelope is checked; an upgraded gateway forwards it
  whole to an upstream that takes sidecars (the embedded chain) and otherwise the classical
  transaction with ``eth_sendRawTransaction``, and keeps the PQC part as a sidecar keyed by
  transaction hash (a legacy gateway reads and forwards only the classical part).
* ``chainplug_getSidecar(tx_hash)``: the stored envelope, or null.
* Everything else (batches included) passes through to the upstream node unchanged.

Bounded request size, JSON-RPC errors with EIP-1474 codes, Prometheus metrics at ``/metrics``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any, NoReturn

from aiohttp import ClientError, ClientSession, ClientTimeout, web
from prometheus_client import CollectorRegistry, Counter, generate_latest

from ..constants import MAX_ENVELOPE_BYTES
from ..envelope import decode_envelope, is_envelope
from ..errors import MalformedEnvelope, UnsupportedEnvelope
from ..verify import Decoded
from .admission import AdmissionHook, NodeVersion, Verdict, rejected
from .jsonrpc import (
    INTERNAL_ERROR,
    METHOD_NOT_FOUND,
    PARSE_ERROR,
    TRANSACTION_REJECTED,
    UPSTREAM_UNAVAILABLE,
    RpcError,
    error_response,
    hex_bytes,
    result_response,
    validate_call,
)
from .sidecars import SidecarStore

MAX_REQUEST_BYTES = 4 * MAX_ENVELOPE_BYTES
"""Largest HTTP body accepted (room for a small batch of full-size envelopes)."""
MAX_BATCH = 100


class Gateway:
    """One gateway instance; :meth:`app` builds its aiohttp application."""

    def __init__(
        self,
        upstream_url: str,
        hook: AdmissionHook,
        *,
        block_source: Callable[[], int | None] | None = None,
        sidecars: SidecarStore | None = None,
    ) -> None:
        self.upstream_url = upstream_url
        self.hook = hook
        self.block_source = block_source
        """Returns the current head: a new transaction would enter the next block (None = "now")."""
        self.sidecars = sidecars if sidecars is not None else SidecarStore()
        self.metrics = CollectorRegistry()
        self._admitted = Counter(
            "chainplug_gateway_admitted", "transactions admitted", ["method", "pqc"], registry=self.metrics
        )
        self._rejected = Counter(
            "chainplug_gateway_rejected", "transactions rejected", ["method", "reason"], registry=self.metrics
        )
        self._passthrough = Counter(
            "chainplug_gateway_passthrough", "requests passed through", ["method"], registry=self.metrics
        )
        self._session: ClientSession | None = None
        self._upstream_takes_envelopes: bool | None = None
        """Learned on first use: does the upstream node accept chainplug_sendEnvelope?"""

    def app(self) -> web.Application:
        application = web.Application(client_max_size=MAX_REQUEST_BYTES)
        application.router.add_post("/", self._handle)
        application.router.add_get("/metrics", self._metrics)
        application.router.add_get("/health", self._health)
        application.on_cleanup.append(self._close)
        return application

    async def _close(self, _: web.Application) -> None:
        if self._session is not None:
            await self._session.close()

    async def _metrics(self, _: web.Request) -> web.Response:
        return web.Response(body=generate_latest(self.metrics), content_type="text/plain")

    async def _health(self, _: web.Request) -> web.Response:
        return web.json_response({"ok": True, "version": self.hook.version.value, "sidecars": len(self.sidecars)})

    async def _upstream(self, payload: Any) -> Any:
        if self._session is None:
            self._session = ClientSession(timeout=ClientTimeout(total=30))
        try:
            async with self._session.post(self.upstream_url, json=payload) as response:
                return await response.json(content_type=None)
        except (ClientError, TimeoutError, json.JSONDecodeError) as exc:
            raise RpcError(UPSTREAM_UNAVAILABLE, f"upstream node unavailable: {type(exc).__name__}") from exc

    async def _handle(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            return web.json_response(error_response(None, RpcError(PARSE_ERROR, "parse error")))
        if isinstance(body, list):
            if not body or len(body) > MAX_BATCH:
                return web.json_response(
                    error_response(None, RpcError(-32600, f"batch must have 1..{MAX_BATCH} requests"))
                )
            answers = await asyncio.gather(*(self._call(item) for item in body))
            return web.json_response([answer for answer in answers if answer is not None])
        return web.json_response(await self._call(body))

    async def _call(self, call: Any) -> Any:
        request_id = call.get("id") if isinstance(call, dict) else None
        try:
            request_id, method, params = validate_call(call)
            if method == "eth_sendRawTransaction":
                return await self._send_raw(call, request_id, params)
            if method == "chainplug_sendEnvelope":
                return await self._send_envelope(request_id, params)
            if method == "chainplug_getSidecar":
                tx_hash = hex_bytes(params[0] if params else None, "transaction hash", max_bytes=32)
                stored = self.sidecars.get(tx_hash)
                return result_response(request_id, "0x" + stored.encode().hex() if stored is not None else None)
            if method.startswith("chainplug_"):
                raise RpcError(METHOD_NOT_FOUND, f"method {method} does not exist")
            self._passthrough.labels(method=method).inc()
            return await self._upstream(call)
        except RpcError as exc:
            return error_response(request_id, exc)
        except Exception as exc:  # never leak a traceback to a client
            return error_response(request_id, RpcError(INTERNAL_ERROR, f"internal error: {type(exc).__name__}"))

    async def _judge(self, data: bytes | Decoded, method: str) -> Verdict:
        def decide() -> Verdict:
            head = self.block_source() if self.block_source is not None else None
            return self.hook.check(data, inclusion_block=None if head is None else head + 1)

        verdict = await asyncio.to_thread(decide)
        if verdict.accepted:
            self._admitted.labels(method=method, pqc=verdict.pqc.value if verdict.pqc else "").inc()
            return verdict
        self._refuse(verdict, method)

    def _refuse(self, verdict: Verdict, method: str) -> NoReturn:
        self._rejected.labels(method=method, reason=verdict.reason_code).inc()
        raise RpcError(TRANSACTION_REJECTED, f"transaction rejected: {verdict.message}", verdict.to_json())

    async def _send_raw(self, call: dict[str, Any], request_id: Any, params: list[Any]) -> Any:
        raw = hex_bytes(params[0] if params else None, "raw transaction", max_bytes=MAX_ENVELOPE_BYTES)
        await self._judge(raw, "eth_sendRawTransaction")
        return await self._upstream(call)

    async def _send_envelope(self, request_id: Any, params: list[Any]) -> Any:
        data = hex_bytes(params[0] if params else None, "envelope", max_bytes=MAX_ENVELOPE_BYTES)
        if not is_envelope(data):
            raise RpcError(TRANSACTION_REJECTED, "chainplug_sendEnvelope takes a composite envelope")
        try:  # decoded once: the hook judges the decoded envelope, its parts are forwarded and kept
            envelope = decode_envelope(data)
        except MalformedEnvelope as exc:
            self._refuse(rejected(exc, unsupported=isinstance(exc, UnsupportedEnvelope)), "chainplug_sendEnvelope")
        await self._judge(envelope, "chainplug_sendEnvelope")
        answer = None
        if self.hook.version == NodeVersion.UPGRADED and self._upstream_takes_envelopes is not False:
            # An upstream with the upgraded chain rules (the embedded chain) needs the sidecar with the
            # transaction; a stock node answers "method not found" and gets the classical part alone.
            answer = await self._upstream({"jsonrpc": "2.0", "id": request_id, "method": "chainplug_sendEnvelope",
                                           "params": ["0x" + data.hex()]})  # fmt: skip
            missing = isinstance(answer, dict) and answer.get("error", {}).get("code") == METHOD_NOT_FOUND
            self._upstream_takes_envelopes = not missing
            if missing:
                answer = None
        if answer is None:
            answer = await self._upstream({"jsonrpc": "2.0", "id": request_id, "method": "eth_sendRawTransaction",
                                           "params": ["0x" + envelope.raw_transaction.hex()]})  # fmt: skip
        if isinstance(answer, dict) and "result" in answer and self.hook.version == NodeVersion.UPGRADED:
            self.sidecars.put(envelope)
        return answer
