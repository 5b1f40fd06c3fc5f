"""A whole network for the signer as a wallet's RPC endpoint: the embedded chain with the upgraded rules,
an upgraded gateway, an upgraded validator reading sidecars from that gateway, and the signer in
front of them — real processes on loopback ports, started as an operator starts them — with one
funded account of the signer in each of CLASSICAL, HYBRID and PQC_ONLY."""

from __future__ import annotations

import contextlib
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
from web3 import Web3

from tests.node.services import chainplug_service, wait_ready

TOKEN = "stock-client-token-0123456789"
ROOT = Path(__file__).resolve().parents[2]
TOOLS = ROOT / ".ci-tools" / "node_modules"


@dataclass
class Network:
    chain: str
    gateway: str
    validator: str
    signer: str
    """The signer's URL: what a wallet is pointed at."""
    registry: str
    store: Path
    """The signer's store (its audit log is store/audit.jsonl)."""
    accounts: dict[str, str] = field(default_factory=dict)
    """State name -> checksummed address of the signer's account in that state."""
    token: str | None = None

    def rpc(self, method: str, *params: Any, url: str | None = None) -> Any:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token and url is None else {}
        body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}
        answer = requests.post(url or self.signer, json=body, headers=headers, timeout=120).json()
        assert "result" in answer, (method, answer)
        return answer["result"]

    def attestation_of(self, tx_hash: str, block: int, timeout: float = 120) -> dict[str, Any]:
        """The upgraded validator's verdict on ``tx_hash`` in ``block`` (waits for the attestation)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            answer = requests.get(f"{self.validator}/attestations/{block}", timeout=30)
            if answer.status_code == 200:
                attestation = answer.json()
                for check in attestation["txs"]:
                    if check["tx_hash"].lower() == tx_hash.lower():
                        return {"block_accepted": attestation["accepted"], **check}
                raise AssertionError(f"{tx_hash} is not in the validator's attestation of block {block}")
            time.sleep(0.2)
        raise AssertionError(f"the validator never attested block {block}")


@contextlib.contextmanager
def network(root: Path, *, no_auth: bool = True, accounts: bool = True) -> Iterator[Network]:
    """The four services; the signer with ``--no-auth`` (a wallet's plain URL) or a bearer token."""
    (root / "token").write_text(TOKEN + "\n")
    with contextlib.ExitStack() as stack:
        chain = stack.enter_context(chainplug_service("chain", "serve", "--deploy-registry"))
        registry = chain["registry"]
        gateway = stack.enter_context(
            chainplug_service("gateway", "--upstream", chain["url"], "--version", "upgraded", "--registry", registry)
        )
        validator_args = ["validator", "run", "--version", "upgraded", "--rpc", chain["url"], "--registry", registry,
                          "--sidecars", gateway["url"], "--state-dir", str(root / "validator"), "--workers", "1",
                          "--name", "v-upgraded"]  # fmt: skip
        validator = stack.enter_context(chainplug_service(*validator_args))
        auth = ["--no-auth"] if no_auth else ["--token-file", str(root / "token")]
        signer_args = ["signer", "serve", "--store", str(root / "store"), "--rpc", chain["url"], "--gateway",
                       gateway["url"], "--registry", registry, "--readiness-url", validator["url"], *auth]  # fmt: skip
        signer = stack.enter_context(chainplug_service(*signer_args))
        wait_ready(signer["url"])
        net = Network(chain["url"], gateway["url"], validator["url"], signer["url"], registry, root / "store",
                      token=None if no_auth else TOKEN)  # fmt: skip
        if accounts:
            _accounts(net)
        yield net


def funded_accounts(net: Network, count: int) -> list[str]:
    """``count`` new CLASSICAL accounts of the signer, each funded with 100 ether by a dev account."""
    w3 = Web3(Web3.HTTPProvider(net.chain))
    created: list[str] = net.rpc("chainplug_createAccounts", count)
    for address in created:
        w3.eth.wait_for_transaction_receipt(
            w3.eth.send_transaction({"from": w3.eth.accounts[0], "to": address, "value": 10**20})
        )
    return [Web3.to_checksum_address(address) for address in created]


def _accounts(net: Network) -> None:
    """One funded account per state (CLASSICAL, HYBRID, PQC_ONLY), moved there by the signer itself."""
    created = funded_accounts(net, 3)
    for address, state in zip(created, ("CLASSICAL", "HYBRID", "PQC_ONLY"), strict=True):
        if state != "CLASSICAL":
            assert net.rpc("chainplug_advance", address, state)["state"] == state
        net.accounts[state] = address


def node_tool(name: str) -> Path | None:
    """Node.js, or None (tests that need it skip with the reason)."""
    found = shutil.which(name)
    return Path(found) if found else None
