"""Validators as operators run them: real processes following a real chain (anvil), with gateways."""

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from eth_account import Account
from web3 import Web3

from chainplug import CompositeAccount
from chainplug.errors import Reason
from chainplug.registry import KeyRegistryContract, Transition, submit_transition
from tests.anvil import running_anvil
from tests.node.services import chainplug_service


def wait_for_height(url: str, height: int, timeout: float = 60) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        attestations: list[dict[str, Any]] = requests.get(url + "/attestations", timeout=10).json()
        if attestations and attestations[-1]["height"] >= height:
            return attestations
        time.sleep(0.2)
    raise AssertionError(f"{url} did not attest up to {height}")


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    with running_anvil() as w3:
        upstream = w3.provider.endpoint_uri  # type: ignore[attr-defined]
        contract = KeyRegistryContract.deploy(w3, w3.eth.accounts[0])
        state = tmp_path_factory.mktemp("validators")
        with chainplug_service("gateway", "--upstream", upstream, "--registry", contract.address) as gateway:
            common = ["--rpc", upstream, "--sidecars", gateway["url"], "--workers", "1", "--poll-interval", "0.1"]
            with (
                chainplug_service("validator", "run", "--version", "legacy", "--name", "legacy-1",
                                  "--state-dir", str(state / "legacy"), *common) as legacy,
                chainplug_service("validator", "run", "--version", "upgraded", "--name", "upgraded-1",
                                  "--registry", contract.address, "--state-dir", str(state / "upgraded"),
                                  *common) as upgraded,
            ):  # fmt: skip
                yield {"w3": w3, "contract": contract, "gateway": gateway["url"], "legacy": legacy,
                       "upgraded": upgraded, "state": state, "common": common}  # fmt: skip


def send(w3: Web3, url: str, method: str, data: bytes) -> str:
    answer = requests.post(url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": ["0x" + data.hex()]},
                           timeout=30).json()  # fmt: skip
    assert "result" in answer, answer
    tx_hash: str = answer["result"]
    w3.eth.wait_for_transaction_receipt(tx_hash)  # type: ignore[arg-type]
    return tx_hash


def account(w3: Web3, contract: KeyRegistryContract, seed: int, *, register: bool) -> CompositeAccount:
    acct = CompositeAccount.from_keys(bytes([seed]) * 32, bytes([seed + 1]) * 32)
    w3.eth.wait_for_transaction_receipt(
        w3.eth.send_transaction({"from": w3.eth.accounts[0], "to": acct.address, "value": 10**18})
    )
    if register:
        submit_transition(w3, contract, acct, Transition.REGISTER)
    return acct


def transfer(w3: Web3, acct: CompositeAccount) -> Any:
    base_fee = w3.eth.get_block("latest")["baseFeePerGas"]
    return acct.sign_transaction(
        {"chainId": w3.eth.chain_id, "nonce": w3.eth.get_transaction_count(acct.address), "to": w3.eth.accounts[2],
         "value": 3, "gas": 21000, "maxFeePerGas": 2 * base_fee + 10**9, "maxPriorityFeePerGas": 10**9}
    )  # fmt: skip


def plain_transfer(w3: Web3, key: bytes) -> bytes:
    """A CLASSICAL account signs with stock eth-account: no PQC key, no hybrid artifact."""
    sender = Account.from_key(key)
    w3.eth.wait_for_transaction_receipt(
        w3.eth.send_transaction({"from": w3.eth.accounts[0], "to": sender.address, "value": 10**18})
    )
    base_fee = w3.eth.get_block("latest")["baseFeePerGas"]
    signed = sender.sign_transaction(
        {"chainId": w3.eth.chain_id, "nonce": 0, "to": w3.eth.accounts[2], "value": 3, "gas": 21000,
         "maxFeePerGas": 2 * base_fee + 10**9, "maxPriorityFeePerGas": 10**9}
    )  # fmt: skip
    return bytes(signed.raw_transaction)


