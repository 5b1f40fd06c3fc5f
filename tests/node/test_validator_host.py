"""Several validators in one process (``chainplug validator host``) reach exactly the verdicts separate
validator processes reach, each on its own port and with its own attestation log."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import requests

from chainplug.constants import PQC_TX_AUTH_GAS
from chainplug.registry import Transition, sign_transition
from tests.chain.harness import CHAIN_ID, chain_process, fresh_account, pqc_signer
from tests.node.services import chainplug_service


def attestations(url: str, height: int, timeout: float = 90) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found: list[dict[str, Any]] = requests.get(f"{url}/attestations?from=0&limit=10000", timeout=10).json()
        if found and found[-1]["height"] >= height:
            return found
        time.sleep(0.2)
    raise AssertionError(f"{url} did not attest up to {height}")


def verdicts(found: list[dict[str, Any]], upto: int) -> list[Any]:
    """What a validator decided, without who decided it and when."""
    return [(a["height"], a["block_hash"], a["accepted"], a["txs"]) for a in found if a["height"] <= upto]


def test_a_host_attests_as_separate_validators_do(tmp_path: Path) -> None:
    with chain_process("--deploy-registry", "--activation-block", "4") as chain:
        assert chain.registry is not None
        registry = chain.registry.address
        common = ["--rpc", chain.url, "--sidecars", chain.url, "--registry", registry, "--activation-block", "4",
                  "--poll-interval", "0.1"]  # fmt: skip
        members = [
            {"name": "h-legacy", "version": "legacy", "state_dir": str(tmp_path / "h-legacy"), "listen": "127.0.0.1:0"},
            {"name": "h-upgraded", "version": "upgraded", "state_dir": str(tmp_path / "h-upgraded"),
             "listen": "127.0.0.1:0"},
        ]  # fmt: skip
        (tmp_path / "members.json").write_text(json.dumps(members))
        separate = ["validator", "run", "--workers", "1", *common]
        with (
            chainplug_service("validator", "host", "--members", str(tmp_path / "members.json"), *common,
                              listen=False) as host,
            chainplug_service(*separate, "--version", "upgraded", "--name", "s-upgraded",
                              "--state-dir", str(tmp_path / "s-upgraded")) as upgraded,
            chainplug_service(*separate, "--version", "legacy", "--name", "s-legacy",
                              "--state-dir", str(tmp_path / "s-legacy")) as legacy,
        ):  # fmt: skip
            urls = host["urls"]
            assert set(urls) == {"h-legacy", "h-upgraded"} and host["url"] == urls["h-legacy"]
            hybrid, finishing = fresh_account(), fresh_account()
            for account in (hybrid, finishing):
                chain.fund(account.address)
            for account, transition in ((hybrid, Transition.REGISTER), (finishing, Transition.REGISTER),
                                        (finishing, Transition.ANNOUNCE_FINALIZATION)):  # fmt: skip
                envelope = sign_transition(chain.w3, chain.registry, account, transition).envelope
                sent = chain.rpc("chainplug_sendEnvelope", "0x" + envelope.hex())
                assert chain.w3.eth.wait_for_transaction_receipt(sent["result"])["status"] == 1
            call = chain.registry.transition_call(Transition.COMPLETE_MIGRATION)
            tx = {"chainId": CHAIN_ID, "nonce": chain.w3.eth.get_transaction_count(finishing.address), "value": 0,
                  "gas": 60_000 + PQC_TX_AUTH_GAS, **call, **chain.fees()}  # fmt: skip
            raw = pqc_signer(finishing).sign_transaction(tx).raw_transaction
            assert "result" in chain.rpc("eth_sendRawTransaction", "0x" + raw.hex())
            head = chain.w3.eth.block_number
            hosted = {name: attestations(url, head) for name, url in urls.items()}
            assert verdicts(hosted["h-upgraded"], head) == verdicts(attestations(upgraded["url"], head), head)
            assert verdicts(hosted["h-legacy"], head) == verdicts(attestations(legacy["url"], head), head)
            assert not hosted["h-legacy"][head - 1]["accepted"], "a legacy validator cannot read a PQC-only block"
            assert hosted["h-upgraded"][head - 1]["accepted"]
            for name, url in urls.items():
                health = requests.get(f"{url}/health", timeout=10).json()
                assert (health["validator"], health["height"], health["ok"]) == (name, head, True)
                lines = (tmp_path / name / "attestations.jsonl").read_text().splitlines()
                assert [json.loads(line)["validator"] for line in lines] == [name] * head
            host["process"].terminate()
            assert host["process"].wait(timeout=30) == 0
