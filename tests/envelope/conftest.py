"""Fixtures for the envelope tests: a few fixed composite accounts (ML-DSA-87 keygen is not free).

Every test here runs once per loadable PQC backend (tests/conftest.py), the accounts with it."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from chainplug.crypto import PQCBackend, get_backend
from chainplug.envelope import CompositeAccount

# Fixed, obviously-test secrets. Never use these for anything but tests.
FIXED_KEYS = [
    (bytes.fromhex("11" * 32), bytes.fromhex("a1" * 32)),
    (bytes.fromhex("22" * 32), bytes.fromhex("a2" * 32)),
    (bytes.fromhex("33" * 32), bytes.fromhex("a3" * 32)),
]


@dataclass(frozen=True)
class FixedAccount:
    account: CompositeAccount
    secp256k1_secret: bytes
    mldsa_seed: bytes


@pytest.fixture(autouse=True)
def _on_each_backend(pqc_backend: PQCBackend) -> None:
    """Parametrises every test here over the loadable PQC backends."""


@pytest.fixture(scope="session")
def accounts(pqc_backend_name: str) -> list[FixedAccount]:
    backend = get_backend(pqc_backend_name)
    return [FixedAccount(CompositeAccount.from_keys(s, m, backend=backend), s, m) for s, m in FIXED_KEYS]


@pytest.fixture(scope="session")
def alice(accounts: list[FixedAccount]) -> CompositeAccount:
    return accounts[0].account
