"""KeyRegistry on real EVMs (py-evm through eth-tester, and anvil): transitions, access control, verifiers."""

from typing import Any

import pytest
from eth_tester.exceptions import TransactionFailed
from web3 import Web3
from web3.exceptions import ContractLogicError

from chainplug import CompositeAccount
from chainplug.constants import WNS_ARTIFACT_ADDRESS
from chainplug.crypto import Secp256k1PrivateKey
from chainplug.envelope import Envelope, decode_envelope, decode_transaction, unsigned_from_dict
from chainplug.envelope.account import with_artifact
from chainplug.errors import InvalidSignature, PolicyRejected, Reason, RegistryError
from chainplug.registry import ChainRegistry, KeyRegistryContract, Transition, sign_transition, submit_transition
from chainplug.types import AccountState
from chainplug.verify import LegacyVerifier, PqcStatus, UpgradedVerifier


def funded(w3: Web3, seed: int) -> CompositeAccount:
    account = CompositeAccount.from_keys(bytes([seed]) * 32, bytes([seed + 1]) * 32)
    w3.eth.wait_for_transaction_receipt(
        w3.eth.send_transaction({"from": w3.eth.accounts[0], "to": account.address, "value": 10**18})
    )
    return account


def transfer(w3: Web3, account: CompositeAccount) -> Any:
    base_fee = w3.eth.get_block("latest")["baseFeePerGas"]
    return account.sign_transaction(
        {"chainId": w3.eth.chain_id, "nonce": w3.eth.get_transaction_count(account.address),
         "to": w3.eth.accounts[1], "value": 1, "gas": 21000,
         "maxFeePerGas": 2 * base_fee + 10**9, "maxPriorityFeePerGas": 10**9}
    )  # fmt: skip


def test_full_four_state_walk_with_events(chain: tuple[Web3, KeyRegistryContract]) -> None:
    w3, contract = chain
    account = funded(w3, 10)
    assert contract.entry(account.address).state == AccountState.CLASSICAL
    steps = [
        (Transition.REGISTER, AccountState.HYBRID),
        (Transition.ANNOUNCE_FINALIZATION, AccountState.FINALIZING),
        (Transition.COMPLETE_MIGRATION, AccountState.PQC_ONLY),
    ]
    for transition, expected in steps:
        receipt = submit_transition(w3, contract, account, transition)
        entry = contract.entry(account.address)
        assert entry.state == expected
        assert entry.key_id == account.key_id
        assert entry.updated_at == receipt["blockNumber"]
        events = contract.contract.events.StateChanged().process_receipt(receipt)
        assert len(events) == 1 and events[0]["args"]["new_state"] == expected
    assert contract.entry(account.address).generation == 1
    # PQC_ONLY is terminal: nothing moves it any more.
    for transition in Transition:
        with pytest.raises(RegistryError):
            submit_transition(w3, contract, account, transition)


def test_history_is_readable_at_each_block(chain: tuple[Web3, KeyRegistryContract]) -> None:
    w3, contract = chain
    account = funded(w3, 20)
    before = w3.eth.block_number
    registered = submit_transition(w3, contract, account, Transition.REGISTER)["blockNumber"]
    registry = ChainRegistry(contract)
    assert registry.entry(account.address_bytes, before).state == AccountState.CLASSICAL
    assert registry.entry(account.address_bytes, registered).state == AccountState.HYBRID
    reads = registry.reads
    registry.entry(account.address_bytes, registered)
    assert registry.reads == reads, "a historical block's answer is cached"


def test_rollback_retires_the_key_for_good(chain: tuple[Web3, KeyRegistryContract]) -> None:
    w3, contract = chain
    account = funded(w3, 30)
    submit_transition(w3, contract, account, Transition.REGISTER)
    submit_transition(w3, contract, account, Transition.ROLLBACK)
    entry = contract.entry(account.address)
    assert entry.state == AccountState.CLASSICAL and entry.key_id is None and entry.generation == 2
    with pytest.raises(RegistryError):  # the same key id can never be registered again
        submit_transition(w3, contract, account, Transition.REGISTER)


