"""The engine's on-chain steps through RegistryChainHook: right transitions, idempotent on retry."""

from pathlib import Path

import pytest
from web3 import EthereumTesterProvider, Web3

from chainplug.envelope import SignedComposite
from chainplug.errors import RegistryError
from chainplug.migration import MigrationEngine, PlainFileKeyStore, StaticReadiness
from chainplug.registry import KeyRegistryContract
from chainplug.registry.hook import RegistryChainHook
from chainplug.types import AccountState


def fund(w3: Web3, address: bytes) -> None:
    tx_hash = w3.eth.send_transaction(
        {"from": w3.eth.accounts[0], "to": Web3.to_checksum_address(address), "value": 10**18}
    )
    w3.eth.wait_for_transaction_receipt(tx_hash)


def test_engine_moves_the_registry_and_retries_are_no_ops(tmp_path: Path) -> None:
    w3 = Web3(EthereumTesterProvider())
    contract = KeyRegistryContract.deploy(w3, w3.eth.accounts[0])
    keystore = PlainFileKeyStore(tmp_path / "store" / "keys")

    def send(signed: SignedComposite) -> str:  # eth-tester takes no sidecars: the classical part
        return "0x" + bytes(w3.eth.send_raw_transaction(signed.raw_transaction)).hex()

    hook = RegistryChainHook(w3, contract, keystore, send_envelope=send)
    readiness = StaticReadiness({"v1": True})
    with MigrationEngine.open(tmp_path / "store", create=True, keystore=keystore, chain=hook,
                              readiness=readiness) as engine:  # fmt: skip
        address = engine.create_account()
        fund(w3, address)
        engine.advance(address, AccountState.HYBRID)
        entry = contract.entry(address)
        assert entry.state == AccountState.HYBRID and entry.key_id == engine.account(address).key_id
        pqc_public = engine.load_pqc_key(address).public_key_bytes
        hook.on_hybrid(address, pqc_public, engine.account(address).generation)  # a recovery retry
        assert [name for name, _ in hook.submitted] == ["register"]
        engine.advance(address, AccountState.FINALIZING)
        assert contract.entry(address).state == AccountState.FINALIZING
        hook.on_finalizing(address, engine.account(address).generation)  # retry: nothing sent
        assert [name for name, _ in hook.submitted] == ["register", "announce_finalization"]
        with pytest.raises(RegistryError):  # the chain is past HYBRID: no rollback
            hook.on_rollback(address, engine.account(address).generation + 1)


def test_rollback_retires_the_key_on_chain(tmp_path: Path) -> None:
    w3 = Web3(EthereumTesterProvider())
    contract = KeyRegistryContract.deploy(w3, w3.eth.accounts[0])
    keystore = PlainFileKeyStore(tmp_path / "store" / "keys")

    def send(signed: SignedComposite) -> str:
        return "0x" + bytes(w3.eth.send_raw_transaction(signed.raw_transaction)).hex()

    hook = RegistryChainHook(w3, contract, keystore, send_envelope=send)
    with MigrationEngine.open(tmp_path / "store", create=True, keystore=keystore, chain=hook) as engine:
        address = engine.create_account()
        fund(w3, address)
        engine.advance(address, AccountState.HYBRID)
        engine.rollback(address)
        entry = contract.entry(address)
        assert entry.state == AccountState.CLASSICAL and entry.key_id is None and entry.generation == 2
        assert [name for name, _ in hook.submitted] == ["register", "rollback"]
