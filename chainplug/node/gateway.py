"""The JSON-RPC gateway: a policy front in front of any Ethereum node's RPC (docs/design.md §gateway).

* ``eth_sendRawTransaction``: admitted or rejected by the node version's policy, then forwarded.
* ``chainplug_sendEnvelope(envelope)``: the envelope is checked; an upgraded gateway forwards it
  whole to an upstream that takes sidecars (the embedded chain) and otherwise the classical
  transaction with ``eth_sendRawTransaction``, and keeps the PQC part as a sidecar keyed by
  transaction hash (a legacy gateway reads and forwards only the classical part).
* ``chainplug_getSidecar(tx_hash)``: the stored envelope, or null.
* Everything else (batches included) passes through to the upstream node unchanged.

Bounded request size, JSON-RPC errors with EIP-1474 codes, Prometheus metrics at ``/metrics``.

Async all the way, on one event loop: a transaction is judged in the loop (a verify is a fraction of a
millisecond) and forwarded over one reused upstream connection pool. An upgraded gateway reads what does
not change within a block — the head, and the registry entries of the senders it sees — once per block,
through :class:`~chainplug.node.upstream.UpstreamView` (which says why that cache never judges by stale
state); the chain id is read once at start.
"""

from __future__ import annotations

import asyncio
import logging
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
from ..verify import Decoded, decode
from .admission import AdmissionHook, NodeVersion, Verdict, rejected
from .sidecars import SidecarStore
from .upstream import RegistryMiss, UpstreamView

LOG = logging.getLogger(__name__)
LIMITS = Limits(max_body_bytes=4 * MAX_ENVELOPE_BYTES, max_string=2 * MAX_ENVELOPE_BYTES + 2)
"""Room for a small batch of full-size envelopes; no string longer than one hex envelope."""
MAX_REGISTRY_ATTEMPTS = 4
"""Judgements of one transaction while the registry entries it needs are read (each read is at the head
of that moment; the head moving between reads starts over)."""


MAX_FORWARD_BATCH = 50
"""Most submissions forwarded in one upstream request."""
MAX_FORWARD_BYTES = 2 << 20
"""Most parameter bytes forwarded in one upstream request (a batch stops growing past it)."""


