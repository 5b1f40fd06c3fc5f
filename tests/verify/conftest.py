"""Fixtures for the verifier tests: fixed composite accounts, transaction templates, registries.

Every test here runs once per loadable PQC backend (tests/conftest.py), the accounts with it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from chainplug.crypto import PQCBackend, get_backend
from chainplug.envelope import CompositeAccount
from chainplug.types import AccountState
from chainplug.verify import InMemoryRegistry

CHAIN_ID = 1337

# Fixed, obviously-test secrets: (secp256k1 secret, ML-DSA-87 seed).
SECRETS = {
    "alice": (bytes.fromhex("11" * 32), bytes.fromhex("a1" * 32)),
    "bob": (bytes.fromhex("22" * 32), bytes.fromhex("a2" * 32)),
    "carol": (bytes.fromhex("33" * 32), bytes.fromhex("a3" * 32)),
}


@pytest.fixture(autouse=True)
def _on_each_backend(pqc_backend: PQCBackend) -> None:
    """Parametrises every test here over the loadable PQC backends."""


@pytest.fixture(scope="session")
def secrets() -> dict[str, tuple[bytes, bytes]]:
    return SECRETS


@pytest.fixture(scope="session")
def alice(pqc_backend_name: str) -> CompositeAccount:
    return CompositeAccount.from_keys(*SECRETS["alice"], backend=get_backend(pqc_backend_name))


@pytest.fixture(scope="session")
def bob(pqc_backend_name: str) -> CompositeAccount:
    return CompositeAccount.from_keys(*SECRETS["bob"], backend=get_backend(pqc_backend_name))


@pytest.fixture(scope="session")
def carol(pqc_backend_name: str) -> CompositeAccount:
    return CompositeAccount.from_keys(*SECRETS["carol"], backend=get_backend(pqc_backend_name))


def make_tx(*, legacy: bool = False, **overrides: Any) -> dict[str, Any]:
    """An eth-account style transaction dict on CHAIN_ID (EIP-1559 unless ``legacy``)."""
    tx: dict[str, Any] = {"chainId": CHAIN_ID, "nonce": 0, "gas": 21_000, "to": "0x" + "5a" * 20, "value": 1}
    tx |= {"gasPrice": 10**9} if legacy else {"maxFeePerGas": 2 * 10**9, "maxPriorityFeePerGas": 10**9}
    return tx | overrides


@pytest.fixture(scope="session")
def tx() -> Callable[..., dict[str, Any]]:
    return make_tx


def registry_with(*rows: tuple[CompositeAccount, AccountState], public_key: bool = True) -> InMemoryRegistry:
    """A registry with each account in the given state, committed to its own ML-DSA-87 key."""
    registry = InMemoryRegistry()
    for account, state in rows:
        if public_key:
            registry.set(account.address_bytes, state, public_key=account.pqc_public_key)
        else:
            registry.set(account.address_bytes, state, account.key_id)
    return registry


@pytest.fixture(scope="session")
def registry() -> Callable[..., InMemoryRegistry]:
    return registry_with
