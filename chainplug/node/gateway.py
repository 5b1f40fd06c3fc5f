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
from collections.abc import Callable
from typing import Any, NoReturn

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, generate_latest

from ..constants import MAX_ENVELOPE_BYTES
from ..crypto import get_backend
from ..envelope import decode_envelope, is_envelope
from ..errors import ChainplugError, MalformedEnvelope, UnsupportedEnvelope
from ..rpc import (
    INVALID_PARAMS,
    METHOD_NOT_FOUND,
    TRANSACTION_REJECTED,
    UPSTREAM_UNAVAILABLE,
    AsyncRpcClient,
    Forwarded,
    JsonRpcEndpoint,
    Limits,
    RpcCallError,
    RpcError,
    hex_bytes,
    json_application,
    param_count,
)
from ..verify import Decoded
from .admission import AdmissionHook, NodeVersion, Verdict, rejected
from .sidecars import SidecarStore

LIMITS = Limits(max_body_bytes=4 * MAX_ENVELOPE_BYTES, max_string=2 * MAX_ENVELOPE_BYTES + 2)
"""Room for a small batch of full-size envelopes; no string longer than one hex envelope."""


def _refusal(exc: Exception) -> RpcError | None:
    """A chainplug error (an envelope that does not decode) is the client's input, not our bug."""
    if isinstance(exc, ChainplugError):
        return RpcError(INVALID_PARAMS, str(exc), exc.to_json())
    return None


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
        self._upstream_client = AsyncRpcClient(upstream_url, timeout=30)
        self._pqc_backend = get_backend().name  # resolved once, before serving (see ValidatorService)
        self._upstream_takes_envelopes: bool | None = None
        """Learned on first use: does the upstream node accept chainplug_sendEnvelope?"""
        self.endpoint = JsonRpcEndpoint(
            {
                "eth_sendRawTransaction": self._send_raw,
                "chainplug_sendEnvelope": self._send_envelope,
                "chainplug_getSidecar": self._get_sidecar,
            },
            limits=LIMITS,
            fallback=self._pass_through,
            map_error=_refusal,
        )

    def app(self) -> web.Application:
        application = json_application(LIMITS)
        application.router.add_post("/", self.endpoint.handle)
        application.router.add_get("/metrics", self._metrics)
        application.router.add_get("/health", self._health)
        application.on_cleanup.append(self._close)
        return application

    async def _close(self, _: web.Application) -> None:
        await self._upstream_client.close()

    async def _metrics(self, _: web.Request) -> web.Response:
        return web.Response(body=generate_latest(self.metrics), content_type="text/plain")

    async def _health(self, _: web.Request) -> web.Response:
        body = {"ok": True, "version": self.hook.version.value, "sidecars": len(self.sidecars),
                "pqc_backend": self._pqc_backend}  # fmt: skip
        return web.json_response(body)

    async def _upstream(self, payload: dict[str, Any]) -> Any:
        """The upstream's whole answer to one request object."""
        try:
            return await self._upstream_client.post(payload, method=str(payload.get("method")))
        except RpcCallError as exc:
            raise RpcError(UPSTREAM_UNAVAILABLE, f"upstream node unavailable: {exc.message}") from exc

    async def _pass_through(self, call: dict[str, Any]) -> Any:
        method = str(call["method"])
        if method.startswith("chainplug_"):
            raise RpcError(METHOD_NOT_FOUND, f"the method {method} does not exist/is not available")
        self._passthrough.labels(method=method).inc()
        return await self._upstream(call)

    async def _get_sidecar(self, params: list[Any]) -> str | None:
        param_count(params, 1)
        stored = self.sidecars.get(hex_bytes(params[0], "transaction hash", max_bytes=32, size=32))
        return "0x" + stored.encode().hex() if stored is not None else None

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

    async def _send_raw(self, params: list[Any]) -> Forwarded:
        param_count(params, 1)
        raw = hex_bytes(params[0], "raw transaction", max_bytes=MAX_ENVELOPE_BYTES)
        await self._judge(raw, "eth_sendRawTransaction")
        call = {"jsonrpc": "2.0", "id": 1, "method": "eth_sendRawTransaction", "params": [params[0]]}
        return Forwarded(await self._upstream(call))

    async def _send_envelope(self, params: list[Any]) -> Forwarded:
        param_count(params, 1)
        data = hex_bytes(params[0], "envelope", max_bytes=MAX_ENVELOPE_BYTES)
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
            answer = await self._upstream({"jsonrpc": "2.0", "id": 1, "method": "chainplug_sendEnvelope",
                                           "params": ["0x" + data.hex()]})  # fmt: skip
            error = answer.get("error") if isinstance(answer, dict) else None
            missing = isinstance(error, dict) and error.get("code") == METHOD_NOT_FOUND
            self._upstream_takes_envelopes = not missing
            if missing:
                answer = None
        if answer is None:
            answer = await self._upstream({"jsonrpc": "2.0", "id": 1, "method": "eth_sendRawTransaction",
                                           "params": ["0x" + envelope.raw_transaction.hex()]})  # fmt: skip
        if isinstance(answer, dict) and "result" in answer and self.hook.version == NodeVersion.UPGRADED:
            self.sidecars.put(envelope)
        return Forwarded(answer)
