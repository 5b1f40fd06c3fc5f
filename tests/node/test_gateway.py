"""The gateway as an operator runs it: real gateway processes in front of a real node (anvil)."""

from collections.abc import Iterator
from typing import Any

import pytest
import requests
from web3 import Web3

from chainplug import CompositeAccount
from chainplug.registry import KeyRegistryContract, Transition, submit_transition
from chainplug.signer import CompositeSigningMiddleware, EnvelopeStore
from chainplug.verify import InMemoryRegistry, UpgradedVerifier
from tests.anvil import running_anvil
from tests.node.services import chainplug_service


@pytest.fixture(scope="module")
def network() -> Iterator[dict[str, Any]]:
    with running_anvil() as w3:
        upstream = w3.provider.endpoint_uri  # type: ignore[attr-defined]
        contract = KeyRegistryContract.deploy(w3, w3.eth.accounts[0])
        with (
            chainplug_service("gateway", "--upstream", upstream, "--version", "upgraded",
                              "--registry", contract.address) as upgraded,
            chainplug_service("gateway", "--upstream", upstream, "--version", "legacy") as legacy,
        ):  # fmt: skip
            yield {"w3": w3, "contract": contract, "upgraded": upgraded["url"], "legacy": legacy["url"]}


def rpc(url: str, method: str, params: list[Any], request_id: int = 1) -> dict[str, Any]:
    body = {"jsonrpc": "2.0", "id": request_id, "method": method, "params": params}
    answer: dict[str, Any] = requests.post(url, json=body, timeout=30).json()
    return answer


def hybrid_account(net: dict[str, Any], seed: int) -> CompositeAccount:
    w3: Web3 = net["w3"]
    account = CompositeAccount.from_keys(bytes([seed]) * 32, bytes([seed + 1]) * 32)
    w3.eth.wait_for_transaction_receipt(
        w3.eth.send_transaction({"from": w3.eth.accounts[0], "to": account.address, "value": 10**18})
    )
    submit_transition(w3, net["contract"], account, Transition.REGISTER)
    return account


def signed_transfer(w3: Web3, account: CompositeAccount) -> Any:
    base_fee = w3.eth.get_block("latest")["baseFeePerGas"]
    return account.sign_transaction(
        {"chainId": w3.eth.chain_id, "nonce": w3.eth.get_transaction_count(account.address),
         "to": w3.eth.accounts[1], "value": 5, "gas": 21000,
         "maxFeePerGas": 2 * base_fee + 10**9, "maxPriorityFeePerGas": 10**9}
    )  # fmt: skip


def test_web3_session_passes_through_unchanged(network: dict[str, Any]) -> None:
    direct: Web3 = network["w3"]
    via = Web3(Web3.HTTPProvider(network["upgraded"]))
    assert via.eth.chain_id == direct.eth.chain_id
    assert via.eth.get_balance(direct.eth.accounts[3]) == direct.eth.get_balance(direct.eth.accounts[3])
    contract = via.eth.contract(address=network["contract"].address, abi=network["contract"].contract.abi)
    assert contract.functions.state_of(direct.eth.accounts[3]).call() == 0
    assert via.eth.estimate_gas({"from": direct.eth.accounts[3], "to": direct.eth.accounts[4], "value": 1}) == 21000
    tx_hash = via.eth.send_transaction({"from": direct.eth.accounts[3], "to": direct.eth.accounts[4], "value": 1})
    assert via.eth.wait_for_transaction_receipt(tx_hash)["status"] == 1
    batch = requests.post(network["upgraded"], json=[
        {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []},
        {"jsonrpc": "2.0", "id": 2, "method": "eth_blockNumber", "params": []},
    ], timeout=30).json()  # fmt: skip
    assert [item["id"] for item in batch] == [1, 2] and all("result" in item for item in batch)


def test_web3_middleware_through_gateway_stores_sidecar(network: dict[str, Any]) -> None:
    account = hybrid_account(network, 101)
    via = Web3(Web3.HTTPProvider(network["upgraded"]))
    store = EnvelopeStore()
    via.middleware_onion.inject(CompositeSigningMiddleware.build_for(account, store=store, via_gateway=True), layer=0)
    tx_hash = via.eth.send_transaction({"from": account.address, "to": network["w3"].eth.accounts[1], "value": 9})
    assert via.eth.wait_for_transaction_receipt(tx_hash)["status"] == 1
    sidecar = rpc(network["upgraded"], "chainplug_getSidecar", ["0x" + bytes(tx_hash).hex()])["result"]
    assert sidecar is not None and bytes.fromhex(sidecar[2:]) == store.get(tx_hash)
    registry = InMemoryRegistry()
    registry.set(account.address_bytes, network["contract"].entry(account.address).state, account.key_id)
    assert UpgradedVerifier(registry).verify(bytes.fromhex(sidecar[2:])).pqc.value == "valid"


def test_stripping_attack_rejected_upgraded_accepted_legacy(network: dict[str, Any]) -> None:
    w3: Web3 = network["w3"]
    account = hybrid_account(network, 111)
    stripped = signed_transfer(w3, account).raw_transaction
    answer = rpc(network["upgraded"], "eth_sendRawTransaction", ["0x" + stripped.hex()])
    assert answer["error"]["code"] == -32003
    assert answer["error"]["data"]["reason"] == "pqc-required"
    accepted = rpc(network["legacy"], "eth_sendRawTransaction", ["0x" + stripped.hex()])
    assert "result" in accepted
    assert w3.eth.wait_for_transaction_receipt(accepted["result"])["status"] == 1


def test_envelope_accepted_and_legacy_gateway_keeps_no_sidecar(network: dict[str, Any]) -> None:
    w3: Web3 = network["w3"]
    account = hybrid_account(network, 121)
    signed = signed_transfer(w3, account)
    answer = rpc(network["legacy"], "chainplug_sendEnvelope", ["0x" + signed.envelope.hex()])
    assert answer["result"] == "0x" + signed.tx_hash.hex()
    assert rpc(network["legacy"], "chainplug_getSidecar", [answer["result"]])["result"] is None


def test_bad_requests_get_clear_json_rpc_errors(network: dict[str, Any]) -> None:
    url = network["upgraded"]
    assert requests.post(url, data=b"{not json", timeout=30).json()["error"]["code"] == -32700
    assert rpc(url, "eth_sendRawTransaction", ["0xzz"])["error"]["code"] == -32602
    assert rpc(url, "eth_sendRawTransaction", ["0x8c5051"])["error"]["data"]["reason"] == "truncated"
    assert rpc(url, "chainplug_noSuchMethod", [])["error"]["code"] == -32601
    assert requests.post(url, json={"method": "eth_chainId"}, timeout=30).json()["error"]["code"] == -32600
    too_big = requests.post(url, data=b"[" + b" " * (5 * 1024 * 1024) + b"]", timeout=30)
    assert too_big.status_code == 413
    metrics = requests.get(url + "/metrics", timeout=30).text
    assert "chainplug_gateway_rejected_total" in metrics
