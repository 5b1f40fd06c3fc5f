"""A normal web3.py session against ``chainplug chain serve``: what a wallet or a script does."""

from __future__ import annotations

import pytest
import requests
from eth_account import Account
from web3 import Web3
from web3.exceptions import ContractLogicError

from chainplug.registry import KeyRegistryContract, Transition, submit_transition
from chainplug.types import AccountState
from tests.chain.harness import CHAIN_ID, Chain, fresh_account

ANVIL_ACCOUNT_0 = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"


def test_identity_and_dev_accounts(chain: Chain) -> None:
    w3 = chain.w3
    assert w3.client_version.startswith("chainplug/")
    assert w3.eth.chain_id == CHAIN_ID
    assert w3.net.version == str(CHAIN_ID)
    accounts = w3.eth.accounts
    assert len(accounts) == 10
    assert accounts[0] == ANVIL_ACCOUNT_0  # anvil's well-known test mnemonic
    assert chain.info["accounts"][0]["address"] == ANVIL_ACCOUNT_0
    assert w3.eth.get_balance(accounts[9]) == 10_000 * 10**18


def test_send_transaction_from_dev_account_moves_value_and_pays_fees(chain: Chain) -> None:
    w3 = chain.w3
    sender, recipient = w3.eth.accounts[1], w3.eth.accounts[2]
    before_sender, before_recipient = w3.eth.get_balance(sender), w3.eth.get_balance(recipient)
    number = w3.eth.block_number
    tx_hash = w3.eth.send_transaction({"from": sender, "to": recipient, "value": 12345})
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash)
    assert receipt["status"] == 1
    assert receipt["blockNumber"] == number + 1  # automine: one block per transaction
    assert receipt["gasUsed"] == 21000
    fee = receipt["gasUsed"] * receipt["effectiveGasPrice"]
    assert w3.eth.get_balance(recipient) == before_recipient + 12345
    assert w3.eth.get_balance(sender) == before_sender - 12345 - fee
    tx = w3.eth.get_transaction(tx_hash)
    assert tx["from"] == sender and tx["to"] == recipient and tx["type"] == 2
    assert tx["blockHash"] == receipt["blockHash"]
    assert Account.recover_transaction(_raw_from_rpc(tx)) == sender


def _raw_from_rpc(tx: dict) -> bytes:
    """Re-encode a type-2 transaction from its RPC fields (checks v, r, s and every signed field)."""
    from eth_account.typed_transactions import TypedTransaction

    fields = {
        "type": 2,
        "chainId": tx["chainId"],
        "nonce": tx["nonce"],
        "gas": tx["gas"],
        "to": tx["to"],
        "value": tx["value"],
        "data": tx["input"],
        "maxFeePerGas": tx["maxFeePerGas"],
        "maxPriorityFeePerGas": tx["maxPriorityFeePerGas"],
        "accessList": tx["accessList"],
        "v": tx["v"],
        "r": int.from_bytes(tx["r"], "big"),
        "s": int.from_bytes(tx["s"], "big"),
    }
    return bytes(TypedTransaction.from_dict(fields).encode())


def test_blocks_by_number_and_hash_full_and_hashes(chain: Chain) -> None:
    w3 = chain.w3
    tx_hash = w3.eth.send_transaction({"from": w3.eth.accounts[3], "to": w3.eth.accounts[4], "value": 1})
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash)
    by_number = w3.eth.get_block(receipt["blockNumber"])
    by_hash = w3.eth.get_block(receipt["blockHash"], full_transactions=True)
    assert by_number["hash"] == by_hash["hash"] == receipt["blockHash"]
    assert by_number["transactions"] == [tx_hash]
    assert by_hash["transactions"][0]["hash"] == tx_hash
    assert by_number["parentHash"] == w3.eth.get_block(receipt["blockNumber"] - 1)["hash"]
    assert by_number["baseFeePerGas"] > 0 and by_number["gasUsed"] == 21000
    assert w3.eth.get_block("latest")["number"] == w3.eth.block_number
    assert chain.rpc("eth_getBlockByNumber", hex(w3.eth.block_number + 5), False)["result"] is None


def test_fee_methods(chain: Chain) -> None:
    w3 = chain.w3
    latest = w3.eth.get_block("latest")
    assert w3.eth.max_priority_fee == 10**9
    assert w3.eth.gas_price > 10**9
    history = w3.eth.fee_history(3, "latest", [10, 90])
    assert len(history["baseFeePerGas"]) == 4 and len(history["gasUsedRatio"]) == 3
    assert history["oldestBlock"] == latest["number"] - 2
    assert history["baseFeePerGas"][2] == latest["baseFeePerGas"]
    assert len(history["reward"]) == 3 and all(len(r) == 2 for r in history["reward"])


def test_deploy_call_estimate_storage_and_revert(chain: Chain) -> None:
    w3 = chain.w3
    deployed = KeyRegistryContract.deploy(w3, w3.eth.accounts[5])
    assert len(w3.eth.get_code(deployed.address)) > 100
    account = fresh_account()
    assert deployed.entry(account.address).state == AccountState.CLASSICAL
    register = deployed.contract.functions.register(account.key_id)
    assert 40_000 < register.estimate_gas({"from": account.address}) < 200_000
    # Reverts come back as geth reports them: code 3 and the Error(string) data.
    with pytest.raises(ContractLogicError, match="not HYBRID"):
        deployed.contract.functions.announce_finalization().call({"from": account.address})
    call = {
        "from": account.address,
        "to": deployed.address,
        "data": deployed.contract.functions.announce_finalization()._encode_transaction_data(),
    }
    for method in ("eth_call", "eth_estimateGas"):
        error = chain.rpc(method, call, "latest")["error"]
        assert error["code"] == 3 and error["message"] == "execution reverted: not HYBRID"
        assert error["data"].startswith("0x08c379a0")
    # storage slot 0 of a fresh registry: the first HashMap has no value at slot 0
    assert w3.eth.get_storage_at(deployed.address, 0) == b"\x00" * 32


