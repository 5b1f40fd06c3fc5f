"""The signer's Ethereum JSON-RPC face, call by call (docs/signer.md): geth's rules for the methods it
answers, the node's answers unchanged for the rest (batches included), and what eth_signTransaction
returns for each state."""

from __future__ import annotations

from typing import Any

import requests
from eth_account import Account

from chainplug.constants import ACCESS_LIST_ADDRESS_GAS, ACCESS_LIST_STORAGE_KEY_GAS, PQC_TX_AUTH_GAS
from chainplug.crypto import keccak256
from chainplug.envelope import decode_envelope
from tests.signer.network import Network

SINK = "0x000000000000000000000000000000000000dEaD"
DEV_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
"""The first dev account of the embedded chain (anvil's public test key)."""


def post(net: Network, body: Any, url: str | None = None) -> Any:
    return requests.post(url or net.signer, json=body, timeout=120).json()


def call(net: Network, method: str, *params: Any) -> Any:
    return post(net, {"jsonrpc": "2.0", "id": 7, "method": method, "params": list(params)})


def complete(net: Network, sender: str, **extra: Any) -> dict[str, Any]:
    nonce = int(net.rpc("eth_getTransactionCount", sender, "pending"), 16)
    return {"from": sender, "to": SINK, "value": "0x5", "gas": "0x5208", "nonce": hex(nonce),
            "maxFeePerGas": hex(10**10), "maxPriorityFeePerGas": hex(10**9), **extra}  # fmt: skip


def test_a_batch_mixes_local_answers_and_the_nodes_in_order(net: Network) -> None:
    batch = [
        {"jsonrpc": "2.0", "id": "a", "method": "eth_accounts", "params": []},
        {"jsonrpc": "2.0", "id": "b", "method": "eth_chainId", "params": []},
        {"jsonrpc": "2.0", "id": "c", "method": "eth_getBalance", "params": [net.accounts["HYBRID"], "latest"]},
        {"jsonrpc": "2.0", "id": "d", "method": "eth_nope", "params": []},
        {"jsonrpc": "2.0", "id": "e", "method": "web3_clientVersion", "params": []},
    ]
    answers = post(net, batch)
    assert [a["id"] for a in answers] == ["a", "b", "c", "d", "e"]
    assert set(net.accounts.values()) <= set(answers[0]["result"])  # (other tests add accounts)
    node = post(net, batch[1:], url=net.chain)  # what the node itself answers
    assert [a.get("result", a.get("error")) for a in answers[1:]] == [a.get("result", a.get("error")) for a in node]


def test_geth_rules_for_requests(net: Network) -> None:
    sender = net.accounts["CLASSICAL"]
    unknown = call(net, "eth_sendTransaction", {"from": "0x" + "12" * 20, "to": SINK})["error"]
    assert unknown["code"] == -32000 and "unknown account" in unknown["message"]
    assert unknown["data"]["reason"] == "unknown-account"
    wrong_chain = call(net, "eth_sendTransaction", {"from": sender, "to": SINK, "chainId": "0x5"})["error"]
    assert wrong_chain["code"] == -32602 and "chainId does not match" in wrong_chain["message"]
    both = call(net, "eth_sendTransaction", {"from": sender, "to": SINK, "gasPrice": "0x1", "maxFeePerGas": "0x2"})
    assert "both gasPrice and" in both["error"]["message"]
    for missing in ("nonce", "gas"):
        tx = {k: v for k, v in complete(net, sender).items() if k != missing}
        assert f"{missing} not specified" in call(net, "eth_signTransaction", tx)["error"]["message"]
    unequal = call(net, "eth_sendTransaction", {"from": sender, "to": SINK, "data": "0x01", "input": "0x02"})
    assert "not equal" in unequal["error"]["message"]
    creation = call(net, "eth_sendTransaction", {"from": sender})
    assert "contract creation without any data" in creation["error"]["message"]