def block_of(w3: Web3, tx_hash: str) -> int:
    return int(w3.eth.get_transaction_receipt(tx_hash)["blockNumber"])  # type: ignore[arg-type]


def verdict(attestations: list[dict[str, Any]], height: int) -> dict[str, Any]:
    return next(a for a in attestations if a["height"] == height)


def test_acceptance_matrix(network: dict[str, Any]) -> None:
    w3, contract = network["w3"], network["contract"]
    hybrid = account(w3, contract, 160, register=True)
    cases = {
        # name: (tx hash, legacy accepts, upgraded accepts, upgraded reason)
        "classical plain tx": (send(w3, network["gateway"], "eth_sendRawTransaction",
                                    plain_transfer(w3, b"\x15" * 32)), True, True, "ok"),
        "hybrid envelope via gateway": (send(w3, network["gateway"], "chainplug_sendEnvelope",
                                             transfer(w3, hybrid).envelope), True, True, "ok"),
        # The stripping attack: the bare classical part sent straight to the node, bypassing the gateway.
        "hybrid stripped at the node": (send(w3, w3.provider.endpoint_uri, "eth_sendRawTransaction",  # type: ignore[attr-defined]
                                             transfer(w3, hybrid).raw_transaction), True, False, "pqc-required"),
    }  # fmt: skip
    head = w3.eth.block_number
    legacy = wait_for_height(network["legacy"]["url"], head)
    upgraded = wait_for_height(network["upgraded"]["url"], head)
    for name, (tx_hash, legacy_ok, upgraded_ok, reason) in cases.items():
        height = block_of(w3, tx_hash)
        assert verdict(legacy, height)["accepted"] is legacy_ok, name
        attestation = verdict(upgraded, height)
        assert attestation["accepted"] is upgraded_ok, name
        (tx,) = [t for t in attestation["txs"] if t["tx_hash"] == tx_hash]
        assert tx["reason"] == reason, name
    hybrid_tx = verdict(upgraded, block_of(w3, cases["hybrid envelope via gateway"][0]))["txs"][0]
    assert hybrid_tx["sidecar"] is True and hybrid_tx["pqc"] == "valid"
    metrics = requests.get(network["upgraded"]["url"] + "/metrics", timeout=10).text
    assert 'chainplug_validator_tx_rejects_total{reason="pqc-required"}' in metrics


def test_enforcement_starts_with_the_activation_block_itself(network: dict[str, Any]) -> None:
    """A validator judges block N on its parent's registry state; a stripped hybrid transaction mined
    IN the activation block must still be refused (it once slipped through: the parent's number was
    compared with the activation block), and one mined the block before is tolerated as PQ-missing."""
    w3, contract = network["w3"], network["contract"]
    hybrid = account(w3, contract, 180, register=True)
    stripped = transfer(w3, hybrid).raw_transaction
    tx_hash = send(w3, w3.provider.endpoint_uri, "eth_sendRawTransaction", stripped)  # type: ignore[attr-defined]
    height = block_of(w3, tx_hash)
    for activation, accepted, reason in ((height, False, "pqc-required"), (height + 1, True, "ok")):
        args = ["validator", "run", "--version", "upgraded", "--name", f"activation-{activation}",
                "--registry", contract.address, "--state-dir", str(network["state"] / f"activation-{activation}"),
                "--activation-block", str(activation), *network["common"]]  # fmt: skip
        with chainplug_service(*args) as validator:
            attestation = verdict(wait_for_height(validator["url"], height), height)
        (tx,) = [t for t in attestation["txs"] if t["tx_hash"] == tx_hash]
        assert (attestation["accepted"], tx["reason"]) == (accepted, reason), (activation, tx)
        if accepted:
            assert tx["pqc"] == "missing"