def test_illegal_moves_revert(chain: tuple[Web3, KeyRegistryContract]) -> None:
    w3, contract = chain
    account = funded(w3, 40)
    for transition in (Transition.ANNOUNCE_FINALIZATION, Transition.COMPLETE_MIGRATION, Transition.ROLLBACK):
        with pytest.raises(RegistryError):
            submit_transition(w3, contract, account, transition)
    submit_transition(w3, contract, account, Transition.REGISTER)
    with pytest.raises(RegistryError):  # no skipping HYBRID -> PQC_ONLY
        submit_transition(w3, contract, account, Transition.COMPLETE_MIGRATION)


def test_only_the_account_itself_can_move_its_entry(chain: tuple[Web3, KeyRegistryContract]) -> None:
    w3, contract = chain
    victim, attacker = funded(w3, 50), funded(w3, 60)
    submit_transition(w3, contract, victim, Transition.REGISTER)
    # The attacker can only ever act on its own entry: msg.sender is the account.
    with pytest.raises(RegistryError):
        submit_transition(w3, contract, attacker, Transition.ANNOUNCE_FINALIZATION)
    assert contract.entry(victim.address).state == AccountState.HYBRID
    # A node account calling announce_finalization moves nothing of the victim's.
    with pytest.raises((ContractLogicError, TransactionFailed)):
        contract.contract.functions.announce_finalization().transact({"from": w3.eth.accounts[2]})
    assert contract.entry(victim.address).state == AccountState.HYBRID


def test_upgraded_verifier_on_chain_rejects_stripped_while_legacy_accepts(
    chain: tuple[Web3, KeyRegistryContract],
) -> None:
    w3, contract = chain
    account = funded(w3, 70)
    registry = ChainRegistry(contract)
    upgraded = UpgradedVerifier(registry, chain_id=w3.eth.chain_id)
    legacy = LegacyVerifier(chain_id=w3.eth.chain_id)
    # CLASSICAL on chain: a plain transaction is fine for both.
    signed = transfer(w3, account)
    assert upgraded.verify(signed.envelope).pqc == PqcStatus.VALID
    submit_transition(w3, contract, account, Transition.REGISTER)
    signed = transfer(w3, account)
    assert upgraded.verify(signed.envelope).sender_state == AccountState.HYBRID
    with pytest.raises(PolicyRejected) as stripped:
        upgraded.verify(signed.raw_transaction)
    assert stripped.value.reason == Reason.PQC_REQUIRED
    assert legacy.verify(signed.raw_transaction).sender == account.address_bytes
    # The classical part still mines on the stock chain (zero downtime for legacy nodes).
    receipt = w3.eth.wait_for_transaction_receipt(w3.eth.send_raw_transaction(signed.raw_transaction))
    assert receipt["status"] == 1


def test_transition_transactions_are_themselves_composite(chain: tuple[Web3, KeyRegistryContract]) -> None:
    w3, contract = chain
    account = funded(w3, 80)
    signed = sign_transition(w3, contract, account, Transition.REGISTER)
    registry = ChainRegistry(contract)
    assert UpgradedVerifier(registry).verify(signed.envelope).pqc == PqcStatus.VALID


def test_blocks_before_deployment_read_as_unregistered(chain: tuple[Web3, KeyRegistryContract]) -> None:
    _, contract = chain
    registry = ChainRegistry(contract)
    assert registry.entry(bytes(20), 0).state == AccountState.CLASSICAL


