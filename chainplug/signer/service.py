"""``chainplug signer serve``: a drop-in remote signer (the role Web3Signer's eth1 mode and Clef play).

A wallet, a dapp or a script points its RPC URL at the signer and changes nothing else: the signer
answers the Ethereum signing methods itself — ``eth_accounts``, ``eth_sendTransaction``,
``eth_signTransaction``, ``eth_sign``, ``personal_sign``, ``eth_signTypedData(_v4)`` — signing as each
account's migration state requires (classical, composite envelope, PQC-only), and forwards every
other request to the node unchanged (docs/signer.md). ``eth_sendRawTransaction`` of a transaction the
signer itself signed with ``eth_signTransaction`` goes out as its composite envelope. The
``chainplug_*`` methods create accounts and drive their migration.

Auth: a bearer token, or the loopback-only unauthenticated mode (``--no-auth``): chainplug.signer.access.
``/health`` turns ready only after every key the accounts' states require has been loaded and checked.

Concurrency: requests are handled concurrently on one event loop. A signature (~0.3 ms of C code)
and its audit record run on the loop itself by default: measured, handing each one to a thread pool
and back cost more than it saved (docs/signer.md, "Concurrency"); ``signing_threads`` > 0 runs them in
a pool instead, for a slow disk or many cores. A migration step waits for the signatures under way and
holds new ones back (:class:`~chainplug.signer.guard.KeyGuard`; the steps themselves are
chainplug.signer.steps); a transaction whose nonce the signer fills holds its account's
nonce lock until the node has it, so nonces stay unique and gap-free (geth's ``nonceLock``). Every
signature goes to the hash-chained audit log before it leaves the signer.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any, TypeVar

from aiohttp import web
from eth_utils.address import to_checksum_address
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from ..constants import MAX_ENVELOPE_BYTES
from ..crypto import RecoverableSignature, get_backend, keccak256
from ..errors import ChainplugError, ClassicalKeyRetired, ConfigError, MalformedEnvelope, UnknownAccount
from ..rpc import (
    INVALID_PARAMS,
    NOT_READY,
    SERVER_ERROR,
    TRANSACTION_REJECTED,
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
from ..types import AccountState, Address, Hash32
from . import eth
from .access import bearer_authorized, loopback_only
from .audit import AuditLog
from .backend import CLASSICAL, HYBRID, Signed, SigningBackend, account_json
from .guard import KeyGuard
from .keyport import HEALTH, METRICS, serve_keyport
from .messages import MalformedMessage, personal_message_digest, typed_data_digest, wallet_signature
from .steps import MigrationSteps, account_address

LOG = logging.getLogger(__name__)
_T = TypeVar("_T")

LIMITS = Limits(max_body_bytes=1024 * 1024, max_depth=16, max_batch=100, max_string=2 * MAX_ENVELOPE_BYTES + 2)
"""Requests a wallet sends: batches of reads (ethers batches up to 100), transactions whose call data
is at most one transaction's worth, a raw PQC-only transaction or envelope to submit."""
MAX_MESSAGE_BYTES = 64 * 1024
"""Longest message eth_sign / personal_sign signs."""
REMEMBERED_ENVELOPES = 1024
"""Envelopes of eth_signTransaction answers kept, so that the raw transaction sent back through
eth_sendRawTransaction goes out with its PQC part (oldest forgotten first; ~7.4 KB each)."""
SIGNING_METHODS = frozenset({"eth_accounts", "eth_requestAccounts", "eth_sendTransaction", "eth_signTransaction",
                             "eth_sign", "personal_sign", "eth_signTypedData", "eth_signTypedData_v4",
                             "eth_sendRawTransaction"})  # fmt: skip
"""The Ethereum methods the signer answers itself; every other one goes to the node."""
LOCAL_METHODS = SIGNING_METHODS | {"chainplug_accounts", "chainplug_createAccounts", "chainplug_signTransaction",
                                   "chainplug_sendTransaction", "chainplug_advance", "chainplug_advanceBatch",
                                   "chainplug_rollback", "chainplug_reload"}  # fmt: skip
"""Every method the signer answers itself (the rest go to the node): what a front hands to the key process."""