def test_killed_validator_restarts_without_gaps_or_duplicates(network: dict[str, Any]) -> None:
    w3, contract = network["w3"], network["contract"]
    acct = account(w3, contract, 170, register=True)
    state = Path(network["state"]) / "restart"
    args = ["validator", "run", "--version", "legacy", "--name", "restart", "--state-dir", str(state),
            *network["common"]]  # fmt: skip
    with chainplug_service(*args) as first:
        wait_for_height(first["url"], w3.eth.block_number)
        for _ in range(3):
            send(w3, network["gateway"], "chainplug_sendEnvelope", transfer(w3, acct).envelope)
        pid = first["process"].pid
        workers = [
            int(c) for task in Path(f"/proc/{pid}/task").iterdir() for c in (task / "children").read_text().split()
        ]
        assert workers, "the validator verifies in a worker pool"
        os.kill(pid, signal.SIGKILL)
        first["process"].wait()
        deadline = time.monotonic() + 10
        while any(Path(f"/proc/{w}").exists() for w in workers) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not any(Path(f"/proc/{w}").exists() for w in workers), "pool workers outlived their validator"
    for _ in range(3):  # blocks mined while it is down
        send(w3, network["gateway"], "chainplug_sendEnvelope", transfer(w3, acct).envelope)
    with chainplug_service(*args) as second:
        attestations = wait_for_height(second["url"], w3.eth.block_number)
    heights = [a["height"] for a in attestations]
    assert heights == list(range(1, w3.eth.block_number + 1)), "every block exactly once"
    lines = (state / "attestations.jsonl").read_text().splitlines()
    assert len(lines) == len(heights)


def test_sidecar_matching_and_a_junk_sidecar_cannot_invalidate_a_valid_tx() -> None:
    from chainplug.envelope import decode_envelope
    from chainplug.node.admission import NodeVersion
    from chainplug.node.validator import check_transaction, init_worker_with_registry, sidecar_envelope
    from chainplug.types import AccountState
    from chainplug.verify import InMemoryRegistry, PqcStatus

    hybrid = CompositeAccount.from_keys(b"\x61" * 32, b"\x62" * 32)
    tx = {"chainId": 9, "nonce": 0, "to": "0x" + "33" * 20, "value": 1, "gas": 21000, "maxFeePerGas": 10,
          "maxPriorityFeePerGas": 1}  # fmt: skip
    signed = hybrid.sign_transaction(tx)
    other = hybrid.sign_transaction({**tx, "nonce": 1})
    assert sidecar_envelope(signed.envelope, signed.raw_transaction) == decode_envelope(signed.envelope)
    assert sidecar_envelope(other.envelope, signed.raw_transaction) is None  # another transaction's
    assert sidecar_envelope(signed.envelope[:-1], signed.raw_transaction) is None  # undecodable
    registry = InMemoryRegistry()
    registry.set(hybrid.address_bytes, AccountState.HYBRID, hybrid.key_id)
    init_worker_with_registry(NodeVersion.UPGRADED, registry, 0, 9)
    good = check_transaction(("0x1", signed.raw_transaction, signed.envelope, 6))
    assert good.accepted and good.sidecar and good.pqc is PqcStatus.VALID
    stripped = check_transaction(("0x1", signed.raw_transaction, None, 6))
    assert not stripped.accepted and stripped.reason is Reason.PQC_REQUIRED
    # A CLASSICAL sender's stock transaction stays valid whatever junk a sidecar source serves for it:
    # here a well-formed envelope carrying it, with an unknown key id and a junk signature.
    plain = Account.from_key(b"\x63" * 32).sign_transaction({**tx, "type": 2})
    raw = bytes(plain.raw_transaction)
    junk = signed.envelope[:6] + b"\x00" + len(raw).to_bytes(4, "big") + raw + b"\x00" * 32 + b"\x01" * 4627
    assert sidecar_envelope(junk, raw) is not None
    verdict = check_transaction(("0x2", raw, junk, 6))
    assert verdict.accepted and not verdict.sidecar