def send_classical(w3: Web3, key: Secp256k1PrivateKey, to: str, data: str, *, key_id: bytes | None = None) -> Any:
    """A plain secp256k1-signed transaction from ``key`` (with a WNS artifact for ``key_id`` if given)."""
    base_fee = w3.eth.get_block("latest")["baseFeePerGas"]
    unsigned = unsigned_from_dict(
        {"chainId": w3.eth.chain_id, "nonce": w3.eth.get_transaction_count(w3.to_checksum_address(key.address)),
         "to": to, "data": data, "gas": 300_000, "maxFeePerGas": 2 * base_fee + 10**9, "maxPriorityFeePerGas": 10**9}
    )  # fmt: skip
    if key_id is not None:
        unsigned = with_artifact(unsigned, WNS_ARTIFACT_ADDRESS, key_id)
    raw = unsigned.encode_signed(key.sign_digest(unsigned.signing_hash()))
    return raw, w3.eth.wait_for_transaction_receipt(w3.eth.send_raw_transaction(raw))


def test_no_third_party_can_block_preempt_or_hijack_a_registration(chain: tuple[Web3, KeyRegistryContract]) -> None:
    """#13 key-id squatting: an attacker who learns a victim's ML-DSA-87 key id (it is public in the victim's
    pending register transaction) registers it first. That must neither block the victim's registration
    nor let the attacker's registration authorise anything for the victim's key (docs/registry.md)."""
    w3, contract = chain
    victim = funded(w3, 90)
    attacker = Secp256k1PrivateKey(bytes([91]) * 32)
    attacker_address = w3.to_checksum_address(attacker.address)
    w3.eth.wait_for_transaction_receipt(
        w3.eth.send_transaction({"from": w3.eth.accounts[0], "to": attacker_address, "value": 10**18})
    )
    # The attacker front-runs: register(victim's key id) from its own account, mined first.
    squat = contract.transition_call(Transition.REGISTER, victim.key_id)
    _, receipt = send_classical(w3, attacker, squat["to"], squat["data"])
    assert receipt["status"] == 1
    assert contract.entry(attacker_address).key_id == victim.key_id
    assert contract.key_used(attacker_address, victim.key_id) and not contract.key_used(victim.address, victim.key_id)
    # Nothing of the victim's moved (not pre-empted), and the victim registers its own key (not blocked).
    assert contract.entry(victim.address).state == AccountState.CLASSICAL
    submit_transition(w3, contract, victim, Transition.REGISTER)
    entry = contract.entry(victim.address)
    assert entry.state == AccountState.HYBRID and entry.key_id == victim.key_id
    registry = ChainRegistry(contract)
    verifier = UpgradedVerifier(registry, chain_id=w3.eth.chain_id)
    genuine = transfer(w3, victim)
    assert verifier.verify(genuine.envelope).sender == victim.address_bytes
    # Not hijacked: the victim's PQC signature, carried by the attacker's own transaction (with the key id
    # the attacker registered and the matching artifact), does not verify: M' binds the sender's address.
    base_fee = w3.eth.get_block("latest")["baseFeePerGas"]
    unsigned = with_artifact(
        unsigned_from_dict({"chainId": w3.eth.chain_id, "nonce": w3.eth.get_transaction_count(attacker_address),
                            "to": w3.eth.accounts[1], "value": 1, "gas": 21_000,
                            "maxFeePerGas": 2 * base_fee + 10**9, "maxPriorityFeePerGas": 10**9}),
        WNS_ARTIFACT_ADDRESS, victim.key_id,
    )  # fmt: skip
    attacker_tx = decode_transaction(unsigned.encode_signed(attacker.sign_digest(unsigned.signing_hash())))
    lifted = Envelope(attacker_tx, victim.pqc_public_key, decode_envelope(genuine.envelope).pqc_signature)
    with pytest.raises(InvalidSignature):
        verifier.verify(lifted.encode())
    # The victim's own migration goes on as usual; its key id is now used by it too, and only by its own rules.
    submit_transition(w3, contract, victim, Transition.ANNOUNCE_FINALIZATION)
    assert contract.entry(victim.address).state == AccountState.FINALIZING
    assert contract.key_used(victim.address, victim.key_id)
