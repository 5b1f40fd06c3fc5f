"""Typed bindings for the KeyRegistry contract over web3.py: deploy, read, transition."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from eth_utils.address import to_checksum_address
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import Web3TypeError
from web3.types import BlockIdentifier

from ..errors import RegistryError
from ..types import AccountState, Address, KeyId
from .artifact import load_artifact

BATCH = 100
"""Calls per JSON-RPC batch (the embedded chain's and the gateway's batch limit)."""


def pending_nonces(w3: Web3, accounts: Sequence[Address | str]) -> list[int]:
    """Each account's next nonce ("pending"), in JSON-RPC batches where the provider takes them."""
    nonces: list[int] = []
    for start in range(0, len(accounts), BATCH):
        chunk = [to_checksum_address(a) for a in accounts[start : start + BATCH]]
        try:
            with w3.batch_requests() as batch:
                for account in chunk:
                    batch.add(w3.eth.get_transaction_count(account, "pending"))
                nonces += [int(n) for n in batch.execute()]  # type: ignore[call-overload]
        except Web3TypeError:  # a provider without batches (eth-tester)
            nonces += [int(w3.eth.get_transaction_count(account, "pending")) for account in chunk]
    return nonces


class Transition(StrEnum):
    """Contract functions that move an account's state (each callable only by the account)."""

    REGISTER = "register"
    """CLASSICAL -> HYBRID, commits the key id."""
    ANNOUNCE_FINALIZATION = "announce_finalization"
    """HYBRID -> FINALIZING."""
    COMPLETE_MIGRATION = "complete_migration"
    """FINALIZING -> PQC_ONLY."""
    ROLLBACK = "rollback"
    """HYBRID -> CLASSICAL, retires the key."""


@dataclass(frozen=True, slots=True)
class OnChainEntry:
    """One account's row in the registry."""

    state: AccountState
    key_id: KeyId | None
    """None while CLASSICAL."""
    generation: int
    """Bumped by register and rollback."""
    updated_at: int
    """Block number of the last change (0 if never registered)."""


class KeyRegistryContract:
    """A deployed KeyRegistry at ``address`` on the chain behind ``w3``."""

    def __init__(self, w3: Web3, address: str | bytes) -> None:
        self.w3 = w3
        self.address = to_checksum_address(address)
        self.contract: Contract = w3.eth.contract(address=self.address, abi=load_artifact()["abi"])

    @classmethod
    def deploy(cls, w3: Web3, deployer: str) -> KeyRegistryContract:
        """Deploy from an unlocked node account (eth-tester's, anvil's) and wait for the receipt."""
        artifact = load_artifact()
        factory = w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
        tx_hash = factory.constructor().transact({"from": to_checksum_address(deployer)})
        receipt = w3.eth.wait_for_transaction_receipt(tx_hash)
        if receipt["status"] != 1 or receipt["contractAddress"] is None:
            raise RegistryError("KeyRegistry deployment failed")
        return cls(w3, receipt["contractAddress"])

    def entry(self, account: Address | str, block: BlockIdentifier = "latest") -> OnChainEntry:
        """The account's entry as of ``block``."""
        state, key_id, generation, updated_at = self.contract.functions.entry(to_checksum_address(account)).call(
            block_identifier=block
        )
        return OnChainEntry(
            AccountState(state),
            KeyId(bytes(key_id)) if any(key_id) else None,
            int(generation),
            int(updated_at),
        )

    def entries(self, accounts: Sequence[Address | str]) -> list[OnChainEntry]:
        """:meth:`entry` at "latest" for many accounts: JSON-RPC batches of :data:`BATCH` calls where the
        provider takes batches (HTTP), one call each otherwise."""
        rows: list[Any] = []
        for start in range(0, len(accounts), BATCH):
            chunk = [to_checksum_address(a) for a in accounts[start : start + BATCH]]
            try:
                with self.w3.batch_requests() as batch:
                    for account in chunk:
                        batch.add(self.contract.functions.entry(account))
                    rows += batch.execute()
            except Web3TypeError:  # a provider without batches (eth-tester)
                rows += [self.contract.functions.entry(account).call() for account in chunk]
        return [
            OnChainEntry(AccountState(state), KeyId(bytes(key_id)) if any(key_id) else None, int(gen), int(updated))
            for state, key_id, gen, updated in rows
        ]

    def key_used(self, account: Address | str, key_id: bytes, block: BlockIdentifier = "latest") -> bool:
        """True if ``account`` has registered ``key_id`` (now or before a rollback): it cannot again.

        The ban is per account (docs/registry.md): another account's use of the same key id never
        blocks this one.
        """
        used = self.contract.functions.key_used(to_checksum_address(account), bytes(key_id)).call(
            block_identifier=block
        )
        return bool(used)

    def transition_call(self, transition: Transition, key_id: bytes | None = None) -> dict[str, Any]:
        """The ``to`` and ``data`` of a transition transaction, for any signer to complete."""
        function = getattr(self.contract.functions, transition.value)
        call = function(key_id) if transition == Transition.REGISTER else function()
        if (transition == Transition.REGISTER) != (key_id is not None):
            raise RegistryError("register takes a key id; other transitions take none")
        return {"to": self.address, "data": call._encode_transaction_data()}