class _Submissions:
    """Transactions forwarded to the upstream in arrival order, coalesced: the first goes at once; while a
    request is in flight, the ones that arrive wait and then go together as one JSON-RPC batch. One
    request at a time keeps the order (a sender's nonces), and under load the node answers one HTTP request
    per batch instead of one per transaction; idle, nothing waits."""

    def __init__(self, client: AsyncRpcClient) -> None:
        self._client = client
        self._waiting: list[tuple[dict[str, Any], asyncio.Future[Any]]] = []
        self._sender: asyncio.Task[None] | None = None

    async def send(self, call: dict[str, Any]) -> Any:
        """The upstream's whole answer to ``call`` (a request object)."""
        answer: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiting.append((call, answer))
        if self._sender is None:
            self._sender = asyncio.create_task(self._drain())
        return await answer

    def _take(self) -> list[tuple[dict[str, Any], asyncio.Future[Any]]]:
        size, count = 0, 0
        for call, _ in self._waiting:
            size += sum(len(p) for p in call["params"] if isinstance(p, str))
            count += 1
            if count >= MAX_FORWARD_BATCH or size >= MAX_FORWARD_BYTES:
                break
        taken, self._waiting = self._waiting[:count], self._waiting[count:]
        return taken

    async def _drain(self) -> None:
        try:
            while self._waiting:
                batch = self._take()
                documents = [{**call, "id": index} for index, (call, _) in enumerate(batch)]
                try:
                    answer = await self._client.post(documents[0] if len(documents) == 1 else documents,
                                                     method=str(batch[0][0].get("method")))  # fmt: skip
                except Exception as exc:  # every caller gets an answer, whatever happened
                    message = exc.message if isinstance(exc, RpcCallError) else type(exc).__name__
                    error = RpcError(UPSTREAM_UNAVAILABLE, f"upstream node unavailable: {message}")
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(error)
                    if not isinstance(exc, RpcCallError):
                        LOG.exception("forwarding %d submissions failed", len(batch))
                    continue
                answers = answer if isinstance(answer, list) else [answer]
                by_id = {item.get("id"): item for item in answers if isinstance(item, dict)}
                if len(documents) == 1 and isinstance(answer, dict):
                    by_id = {0: answer}  # a whole-request refusal answers with id null
                for index, (_, future) in enumerate(batch):
                    if not future.done():
                        future.set_result(by_id.get(index, answer if isinstance(answer, dict) else None))
        finally:
            self._sender = None
            if self._waiting:  # a caller cancelled mid-send: keep the rest moving
                self._sender = asyncio.create_task(self._drain())


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
        view: UpstreamView | None = None,
        sidecars: SidecarStore | None = None,
    ) -> None:
        self.upstream_url = upstream_url
        self.hook = hook
        self.view = view
        """The upstream's head and registry, when the hook reads its registry from it (upgraded gateway in
        front of a node); without one, transactions are judged for "now" by the hook's own registry."""
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
        self._upstream_client = view.client if view is not None else AsyncRpcClient(upstream_url, timeout=30)
        self._submissions = _Submissions(self._upstream_client)
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
        return await self._upstream_client.relay(payload)

    async def _submit(self, method: str, param: str) -> Any:
        """Forward one submission (coalesced with others under load); the upstream's whole answer."""
        return await self._submissions.send({"jsonrpc": "2.0", "method": method, "params": [param]})

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

    async def _judge(self, data: Decoded, method: str) -> Verdict:
        """The hook's verdict for inclusion in the block after the upstream's head, the registry entries
        it needs read at that head (see UpstreamView)."""
        view = self.view
        if view is None:
            verdict = self.hook.check(data)
        else:
            await view.refresh()
            for _ in range(MAX_REGISTRY_ATTEMPTS):
                head = view.head
                try:
                    verdict = self.hook.check(data, inclusion_block=None if head is None else head + 1)
                    break
                except RegistryMiss as miss:
                    await view.load(miss.address)
            else:
                raise RpcError(UPSTREAM_UNAVAILABLE, "the upstream's registry state kept changing; try again")
        if verdict.accepted:
            self._admitted.labels(method=method, pqc=verdict.pqc.value if verdict.pqc else "").inc()
            return verdict
        self._refuse(verdict, method)

    def _relay(self, answer: Any, method: str) -> Forwarded:
        """The upstream's answer to a submission, counted when it refused what the gateway admitted."""
        error = answer.get("error") if isinstance(answer, dict) else None
        if isinstance(error, dict):
            data = error.get("data")
            reason = data.get("reason") if isinstance(data, dict) else None
            label = f"upstream:{reason}" if isinstance(reason, str) else "upstream:error"
            self._rejected.labels(method=method, reason=label).inc()
        return Forwarded(answer)

    def _refuse(self, verdict: Verdict, method: str) -> NoReturn:
        self._rejected.labels(method=method, reason=verdict.reason_code).inc()
        raise RpcError(TRANSACTION_REJECTED, f"transaction rejected: {verdict.message}", verdict.to_json())

    async def _send_raw(self, params: list[Any]) -> Forwarded:
        param_count(params, 1)
        raw = hex_bytes(params[0], "raw transaction", max_bytes=MAX_ENVELOPE_BYTES)
        try:  # decoded once: a registry read in between judges the same object again
            decoded = decode(raw)
        except MalformedEnvelope as exc:
            self._refuse(rejected(exc, unsupported=isinstance(exc, UnsupportedEnvelope)), "eth_sendRawTransaction")
        await self._judge(decoded, "eth_sendRawTransaction")
        answer = await self._submit("eth_sendRawTransaction", params[0])
        return self._relay(answer, "eth_sendRawTransaction")

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
            answer = await self._submit("chainplug_sendEnvelope", "0x" + params[0][2:])
            error = answer.get("error") if isinstance(answer, dict) else None
            missing = isinstance(error, dict) and error.get("code") == METHOD_NOT_FOUND
            self._upstream_takes_envelopes = not missing
            if missing:
                answer = None
        if answer is None:
            answer = await self._submit("eth_sendRawTransaction", "0x" + envelope.raw_transaction.hex())
        if isinstance(answer, dict) and "result" in answer and self.hook.version == NodeVersion.UPGRADED:
            self.sidecars.put(envelope)
        return self._relay(answer, "chainplug_sendEnvelope")
