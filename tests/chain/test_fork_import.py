"""The upgraded rules are block-validity rules, not just admission: a node running the fork re-checks
every transaction when it *imports* a block, against the registry at that block's parent."""

from __future__ import annotations

import pytest
from eth_account import Account
from eth_utils.exceptions import ValidationError
from web3 import Web3

from chainplug.constants import PQC_TX_AUTH_GAS, TX_TYPE_PQC_ONLY
from chainplug.envelope import CompositeAccount, decode_transaction
from chainplug.envelope.pqc_signer import PqcOnlySigner
from chainplug.node.chain.backend import ChainBackend
from chainplug.node.chain.fork import read_registry_entry
from chainplug.node.chain.rules import PqcRuleViolation
from chainplug.registry.artifact import load_artifact
from chainplug.registry.contract import Transition
from chainplug.types import AccountState

GENESIS_TIME = 1_700_000_000
MLDSA_SEED = b"\x61" * 32


def _pair() -> tuple[ChainBackend, ChainBackend]:
    options = {"accounts": 1, "genesis_timestamp": GENESIS_TIME, "activation_block": 10**6}
    producer = ChainBackend(**options)
    producer.deploy_registry()
    follower = ChainBackend(**options, registry_address=producer.rules.registry_address)
    assert follower.chain.get_canonical_head() == producer.chain.get_canonical_block_by_number(0).header
    return producer, follower


def _send(backend: ChainBackend, secret: bytes, **fields: object) -> None:
    sender = Account.from_key(secret).address
    nonce = backend.chain.get_vm(backend.chain.header).state.get_nonce(bytes.fromhex(sender[2:]))
    tx = {
        "chainId": backend.chain_id,
        "nonce": nonce,
        "gas": 200_000,
        "value": 0,
        "maxFeePerGas": 10**10,
        "maxPriorityFeePerGas": 10**9,
        **fields,
    }
    backend.send_raw(bytes(Account.sign_transaction(tx, secret).raw_transaction))


def _transition(backend: ChainBackend, account: CompositeAccount, transition: Transition, nonce: int) -> bytes:
    contract = Web3().eth.contract(abi=load_artifact()["abi"])
    function = getattr(contract.functions, transition.value)
    call = function(account.key_id) if transition == Transition.REGISTER else function()
    signed = account.sign_transaction(
        {
            "chainId": backend.chain_id,
            "nonce": nonce,
            "gas": 200_000,
            "value": 0,
            "to": backend.rules.registry_address,
            "data": call._encode_transaction_data(),
            "maxFeePerGas": 10**10,
            "maxPriorityFeePerGas": 10**9,
        }
    )
    return signed.raw_transaction


def _import_all(producer: ChainBackend, follower: ChainBackend) -> None:
    for number in range(follower.head.block_number + 1, producer.head.block_number + 1):
        follower.chain.import_block(producer.chain.get_canonical_block_by_number(number))


def test_follower_imports_a_migration_and_a_pqc_only_transaction() -> None:
    producer, follower = _pair()
    account = CompositeAccount.from_keys(b"\x60" * 32, MLDSA_SEED)
    _send(producer, producer.accounts[0].private_key, to=account.address, value=10**18)
    for nonce, transition in enumerate((Transition.REGISTER, Transition.ANNOUNCE_FINALIZATION)):
        producer.send_raw(_transition(producer, account, transition, nonce))
    signer = PqcOnlySigner.from_seed(MLDSA_SEED, account.address)
    call = _transition(producer, account, Transition.COMPLETE_MIGRATION, 2)  # only for its calldata
    data = decode_transaction(call).unsigned.data
    pqc = signer.sign_transaction(
        {
            "chainId": producer.chain_id,
            "nonce": 2,
            "gas": 80_000 + PQC_TX_AUTH_GAS,
            "to": producer.rules.registry_address,
            "value": 0,
            "data": data,
            "maxFeePerGas": 10**10,
            "maxPriorityFeePerGas": 10**9,
        }
    )
    producer.send_raw(pqc.raw_transaction)
    _import_all(producer, follower)
    assert follower.head == producer.head
    state = follower.chain.get_vm(follower.chain.header).state
    registry = follower.rules.registry_address
    assert registry is not None
    assert read_registry_entry(state, registry, account.address_bytes).state == AccountState.PQC_ONLY
    imported = follower.chain.get_canonical_transaction(pqc.tx_hash)
    assert imported.type_id == TX_TYPE_PQC_ONLY and imported.sender == account.address_bytes


def test_follower_refuses_a_block_that_breaks_the_rules() -> None:
    producer, follower = _pair()
    account = CompositeAccount.from_keys(b"\x62" * 32, b"\x63" * 32)
    _send(producer, producer.accounts[0].private_key, to=account.address, value=10**18)
    for nonce, transition in enumerate((Transition.REGISTER, Transition.ANNOUNCE_FINALIZATION)):
        producer.send_raw(_transition(producer, account, transition, nonce))
    _import_all(producer, follower)
    # A producer that stopped enforcing (here: forgot its registry) mines a FINALIZING sender's bare tx.
    registry, producer.rules.registry_address = producer.rules.registry_address, None
    producer.send_raw(_transition(producer, account, Transition.COMPLETE_MIGRATION, 2))
    producer.rules.registry_address = registry
    block = producer.chain.get_canonical_block_by_number(producer.head.block_number)
    with pytest.raises(ValidationError) as caught:
        follower.chain.import_block(block)
    assert isinstance(caught.value, PqcRuleViolation) and caught.value.reason.value == "pqc-required"
    assert follower.head.block_number == block.number - 1