class SignerService:
    """Owns the engine (through ``open_backend``), the audit log, the upstream clients and the HTTP app."""

    def __init__(
        self,
        open_backend: Callable[[], SigningBackend],
        *,
        token: str | None,
        audit: AuditLog,
        rpc_url: str,
        submit_url: str | None = None,
        complete_on_chain: Callable[[SigningBackend, Address], str | None] | None = None,
        complete_on_chain_many: Callable[[SigningBackend, Sequence[Address]], list[str]] | None = None,
        allowed_origins: Sequence[str] = (),
        signing_threads: int = 0,
    ) -> None:
        if token is not None and len(token) < 16:
            raise ConfigError("the bearer token must be at least 16 characters")
        self._open_backend = open_backend
        self._token = token.encode() if token is not None else None
        self._allowed_origins = frozenset(origin.rstrip("/") for origin in allowed_origins)
        self.audit = audit
        self.rpc_url = rpc_url
        self.submit_url = submit_url or rpc_url
        """Where transactions go: the gateway when there is one (envelopes keep their sidecar)."""
        self.backend: SigningBackend | None = None
        self.problems: list[str] = ["keys not loaded yet"]
        self.metrics = CollectorRegistry()
        self._signatures = Counter("chainplug_signer_signatures", "transactions signed", ["kind", "state"],
                                   registry=self.metrics)  # fmt: skip
        self._messages = Counter("chainplug_signer_message_signatures", "EIP-191 / EIP-712 signatures", ["kind"],
                                 registry=self.metrics)  # fmt: skip
        self._pq = Counter("chainplug_signer_pq", "signatures with the PQ component present or missing",
                           ["pq"], registry=self.metrics)  # fmt: skip
        self._migration = MigrationSteps(self._backend, audit=audit, metrics=self.metrics,
                                         complete_on_chain=complete_on_chain,
                                         complete_on_chain_many=complete_on_chain_many)  # fmt: skip
        self._errors = Counter("chainplug_signer_errors", "refused requests", ["code"], registry=self.metrics)
        self._proxied = Counter("chainplug_signer_proxied", "requests forwarded to the node unchanged",
                                registry=self.metrics)  # fmt: skip
        self._latency = Histogram("chainplug_signer_sign_seconds", "time to sign one transaction",
                                  registry=self.metrics)  # fmt: skip
        self._guard: KeyGuard | None = None
        self._endpoint: JsonRpcEndpoint | None = None
        self._nonce_locks: dict[Address, asyncio.Lock] = {}
        self._remembered: OrderedDict[bytes, bytes] = OrderedDict()
        self._takes_envelopes: bool | None = None
        """Learned on first use: does the submission target accept chainplug_sendEnvelope?"""
        if signing_threads < 0:
            raise ConfigError("--signing-threads must be 0 (sign on the event loop) or more")
        self._pool = ThreadPoolExecutor(signing_threads, "chainplug-sign") if signing_threads else None
        """With signing_threads: signatures and their audit records (whose fsyncs then group-commit) run
        here, off the loop. None: on the loop, which costs less per request (module docstring)."""
        self._upstream = AsyncRpcClient(rpc_url, timeout=60)
        self._submitter = AsyncRpcClient(self.submit_url, timeout=60) if submit_url else self._upstream
        self._pqc_backend = get_backend().name  # resolved once, before serving (see ValidatorService)

    @property
    def authenticated(self) -> bool:
        return self._token is not None

    # --- lifecycle ---------------------------------------------------------------------------

    def _load(self) -> None:
        if self.backend is not None:
            self.backend.engine.close()
            self.backend = None
        self.problems = ["keys not loaded yet"]
        backend = self._open_backend()
        recovered = backend.engine.last_recovery
        self.problems = backend.engine.check_keys()
        self.backend = backend
        # The crash window after the local PQC_ONLY record and before the chain caught up.
        for address, account in backend.engine.accounts.items():
            if account.state is AccountState.PQC_ONLY:
                self._migration.finish_on_chain(address)
        self.audit.record("load", accounts=len(backend.engine.accounts), problems=len(self.problems),
                          recovery=str(recovered) if recovered is not None else None)  # fmt: skip

    async def _startup(self, _: web.Application) -> None:
        self._guard = KeyGuard()
        async with self._guard.step():
            try:
                await asyncio.to_thread(self._load)
            except ChainplugError as exc:
                self.problems = [f"store could not be opened: {exc}"]

    async def _cleanup(self, _: web.Application) -> None:
        await self._upstream.close()
        if self._submitter is not self._upstream:
            await self._submitter.close()
        if self._pool is not None:
            self._pool.shutdown(wait=True)
        if self.backend is not None:
            self.backend.engine.close()
        self.audit.close()

    @property
    def ready(self) -> bool:
        return self.backend is not None and not self.problems

    def app(self) -> web.Application:
        endpoint = self._endpoint = JsonRpcEndpoint(
            self._methods(),
            limits=LIMITS,
            fallback=self._proxy,
            authorize=self._authorized if self.authenticated else None,
            map_error=_refusal,
            on_error=self._count_error,
        )
        application = json_application(LIMITS)
        if not self.authenticated:
            application.middlewares.append(loopback_only(self._allowed_origins, self._count_error))
        application.router.add_post("/", endpoint.handle)
        application.router.add_get("/health", self._health)
        application.router.add_get("/metrics", self._metrics)
        application.on_startup.append(self._startup)
        application.on_cleanup.append(self._cleanup)
        return application

    # --- HTTP ----------------------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        """What /health says (from this process or a front's)."""
        accounts = len(self.backend.engine.accounts) if self.backend is not None else 0
        return {"ready": self.ready, "accounts": accounts, "problems": self.problems,
                "pqc_backend": self._pqc_backend,
                "auth": "bearer" if self.authenticated else "none (loopback only)"}  # fmt: skip

    async def _health(self, _: web.Request) -> web.Response:
        return web.json_response(self.health(), status=200 if self.ready else 503)

    async def _metrics(self, _: web.Request) -> web.Response:
        return web.Response(body=generate_latest(self.metrics), content_type="text/plain")

    async def serve_keyport(self, path: Path) -> asyncio.AbstractServer:
        """Answer front processes on the Unix socket ``path`` (:mod:`.keyport`), with the dispatch of
        this process's own endpoint (``app()`` first)."""
        assert self._endpoint is not None
        internal = {HEALTH: self.health, METRICS: lambda: generate_latest(self.metrics).decode()}
        return await serve_keyport(path, self._endpoint.dispatch, internal)

    def _authorized(self, request: web.Request) -> bool:
        assert self._token is not None
        return bearer_authorized(request, self._token)

    def _count_error(self, error: RpcError) -> None:
        self._errors.labels(code=str(error.code)).inc()

    async def _proxy(self, call: dict[str, Any]) -> Any:
        """Every method the signer does not answer goes to the node unchanged (its answer too)."""
        self._proxied.inc()
        return await self._upstream.relay(call)

    # --- the method table --------------------------------------------------------------------

    def _methods(self) -> dict[str, Callable[[list[Any]], Awaitable[Any]]]:
        return {
            # Ethereum JSON-RPC, answered here (docs/signer.md)
            "eth_accounts": self._ready(self._eth_accounts),
            "eth_requestAccounts": self._ready(self._eth_accounts),
            "eth_sendTransaction": self._ready(self._eth_send_transaction),
            "eth_signTransaction": self._ready(self._eth_sign_transaction),
            "eth_sign": self._ready(self._eth_sign),
            "personal_sign": self._ready(self._personal_sign),
            "eth_signTypedData": self._ready(self._eth_sign_typed_data),
            "eth_signTypedData_v4": self._ready(self._eth_sign_typed_data),
            "eth_sendRawTransaction": self._send_raw_transaction,
            # chainplug's own
            "chainplug_accounts": self._ready(self._accounts),
            "chainplug_createAccounts": self._stepping(self._migration.create_accounts),
            "chainplug_signTransaction": self._ready(self._chainplug_sign_transaction),
            "chainplug_sendTransaction": self._ready(self._chainplug_send_transaction),
            "chainplug_advance": self._stepping(self._migration.advance, per_account=True),
            "chainplug_advanceBatch": self._advance_batch,
            "chainplug_rollback": self._stepping(self._migration.rollback, per_account=True),
            "chainplug_reload": self._stepping(self._reload, needs_ready=False),
        }

    def _ready(self, method: Callable[[list[Any]], Awaitable[Any]]) -> Callable[[list[Any]], Awaitable[Any]]:
        async def handler(params: list[Any]) -> Any:
            if not self.ready:
                raise RpcError(NOT_READY, "signer not ready: " + "; ".join(self.problems))
            return await method(params)

        return handler

    def _stepping(
        self, method: Callable[[list[Any]], Any], *, per_account: bool = False, needs_ready: bool = True
    ) -> Callable[[list[Any]], Awaitable[Any]]:
        """A migration step: params checked, then run in a worker thread with the keys to itself (and,
        for a step of one account, that account's nonce lock: its on-chain transactions take nonces too)."""

        async def handler(params: list[Any]) -> Any:
            if needs_ready and not self.ready:
                raise RpcError(NOT_READY, "signer not ready: " + "; ".join(self.problems))
            assert self._guard is not None
            nonce_lock = self._nonce_lock(account_address(params[0])) if per_account and params else None
            if nonce_lock is not None:
                async with nonce_lock, self._guard.step():
                    return await asyncio.to_thread(method, params)
            async with self._guard.step():
                return await asyncio.to_thread(method, params)

        return handler

    def _backend(self) -> SigningBackend:
        assert self.backend is not None
        return self.backend

    def _nonce_lock(self, address: Address) -> asyncio.Lock:
        lock = self._nonce_locks.get(address)
        if lock is None:
            lock = self._nonce_locks[address] = asyncio.Lock()
        return lock

    # --- signing, shared by the eth_* and chainplug_* methods ---------------------------------

    def _account(self, tx: dict[str, Any], *, geth: bool) -> Address:
        """The request's sender, which must be an account of this signer (and able to sign its type)."""
        address = eth.address_param(tx["from"], "from")
        try:
            kind = self._backend().kind(address)
        except UnknownAccount as exc:
            if geth:  # geth's wording and code
                raise RpcError(SERVER_ERROR, f"unknown account {to_checksum_address(address)}",
                               exc.to_json()) from exc  # fmt: skip
            raise
        eth.check_type(tx, kind)
        return address

    async def _signing(self, work: Callable[..., _T], *args: Any) -> _T:
        """Run ``work`` (a signature and its audit record) while no migration step runs: on the loop,
        or in the pool when there is one (no lock there: signatures share the keys)."""
        assert self._guard is not None
        async with self._guard.signing():
            if self._pool is None:
                return work(*args)
            return await asyncio.get_running_loop().run_in_executor(self._pool, work, *args)

    async def _sign(self, address: Address, filled: dict[str, Any]) -> Signed:
        """Sign as the account's state requires and record the signature in the audit log, durably."""
        backend = self._backend()
        started = time.perf_counter()
        signed = await self._signing(self._sign_and_record, backend, address, filled)
        self._latency.observe(time.perf_counter() - started)
        self._signatures.labels(kind=signed.kind, state=signed.state.name).inc()
        self._pq.labels(pq="missing" if signed.kind == CLASSICAL else "present").inc()
        return signed

    def _sign_and_record(self, backend: SigningBackend, address: Address, filled: dict[str, Any]) -> Signed:
        signed = backend.sign(address, filled)
        self.audit.record("sign", account="0x" + address.hex(), state=signed.state.name,
                          tx_hash="0x" + signed.tx_hash.hex(), kind=signed.kind)  # fmt: skip
        return signed

    async def _sign_and_send(self, address: Address, request: dict[str, Any]) -> tuple[Signed, str]:
        """Fill, sign, record and submit. A nonce the signer fills is taken under the account's nonce
        lock, held until the node has the transaction (geth's nonceLock): unique and gap-free."""
        backend = self._backend()
        if "nonce" in request:
            filled = await eth.fill_defaults(request, chain_id=backend.chain_id, upstream=self._upstream)
            signed = await self._sign(address, filled)
            return signed, await self._submit(signed)
        async with self._nonce_lock(address):
            filled = await eth.fill_defaults(request, chain_id=backend.chain_id, upstream=self._upstream)
            signed = await self._sign(address, filled)
            return signed, await self._submit(signed)

    async def _submit(self, signed: Signed) -> str:
        """The envelope (hybrid) with chainplug_sendEnvelope, so the PQC part travels with the transaction;
        anything else — or to a node that takes no envelopes — with eth_sendRawTransaction."""
        tx_hash = "0x" + signed.tx_hash.hex()
        try:
            if signed.envelope is not None and self._takes_envelopes is not False:
                try:
                    answer = await self._submitter.call("chainplug_sendEnvelope", "0x" + signed.envelope.hex())
                    self._takes_envelopes = True
                    return self._submitted(signed, str(answer))
                except RpcCallError as exc:
                    if not exc.method_not_found:
                        raise
                    self._takes_envelopes = False  # a stock node: the classical part alone (telemetry)
                    LOG.warning("%s takes no envelopes: hybrid transactions go out without their PQC part",
                                self.submit_url)  # fmt: skip
            answer = await self._submitter.call("eth_sendRawTransaction", "0x" + signed.raw.hex())
            return self._submitted(signed, str(answer))
        except RpcCallError as exc:
            self.audit.record("submit", durable=False, tx_hash=tx_hash, kind=signed.kind,
                              refused=exc.rejection_reason)  # fmt: skip
            raise eth.upstream_error(exc) from exc

    def _submitted(self, signed: Signed, answer: str) -> str:
        self.audit.record("submit", durable=False, tx_hash=answer, kind=signed.kind)
        return answer

    def _remember(self, signed: Signed) -> None:
        if signed.envelope is None:
            return
        self._remembered[bytes(signed.tx_hash)] = signed.envelope
        while len(self._remembered) > REMEMBERED_ENVELOPES:
            self._remembered.popitem(last=False)

    # --- eth_* ---------------------------------------------------------------------------------

    async def _eth_accounts(self, params: list[Any]) -> list[str]:
        param_count(params, 0)
        return [to_checksum_address(address) for address in sorted(self._backend().engine.accounts)]

    async def _eth_send_transaction(self, params: list[Any]) -> str:
        """geth's eth_sendTransaction: defaults filled, signed by the account's state, submitted; the hash."""
        param_count(params, 1)
        request = eth.transaction_request(params[0])
        address = self._account(request, geth=True)
        eth.check_chain_id(request, self._backend().chain_id)
        _, tx_hash = await self._sign_and_send(address, request)
        return tx_hash

    async def _eth_sign_transaction(self, params: list[Any]) -> dict[str, Any]:
        """geth's {raw, tx} (nonce, gas and fees required, as geth requires them), plus the envelope."""
        param_count(params, 1)
        request = eth.transaction_request(params[0])
        address = self._account(request, geth=True)
        eth.check_chain_id(request, self._backend().chain_id)
        eth.require_complete(request)
        filled = {**request, "chainId": request.get("chainId", self._backend().chain_id),
                  "value": request.get("value", 0)}  # fmt: skip
        signed = await self._sign(address, filled)
        self._remember(signed)
        envelope = "0x" + signed.envelope.hex() if signed.envelope is not None else None
        return {"raw": "0x" + signed.raw.hex(), "tx": eth.transaction_json(signed, address), "envelope": envelope}

    async def _send_raw_transaction(self, params: list[Any]) -> Any:
        """A raw transaction this signer signed with eth_signTransaction goes out as its envelope (the
        PQC part travels with it); any other goes to the submission target unchanged."""
        param_count(params, 1)
        raw = hex_bytes(params[0], "raw transaction", max_bytes=MAX_ENVELOPE_BYTES)
        envelope = self._remembered.get(bytes(keccak256(raw)))
        if envelope is not None:
            try:
                answer = await self._submitter.call("chainplug_sendEnvelope", "0x" + envelope.hex())
            except RpcCallError as exc:
                if not exc.method_not_found:
                    raise eth.upstream_error(exc) from exc
            else:
                self.audit.record("submit", durable=False, tx_hash=str(answer), kind=HYBRID,
                                  because="raw transaction it signed: sent as its envelope")  # fmt: skip
                return answer
        call = {"jsonrpc": "2.0", "id": 1, "method": "eth_sendRawTransaction", "params": [params[0]]}
        return Forwarded(await self._submitter.relay(call))

    async def _sign_digest(self, address: Address, digest: Hash32, kind: str) -> str:
        backend = self._backend()
        try:
            backend.kind(address)
        except UnknownAccount as exc:
            raise RpcError(SERVER_ERROR, f"unknown account {to_checksum_address(address)}", exc.to_json()) from exc
        try:
            signature = await self._signing(self._sign_digest_and_record, backend, address, digest, kind)
        except ClassicalKeyRetired as exc:
            raise RpcError(SERVER_ERROR, str(exc), exc.to_json()) from exc
        self._messages.labels(kind=kind).inc()
        return wallet_signature(signature)

    def _sign_digest_and_record(
        self, backend: SigningBackend, address: Address, digest: Hash32, kind: str
    ) -> RecoverableSignature:
        state, signature = backend.sign_digest(address, digest)
        self.audit.record("sign-message", account="0x" + address.hex(), state=state.name, kind=kind,
                          digest="0x" + digest.hex())  # fmt: skip
        return signature

    async def _eth_sign(self, params: list[Any]) -> str:
        """geth's eth_sign(address, data): EIP-191 personal message signature, v = 27/28."""
        param_count(params, 2)
        address = eth.address_param(params[0])
        message = hex_bytes(params[1], "message", max_bytes=MAX_MESSAGE_BYTES)
        return await self._sign_digest(address, personal_message_digest(message), "eip191")

    async def _personal_sign(self, params: list[Any]) -> str:
        """personal_sign(data, address): eth_sign with the parameters the other way round."""
        param_count(params, 2)
        message = hex_bytes(params[0], "message", max_bytes=MAX_MESSAGE_BYTES)
        address = eth.address_param(params[1])
        return await self._sign_digest(address, personal_message_digest(message), "eip191")

    async def _eth_sign_typed_data(self, params: list[Any]) -> str:
        """eth_signTypedData(_v4)(address, typed data as an object or its JSON text): EIP-712."""
        param_count(params, 2)
        address = eth.address_param(params[0])
        if not isinstance(params[1], dict | str):
            raise RpcError(INVALID_PARAMS, "typed data must be a JSON object or its JSON text")
        try:
            digest = typed_data_digest(params[1])
        except MalformedMessage as exc:
            raise RpcError(INVALID_PARAMS, str(exc), exc.to_json()) from exc
        return await self._sign_digest(address, digest, "eip712")

    # --- chainplug_* ---------------------------------------------------------------------------

    async def _accounts(self, params: list[Any]) -> list[dict[str, Any]]:
        param_count(params, 0)
        engine = self._backend().engine
        return [account_json(engine, address) for address in sorted(engine.accounts)]

    async def _chainplug_sign_transaction(self, params: list[Any]) -> dict[str, Any]:
        """Sign anything the strict rules accept (any chain id; missing fields filled, nonce from the
        node's pending count): the devnet's attacks use it to get what a wallet would put on the wire."""
        param_count(params, 1)
        request = eth.transaction_request(params[0])
        address = self._account(request, geth=False)
        backend = self._backend()
        filled = await eth.fill_defaults(request, chain_id=backend.chain_id, upstream=self._upstream)
        signed = await self._sign(address, filled)
        self._remember(signed)
        envelope = "0x" + signed.envelope.hex() if signed.envelope is not None else None
        return {"tx_hash": "0x" + signed.tx_hash.hex(), "kind": signed.kind, "raw": "0x" + signed.raw.hex(),
                "envelope": envelope}  # fmt: skip

    async def _chainplug_send_transaction(self, params: list[Any]) -> dict[str, Any]:
        param_count(params, 1)
        request = eth.transaction_request(params[0])
        address = self._account(request, geth=False)
        signed, tx_hash = await self._sign_and_send(address, request)
        return {"tx_hash": tx_hash, "kind": signed.kind}

    async def _advance_batch(self, params: list[Any]) -> dict[str, Any]:
        """The engine's batch migration of many accounts (params: addresses, target state name)."""
        chosen, target = self._migration.batch_request(params)
        if not self.ready:
            raise RpcError(NOT_READY, "signer not ready: " + "; ".join(self.problems))
        assert self._guard is not None
        # Every account's nonce lock (its on-chain steps take nonces), in one order so that batches
        # and single-account requests cannot deadlock; then the keys to itself, as any step.
        async with AsyncExitStack() as held:
            for address in sorted(chosen):
                await held.enter_async_context(self._nonce_lock(address))
            async with self._guard.step():
                return await asyncio.to_thread(self._migration.advance_batch, chosen, target)

    def _reload(self, params: list[Any]) -> dict[str, Any]:
        """Close and reopen the store (recovery runs), then re-check every key."""
        param_count(params, 0)
        self._load()
        return {"ready": self.ready, "problems": self.problems}


def _refusal(exc: Exception) -> RpcError | None:
    """The JSON-RPC answer for a chainplug error: a request the rules refuse is the caller's input
    (INVALID_PARAMS); a step the engine, the gate or the node refuses is a rejection."""
    if isinstance(exc, MalformedEnvelope | UnknownAccount | MalformedMessage):
        return RpcError(INVALID_PARAMS, str(exc), exc.to_json())
    if isinstance(exc, ChainplugError):
        return RpcError(TRANSACTION_REJECTED, str(exc), exc.to_json())
    return None
