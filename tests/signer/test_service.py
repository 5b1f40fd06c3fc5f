"""The signer service as an operator runs it: real processes (embedded chain, validator, signer)
over loopback HTTP, one account driven through all four states on chain."""

import json
import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from web3 import Web3

from chainplug.registry import KeyRegistryContract
from chainplug.signer.audit import verify_audit_log
from chainplug.types import AccountState
from tests.node.services import chainplug_service, wait_ready

TOKEN = "test-token-0123456789abcdef"


def call(url: str, method: str, *params: Any, token: str | None = TOKEN) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}
    return requests.post(url, json=body, headers=headers, timeout=120)


def result(url: str, method: str, *params: Any) -> Any:
    answer = call(url, method, *params).json()
    assert "result" in answer, answer
    return answer["result"]


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    root = tmp_path_factory.mktemp("signer")
    (root / "token").write_text(TOKEN + "\n")
    with chainplug_service("chain", "serve", "--deploy-registry") as chain:
        registry = chain["registry"]
        with chainplug_service("validator", "run", "--version", "upgraded", "--rpc", chain["url"], "--registry",
                               registry, "--state-dir", str(root / "validator"), "--workers", "1",
                               "--name", "v-upgraded") as validator:  # fmt: skip
            yield {"chain": chain, "registry": registry, "validator": validator, "root": root}


def signer_args(net: dict[str, Any], store: Path) -> list[str]:
    return ["signer", "serve", "--store", str(store), "--rpc", net["chain"]["url"], "--registry", net["registry"],
            "--token-file", str(net["root"] / "token"), "--readiness-url", net["validator"]["url"]]  # fmt: skip


def test_auth_is_required_and_checked(network: dict[str, Any]) -> None:
    with chainplug_service(*signer_args(network, network["root"] / "auth-store")) as signer:
        wait_ready(signer["url"])
        assert call(signer["url"], "chainplug_accounts", token=None).status_code == 401
        assert call(signer["url"], "chainplug_accounts", token="wrong-token-0123456789").status_code == 401
        assert call(signer["url"], "chainplug_accounts").json()["result"] == []
        bad = call(signer["url"], "chainplug_noSuchMethod").json()
        assert bad["error"]["code"] == -32601
        too_big = requests.post(signer["url"], data=b"x" * (1100 * 1024), timeout=30,
                                headers={"Authorization": f"Bearer {TOKEN}"})  # fmt: skip
        assert too_big.status_code == 413


def test_bad_parameters_are_invalid_params_and_nothing_is_signed(network: dict[str, Any]) -> None:
    """#13: a non-hex address or an unknown state answered HTTP 500 with a traceback, and gas = 2**300 was
    signed although no verifier decodes it. Each is now INVALID_PARAMS with a reason, before any work."""
    store = network["root"] / "params-store"
    with chainplug_service(*signer_args(network, store)) as signer:
        url = signer["url"]
        wait_ready(url)
        (address,) = result(url, "chainplug_createAccounts", 1)
        tx = {"from": address, "to": address, "value": 1, "nonce": 0, "gas": 30_000, "chainId": 1337,
              "maxFeePerGas": 10**10, "maxPriorityFeePerGas": 10**9}  # fmt: skip
        cases: list[tuple[str, list[Any], str]] = [
            ("chainplug_advance", ["0x" + "zz" * 20], "address"),
            ("chainplug_advance", [address, "SIDEWAYS"], "target state"),
            ("chainplug_advance", ["0x" + "12" * 20], "no account"),
            ("chainplug_rollback", [address[:-2]], "address"),
            ("chainplug_createAccounts", [True], "count"),
            ("chainplug_createAccounts", ["1"], "count"),
            ("chainplug_signTransaction", [{**tx, "gas": hex(2**300)}], "gas"),
            ("chainplug_signTransaction", [{**tx, "nonce": 2**64}], "nonce"),
            ("chainplug_signTransaction", [{**tx, "value": hex(2**256)}], "value"),
            ("chainplug_signTransaction", [{**tx, "to": "0x1234"}], "to"),
            ("chainplug_signTransaction", [{**tx, "chainId": 0}], "chain"),
            ("chainplug_signTransaction", [{**tx, "from": "0xzz"}], "from"),
            ("chainplug_sendTransaction", [{**tx, "gas": str(2**70)}], "gas"),
            ("chainplug_signTransaction", [[tx]], "object"),
            ("chainplug_accounts", [1], "parameter"),
        ]
        for method, params, named in cases:
            response = call(url, method, *params)
            assert response.status_code == 200, (method, params, response.text)
            error = response.json()["error"]
            assert error["code"] == -32602 and named in error["message"], (method, params, error)
            assert error["data"]["reason"], error
        # A JSON integer wider than any field is refused before the request is even parsed.
        error = call(url, "chainplug_signTransaction", {**tx, "gas": 2**300}).json()["error"]
        assert error["code"] == -32005 and error["data"]["reason"] == "number-too-large"
        assert result(url, "chainplug_signTransaction", tx)["kind"] == "classical"  # the valid one still signs
        stderr = signer["stderr"]
        stderr.seek(0)
        assert "Traceback" not in stderr.read()
    events = [json.loads(line) for line in (store / "audit.jsonl").read_text().splitlines()]
    assert [e["event"] for e in events].count("sign") == 1, "only the valid request was signed and logged"


