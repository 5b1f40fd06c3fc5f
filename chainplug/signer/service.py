"""``chainplug signer serve``: the HTTP JSON-RPC signer service (the role Web3Signer and Clef play).

Loopback by default; every JSON-RPC call needs ``Authorization: Bearer <token>`` (compared in
constant time, before the body is read). ``/health`` turns ready only after every key the accounts'
states require has been loaded and checked against the log (public keys re-derived and compared).
Every parameter of every method is checked before any work (INVALID_PARAMS with the reason), and a
transaction request is held to the strict decoder's field rules before anything is looked up, signed
or logged. Every signature and migration step goes to the hash-chained audit log; nothing secret goes
anywhere.
"""

from __future__ import annotations

import asyncio
import hmac
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from ..crypto import Secp256k1PrivateKey, get_backend
from ..envelope import check_transaction_fields
from ..errors import ChainplugError, ConfigError, MalformedEnvelope, UnknownAccount
from ..rpc import (
    INVALID_PARAMS,
    NOT_READY,
    TRANSACTION_REJECTED,
    JsonRpcEndpoint,
    Limits,
    RpcError,
    hex_bytes,
    integer,
    json_application,
    param_count,
)
from ..types import AccountState, Address
from .audit import AuditLog
from .backend import SigningBackend, account_json

LIMITS = Limits(max_body_bytes=256 * 1024, max_depth=16, max_batch=20, max_string=2 * 128 * 1024 + 2)
"""Signer requests are small transaction dicts; the call data of one transaction is the longest string."""
MAX_CREATE = 10_000
"""Most accounts one chainplug_createAccounts call makes."""
MAX_BATCH = 1_000
"""Most accounts one chainplug_advanceBatch call moves (the engine's default batch size)."""


