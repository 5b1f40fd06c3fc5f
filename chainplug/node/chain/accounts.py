"""The dev accounts: pre-funded, unlocked, derived from a public mnemonic. TEST ONLY."""

from __future__ import annotations

from dataclasses import dataclass

from eth_account.hdaccount import seed_from_mnemonic
from eth_account.hdaccount.deterministic import HDPath
from eth_keys.datatypes import PrivateKey

from ...types import Address

DEV_MNEMONIC = "test test test test test test test test test test test junk"
"""anvil's and hardhat's public test mnemonic (m/44'/60'/0'/0/i): the same dev accounts as anvil.
TEST ONLY: these keys are published; anything they hold on a real network is lost."""
DEV_BALANCE = 10_000 * 10**18
"""Wei pre-funded to each dev account (anvil's default)."""


@dataclass(frozen=True, slots=True)
class DevAccount:
    """A pre-funded, unlocked test account."""

    address: Address
    private_key: bytes


def dev_accounts(count: int, mnemonic: str = DEV_MNEMONIC) -> tuple[DevAccount, ...]:
    """The first ``count`` accounts of ``mnemonic`` on the standard Ethereum path."""
    seed = seed_from_mnemonic(mnemonic, "")
    accounts = []
    for index in range(count):
        secret = HDPath(f"m/44'/60'/0'/0/{index}").derive(seed)
        address = PrivateKey(secret).public_key.to_canonical_address()
        accounts.append(DevAccount(Address(address), secret))
    return tuple(accounts)