def test_the_nodes_refusal_reaches_the_client_as_the_node_gave_it(net: Network) -> None:
    """A call that reverts: the signer's gas estimate fails with the node's own code, message and data
    (ethers and web3 decode "execution reverted" from them)."""
    tx = {"from": net.accounts["CLASSICAL"], "to": net.registry, "data": "0xdeadbeef"}
    through_signer = call(net, "eth_sendTransaction", tx)["error"]
    direct = post(net, {"jsonrpc": "2.0", "id": 1, "method": "eth_estimateGas", "params": [tx]}, url=net.chain)
    assert through_signer["code"] == direct["error"]["code"] and through_signer["message"] == direct["error"]["message"]


def test_sign_transaction_answers_raw_tx_and_envelope_for_each_state(net: Network) -> None:
    for state in ("CLASSICAL", "HYBRID", "PQC_ONLY"):
        sender = net.accounts[state]
        answer = call(net, "eth_signTransaction", complete(net, sender))["result"]
        tx, raw = answer["tx"], bytes.fromhex(answer["raw"][2:])
        assert tx["from"] == sender.lower() and tx["to"] == SINK.lower() and int(tx["value"], 16) == 5
        assert tx["hash"] == "0x" + keccak256(raw).hex()
        if state == "PQC_ONLY":
            assert raw[0] == 0x50 and tx["type"] == "0x50" and answer["envelope"] is None
            assert int(tx["gas"], 16) == 21_000 + PQC_TX_AUTH_GAS, "the signature's gas on top of the client's"
            assert (tx["v"], tx["r"], tx["s"]) == ("0x0", "0x0", "0x0") and len(tx["pqcSignature"]) == 2 + 2 * 4627
            continue
        assert Account.recover_transaction(raw) == sender, "raw is a stock signed transaction"
        if state == "HYBRID":
            envelope = decode_envelope(bytes.fromhex(answer["envelope"][2:]))
            assert envelope.raw_transaction == raw
            assert int(tx["gas"], 16) == 21_000 + ACCESS_LIST_ADDRESS_GAS + ACCESS_LIST_STORAGE_KEY_GAS
        else:
            assert answer["envelope"] is None and tx["accessList"] == [] and int(tx["gas"], 16) == 21_000


def test_a_raw_transaction_the_signer_did_not_sign_is_forwarded(net: Network) -> None:
    dev = Account.from_key(DEV_KEY)
    nonce = int(net.rpc("eth_getTransactionCount", dev.address, "pending", url=net.chain), 16)
    signed = dev.sign_transaction({"chainId": 1337, "nonce": nonce, "to": SINK, "value": 3, "gas": 21_000,
                                   "maxFeePerGas": 10**10, "maxPriorityFeePerGas": 10**9})  # fmt: skip
    tx_hash = call(net, "eth_sendRawTransaction", "0x" + signed.raw_transaction.hex())["result"]
    assert tx_hash == "0x" + signed.hash.hex()
    assert int(net.rpc("eth_getTransactionReceipt", tx_hash, url=net.chain)["status"], 16) == 1


def test_type_0x50_is_for_pqc_only_accounts(net: Network) -> None:
    """A PQC-aware client may name type 0x50; only a PQC_ONLY (or FINALIZING) account signs it. Any other
    type a client names for such an account is ignored: it has no other kind of signature."""
    pqc = call(net, "eth_signTransaction", complete(net, net.accounts["PQC_ONLY"], type="0x50"))["result"]
    assert pqc["raw"].startswith("0x50") and pqc["tx"]["type"] == "0x50"
    named_2 = call(net, "eth_signTransaction", complete(net, net.accounts["PQC_ONLY"], type="0x2"))["result"]
    assert named_2["tx"]["type"] == "0x50"
    refused = call(net, "eth_signTransaction", complete(net, net.accounts["HYBRID"], type="0x50"))["error"]
    assert refused["code"] == -32602 and "does not sign PQC-only" in refused["message"]