def test_one_account_through_all_four_states(network: dict[str, Any]) -> None:
    store = network["root"] / "store"
    chain_url = network["chain"]["url"]
    w3 = Web3(Web3.HTTPProvider(chain_url))
    contract = KeyRegistryContract(w3, network["registry"])
    with chainplug_service(*signer_args(network, store)) as signer:
        url = signer["url"]
        assert wait_ready(url)["ready"] is True
        (address,) = result(url, "chainplug_createAccounts", 1)
        w3.eth.wait_for_transaction_receipt(
            w3.eth.send_transaction({"from": w3.eth.accounts[0], "to": address, "value": 10**19})
        )
        secret = (store / "keys" / f"{address.lower()}.classical.key").read_bytes()
        kinds = []
        for target in (None, "HYBRID", "FINALIZING", "PQC_ONLY"):
            if target is not None:
                account = result(url, "chainplug_advance", address, target)
                assert account["state"] == target
                assert contract.entry(address).state == AccountState[target]
            sent = result(url, "chainplug_sendTransaction", {"from": address, "to": w3.eth.accounts[1], "value": 1})
            receipt = w3.eth.wait_for_transaction_receipt(sent["tx_hash"])
            assert receipt["status"] == 1
            kinds.append(sent["kind"])
        assert kinds == ["classical", "hybrid", "pqc-only", "pqc-only"]
        assert not (store / "keys" / f"{address.lower()}.classical.key").exists()
        metrics = requests.get(url + "/metrics", timeout=10).text
        assert 'chainplug_signer_signatures_total{kind="pqc-only",state="PQC_ONLY"} 1.0' in metrics
        stderr = signer["stderr"]
    # The audit log chains, covers every step, and holds nothing of the classical key file.
    last = verify_audit_log(store / "audit.jsonl")
    log = (store / "audit.jsonl").read_text()
    events = [json.loads(line)["event"] for line in log.splitlines()]
    assert events.count("advance") == 3 and events.count("sign") == 4 and "complete-on-chain" in events
    assert last["seq"] == len(events) - 1
    for chunk in (secret[i : i + 16] for i in range(0, len(secret) - 16, 8)):
        assert chunk.hex() not in log
    del stderr


def test_a_batch_of_accounts_through_all_four_states(network: dict[str, Any]) -> None:
    """chainplug_advanceBatch: the engine's batch migration, on chain too; already-there accounts stay."""
    store = network["root"] / "batch-store"
    w3 = Web3(Web3.HTTPProvider(network["chain"]["url"]))
    contract = KeyRegistryContract(w3, network["registry"])
    with chainplug_service(*signer_args(network, store)) as signer:
        url = signer["url"]
        wait_ready(url)
        addresses = result(url, "chainplug_createAccounts", 5)
        for address in addresses:
            w3.eth.wait_for_transaction_receipt(
                w3.eth.send_transaction({"from": w3.eth.accounts[0], "to": address, "value": 10**19})
            )
        result(url, "chainplug_advance", addresses[0], "HYBRID")  # one ahead of the others
        for target in ("HYBRID", "FINALIZING", "PQC_ONLY"):
            report = result(url, "chainplug_advanceBatch", addresses, target)
            assert report["target"] == target and report["failed"] == {}
            assert report["to_do"] + report["already_there"] == 5 and report["reached_target"] == report["to_do"]
            assert {a["state"] for a in report["accounts"]} == {target}
            assert {contract.entry(a).state for a in addresses} == {AccountState[target]}
        assert report["chunks"] == 1
        for address in addresses:
            sent = result(url, "chainplug_sendTransaction", {"from": address, "to": w3.eth.accounts[1], "value": 1})
            assert sent["kind"] == "pqc-only" and w3.eth.wait_for_transaction_receipt(sent["tx_hash"])["status"] == 1
        twice = call(url, "chainplug_advanceBatch", [addresses[0], addresses[0]], "HYBRID").json()
        assert twice["error"]["code"] == -32602
        unknown = call(url, "chainplug_advanceBatch", ["0x" + "12" * 20], "HYBRID").json()
        assert unknown["error"]["code"] == -32602
    events = [json.loads(line)["event"] for line in (store / "audit.jsonl").read_text().splitlines()]
    assert events.count("advance-batch") == 3 and "complete-on-chain" in events
    verify_audit_log(store / "audit.jsonl")


