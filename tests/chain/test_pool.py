"""The chain's transaction pool and block builder (chainplug.node.chain.backend), in process: what a
submission sees, what waits for room in a later block, what is dropped when its block is built, and the
rules judged against the parent of the block a transaction enters."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from eth_account import Account
from eth_utils.exceptions import ValidationError
from web3 import Web3

from chainplug.envelope import CompositeAccount, decode_envelope
from chainplug.node.chain import fork
from chainplug.node.chain.backend import GAS_LIMIT, AlreadyKnown, ChainBackend
from chainplug.node.chain.rules import PqcRuleViolation
from chainplug.registry import KeyRegistryContract, Transition
from chainplug.types import Hash32

CHAIN_ID = 1337
RECIPIENT = "0x5a5A5a5a5A5a5a5a5a5A5a5A5A5a5a5A5A5A5A5A"
KEYS = [(0x7000 + i).to_bytes(32, "big") for i in range(4)]
ADDRESSES = [bytes.fromhex(Account.from_key(k).address[2:]) for k in KEYS]


def manual_chain(**options: Any) -> ChainBackend:
    backend = ChainBackend(chain_id=CHAIN_ID, accounts=1, funded={a: 10**21 for a in ADDRESSES}, **options)
    backend.automine = False
    return backend


def transfer(key: bytes, nonce: int, **fields: Any) -> bytes:
    tx = {"chainId": CHAIN_ID, "nonce": nonce, "to": RECIPIENT, "value": 1, "gas": 21_000, "type": 2,
          "maxFeePerGas": 10**11, "maxPriorityFeePerGas": 10**9, **fields}  # fmt: skip
    return bytes(Account.sign_transaction(tx, key).raw_transaction)


def test_transactions_wait_in_the_block_being_built_until_it_is_sealed() -> None:
    backend = manual_chain()
    hashes = [backend.send_raw(transfer(KEYS[i % 2], i // 2)) for i in range(6)]
    assert backend.head.block_number == 0
    assert backend.pending_nonce(ADDRESSES[0]) == backend.pending_nonce(ADDRESSES[1]) == 3
    pending = backend.find_transaction(hashes[3])
    assert pending is not None and pending.pending and pending.block is None and pending.index == 3
    assert backend.block("pending") is not None and len(backend.block("pending")[0].transactions) == 6  # type: ignore[index]
    with pytest.raises(AlreadyKnown):
        backend.send_raw(transfer(KEYS[0], 0))
    backend.mine()
    block = backend.chain.get_canonical_block_by_number(1)
    assert [bytes(tx.hash) for tx in block.transactions] == [bytes(h) for h in hashes]
    mined = backend.find_transaction(hashes[5])
    assert mined is not None and not mined.pending and mined.block is not None and mined.index == 5
    assert [info.gas_used for info in backend.receipts(block)] == [21_000] * 6
    with pytest.raises(AlreadyKnown):
        backend.send_raw(transfer(KEYS[1], 2))


def test_reads_at_pending_see_every_transaction_so_far() -> None:
    backend = manual_chain()
    recipient = bytes.fromhex(RECIPIENT[2:])

    def pending_balance() -> int:
        header = backend.state_header("pending")
        assert header is not None
        return int(backend.chain.get_vm(header).state.get_balance(recipient))

    backend.send_raw(transfer(KEYS[0], 0))
    backend.send_raw(transfer(KEYS[1], 0))
    assert pending_balance() == 2  # the pending state is made (persisted) on demand
    backend.send_raw(transfer(KEYS[0], 1))  # ... and the block goes on from there
    assert pending_balance() == 3
    backend.mine()
    latest = backend.state_header("latest")
    assert latest is not None and backend.chain.get_vm(latest).state.get_balance(recipient) == 3
    assert pending_balance() == 3


def test_refusals_are_the_answer_to_the_submission() -> None:
    backend = manual_chain()
    backend.send_raw(transfer(KEYS[0], 0))
    with pytest.raises(ValidationError, match="nonce"):
        backend.send_raw(transfer(KEYS[0], 5))  # a gap: py-evm's own nonce rule, against the pending state
    with pytest.raises(ValidationError, match="balance"):
        backend.send_raw(transfer(KEYS[1], 0, value=10**22))
    with pytest.raises(ValidationError, match="intrinsic gas too low"):
        backend.send_raw(transfer(KEYS[1], 0, gas=20_000))
    with pytest.raises(ValidationError, match="exceeds gas limit"):
        backend.send_raw(transfer(KEYS[1], 0, gas=GAS_LIMIT + 1))
    assert backend.pending_nonce(ADDRESSES[0]) == 1 and backend.pending_nonce(ADDRESSES[1]) == 0


def heavy(key: bytes, nonce: int) -> bytes:
    """A transfer using 4,821,000 gas (EIP-7623's floor for 120,000 non-zero calldata bytes): six fill a block."""
    return transfer(key, nonce, gas=HEAVY_GAS, data=b"\x01" * 120_000)


HEAVY_GAS = 4_821_000


def test_a_full_block_queues_what_does_not_fit_for_the_next() -> None:
    backend = manual_chain()
    hashes = [backend.send_raw(heavy(KEYS[0], n)) for n in range(7)]
    hashes.append(backend.send_raw(transfer(KEYS[1], 0)))  # it would fit, but queues behind: arrival order
    assert backend.pending_header.gas_used == 6 * HEAVY_GAS and backend.queued == 2
    assert backend.pending_nonce(ADDRESSES[0]) == 7 and backend.pending_nonce(ADDRESSES[1]) == 1
    queued = backend.find_transaction(hashes[6])
    assert queued is not None and queued.pending and queued.index is None
    with pytest.raises(ValidationError, match="nonce"):
        backend.send_raw(transfer(KEYS[0], 6))  # a queued transaction's nonce is taken
    with pytest.raises(AlreadyKnown):
        backend.send_raw(heavy(KEYS[0], 6))
    backend.mine()
    assert len(backend.chain.get_canonical_block_by_number(1).transactions) == 6
    assert backend.queued == 0  # the queue went into the next block being built
    backend.mine()
    second = backend.chain.get_canonical_block_by_number(2)
    assert [bytes(tx.hash) for tx in second.transactions] == [bytes(h) for h in hashes[6:]]


def test_a_queued_transaction_invalid_at_build_time_is_dropped_with_a_log_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    backend = manual_chain()
    base_fee = backend.next_base_fee()
    for n in range(7):  # a full block (the next base fee rises), and one more queued
        backend.send_raw(heavy(KEYS[0], n))
    cheap = backend.send_raw(transfer(KEYS[1], 0, maxFeePerGas=base_fee, maxPriorityFeePerGas=0))
    follower = backend.send_raw(transfer(KEYS[1], 1))  # its nonce depends on the dropped one
    assert backend.queued == 3
    with caplog.at_level(logging.WARNING, logger="chainplug.node.chain.backend"):
        backend.mine()
    assert backend.next_base_fee() > base_fee
    assert backend.dropped == 2 and backend.queued == 0
    assert backend.find_transaction(cheap) is None and backend.find_transaction(follower) is None
    assert sum("dropped queued transaction" in r.message for r in caplog.records) == 2
    backend.send_raw(transfer(KEYS[1], 0))  # the sender's nonce was never used: the chain goes on
    backend.mine(2)
    assert backend.head.block_number == 3 and backend.pending_nonce(ADDRESSES[1]) == 1
    assert len(backend.chain.get_canonical_block_by_number(2).transactions) == 2  # the 7th heavy one, then this


def test_automine_seals_one_block_per_transaction() -> None:
    backend = manual_chain()
    backend.automine = True
    for n in range(3):
        backend.send_raw(transfer(KEYS[0], n))
    assert backend.head.block_number == 3
    assert all(len(backend.chain.get_canonical_block_by_number(i).transactions) == 1 for i in (1, 2, 3))


def test_a_fault_during_execution_leaves_the_block_being_built_as_it_was(monkeypatch: pytest.MonkeyPatch) -> None:
    backend = manual_chain()
    first = backend.send_raw(transfer(KEYS[0], 0))
    state_class = type(backend.pending_state())
    real = state_class.apply_transaction

    def faulty(self: Any, transaction: Any) -> Any:  # a fault the real EVM does not produce on demand
        if bytes(transaction.sender) == ADDRESSES[1]:
            raise RuntimeError("injected fault mid-execution")
        return real(self, transaction)

    monkeypatch.setattr(state_class, "apply_transaction", faulty)
    with pytest.raises(RuntimeError, match="injected"):
        backend.send_raw(transfer(KEYS[1], 0))
    monkeypatch.setattr(state_class, "apply_transaction", real)
    assert backend.pending_nonce(ADDRESSES[0]) == 1 and backend.pending_nonce(ADDRESSES[1]) == 0
    second = backend.send_raw(transfer(KEYS[1], 0))
    backend.mine()
    block = backend.chain.get_canonical_block_by_number(1)
    assert [bytes(tx.hash) for tx in block.transactions] == [bytes(first), bytes(second)]


# --- the rules, against the parent of the block a transaction enters ---------------------------------


def composite(account: CompositeAccount, nonce: int, **fields: Any) -> bytes:
    tx = {"chainId": CHAIN_ID, "nonce": nonce, "to": RECIPIENT, "value": 1, "gas": 30_000,
          "maxFeePerGas": 10**11, "maxPriorityFeePerGas": 10**9, **fields}  # fmt: skip
    return account.sign_transaction(tx).envelope


def transition(backend: ChainBackend, account: CompositeAccount, nonce: int, which: Transition) -> bytes:
    contract = KeyRegistryContract(Web3(), backend.rules.registry_address or b"")
    call = contract.transition_call(which, account.key_id if which == Transition.REGISTER else None)
    return composite(account, nonce, value=0, gas=150_000, **call)


def test_a_registration_counts_from_the_block_after_the_one_it_lands_in() -> None:
    backend = manual_chain(activation_block=0)
    backend.deploy_registry()
    account = CompositeAccount.from_keys(KEYS[2], b"\x42" * 32)
    backend.send_envelope(transition(backend, account, 0, Transition.REGISTER))
    same_block = backend.send_raw(transfer(KEYS[2], 1))  # judged by the parent: still CLASSICAL there
    backend.mine()
    block = backend.chain.get_canonical_block_by_number(backend.head.block_number)
    assert bytes(block.transactions[-1].hash) == bytes(same_block)
    with pytest.raises(PqcRuleViolation) as refused:
        backend.send_raw(transfer(KEYS[2], 2))  # HYBRID from here on, activation reached: sidecar needed
    assert refused.value.reason.value == "pqc-required"
    envelope = composite(account, 2)
    assert backend.send_envelope(envelope) == Hash32(decode_envelope(envelope).transaction.tx_hash)


def test_registry_entries_are_read_once_while_the_registry_is_unchanged(monkeypatch: pytest.MonkeyPatch) -> None:
    reads: list[bytes] = []
    real = fork.read_registry_entry

    def counted(state: Any, registry: Any, account: Any) -> Any:
        reads.append(bytes(account))
        return real(state, registry, account)

    monkeypatch.setattr(fork, "read_registry_entry", counted)
    backend = manual_chain(activation_block=0)
    backend.deploy_registry()
    account = CompositeAccount.from_keys(KEYS[3], b"\x43" * 32)
    backend.send_envelope(transition(backend, account, 0, Transition.REGISTER))
    backend.mine()
    reads.clear()
    for nonce in range(1, 6):  # five blocks, the registry untouched: the entry is carried from block to block
        backend.send_envelope(composite(account, nonce))
        backend.send_raw(transfer(KEYS[0], nonce - 1))  # an unregistered sender, read once too
        backend.mine()
    assert sorted(reads) == sorted([account.address_bytes, ADDRESSES[0]])
    backend.send_envelope(transition(backend, account, 6, Transition.ANNOUNCE_FINALIZATION))
    backend.mine()
    reads.clear()
    backend.send_raw(transfer(KEYS[0], 5))
    assert reads == [ADDRESSES[0]]  # the registry's storage changed: every entry is read again
