"""Stock clients, not chainplug's, use the signer as their node (#15): web3.py with a plain
``HTTPProvider(signer_url)`` and no chainplug middleware, ethers.js v6 (``JsonRpcProvider(signer_url)
.getSigner(address)``) run by Node, and foundry's ``cast send --unlocked``. Each sends from a CLASSICAL,
a HYBRID and a PQC_ONLY account of the signer, on the embedded chain behind an upgraded gateway; the
upgraded validator must accept every one of those transactions (a HYBRID one with its PQC sidecar),
and the client must see a normal receipt (status 1) for each — a PQC-only (type 0x50) one included."""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from eth_account.messages import encode_defunct, encode_typed_data
from web3 import Web3

from tests.signer.network import TOOLS, Network, node_tool

STATES = ("CLASSICAL", "HYBRID", "PQC_ONLY")
EXPECTED_PQC = {"CLASSICAL": "not-expected", "HYBRID": "valid", "PQC_ONLY": "valid"}
"""What the upgraded validator finds about each transaction's PQC part."""
SINK = "0x000000000000000000000000000000000000dEaD"

TYPED_DATA: dict[str, Any] = {
    "types": {
        "EIP712Domain": [{"name": "name", "type": "string"}, {"name": "version", "type": "string"},
                         {"name": "chainId", "type": "uint256"}, {"name": "verifyingContract", "type": "address"}],
        "Person": [{"name": "name", "type": "string"}, {"name": "wallet", "type": "address"}],
        "Mail": [{"name": "from", "type": "Person"}, {"name": "to", "type": "Person[]"},
                 {"name": "contents", "type": "string"}],
    },
    "primaryType": "Mail",
    "domain": {"name": "Ether Mail", "version": "1", "chainId": 1337,
               "verifyingContract": "0xCcCCccccCCCCcCCCCCCcCcCccCcCCCcCcccccccC"},
    "message": {"from": {"name": "Cow", "wallet": "0xCD2a3d9F938E13CD947Ec05AbC7FE734Df8DD826"},
                "to": [{"name": "Bob", "wallet": "0xbBbBBBBbbBBBbbbBbbBbbbbBBbBbbbbBbBbbBBbB"}],
                "contents": "Hello, Bob!"},
}  # fmt: skip
"""EIP-712's own example, with an array of structs (v4)."""


def check_on_chain(net: Network, state: str, tx_hash: str, receipt: dict[str, Any]) -> None:
    """A normal receipt, the transaction of the kind the state signs, and the upgraded validator's yes."""
    assert _int(receipt["status"]) == 1, receipt
    tx = net.rpc("eth_getTransactionByHash", tx_hash, url=net.chain)
    assert int(tx["type"], 16) == {"CLASSICAL": 2, "HYBRID": 2, "PQC_ONLY": 0x50}[state], tx
    assert Web3.to_checksum_address(tx["from"]) == net.accounts[state]
    sidecar = net.rpc("chainplug_getSidecar", tx_hash, url=net.gateway)
    assert (sidecar is not None) == (state == "HYBRID"), "a HYBRID transaction's envelope travels with it"
    verdict = net.attestation_of(tx_hash, _int(receipt["blockNumber"]))
    assert verdict["accepted"] and verdict["block_accepted"], verdict
    assert verdict["pqc"] == EXPECTED_PQC[state], verdict


def _int(value: Any) -> int:
    """A receipt field as web3.py (int) or the JSON-RPC wire (hex) has it."""
    return int(value, 16) if isinstance(value, str) else int(value)


# --- web3.py ------------------------------------------------------------------------------------------


def test_web3_sends_from_every_state_through_a_plain_http_provider(net: Network) -> None:
    w3 = Web3(Web3.HTTPProvider(net.signer))  # no middleware, no chainplug import: a stock web3.py
    assert set(net.accounts.values()) <= set(w3.eth.accounts)  # (other tests of the session add accounts)
    for state in STATES:
        sender = net.accounts[state]
        before = w3.eth.get_balance(SINK)
        tx_hash = w3.eth.send_transaction({"from": sender, "to": SINK, "value": 12345})
        receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=120)
        assert receipt["transactionHash"] == tx_hash
        assert w3.eth.get_balance(SINK) == before + 12345
        check_on_chain(net, state, tx_hash.to_0x_hex(), dict(receipt))
        fetched = w3.eth.get_transaction(tx_hash)
        assert fetched["from"] == sender and fetched["value"] == 12345


