"""Submitting registry transitions as composite-signed transactions."""

from __future__ import annotations

from typing import Any

from eth_utils.address import to_checksum_address
from web3 import Web3

from ..envelope import CompositeAccount, SignedComposite
from ..envelope.fees import default_fees
from ..errors import RegistryError
from .contract import KeyRegistryContract, Transition

DEFAULT_GAS = 150_000
"""Enough for any transition (docs/registry.md lists measured gas); unused gas is refunded."""


def sign_transition(
    w3: Web3,
    contract: KeyRegistryContract,
    account: CompositeAccount,
    transition: Transition,
    *,
    nonce: int | None = None,
    gas: int = DEFAULT_GAS,
    chain_id: int | None = None,
    fees: dict[str, int] | None = None,
) -> SignedComposite:
    """Composite-sign the transition transaction for ``account`` (the account itself must send it).
    ``nonce``, ``chain_id`` and ``fees`` are read from the chain unless given (a batch reads them once)."""
    call = contract.transition_call(transition, account.key_id if transition == Transition.REGISTER else None)
    if fees is None:
        fees = default_fees(w3.eth.get_block("latest").get("baseFeePerGas") or 0)
    sender = to_checksum_address(account.address)
    tx: dict[str, Any] = {
        **call,
        "chainId": chain_id if chain_id is not None else w3.eth.chain_id,
        "nonce": nonce if nonce is not None else w3.eth.get_transaction_count(sender, "pending"),
        "gas": gas,
        "value": 0,
        **fees,
    }
    return account.sign_transaction(tx)


def submit_transition(
    w3: Web3, contract: KeyRegistryContract, account: CompositeAccount, transition: Transition, **options: Any
) -> dict[str, Any]:
    """Sign, send the classical part, wait for the receipt; raise RegistryError if it reverted."""
    signed = sign_transition(w3, contract, account, transition, **options)
    tx_hash = w3.eth.send_raw_transaction(signed.raw_transaction)
    receipt = dict(w3.eth.wait_for_transaction_receipt(tx_hash))
    if receipt["status"] != 1:
        raise RegistryError(f"registry transition {transition.value} reverted for {account.address}")
    receipt["envelope"] = signed.envelope
    return receipt