def test_tampered_key_file_keeps_health_failing_with_the_account_named(network: dict[str, Any]) -> None:
    store = network["root"] / "tamper-store"
    with chainplug_service(*signer_args(network, store)) as signer:
        wait_ready(signer["url"])
        (address,) = result(signer["url"], "chainplug_createAccounts", 1)
    key_file = store / "keys" / f"{address.lower()}.classical.key"
    data = bytearray(key_file.read_bytes())
    data[len(data) // 2] ^= 0x01
    key_file.write_bytes(bytes(data))
    with chainplug_service(*signer_args(network, store)) as signer:
        health = requests.get(signer["url"] + "/health", timeout=10)
        for _ in range(100):
            health = requests.get(signer["url"] + "/health", timeout=10)
            if health.json()["problems"] != ["keys not loaded yet"]:
                break
        assert health.status_code == 503
        problems = " ".join(health.json()["problems"])
        assert address.lower()[2:] in problems.lower()
        refused = call(signer["url"], "chainplug_sendTransaction", {"from": address, "to": address}).json()
        assert refused["error"]["code"] == -32002


def test_killed_mid_finalization_recovers_on_restart(network: dict[str, Any]) -> None:
    store = network["root"] / "crash-store"
    chain_url = network["chain"]["url"]
    w3 = Web3(Web3.HTTPProvider(chain_url))
    with chainplug_service(*signer_args(network, store)) as signer:
        wait_ready(signer["url"])
        (address,) = result(signer["url"], "chainplug_createAccounts", 1)
        w3.eth.wait_for_transaction_receipt(
            w3.eth.send_transaction({"from": w3.eth.accounts[0], "to": address, "value": 10**19})
        )
        result(signer["url"], "chainplug_advance", address, "HYBRID")
    os.environ["CHAINPLUG_CRASH_AT"] = "keys.classical.wipe.unlink"
    try:
        with chainplug_service(*signer_args(network, store)) as crashing:
            wait_ready(crashing["url"])
            with pytest.raises(requests.RequestException):
                call(crashing["url"], "chainplug_advance", address, "FINALIZING")
            assert crashing["process"].wait(timeout=30) == -signal.SIGKILL
    finally:
        del os.environ["CHAINPLUG_CRASH_AT"]
    with chainplug_service(*signer_args(network, store)) as signer:
        wait_ready(signer["url"])
        (account,) = result(signer["url"], "chainplug_accounts")
        assert account["state"] == "FINALIZING" and account["phase"] == "CLASSICAL_ERASED"
        assert not (store / "keys" / f"{address.lower()}.classical.key").exists()
        assert result(signer["url"], "chainplug_advance", address, "PQC_ONLY")["state"] == "PQC_ONLY"


def test_vault_backed_signer_and_wrong_password(network: dict[str, Any]) -> None:
    from chainplug.keystore import KemKey

    root = network["root"]
    (root / "kem").mkdir(exist_ok=True)
    KemKey.generate().save(root / "kem" / "kem.json")
    (root / "pw").write_text("the vault password\n")
    (root / "wrong-pw").write_text("not it\n")
    vault = ["--vault", str(root / "signer-vault"), "--kem-key", str(root / "kem" / "kem.json"),
             "--insecure-kdf-iterations", "1000"]  # fmt: skip
    args = [*signer_args(network, root / "vault-store"), *vault]
    w3 = Web3(Web3.HTTPProvider(network["chain"]["url"]))
    with chainplug_service(*args, "--password-file", str(root / "pw")) as signer:
        wait_ready(signer["url"])
        (address,) = result(signer["url"], "chainplug_createAccounts", 1)
        w3.eth.wait_for_transaction_receipt(
            w3.eth.send_transaction({"from": w3.eth.accounts[0], "to": address, "value": 10**19})
        )
        assert result(signer["url"], "chainplug_advance", address, "HYBRID")["state"] == "HYBRID"
        sent = result(signer["url"], "chainplug_sendTransaction", {"from": address, "to": address, "value": 1})
        assert sent["kind"] == "hybrid" and w3.eth.wait_for_transaction_receipt(sent["tx_hash"])["status"] == 1
        assert result(signer["url"], "chainplug_reload")["ready"] is True
    assert not (root / "vault-store" / "keys" / f"{address.lower()}.classical.key").exists()
    assert any(p.name.startswith(address.lower()) for p in (root / "signer-vault").iterdir())
    with chainplug_service(*args, "--password-file", str(root / "wrong-pw")) as signer:
        health = requests.get(signer["url"] + "/health", timeout=10)
        for _ in range(100):
            health = requests.get(signer["url"] + "/health", timeout=10)
            if health.json()["problems"] != ["keys not loaded yet"]:
                break
        assert health.status_code == 503
        assert "password" in " ".join(health.json()["problems"]).lower()
