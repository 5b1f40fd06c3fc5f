"""The migration engine's on-chain steps, done on the KeyRegistry (DESIGN.md §5).

:class:`RegistryChainHook` implements :class:`chainplug.migration.ChainHook`: at HYBRID it registers
the key commitment, at FINALIZING it announces finalization, at rollback it retires the key — each as
a composite-signed transaction from the account itself, confirmed by its receipt. Every step first
reads the account's on-chain entry and does nothing if the chain is already there, so the engine's
recovery may call it again after a crash between the chain and the local record.

The last step, FINALIZING → PQC_ONLY on chain, happens after the classical key is erased, so it is a
PQC-only transaction: :func:`complete_on_chain`, called by the signer after the local PQC_ONLY record
and again at start-up for any account whose chain entry lags (the other crash window).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from web3 import Web3

from ..crypto import mldsa87_key_id
from ..envelope import CompositeAccount, PqcOnlySigner, SignedComposite
from ..envelope.fees import default_fees
from ..errors import RegistryError
from ..migration import ChainHook, PrivateKeyStore
from ..types import AccountState, Address
from .contract import KeyRegistryContract, Transition
from .submit import sign_transition

SendEnvelope = Callable[[SignedComposite], str]
"""Submits a composite transaction (envelope to a gateway or the embedded chain); returns the tx hash."""
SendRaw = Callable[[bytes], str]


class RegistryChainHook(ChainHook):
    """Registry transitions for the accounts of one migration store."""

    def __init__(
        self,
        w3: Web3,
        contract: KeyRegistryContract,
        keystore: PrivateKeyStore,
        *,
        send_envelope: SendEnvelope,
        receipt_timeout: float = 120,
    ) -> None:
        self.w3 = w3
        self.contract = contract
        self.keystore = keystore
        self.send_envelope = send_envelope
        self.receipt_timeout = receipt_timeout
        self.submitted: list[tuple[str, str]] = []
        """(transition, tx hash) of every transaction this hook sent, for reports and tests."""

    def _submit(self, address: Address, pqc_generation: int, transition: Transition) -> None:
        classical = self.keystore.load_classical(address)
        pqc = self.keystore.load_pqc(address, pqc_generation)
        try:
            signed = sign_transition(self.w3, self.contract, CompositeAccount(classical, pqc), transition)
            tx_hash = self.send_envelope(signed)
        finally:
            classical.destroy()
            pqc.destroy()
        self._confirm(tx_hash, transition, address)

    def _confirm(self, tx_hash: str, transition: Transition, address: Address) -> None:
        receipt = self.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=self.receipt_timeout)  # type: ignore[arg-type]
        if receipt["status"] != 1:
            raise RegistryError(f"registry {transition.value} reverted for 0x{address.hex()} (tx {tx_hash})")
        self.submitted.append((transition.value, tx_hash))

    def on_hybrid(self, address: Address, pqc_public_key: bytes, generation: int) -> None:
        entry = self.contract.entry(address)
        if entry.state == AccountState.HYBRID and entry.key_id == mldsa87_key_id(pqc_public_key):
            return  # already registered (a retry after a crash)
        if entry.state != AccountState.CLASSICAL:
            raise RegistryError(f"0x{address.hex()} is {entry.state.name} on chain; cannot register a new key")
        self._submit(address, generation, Transition.REGISTER)

    def on_finalizing(self, address: Address, generation: int) -> None:
        entry = self.contract.entry(address)
        if entry.state in (AccountState.FINALIZING, AccountState.PQC_ONLY):
            return
        if entry.state != AccountState.HYBRID:
            raise RegistryError(f"0x{address.hex()} is {entry.state.name} on chain; cannot announce finalization")
        self._submit(address, generation, Transition.ANNOUNCE_FINALIZATION)

    def on_rollback(self, address: Address, generation: int) -> None:
        entry = self.contract.entry(address)
        if entry.state == AccountState.CLASSICAL:
            return
        if entry.state != AccountState.HYBRID:
            raise RegistryError(f"0x{address.hex()} is {entry.state.name} on chain; rollback needs HYBRID")
        self._submit(address, generation - 1, Transition.ROLLBACK)


def complete_on_chain(
    w3: Web3, contract: KeyRegistryContract, signer: PqcOnlySigner, send_raw: SendRaw, *, timeout: float = 120
) -> str | None:
    """FINALIZING → PQC_ONLY on chain with a PQC-only transaction; None if the chain is already there."""
    entry = contract.entry(signer.address_bytes)
    if entry.state == AccountState.PQC_ONLY:
        return None
    if entry.state != AccountState.FINALIZING:
        raise RegistryError(f"{signer.address} is {entry.state.name} on chain; completion needs FINALIZING")
    call = contract.transition_call(Transition.COMPLETE_MIGRATION)
    base_fee = int(w3.eth.get_block("latest").get("baseFeePerGas") or 0)
    tx: dict[str, Any] = {
        **call,
        "chainId": w3.eth.chain_id,
        "nonce": w3.eth.get_transaction_count(signer.address, "pending"),  # type: ignore[arg-type]
        "gas": 250_000,  # the PQC authentication surcharge (~136k) plus the call (docs/pqc-transaction.md)
        "value": 0,
        **default_fees(base_fee),
    }
    tx_hash = send_raw(signer.sign_transaction(tx).raw_transaction)
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=timeout)  # type: ignore[arg-type]
    if receipt["status"] != 1:
        raise RegistryError(f"complete_migration reverted for {signer.address} (tx {tx_hash})")
    return tx_hash