def test_composite_signed_raw_transaction_transition_and_logs(chain: Chain) -> None:
    w3 = chain.w3
    deployed = KeyRegistryContract.deploy(w3, w3.eth.accounts[6])
    account = fresh_account()
    chain.fund(account.address)
    start = w3.eth.block_number
    signed = account.sign_transaction(
        {"chainId": CHAIN_ID, "nonce": 0, "to": w3.eth.accounts[0], "value": 7, "gas": 21_000, **chain.fees()}
    )
    assert Account.recover_transaction(signed.raw_transaction) == account.address  # stock eth-account
    tx_hash = w3.eth.send_raw_transaction(signed.raw_transaction)
    assert bytes(tx_hash) == signed.tx_hash
    assert w3.eth.wait_for_transaction_receipt(tx_hash)["status"] == 1
    receipt = submit_transition(w3, deployed, account, Transition.REGISTER)
    assert deployed.entry(account.address).state == AccountState.HYBRID
    assert len(receipt["logs"]) == 1 and receipt["logs"][0]["logIndex"] == 0
    logs = w3.eth.get_logs({"fromBlock": start, "toBlock": "latest", "address": deployed.address})
    assert [log["transactionHash"] for log in logs] == [receipt["transactionHash"]]
    events = deployed.contract.events.StateChanged().process_receipt(receipt)
    assert events[0]["args"]["account"] == account.address
    assert events[0]["args"]["new_state"] == AccountState.HYBRID
    topic_filter = {"fromBlock": start, "topics": [None, Web3.to_hex(bytes(12) + account.address_bytes)]}
    assert [log["transactionHash"] for log in w3.eth.get_logs(topic_filter)] == [receipt["transactionHash"]]
    assert w3.eth.get_logs({"fromBlock": start, "topics": [None, "0x" + "00" * 32]}) == []


def test_nonces_latest_and_pending_and_evm_mine(chain: Chain) -> None:
    w3 = chain.w3
    sender = w3.eth.accounts[7]
    count = w3.eth.get_transaction_count(sender)
    w3.eth.wait_for_transaction_receipt(w3.eth.send_transaction({"from": sender, "to": sender, "value": 0}))
    assert w3.eth.get_transaction_count(sender) == w3.eth.get_transaction_count(sender, "pending") == count + 1
    number = w3.eth.block_number
    assert chain.rpc("evm_mine")["result"] == "0x0"
    assert w3.eth.block_number == number + 1


def test_batches_and_protocol_errors(chain: Chain) -> None:
    batch = [
        {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []},
        {"jsonrpc": "2.0", "id": 2, "method": "eth_blockNumber", "params": []},
        {"jsonrpc": "2.0", "id": 3, "method": "eth_noSuchMethod", "params": []},
    ]
    answers = requests.post(chain.url, json=batch, timeout=10).json()
    assert [a["id"] for a in answers] == [1, 2, 3]
    assert answers[0]["result"] == hex(CHAIN_ID)
    assert answers[2]["error"]["code"] == -32601
    with chain.w3.batch_requests() as web3_batch:
        web3_batch.add(chain.w3.eth.get_block(0))
        web3_batch.add(chain.w3.eth.get_balance(ANVIL_ACCOUNT_0))
        block, balance = web3_batch.execute()
    assert block["number"] == 0 and balance > 0
    parse = requests.post(chain.url, data=b"{not json", timeout=10).json()
    assert parse["error"]["code"] == -32700
    bad = chain.rpc("eth_getBalance", "0x1234", "latest")
    assert bad["error"]["code"] == -32602
    assert chain.rpc("eth_sendTransaction", {"from": "0x" + "ab" * 20, "to": "0x" + "cd" * 20})["error"]["message"] == (
        "unknown account"
    )


def test_invalid_raw_transactions_get_geth_style_errors(chain: Chain) -> None:
    key = chain.info["accounts"][8]["private_key"]
    nonce = chain.w3.eth.get_transaction_count(chain.w3.eth.accounts[8])

    def raw(**fields: object) -> str:
        tx = {"chainId": CHAIN_ID, "nonce": nonce, "to": "0x" + "11" * 20, "value": 1, "gas": 21_000, **chain.fees()}
        return "0x" + bytes(Account.sign_transaction({**tx, **fields}, key).raw_transaction).hex()

    expectations = {
        raw(gas=20_000): "intrinsic gas too low",
        raw(nonce=nonce + 5): "nonce",
        raw(value=10**30): "balance",
        "0x7f01": "transaction type",
        "0xdeadbeef": "",
    }
    for data, message in expectations.items():
        error = chain.rpc("eth_sendRawTransaction", data)["error"]
        assert error["code"] == -32000 and message in error["message"].lower(), error
    wrong_chain = chain.rpc("eth_sendRawTransaction", raw(chainId=1))["error"]
    assert wrong_chain["code"] == -32003 and wrong_chain["data"]["reason"] == "wrong-chain"
    assert chain.w3.eth.get_transaction_count(chain.w3.eth.accounts[8]) == nonce
