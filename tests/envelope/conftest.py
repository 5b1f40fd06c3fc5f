"""Fixtures for the envelope tests: a few fixed composite accounts (ML-DSA-87 keygen is not free)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

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


@pytest.fixture(scope="session")
def accounts() -> list[FixedAccount]:
    return [FixedAccount(CompositeAccount.from_keys(s, m), s, m) for s, m in FIXED_KEYS]


@pytest.fixture(scope="session")
def alice(accounts: list[FixedAccount]) -> CompositeAccount:
    return accounts[0].account