class SignerService:
    """Owns the engine (through ``open_backend``), the audit log and the HTTP app."""

    def __init__(
        self,
        open_backend: Callable[[], SigningBackend],
        *,
        token: str,
        audit: AuditLog,
        complete_on_chain: Callable[[SigningBackend, Address], str | None] | None = None,
        complete_on_chain_many: Callable[[SigningBackend, Sequence[Address]], list[str]] | None = None,
    ) -> None:
        if len(token) < 16:
            raise ConfigError("the bearer token must be at least 16 characters")
        self._open_backend = open_backend
        self._complete_on_chain = complete_on_chain
        """Moves a locally PQC_ONLY account to PQC_ONLY on chain (idempotent; None if already there)."""
        self._complete_on_chain_many = complete_on_chain_many
        """The same for many accounts at once (every transaction sent before waiting for any)."""
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
        self._pqc_backend = get_backend().name  # resolved once, before serving (see ValidatorService)

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
        endpoint = JsonRpcEndpoint(
            {name: self._serialised(name, method) for name, method in self._methods().items()},
            limits=LIMITS,
            authorize=self._authorized,
            map_error=_refusal,
            on_error=lambda error: self._errors.labels(code=str(error.code)).inc(),
        )
        application = json_application(LIMITS)
        application.router.add_post("/", endpoint.handle)
        application.router.add_get("/health", self._health)
        application.router.add_get("/metrics", self._metrics)
        application.on_startup.append(self._startup)
        application.on_cleanup.append(self._cleanup)
        return application

    # --- HTTP ----------------------------------------------------------------------------------

    async def _health(self, _: web.Request) -> web.Response:
        accounts = len(self.backend.engine.accounts) if self.backend is not None else 0
        body = {"ready": self.ready, "accounts": accounts, "problems": self.problems,
                "pqc_backend": self._pqc_backend}  # fmt: skip
        return web.json_response(body, status=200 if self.ready else 503)

    async def _metrics(self, _: web.Request) -> web.Response:
        return web.Response(body=generate_latest(self.metrics), content_type="text/plain")

    def _authorized(self, request: web.Request) -> bool:
        header = request.headers.get("Authorization", "")
        scheme, _, presented = header.partition(" ")
        return scheme == "Bearer" and hmac.compare_digest(presented.strip().encode(), self._token)

    def _serialised(self, name: str, method: Callable[[list[Any]], Any]) -> Callable[[list[Any]], Any]:
        """The method as an async handler: readiness checked, then run in a worker thread, one at a time."""

        async def handler(params: list[Any]) -> Any:
            if name != "chainplug_reload" and not self.ready:
                raise RpcError(NOT_READY, "signer not ready: " + "; ".join(self.problems))
            async with self._lock:
                return await asyncio.to_thread(method, params)

        return handler

    # --- methods (run in a worker thread, one at a time; each checks its params first) ----------

    def _methods(self) -> dict[str, Callable[[list[Any]], Any]]:
        return {
            "chainplug_accounts": self._accounts,
            "chainplug_createAccounts": self._create_accounts,
            "chainplug_signTransaction": self._sign_transaction,
            "chainplug_sendTransaction": self._send_transaction,
            "chainplug_advance": self._advance,
            "chainplug_advanceBatch": self._advance_batch,
            "chainplug_rollback": self._rollback,
            "chainplug_reload": self._reload,
        }

    def _accounts(self, params: list[Any]) -> list[dict[str, Any]]:
        param_count(params, 0)
        return self.accounts()

    def _create_accounts(self, params: list[Any]) -> list[str]:
        param_count(params, 1)
        return self.create_accounts(integer(params[0], "count", least=1, most=MAX_CREATE))

    def _sign_transaction(self, params: list[Any]) -> dict[str, Any]:
        param_count(params, 1)
        return self.sign_transaction(_transaction_request(params[0]))

    def _send_transaction(self, params: list[Any]) -> dict[str, Any]:
        param_count(params, 1)
        return self.send_transaction(_transaction_request(params[0]))

    def _advance(self, params: list[Any]) -> dict[str, Any]:
        param_count(params, 1, 2)
        target = params[1] if len(params) > 1 else None
        if target is not None and (not isinstance(target, str) or target not in AccountState.__members__):
            names = ", ".join(AccountState.__members__)
            raise RpcError(INVALID_PARAMS, f"target state must be one of {names} (or null: the next one)")
        return self.advance(_address(params[0]), target)

    def _advance_batch(self, params: list[Any]) -> dict[str, Any]:
        param_count(params, 2)
        addresses, target = params
        if not isinstance(addresses, list) or not 0 < len(addresses) <= MAX_BATCH:
            raise RpcError(INVALID_PARAMS, f"addresses must be a list of 1..{MAX_BATCH} account addresses")
        chosen = [_address(a, f"addresses[{i}]") for i, a in enumerate(addresses)]
        if len(set(chosen)) != len(chosen):
            raise RpcError(INVALID_PARAMS, "addresses lists an account twice")
        if not isinstance(target, str) or target not in AccountState.__members__:
            raise RpcError(INVALID_PARAMS, f"target state must be one of {', '.join(AccountState.__members__)}")
        return self.advance_batch(chosen, target)

    def _rollback(self, params: list[Any]) -> dict[str, Any]:
        param_count(params, 1)
        return self.rollback(_address(params[0]))

    def _reload(self, params: list[Any]) -> dict[str, Any]:
        param_count(params, 0)
        return self.reload()

    def _backend(self) -> SigningBackend:
        assert self.backend is not None
        return self.backend

    def accounts(self) -> list[dict[str, Any]]:
        engine = self._backend().engine
        return [account_json(engine, address) for address in sorted(engine.accounts)]

    def create_accounts(self, count: int) -> list[str]:
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

    def advance(self, raw_address: Address, to: str | None = None) -> dict[str, Any]:
        engine = self._backend().engine
        target = AccountState[to] if to is not None else None
        before = engine.account(raw_address).state.name
        engine.advance(raw_address, target)
        if engine.account(raw_address).state is AccountState.PQC_ONLY:
            self._finish_on_chain(raw_address)
        after = account_json(engine, raw_address)
        self._steps.labels(to=after["state"]).inc()
        self.audit.record("advance", account=after["address"], previous_state=before, new_state=after["state"],
                          generation=after["generation"])  # fmt: skip
        return after

    def advance_batch(self, addresses: Sequence[Address], to: str) -> dict[str, Any]:
        """The engine's batch migration (group commit, the fleet gate asked once, the on-chain steps of all
        accounts sent before any is awaited) of ``addresses`` to ``to``; accounts already there stay."""
        engine = self._backend().engine
        for address in addresses:
            engine.account(address)  # UnknownAccount before anything changes
        target = AccountState[to]
        report = engine.batch(target, addresses=addresses, batch_size=len(addresses))
        finished = [a for a in addresses if engine.account(a).state is AccountState.PQC_ONLY]
        if finished and target is AccountState.PQC_ONLY:
            self._finish_on_chain_many(finished)
        self._steps.labels(to=target.name).inc(report.reached_target)
        summary = report.to_json()
        self.audit.record("advance-batch", target=target.name, accounts=["0x" + a.hex() for a in addresses],
                          reached_target=summary["reached_target"], failed=summary["failed"])  # fmt: skip
        return {**summary, "accounts": [account_json(engine, a) for a in addresses]}

    def _finish_on_chain_many(self, addresses: Sequence[Address]) -> None:
        if self._complete_on_chain_many is None:
            for address in addresses:
                self._finish_on_chain(address)
            return
        sent = self._complete_on_chain_many(self._backend(), addresses)
        if sent:
            self.audit.record("complete-on-chain", accounts=len(addresses), tx_hashes=sent)

    def _finish_on_chain(self, address: Address) -> None:
        if self._complete_on_chain is None:
            return
        tx_hash = self._complete_on_chain(self._backend(), address)
        if tx_hash is not None:
            self.audit.record("complete-on-chain", account="0x" + address.hex(), tx_hash=tx_hash)

    def rollback(self, raw_address: Address) -> dict[str, Any]:
        engine = self._backend().engine
        engine.rollback(raw_address)
        after = account_json(engine, raw_address)
        self.audit.record("rollback", account=after["address"], generation=after["generation"])
        return after

    def reload(self) -> dict[str, Any]:
        """Close and reopen the store (recovery runs), then re-check every key."""
        self._load()
        return {"ready": self.ready, "problems": self.problems}


