"""``chainplug signer serve --fronts 1``: a front process serves the port, the key process keeps the keys.

A client must not be able to tell: every method answers as the single-process signer answers it (the
signer's own methods through the key port, the rest proxied to the node), with the same guarantees
under concurrency (gap-free nonces, one audit entry per signature), the same refusals, and nothing
left running when the signer stops; a front that dies is started again."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests

from chainplug.signer.audit import verify_audit_log
from tests.node.services import chainplug_service, wait_ready
from tests.signer.network import Network, funded_accounts

TOKEN = "fronted-signer-token-0123456789"
SINK = "0x000000000000000000000000000000000000dEaD"


def children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(child) for child in (task / "children").read_text().split()]
    return found


def front_processes(pid: int) -> list[int]:
    return [c for c in children(pid) if b"signer\0front" in Path(f"/proc/{c}/cmdline").read_bytes()]


def post(url: str, body: Any, token: str | None = TOKEN) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.post(url, json=body, headers=headers, timeout=120)


@pytest.fixture(scope="module")
def fronted(net: Network, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Network, dict[str, Any]]]:
    root = tmp_path_factory.mktemp("fronted")
    (root / "token").write_text(TOKEN + "\n")
    args = ["signer", "serve", "--store", str(root / "store"), "--rpc", net.chain, "--gateway", net.gateway,
            "--registry", net.registry, "--readiness-url", net.validator, "--token-file", str(root / "token"),
            "--fronts", "1"]  # fmt: skip
    with chainplug_service(*args) as signer:
        wait_ready(signer["url"])
        yield dataclasses.replace(net, signer=signer["url"], store=root / "store", accounts={}, token=TOKEN), signer


def test_every_method_answers_through_the_front(fronted: tuple[Network, dict[str, Any]]) -> None:
    net, signer = fronted
    assert signer["fronts"] == 1 and len(front_processes(signer["process"].pid)) == 1
    hybrid, classical = funded_accounts(net, 2)  # chainplug_createAccounts through the key port
    assert net.rpc("chainplug_advance", hybrid, "HYBRID")["state"] == "HYBRID"
    first = {a: int(net.rpc("eth_getTransactionCount", a, "pending", url=net.chain), 16) for a in (hybrid, classical)}

    def send(job: tuple[str, int]) -> tuple[str, str]:
        body = {"jsonrpc": "2.0", "id": job[1], "method": "eth_sendTransaction",
                "params": [{"from": job[0], "to": SINK, "value": hex(job[1])}]}  # fmt: skip
        answer = post(net.signer, body).json()
        assert "result" in answer, answer
        return job[0], str(answer["result"])

    with ThreadPoolExecutor(8) as pool:  # every request a fresh connection
        hashes = list(pool.map(send, [(account, 100 + i) for account in (hybrid, classical) for i in range(10)]))
    for account in (hybrid, classical):
        nonces = sorted(int(net.rpc("eth_getTransactionByHash", h, url=net.chain)["nonce"], 16)
                        for a, h in hashes if a == account)  # fmt: skip
        assert nonces == list(range(first[account], first[account] + 10)), (account, nonces)
    assert net.rpc("chainplug_getSidecar", next(h for a, h in hashes if a == hybrid), url=net.gateway) is not None
    events = [json.loads(line) for line in (net.store / "audit.jsonl").read_text().splitlines()]
    verify_audit_log(net.store / "audit.jsonl")
    signed = Counter(str(e["tx_hash"]) for e in events if e["event"] == "sign")
    assert all(signed[h] == 1 for _, h in hashes)

    tx = {"from": hybrid, "to": SINK, "value": "0x1", "gas": "0x5208", "nonce": "0x7777",
          "maxFeePerGas": "0x2540be400", "maxPriorityFeePerGas": "0x3b9aca00"}  # fmt: skip
    assert net.rpc("eth_signTransaction", tx)["envelope"].startswith("0x")
    assert net.rpc("personal_sign", "0x68656c6c6f", classical).startswith("0x")
    batch = post(net.signer, [{"jsonrpc": "2.0", "id": 1, "method": "eth_accounts", "params": []},
                              {"jsonrpc": "2.0", "id": 2, "method": "eth_chainId", "params": []}]).json()  # fmt: skip
    assert [a["id"] for a in batch] == [1, 2] and len(batch[0]["result"]) == 2 and batch[1]["result"] == "0x539"
    assert int(net.rpc("eth_blockNumber"), 16) > 0  # proxied by the front to the node
    assert requests.get(net.signer + "/health", timeout=30).json()["accounts"] == 2
    assert "chainplug_signer_signatures" in requests.get(net.signer + "/metrics", timeout=30).text


def test_the_front_refuses_what_the_signer_refuses(fronted: tuple[Network, dict[str, Any]]) -> None:
    net, _ = fronted
    refused = post(net.signer, {"jsonrpc": "2.0", "id": 1, "method": "eth_accounts", "params": []}, token=None)
    assert refused.status_code == 401 and refused.json()["error"]["code"] == -32001
    bomb = requests.post(net.signer, data="[" * 100_000, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60)
    assert "error" in bomb.json()
    unknown = post(net.signer, {"jsonrpc": "2.0", "id": 1, "method": "eth_sign", "params": ["0x" + "11" * 20, "0x00"]})
    assert unknown.json()["error"]["code"] == -32000 and "unknown account" in unknown.json()["error"]["message"]


def test_a_dead_front_is_replaced_and_nothing_outlives_the_signer(net: Network, tmp_path: Path) -> None:
    args = ["signer", "serve", "--store", str(tmp_path / "store"), "--rpc", net.chain, "--no-auth", "--fronts", "1"]
    with chainplug_service(*args) as signer:
        wait_ready(signer["url"])
        (front,) = front_processes(signer["process"].pid)
        command = Path(f"/proc/{front}/cmdline").read_bytes().split(b"\0")
        keyport = Path(command[command.index(b"--keyport") + 1].decode())
        assert keyport.exists() and oct(keyport.parent.stat().st_mode & 0o777) == "0o700"
        os.kill(front, signal.SIGKILL)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            replaced = [p for p in front_processes(signer["process"].pid) if p != front]
            if replaced:
                break
            time.sleep(0.2)
        assert replaced, "the front was not started again"
        while time.monotonic() < deadline:  # the port is unserved until the new front listens
            try:
                if requests.get(signer["url"] + "/health", timeout=10).json()["ready"]:
                    break
            except requests.ConnectionError:
                pass
            time.sleep(0.2)
        else:
            raise AssertionError("the new front never answered")
        signer["process"].terminate()
        signer["process"].wait(timeout=60)
    assert not Path(f"/proc/{replaced[0]}").exists() or b"Z" in Path(f"/proc/{replaced[0]}/stat").read_bytes()
    assert not keyport.parent.exists()


def test_the_fronts_hand_over_exactly_the_methods_the_signer_answers(tmp_path: Path) -> None:
    """LOCAL_METHODS (what a front sends to the key process) is the service's method table, no more or less:
    a method missing from it would go to the node instead of being signed."""
    from chainplug.signer.audit import AuditLog
    from chainplug.signer.service import LOCAL_METHODS, SignerService

    audit = AuditLog(tmp_path / "audit.jsonl")
    service = SignerService(lambda: None, token=None, audit=audit, rpc_url="http://127.0.0.1:9")  # type: ignore[arg-type,return-value]
    try:
        assert set(service._methods()) == LOCAL_METHODS
    finally:
        audit.close()
