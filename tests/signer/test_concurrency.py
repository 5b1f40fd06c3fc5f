"""Concurrent requests to the signer (#15): signatures are not serialised behind one request, yet the
nonces the signer fills for one account stay unique and gap-free, a migration step can run among
signatures, and the audit log keeps exactly one entry per signature in a chain that verifies."""

from __future__ import annotations

import dataclasses
import json
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

from chainplug.signer.audit import AuditLog, verify_audit_log
from tests.node.services import chainplug_service, wait_ready
from tests.signer.network import Network, funded_accounts

SINK = "0x000000000000000000000000000000000000dEaD"


def send(net: Network, sender: str, value: int) -> str:
    body = {"jsonrpc": "2.0", "id": value, "method": "eth_sendTransaction",
            "params": [{"from": sender, "to": SINK, "value": hex(value)}]}  # fmt: skip
    answer = requests.post(net.signer, json=body, timeout=300).json()
    assert "result" in answer, answer
    return str(answer["result"])


def audit_events(store: Path) -> list[dict[str, object]]:
    verify_audit_log(store / "audit.jsonl")
    return [json.loads(line) for line in (store / "audit.jsonl").read_text().splitlines()]


def test_concurrent_sends_from_one_account_get_unique_gap_free_nonces(net: Network) -> None:
    """24 clients at once from each of a HYBRID and a CLASSICAL account, and 8 from the PQC_ONLY one, none
    giving a nonce: every transaction lands, each account's nonces are exactly the next ones in a row."""
    plan = {"HYBRID": 24, "CLASSICAL": 24, "PQC_ONLY": 8}
    first = {state: int(net.rpc("eth_getTransactionCount", net.accounts[state], "pending"), 16) for state in plan}
    jobs = [(state, index) for state, count in plan.items() for index in range(count)]
    with ThreadPoolExecutor(16) as pool:
        hashes = list(pool.map(lambda job: (job[0], send(net, net.accounts[job[0]], 1000 + job[1])), jobs))
    nonces: dict[str, list[int]] = {state: [] for state in plan}
    for state, tx_hash in hashes:
        tx = net.rpc("eth_getTransactionByHash", tx_hash, url=net.chain)
        assert tx is not None and tx["blockNumber"] is not None, tx_hash
        nonces[state].append(int(tx["nonce"], 16))
    for state, count in plan.items():
        assert sorted(nonces[state]) == list(range(first[state], first[state] + count)), (state, nonces[state])
    # One "sign" entry per signature, in a chain that verifies; every hash the clients got is among them.
    signed = Counter(str(e["tx_hash"]) for e in audit_events(net.store) if e["event"] == "sign")
    for _, tx_hash in hashes:
        assert signed[tx_hash] == 1, tx_hash


def test_a_signing_pool_keeps_nonces_gap_free_and_one_audit_entry_per_signature(net: Network, tmp_path: Path) -> None:
    """The same guarantees with ``--signing-threads 3`` (signatures and their audit fsyncs in a pool, off
    the event loop): a second signer over the same chain, a HYBRID and a CLASSICAL account sending 12 at
    once each, and EIP-191 messages signed among them."""
    args = ["signer", "serve", "--store", str(tmp_path / "store"), "--rpc", net.chain, "--gateway", net.gateway,
            "--registry", net.registry, "--readiness-url", net.validator, "--no-auth",
            "--signing-threads", "3"]  # fmt: skip
    with chainplug_service(*args) as signer:
        wait_ready(signer["url"])
        pooled = dataclasses.replace(net, signer=signer["url"], store=tmp_path / "store", accounts={})
        hybrid, classical = funded_accounts(pooled, 2)
        assert pooled.rpc("chainplug_advance", hybrid, "HYBRID")["state"] == "HYBRID"
        first = {
            a: int(net.rpc("eth_getTransactionCount", a, "pending", url=net.chain), 16) for a in (hybrid, classical)
        }
        jobs = [(account, index) for account in (hybrid, classical) for index in range(12)]
        with ThreadPoolExecutor(8) as pool:
            messages = [pool.submit(pooled.rpc, "personal_sign", "0x" + bytes([i]).hex(), classical) for i in range(4)]
            hashes = list(pool.map(lambda job: (job[0], send(pooled, job[0], 3000 + job[1])), jobs))
            signatures = [message.result() for message in messages]
        assert len(set(signatures)) == 4
        for account in (hybrid, classical):
            nonces = sorted(int(net.rpc("eth_getTransactionByHash", h, url=net.chain)["nonce"], 16)
                            for a, h in hashes if a == account)  # fmt: skip
            assert nonces == list(range(first[account], first[account] + 12)), (account, nonces)
        events = audit_events(pooled.store)
        signed = Counter(str(e["tx_hash"]) for e in events if e["event"] == "sign")
        assert all(signed[h] == 1 for _, h in hashes)
        assert sum(e["event"] == "sign-message" for e in events) == 4
        assert net.rpc("chainplug_getSidecar", hashes[0][1], url=net.gateway) is not None


def test_a_migration_step_runs_among_signatures(net: Network) -> None:
    """An account moves to HYBRID (on chain: its registration) while others sign and send; nothing
    fails, the step waits for the signatures under way, and the moved account then signs composite."""
    mover, busy = funded_accounts(net, 2)
    errors: list[BaseException] = []

    def keep_sending() -> None:
        try:
            for value in range(6):
                send(net, busy, 2000 + value)
        except BaseException as exc:  # reported below
            errors.append(exc)

    workers = [threading.Thread(target=keep_sending) for _ in range(3)]
    for worker in workers:
        worker.start()
    assert net.rpc("chainplug_advance", mover, "HYBRID")["state"] == "HYBRID"
    for worker in workers:
        worker.join(300)
    assert not errors, errors
    tx_hash = send(net, mover, 1)
    assert net.rpc("chainplug_getSidecar", tx_hash, url=net.gateway) is not None, "the envelope went with it"
    events = audit_events(net.store)
    assert [e["account"] for e in events if e["event"] == "advance"].count(mover) == 1


def test_audit_log_group_commit_keeps_one_verifiable_chain(tmp_path: Path) -> None:
    """Eight threads append 150 records each, durable and not: distinct consecutive seq numbers, a
    chain that verifies after reopening, every record present once."""
    path = tmp_path / "audit.jsonl"
    log = AuditLog(path)

    def write(thread: int) -> None:
        for index in range(150):
            log.record("sign", durable=index % 3 != 0, tx_hash=f"0x{thread:02x}{index:062x}")

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(write, range(8)))
    log.close()
    last = verify_audit_log(path)
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert last["seq"] == len(lines) - 1 == 8 * 150 - 1
    assert [line["seq"] for line in lines] == list(range(8 * 150))
    assert len({line["tx_hash"] for line in lines}) == 8 * 150
    assert log.flushes <= 8 * 150 * 2 // 3 + 1  # never more writes than durable records
    AuditLog(path).close()  # reopens: the chain continues from its last line
