"""web3.py round trip through the composite-signing middleware on py-evm (sync and async)."""

import asyncio

from web3 import AsyncWeb3, EthereumTesterProvider, Web3
from web3.providers.eth_tester import AsyncEthereumTesterProvider

from chainplug import CompositeAccount
from chainplug.signer import CompositeSigningMiddleware, EnvelopeStore
from chainplug.types import AccountState
from chainplug.verify import InMemoryRegistry, PqcStatus, UpgradedVerifier


def _registry(account: CompositeAccount) -> InMemoryRegistry:
    registry = InMemoryRegistry()
    registry.set(account.address_bytes, AccountState.HYBRID, account.key_id)
    return registry


def test_send_transaction_is_composite_signed_and_mined() -> None:
    w3 = Web3(EthereumTesterProvider())
    account = CompositeAccount.from_keys(b"\x31" * 32, b"\x32" * 32)
    store = EnvelopeStore()
    w3.middleware_onion.inject(CompositeSigningMiddleware.build_for(account, store=store), layer=0)
    w3.eth.wait_for_transaction_receipt(
        w3.eth.send_transaction({"from": w3.eth.accounts[0], "to": account.address, "value": 10**18})
    )  # a node account still goes through untouched
    assert len(store) == 0
    tx_hash = w3.eth.send_transaction({"from": account.address, "to": w3.eth.accounts[1], "value": 123})
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash)
    assert receipt["status"] == 1 and receipt["from"] == account.address
    envelope = store.get(tx_hash)
    assert envelope is not None
    verified = UpgradedVerifier(_registry(account), chain_id=w3.eth.chain_id).verify(envelope)
    assert verified.pqc == PqcStatus.VALID and verified.tx_hash == bytes(tx_hash)
    # a contract-style call with data and web3's own gas estimate also works (artifact gas added)
    tx_hash = w3.eth.send_transaction({"from": account.address, "to": w3.eth.accounts[1], "data": b"\x01\x02"})
    assert w3.eth.wait_for_transaction_receipt(tx_hash)["status"] == 1


def test_async_send_transaction_is_composite_signed_and_mined() -> None:
    async def scenario() -> None:
        w3 = AsyncWeb3(AsyncEthereumTesterProvider())
        account = CompositeAccount.from_keys(b"\x41" * 32, b"\x42" * 32)
        store = EnvelopeStore()
        w3.middleware_onion.inject(CompositeSigningMiddleware.build_for(account, store=store), layer=0)
        funder = (await w3.eth.accounts)[0]
        await w3.eth.wait_for_transaction_receipt(
            await w3.eth.send_transaction({"from": funder, "to": account.address, "value": 10**18})
        )
        tx_hash = await w3.eth.send_transaction({"from": account.address, "to": funder, "value": 7})
        receipt = await w3.eth.wait_for_transaction_receipt(tx_hash)
        assert receipt["status"] == 1
        envelope = store.get(tx_hash)
        assert envelope is not None
        chain_id = await w3.eth.chain_id
        assert UpgradedVerifier(_registry(account), chain_id=chain_id).verify(envelope).pqc == PqcStatus.VALID

    asyncio.run(scenario())
