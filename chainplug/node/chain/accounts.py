"""The dev accounts: pre-funded, unlocked, derived from a public mnemonic. TEST ONLY."""

from __future__ import annotations

from dataclasses import dataclass

from ...crypto import Secp256k1PrivateKey
from ...types import Address

DEV_MNEMONIC = "test test test test test test test test test test test junk"
"""anvil's and hardhat's public test mnemonic (m/44'/60'/0'/0/i): the same dev accounts as anvil.
TEST ONLY: these keys are published; anything they hold on a real network is lost."""
DEV_BALANCE = 10_000 * 10**18
"""Wei pre-funded to each dev account (anvil's default)."""
DEV_KEYS = (
    "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
    "59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
    "5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
    "7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6",
    "47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a",
    "8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba",
    "92db14e403b83dfe3df233f83dfa3a0d7096f21ca9b0d6d6b8d88b2b4ec1564e",
    "4bbbf85ce3377467afe5d46f804f221813b2bb87f24d81f60f1fcdbf7cbf4356",
    "dbda1821b80551c9d65939329250298aa3472ba22feea921c0cf5d620ea67b97",
    "2a871d0798f97d79848a013d4936a73bf4cc922c825d33c1cf7073dff6d409c6",
)
"""The first ten keys of DEV_MNEMONIC, as anvil prints them (tests/chain/test_dev_accounts.py derives
them again): deriving them (BIP-39 seed, BIP-32 path) needs eth-account's HD wallet, whose import
alone took 0.8 s of every chain's start."""


@dataclass(frozen=True, slots=True)
class DevAccount:
    """A pre-funded, unlocked test account."""

    address: Address
    private_key: bytes


def dev_accounts(count: int, mnemonic: str = DEV_MNEMONIC) -> tuple[DevAccount, ...]:
    """The first ``count`` accounts of ``mnemonic`` on the standard Ethereum path."""
    if mnemonic == DEV_MNEMONIC and count <= len(DEV_KEYS):
        secrets = [bytes.fromhex(key) for key in DEV_KEYS[:count]]
    else:
        secrets = derive_keys(mnemonic, count)
    return tuple(DevAccount(Secp256k1PrivateKey(secret).address, secret) for secret in secrets)


def derive_keys(mnemonic: str, count: int) -> list[bytes]:
    """The private keys of the first ``count`` accounts of ``mnemonic`` (m/44'/60'/0'/0/i)."""
    from eth_account.hdaccount import seed_from_mnemonic
    from eth_account.hdaccount.deterministic import HDPath

    seed = seed_from_mnemonic(mnemonic, "")
    return [HDPath(f"m/44'/60'/0'/0/{index}").derive(seed) for index in range(count)]