def test_web3_signs_messages_and_typed_data_while_a_classical_key_exists(net: Network) -> None:
    w3 = Web3(Web3.HTTPProvider(net.signer))
    for state in ("CLASSICAL", "HYBRID"):
        sender = net.accounts[state]
        signature = w3.eth.sign(sender, text="hello chainplug")
        assert Account.recover_message(encode_defunct(text="hello chainplug"), signature=signature) == sender
        typed = w3.eth.sign_typed_data(sender, TYPED_DATA)
        assert Account.recover_message(encode_typed_data(full_message=TYPED_DATA), signature=typed) == sender
    with pytest.raises(Exception, match=r"secp256k1 key is retired"):
        w3.eth.sign(net.accounts["PQC_ONLY"], text="hello chainplug")


def test_web3_sign_transaction_then_send_raw_through_the_signer_keeps_the_pqc_part(net: Network) -> None:
    """eth_signTransaction's raw is the stock transaction a client can submit; sent back through the
    signer it goes out as its envelope, so a HYBRID account's transaction still carries its PQC part."""
    w3 = Web3(Web3.HTTPProvider(net.signer))
    for state in STATES:
        sender = net.accounts[state]
        tx = {"from": sender, "to": SINK, "value": 7, "gas": 21_000, "nonce": w3.eth.get_transaction_count(sender),
              "maxFeePerGas": 10**10, "maxPriorityFeePerGas": 10**9, "chainId": w3.eth.chain_id}  # fmt: skip
        signed = w3.eth.sign_transaction(tx)
        assert signed["tx"]["nonce"] == tx["nonce"] and signed["tx"]["to"] == SINK
        tx_hash = w3.eth.send_raw_transaction(signed["raw"])
        assert tx_hash == signed["tx"]["hash"]
        check_on_chain(net, state, tx_hash.to_0x_hex(), dict(w3.eth.wait_for_transaction_receipt(tx_hash)))


# --- ethers.js v6 -------------------------------------------------------------------------------------

ETHERS_SCRIPT = r"""
const { JsonRpcProvider, FetchRequest, verifyMessage, verifyTypedData } = require("ethers");
const [url, token, accountsJson, sink, typedJson] = process.argv.slice(2);
async function main() {
  let endpoint = url;
  if (token) { endpoint = new FetchRequest(url); endpoint.setHeader("Authorization", "Bearer " + token); }
  const provider = new JsonRpcProvider(endpoint, undefined, { staticNetwork: true });
  const accounts = JSON.parse(accountsJson);
  const out = { accounts: await provider.send("eth_accounts", []), sent: {}, messages: {} };
  for (const [state, address] of Object.entries(accounts)) {
    const signer = await provider.getSigner(address);
    const response = await signer.sendTransaction({ to: sink, value: 4242n });
    const receipt = await response.wait();
    out.sent[state] = { hash: response.hash, type: response.type, from: response.from,
                        status: receipt.status, blockNumber: receipt.blockNumber, rtype: receipt.type };
    if (state !== "PQC_ONLY") {
      const typed = JSON.parse(typedJson);
      const types = { ...typed.types }; delete types.EIP712Domain;
      const message = await signer.signMessage("hello from ethers");
      const typedSignature = await signer.signTypedData(typed.domain, types, typed.message);
      out.messages[state] = { message: verifyMessage("hello from ethers", message),
                              typed: verifyTypedData(typed.domain, types, typed.message, typedSignature) };
    } else {
      try { await signer.signMessage("hello from ethers"); out.messages[state] = "signed?!"; }
      catch (error) { out.messages[state] = String(error.error ? error.error.message : error.message); }
    }
  }
  console.log(JSON.stringify(out));
  provider.destroy();
}
main().catch((error) => { console.error(error); process.exit(1); });
"""


def ethers_available() -> str | None:
    """Why ethers cannot run here, or None."""
    if node_tool("node") is None:
        return "Node.js is not installed"
    if not (TOOLS / "ethers" / "package.json").exists():
        return f"ethers is not installed under {TOOLS} (npm install --prefix .ci-tools ethers@6)"
    return None