def _address(value: Any, name: str = "address") -> Address:
    return Address(hex_bytes(value, name, max_bytes=20, size=20))


def _transaction_request(tx: Any) -> dict[str, Any]:
    """A transaction object held to the strict decoder's field rules, with its ``from`` checked."""
    if not isinstance(tx, dict):
        raise RpcError(INVALID_PARAMS, "the transaction must be a JSON object")
    if "from" not in tx:
        raise RpcError(INVALID_PARAMS, "the transaction needs a 'from' account of this signer")
    _address(tx["from"], "from")
    try:
        check_transaction_fields(tx)
    except MalformedEnvelope as exc:
        raise RpcError(INVALID_PARAMS, str(exc), exc.to_json()) from exc
    return tx


def _refusal(exc: Exception) -> RpcError | None:
    """The JSON-RPC answer for a chainplug error: a request the rules refuse is the caller's input
    (INVALID_PARAMS); a step the engine, the gate or the node refuses is a rejection."""
    if isinstance(exc, MalformedEnvelope | UnknownAccount):
        return RpcError(INVALID_PARAMS, str(exc), exc.to_json())
    if isinstance(exc, ChainplugError):
        return RpcError(TRANSACTION_REJECTED, str(exc), exc.to_json())
    return None


def read_token(token_file: str | None, environ: dict[str, str]) -> str:
    """The bearer token from a file or $CHAINPLUG_SIGNER_TOKEN — never from a command-line value."""
    if token_file:
        return Path(token_file).read_text().strip()
    token = environ.get("CHAINPLUG_SIGNER_TOKEN", "").strip()
    if not token:
        raise ConfigError("give the bearer token with --token-file or $CHAINPLUG_SIGNER_TOKEN")
    return token
