"""The migration engine's on-chain steps, done on the KeyRegistry (docs/registry.md).

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

import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from web3 import Web3
from web3.exceptions import TransactionNotFound

from ..crypto import mldsa87_key_id
from ..envelope import CompositeAccount, PqcOnlySigner, SignedComposite
from ..envelope.fees import default_fees
from ..errors import RegistryError
from ..migration import ChainHook, PrivateKeyStore
from ..types import AccountState, Address
from .contract import KeyRegistryContract, Transition, pending_nonces
from .submit import sign_transition

SendEnvelope = Callable[[SignedComposite], str]
"""Submits a composite transaction (envelope to a gateway or the embedded chain); returns the tx hash."""
SendRaw = Callable[[bytes], str]
T = TypeVar("T")


class RegistryChainHook(ChainHook):
    """Registry transitions for the accounts of one migration store.

    The ``*_many`` steps (the engine's batch migration) sign and send every account's transaction
    before waiting for any receipt, so a batch costs a few blocks, not one block per account."""

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

    def _submit_many(self, accounts: Sequence[tuple[Address, int]], transition: Transition) -> None:
        """Sign (with each account's classical key and its ``pqc_generation`` key) and send the transition
        for every account, then wait until every one is mined."""
        if not accounts:
            return
        fees = default_fees(int(self.w3.eth.get_block("latest").get("baseFeePerGas") or 0))
        chain_id = self.w3.eth.chain_id
        nonces = pending_nonces(self.w3, [address for address, _ in accounts])

        def signed() -> Iterator[SignedComposite]:
            for (address, pqc_generation), nonce in zip(accounts, nonces, strict=True):
                classical = self.keystore.load_classical(address)
                pqc = self.keystore.load_pqc(address, pqc_generation)
                try:
                    composite = CompositeAccount(classical, pqc)
                    yield sign_transition(self.w3, self.contract, composite, transition, nonce=nonce,
                                          chain_id=chain_id, fees=fees)  # fmt: skip
                finally:
                    classical.destroy()
                    pqc.destroy()

        sent = send_while_signing(signed(), self.send_envelope)
        for tx_hash, _ in confirm_many(self.w3, sent, timeout=self.receipt_timeout):
            self.submitted.append((transition.value, tx_hash))

    def on_hybrid(self, address: Address, pqc_public_key: bytes, generation: int) -> None:
        self.on_hybrid_many([(address, pqc_public_key, generation)])

    def on_hybrid_many(self, accounts: Sequence[tuple[Address, bytes, int]]) -> None:
        todo = []
        entries = self.contract.entries([address for address, _, _ in accounts])
        for (address, pqc_public_key, generation), entry in zip(accounts, entries, strict=True):
            if entry.state == AccountState.HYBRID and entry.key_id == mldsa87_key_id(pqc_public_key):
                continue  # already registered (a retry after a crash)
            if entry.state != AccountState.CLASSICAL:
                raise RegistryError(f"0x{address.hex()} is {entry.state.name} on chain; cannot register a new key")
            todo.append((address, generation))
        self._submit_many(todo, Transition.REGISTER)

    def on_finalizing(self, address: Address, generation: int) -> None:
        self.on_finalizing_many([(address, generation)])

    def on_finalizing_many(self, accounts: Sequence[tuple[Address, int]]) -> None:
        todo = []
        entries = self.contract.entries([address for address, _ in accounts])
        for (address, generation), entry in zip(accounts, entries, strict=True):
            if entry.state in (AccountState.FINALIZING, AccountState.PQC_ONLY):
                continue
            if entry.state != AccountState.HYBRID:
                raise RegistryError(f"0x{address.hex()} is {entry.state.name} on chain; cannot announce finalization")
            todo.append((address, generation))
        self._submit_many(todo, Transition.ANNOUNCE_FINALIZATION)

    def on_rollback(self, address: Address, generation: int) -> None:
        entry = self.contract.entry(address)
        if entry.state == AccountState.CLASSICAL:
            return
        if entry.state != AccountState.HYBRID:
            raise RegistryError(f"0x{address.hex()} is {entry.state.name} on chain; rollback needs HYBRID")
        self._submit_many([(address, generation - 1)], Transition.ROLLBACK)


def send_while_signing(signed: Iterable[T], send: Callable[[T], str]) -> list[str]:
    """Send each signed transaction, in order, from a second thread while the next is signed (the
    signature and the node's work on the previous transaction overlap); the hashes in order. Raises
    what the first failing send raised, after the sends already queued are done."""
    with ThreadPoolExecutor(1, thread_name_prefix="registry-send") as sender:
        futures = [sender.submit(send, item) for item in signed]
    return [future.result() for future in futures]


def confirm_many(w3: Web3, tx_hashes: Sequence[str], *, timeout: float) -> list[tuple[str, dict[str, Any]]]:
    """Wait until every transaction is mined (polling each not yet mined); raise RegistryError if one
    reverted or ``timeout`` passes. Returns (hash, receipt) in the order given."""
    receipts: dict[str, dict[str, Any]] = {}
    deadline = time.monotonic() + timeout
    while True:
        for tx_hash in tx_hashes:
            if tx_hash in receipts:
                continue
            try:
                receipt = dict(w3.eth.get_transaction_receipt(tx_hash))  # type: ignore[arg-type]
            except TransactionNotFound:
                continue
            if receipt["status"] != 1:
                raise RegistryError(f"registry transaction {tx_hash} reverted")
            receipts[tx_hash] = receipt
        if len(receipts) == len(tx_hashes):
            return [(h, receipts[h]) for h in tx_hashes]
        if time.monotonic() > deadline:
            raise RegistryError(
                f"{len(tx_hashes) - len(receipts)} registry transaction(s) not mined within {timeout:.0f} s"
            )
        time.sleep(0.1)


def complete_on_chain(
    w3: Web3, contract: KeyRegistryContract, signer: PqcOnlySigner, send_raw: SendRaw, *, timeout: float = 120
) -> str | None:
    """FINALIZING → PQC_ONLY on chain with a PQC-only transaction; None if the chain is already there."""
    done = complete_on_chain_many(w3, contract, [signer], send_raw, timeout=timeout)
    return done[0] if done else None


def complete_on_chain_many(
    w3: Web3,
    contract: KeyRegistryContract,
    signers: Sequence[PqcOnlySigner],
    send_raw: SendRaw,
    *,
    timeout: float = 120,
) -> list[str]:
    """:func:`complete_on_chain` for many accounts: every PQC-only transaction sent before waiting for
    any; returns the hashes of those sent (accounts already PQC_ONLY on chain are left alone)."""
    todo = []
    for signer, entry in zip(signers, contract.entries([s.address_bytes for s in signers]), strict=True):
        if entry.state == AccountState.PQC_ONLY:
            continue
        if entry.state != AccountState.FINALIZING:
            raise RegistryError(f"{signer.address} is {entry.state.name} on chain; completion needs FINALIZING")
        todo.append(signer)
    if not todo:
        return []
    call = contract.transition_call(Transition.COMPLETE_MIGRATION)
    fees = default_fees(int(w3.eth.get_block("latest").get("baseFeePerGas") or 0))
    chain_id = w3.eth.chain_id

    def signed() -> Iterator[bytes]:
        for signer, nonce in zip(todo, pending_nonces(w3, [s.address_bytes for s in todo]), strict=True):
            tx: dict[str, Any] = {
                **call,
                "chainId": chain_id,
                "nonce": nonce,
                "gas": 250_000,  # the PQC authentication surcharge (~136k) plus the call (docs/pqc-transaction.md)
                "value": 0,
                **fees,
            }
            yield signer.sign_transaction(tx).raw_transaction

    sent = send_while_signing(signed(), send_raw)
    try:
        confirm_many(w3, sent, timeout=timeout)
    except RegistryError as exc:
        raise RegistryError(f"complete_migration: {exc}") from exc
    return sent