def run_ethers(net: Network, accounts: dict[str, str], token: str | None = None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "ethers-test.cjs"
        script.write_text(ETHERS_SCRIPT)
        done = subprocess.run(
            ["node", str(script), net.signer, token or "", json.dumps(accounts), SINK, json.dumps(TYPED_DATA)],
            capture_output=True, text=True, timeout=600, env={**os.environ, "NODE_PATH": str(TOOLS)},
        )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_ethers_v6_json_rpc_signer_sends_and_signs(net: Network) -> None:
    missing = ethers_available()
    if missing:
        pytest.skip(missing)
    out = run_ethers(net, net.accounts)
    assert set(net.accounts.values()) <= {Web3.to_checksum_address(a) for a in out["accounts"]}
    for state in STATES:
        sent = out["sent"][state]
        assert sent["status"] == 1 and Web3.to_checksum_address(sent["from"]) == net.accounts[state], sent
        assert sent["type"] == sent["rtype"] == (0x50 if state == "PQC_ONLY" else 2), sent
        receipt = net.rpc("eth_getTransactionReceipt", sent["hash"], url=net.chain)
        check_on_chain(net, state, sent["hash"], receipt)
    for state in ("CLASSICAL", "HYBRID"):
        assert out["messages"][state] == {"message": net.accounts[state], "typed": net.accounts[state]}
    assert "secp256k1 key is retired" in out["messages"]["PQC_ONLY"], out["messages"]


# --- foundry's cast -----------------------------------------------------------------------------------


def cast_binary() -> Path | None:
    candidate = TOOLS / ".bin" / "cast"
    if candidate.exists():
        return candidate
    found = node_tool("cast")
    return found


CAST_UNKNOWN_RECEIPT = "deserialization error: unknown variant `0x50`"
"""Where cast 1.7 stops on a PQC-only transaction: ``cast send`` waits for the receipt with alloy's
Ethereum receipt type, an enum of the known transaction types 0x0-0x4; ``cast receipt`` and ``cast tx``
read it as ``AnyNetwork`` does, and parse it."""


def cast_send(cast: Path, net: Network, state: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(cast), "send", "--unlocked", "--from", net.accounts[state], "--rpc-url", net.signer, "--json",
         *extra, SINK, "--value", "777"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def test_cast_send_unlocked(net: Network) -> None:
    cast = cast_binary()
    if cast is None:
        pytest.skip("foundry's cast is not installed (npm install --prefix .ci-tools @foundry-rs/cast@1.7.1)")
    for state in ("CLASSICAL", "HYBRID"):
        done = cast_send(cast, net, state)
        assert done.returncode == 0, (state, done.stdout[-2000:], done.stderr[-2000:])
        receipt = json.loads(done.stdout)
        assert int(receipt["status"], 16) == 1, receipt
        check_on_chain(net, state, receipt["transactionHash"], receipt)
    # PQC_ONLY: cast sends it (the signer answers the hash), the chain mines it and the validator accepts
    # it, but cast's own wait for the receipt cannot parse a receipt of type 0x50. --async + cast receipt:
    sender = net.accounts["PQC_ONLY"]
    nonce = int(net.rpc("eth_getTransactionCount", sender, "latest"), 16)
    waited = cast_send(cast, net, "PQC_ONLY")
    if waited.returncode != 0:
        assert CAST_UNKNOWN_RECEIPT in waited.stderr, waited.stderr[-2000:]
    assert int(net.rpc("eth_getTransactionCount", sender, "latest"), 16) == nonce + 1, "sent and mined all the same"
    sent = cast_send(cast, net, "PQC_ONLY", "--async")
    assert sent.returncode == 0, sent.stderr[-2000:]
    tx_hash = sent.stdout.strip().splitlines()[-1].strip().strip('"')
    fetched = subprocess.run([str(cast), "receipt", tx_hash, "--rpc-url", net.signer, "--json"],
                             capture_output=True, text=True, timeout=300)  # fmt: skip
    assert fetched.returncode == 0, fetched.stderr[-2000:]
    receipt = json.loads(fetched.stdout)
    assert int(receipt["status"], 16) == 1 and receipt["type"] == "0x50", receipt
    check_on_chain(net, "PQC_ONLY", tx_hash, receipt)
