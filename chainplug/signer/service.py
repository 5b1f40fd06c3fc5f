"""``chainplug signer serve``: the HTTP JSON-RPC signer service (the role Web3Signer and Clef play).

Loopback by default; every JSON-RPC call needs ``Authorization: Bearer <token>`` (compared in
constant time). ``/health`` turns ready only after every key the accounts' states require has been
loaded and checked against the log (public keys re-derived and compared). Every signature and
migration step goes to the hash-chained audit log; nothing secret goes anywhere.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from ..crypto import Secp256k1PrivateKey
from ..errors import ChainplugError, ConfigError
from ..types import AccountState, Address
from .audit import AuditLog
from .backend import SigningBackend, account_json

MAX_REQUEST_BYTES = 256 * 1024
"""Signer requests are small transaction dicts; anything bigger is refused before parsing."""

# JSON-RPC codes: JSON-RPC 2.0 §5.1, plus application codes in the -32000 range.
_PARSE, _INVALID_REQUEST, _NOT_FOUND, _INVALID_PARAMS = -32700, -32600, -32601, -32602
_UNAUTHORIZED, _NOT_READY, _REFUSED = -32001, -32002, -32003


class SignerService:
    """Owns the engine (through ``open_backend``), the audit log and the HTTP app."""

    def __init__(
        self,
        open_backend: Callable[[], SigningBackend],
        *,
        token: str,
        audit: AuditLog,
        complete_on_chain: Callable[[SigningBackend, Address], str | None] | None = None,
    ) -> None:
        if len(token) < 16:
            raise ConfigError("the bearer token must be at least 16 characters")
        self._open_backend = open_backend
        self._complete_on_chain = complete_on_chain
        """Moves a locally PQC_ONLY account to PQC_ONLY on chain (idempotent; None if already there)."""
        self._token = token.encode()
        self.audit = audit
        self.backend: SigningBackend | None = None
        self.problems: list[str] = ["keys not loaded yet"]
        self.metrics = CollectorRegistry()
        self._signatures = Counter("chainplug_signer_signatures", "transactions signed", ["kind", "state"],
                                   registry=self.metrics)  # fmt: skip
        self._pq = Counter("chainplug_signer_pq", "signatures with the PQ component present or missing",
                           ["pq"], registry=self.metrics)  # fmt: skip
        self._steps = Counter("chainplug_signer_migration_steps", "migration steps", ["to"], registry=self.metrics)
        self._errors = Counter("chainplug_signer_errors", "refused requests", ["code"], registry=self.metrics)
        self._latency = Histogram("chainplug_signer_sign_seconds", "time to sign one transaction",
                                  registry=self.metrics)  # fmt: skip
        self._lock = asyncio.Lock()

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
                self._finish_on_chain(address)
        self.audit.record("load", accounts=len(backend.engine.accounts), problems=len(self.problems),
                          recovery=str(recovered) if recovered is not None else None)  # fmt: skip

    async def _startup(self, _: web.Application) -> None:
        async with self._lock:
            try:
                await asyncio.to_thread(self._load)
            except ChainplugError as exc:
                self.problems = [f"store could not be opened: {exc}"]

    async def _cleanup(self, _: web.Application) -> None:
        if self.backend is not None:
            self.backend.engine.close()
        self.audit.close()

    @property
    def ready(self) -> bool:
        return self.backend is not None and not self.problems

    def app(self) -> web.Application:
        application = web.Application(client_max_size=MAX_REQUEST_BYTES)
        application.router.add_post("/", self._rpc)
        application.router.add_get("/health", self._health)
        application.router.add_get("/metrics", self._metrics)
        application.on_startup.append(self._startup)
        application.on_cleanup.append(self._cleanup)
        return application

    # --- HTTP ----------------------------------------------------------------------------------

    async def _health(self, _: web.Request) -> web.Response:
        accounts = len(self.backend.engine.accounts) if self.backend is not None else 0
        body = {"ready": self.ready, "accounts": accounts, "problems": self.problems}
        return web.json_response(body, status=200 if self.ready else 503)

    async def _metrics(self, _: web.Request) -> web.Response:
        return web.Response(body=generate_latest(self.metrics), content_type="text/plain")

    def _authorized(self, request: web.Request) -> bool:
        header = request.headers.get("Authorization", "")
        scheme, _, presented = header.partition(" ")
        return scheme == "Bearer" and hmac.compare_digest(presented.strip().encode(), self._token)

    async def _rpc(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            self._errors.labels(code=str(_UNAUTHORIZED)).inc()
            return web.json_response(_error(None, _UNAUTHORIZED, "missing or wrong bearer token"), status=401)
        try:
            call = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            return web.json_response(_error(None, _PARSE, "parse error"))
        if not isinstance(call, dict) or call.get("jsonrpc") != "2.0" or not isinstance(call.get("method"), str):
            return web.json_response(_error(None, _INVALID_REQUEST, "invalid JSON-RPC 2.0 request"))
        request_id, params = call.get("id"), call.get("params", [])
        handler = self._methods().get(call["method"])
        if handler is None:
            return web.json_response(_error(request_id, _NOT_FOUND, f"method {call['method']} does not exist"))
        if not isinstance(params, list):
            return web.json_response(_error(request_id, _INVALID_PARAMS, "params must be an array"))
        if call["method"] != "chainplug_reload" and not self.ready:
            return web.json_response(_error(request_id, _NOT_READY, "signer not ready: " + "; ".join(self.problems)))
        async with self._lock:
            try:
                result = await asyncio.to_thread(handler, *params)
            except TypeError as exc:
                return web.json_response(_error(request_id, _INVALID_PARAMS, f"bad parameters: {exc}"))
            except ChainplugError as exc:
                self._errors.labels(code=exc.reason.value).inc()
                return web.json_response(_error(request_id, _REFUSED, str(exc), {"reason": exc.reason.value}))
        return web.json_response({"jsonrpc": "2.0", "id": request_id, "result": result})

    # --- methods (run in a worker thread, one at a time) --------------------------------------

    def _methods(self) -> dict[str, Callable[..., Any]]:
        return {
            "chainplug_accounts": self.accounts,
            "chainplug_createAccounts": self.create_accounts,
            "chainplug_signTransaction": self.sign_transaction,
            "chainplug_sendTransaction": self.send_transaction,
            "chainplug_advance": self.advance,
            "chainplug_rollback": self.rollback,
            "chainplug_reload": self.reload,
        }

    def _backend(self) -> SigningBackend:
        assert self.backend is not None
        return self.backend

    def accounts(self) -> list[dict[str, Any]]:
        engine = self._backend().engine
        return [account_json(engine, address) for address in sorted(engine.accounts)]

    def create_accounts(self, count: int) -> list[str]:
        if not isinstance(count, int) or not 0 < count <= 10_000:
            raise TypeError("count must be an integer in 1..10000")
        engine = self._backend().engine
        keys = [Secp256k1PrivateKey.generate() for _ in range(count)]
        try:
            created = [account_json(engine, a)["address"] for a in engine.create_accounts(keys)]
        finally:
            for key in keys:  # the store holds them now; wipe our copies
                key.destroy()
        self.audit.record("create", count=count, addresses=created)
        return created

    def _sign(self, tx: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
        if not isinstance(tx, dict):
            raise TypeError("transaction must be an object")
        backend = self._backend()
        started = time.perf_counter()
        signed = backend.sign(tx)
        self._latency.observe(time.perf_counter() - started)
        address = Address(bytes.fromhex(str(tx["from"]).removeprefix("0x")))
        state = backend.engine.account(address).state
        self._signatures.labels(kind=signed.kind, state=state.name).inc()
        self._pq.labels(pq="missing" if signed.kind == "classical" else "present").inc()
        summary = {"tx_hash": "0x" + signed.tx_hash.hex(), "kind": signed.kind}
        self.audit.record("sign", account=str(tx["from"]), state=state.name, **summary)
        return signed, summary

    def sign_transaction(self, tx: dict[str, Any]) -> dict[str, Any]:
        signed, summary = self._sign(tx)
        envelope = "0x" + signed.envelope.hex() if signed.envelope is not None else None
        return {**summary, "raw": "0x" + signed.raw.hex(), "envelope": envelope}

    def send_transaction(self, tx: dict[str, Any]) -> dict[str, Any]:
        signed, summary = self._sign(tx)
        tx_hash = self._backend().submit(signed)
        self.audit.record("submit", tx_hash=tx_hash, kind=signed.kind)
        return {**summary, "tx_hash": tx_hash}

    def advance(self, address: str, to: str | None = None) -> dict[str, Any]:
        engine = self._backend().engine
        target = AccountState[to] if to is not None else None
        raw_address = Address(bytes.fromhex(address.removeprefix("0x")))
        before = engine.account(raw_address).state.name
        engine.advance(raw_address, target)
        if engine.account(raw_address).state is AccountState.PQC_ONLY:
            self._finish_on_chain(raw_address)
        after = account_json(engine, raw_address)
        self._steps.labels(to=after["state"]).inc()
        self.audit.record("advance", account=after["address"], previous_state=before, new_state=after["state"],
                          generation=after["generation"])  # fmt: skip
        return after

    def _finish_on_chain(self, address: Address) -> None:
        if self._complete_on_chain is None:
            return
        tx_hash = self._complete_on_chain(self._backend(), address)
        if tx_hash is not None:
            self.audit.record("complete-on-chain", account="0x" + address.hex(), tx_hash=tx_hash)

    def rollback(self, address: str) -> dict[str, Any]:
        engine = self._backend().engine
        raw_address = Address(bytes.fromhex(address.removeprefix("0x")))
        engine.rollback(raw_address)
        after = account_json(engine, raw_address)
        self.audit.record("rollback", account=after["address"], generation=after["generation"])
        return after

    def reload(self) -> dict[str, Any]:
        """Close and reopen the store (recovery runs), then re-check every key."""
        self._load()
        return {"ready": self.ready, "problems": self.problems}


def _error(request_id: Any, code: int, message: str, data: Any = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if data is not None:
        error["data"] = data
    return {"jsonrpc": "2.0", "id": request_id, "error": error}


def read_token(token_file: str | None, environ: dict[str, str]) -> str:
    """The bearer token from a file or $CHAINPLUG_SIGNER_TOKEN — never from a command-line value."""
    if token_file:
        return Path(token_file).read_text().strip()
    token = environ.get("CHAINPLUG_SIGNER_TOKEN", "").strip()
    if not token:
        raise ConfigError("give the bearer token with --token-file or $CHAINPLUG_SIGNER_TOKEN")
    return token
