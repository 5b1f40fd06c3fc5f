"""The ``chainplug_*`` migration steps as the signer runs them: create accounts, advance one or a batch,
roll back, and finish on chain.

A step changes the migration engine (under its lock), moves an account that reached PQC_ONLY to PQC_ONLY
on chain too, counts itself and goes to the audit log. It runs in a worker thread with the keys to
itself: the service (chainplug.signer.service) holds the :class:`~chainplug.signer.guard.KeyGuard` and
the accounts' nonce locks around it. Its own module because a step drives the engine, while the wallet
methods beside it only sign.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from prometheus_client import CollectorRegistry, Counter

from ..crypto import Secp256k1PrivateKey
from ..rpc import INVALID_PARAMS, RpcError, hex_bytes, integer, param_count
from ..types import AccountState, Address
from .audit import AuditLog
from .backend import SigningBackend, account_json

MAX_CREATE = 10_000
"""Most accounts one chainplug_createAccounts call makes."""
MAX_BATCH = 1_000
"""Most accounts one chainplug_advanceBatch call moves (the engine's default batch size)."""


def account_address(value: Any, name: str = "address") -> Address:
    """An account address parameter (20 bytes, hex)."""
    return Address(hex_bytes(value, name, max_bytes=20, size=20))


class MigrationSteps:
    """The migration steps over the signer's engine (each method is one JSON-RPC method's body)."""

    def __init__(
        self,
        backend: Callable[[], SigningBackend],
        *,
        audit: AuditLog,
        metrics: CollectorRegistry,
        complete_on_chain: Callable[[SigningBackend, Address], str | None] | None = None,
        complete_on_chain_many: Callable[[SigningBackend, Sequence[Address]], list[str]] | None = None,
    ) -> None:
        self._backend = backend
        self._audit = audit
        self._complete_on_chain = complete_on_chain
        """Moves a locally PQC_ONLY account to PQC_ONLY on chain (idempotent; None if already there)."""
        self._complete_on_chain_many = complete_on_chain_many
        """The same for many accounts at once (every transaction sent before waiting for any)."""
        self._steps = Counter("chainplug_signer_migration_steps", "migration steps", ["to"], registry=metrics)

    def create_accounts(self, params: list[Any]) -> list[str]:
        param_count(params, 1)
        count = integer(params[0], "count", least=1, most=MAX_CREATE)
        backend = self._backend()
        keys = [Secp256k1PrivateKey.generate() for _ in range(count)]
        try:
            with backend.engine_lock:
                created = [account_json(backend.engine, a)["address"] for a in backend.engine.create_accounts(keys)]
        finally:
            for key in keys:  # the store holds them now; wipe our copies
                key.destroy()
        self._audit.record("create", count=count, addresses=created)
        return created

    def advance(self, params: list[Any]) -> dict[str, Any]:
        param_count(params, 1, 2)
        target = params[1] if len(params) > 1 else None
        if target is not None and (not isinstance(target, str) or target not in AccountState.__members__):
            names = ", ".join(AccountState.__members__)
            raise RpcError(INVALID_PARAMS, f"target state must be one of {names} (or null: the next one)")
        address = account_address(params[0])
        backend = self._backend()
        engine = backend.engine
        with backend.engine_lock:
            before = engine.account(address).state.name
            engine.advance(address, AccountState[target] if target is not None else None)
            if engine.account(address).state is AccountState.PQC_ONLY:
                self.finish_on_chain(address)
            after = account_json(engine, address)
        self._steps.labels(to=after["state"]).inc()
        self._audit.record("advance", account=after["address"], previous_state=before, new_state=after["state"],
                           generation=after["generation"])  # fmt: skip
        return after

    @staticmethod
    def batch_request(params: list[Any]) -> tuple[list[Address], AccountState]:
        """chainplug_advanceBatch's params (addresses, target state name), checked: (accounts, target)."""
        param_count(params, 2)
        addresses, target = params
        if not isinstance(addresses, list) or not 0 < len(addresses) <= MAX_BATCH:
            raise RpcError(INVALID_PARAMS, f"addresses must be a list of 1..{MAX_BATCH} account addresses")
        chosen = [account_address(a, f"addresses[{i}]") for i, a in enumerate(addresses)]
        if len(set(chosen)) != len(chosen):
            raise RpcError(INVALID_PARAMS, "addresses lists an account twice")
        if not isinstance(target, str) or target not in AccountState.__members__:
            raise RpcError(INVALID_PARAMS, f"target state must be one of {', '.join(AccountState.__members__)}")
        return chosen, AccountState[target]

    def advance_batch(self, addresses: Sequence[Address], target: AccountState) -> dict[str, Any]:
        """The engine's batch migration (group commit, the fleet gate asked once, the on-chain steps of all
        accounts sent before any is awaited) of ``addresses`` to ``target``; accounts already there stay."""
        backend = self._backend()
        engine = backend.engine
        with backend.engine_lock:
            for address in addresses:
                engine.account(address)  # UnknownAccount before anything changes
            report = engine.batch(target, addresses=addresses, batch_size=len(addresses))
            finished = [a for a in addresses if engine.account(a).state is AccountState.PQC_ONLY]
            if finished and target is AccountState.PQC_ONLY:
                self.finish_on_chain_many(finished)
            accounts = [account_json(engine, a) for a in addresses]
        self._steps.labels(to=target.name).inc(report.reached_target)
        summary = report.to_json()
        self._audit.record("advance-batch", target=target.name, accounts=["0x" + a.hex() for a in addresses],
                           reached_target=summary["reached_target"], failed=summary["failed"])  # fmt: skip
        return {**summary, "accounts": accounts}

    def rollback(self, params: list[Any]) -> dict[str, Any]:
        param_count(params, 1)
        address = account_address(params[0])
        backend = self._backend()
        with backend.engine_lock:
            backend.engine.rollback(address)
            after = account_json(backend.engine, address)
        self._audit.record("rollback", account=after["address"], generation=after["generation"])
        return after

    def finish_on_chain_many(self, addresses: Sequence[Address]) -> None:
        if self._complete_on_chain_many is None:
            for address in addresses:
                self.finish_on_chain(address)
            return
        sent = self._complete_on_chain_many(self._backend(), addresses)
        if sent:
            self._audit.record("complete-on-chain", accounts=len(addresses), tx_hashes=sent)

    def finish_on_chain(self, address: Address) -> None:
        """Moves a locally PQC_ONLY account to PQC_ONLY on chain too (nothing when no chain is set)."""
        if self._complete_on_chain is None:
            return
        tx_hash = self._complete_on_chain(self._backend(), address)
        if tx_hash is not None:
            self._audit.record("complete-on-chain", account="0x" + address.hex(), tx_hash=tx_hash)
