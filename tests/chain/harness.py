"""Harness for the chain tests: real ``chainplug chain serve`` processes, talked to over loopback HTTP
with web3.py. The fixtures (tests/chain/conftest.py) run three chains, one process each:

* ``chain``: automine, KeyRegistry deployed at start, activation far away (the migration flow with
  bare HYBRID transitions, PQC-only transactions and their attacks, the web3 session);
* ``activated_chain``: the same with ``--activation-block 0`` (sidecars required from the start);
* ``interval_chain``: ``--block-time`` mining, no registry.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import requests
from web3 import Web3

from chainplug.envelope import CompositeAccount
from chainplug.node.chain import PqcOnlySigner
from chainplug.registry import KeyRegistryContract
from tests.node.services import chainplug_service

CHAIN_ID = 1337
START_TIMEOUT = 60.0


@dataclass
class Chain:
    """A running chain process: its announcement, a web3 session, and the deployed registry."""

    info: dict[str, Any]
    w3: Web3
    registry: KeyRegistryContract | None

    @property
    def url(self) -> str:
        return str(self.info["url"])

    def rpc(self, method: str, *params: Any) -> dict[str, Any]:
        """One raw JSON-RPC call; returns the whole response (result or error), never raises on error."""
        body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}
        response: dict[str, Any] = requests.post(self.url, json=body, timeout=30).json()
        return response

    def fund(self, address: str, wei: int = 10**19) -> None:
        tx_hash = self.w3.eth.send_transaction({"from": self.w3.eth.accounts[0], "to": address, "value": wei})
        assert self.w3.eth.wait_for_transaction_receipt(tx_hash)["status"] == 1

    def fees(self) -> dict[str, int]:
        base_fee = self.w3.eth.get_block("pending")["baseFeePerGas"]
        return {"maxFeePerGas": 2 * base_fee + 10**9, "maxPriorityFeePerGas": 10**9}


@contextmanager
def chain_process(*args: str) -> Iterator[Chain]:
    """Start ``chainplug chain serve --json --listen 127.0.0.1:0 ARGS`` (tests/node/services.py)."""
    with chainplug_service("chain", "serve", *args, timeout=START_TIMEOUT) as info:
        w3 = Web3(Web3.HTTPProvider(info["url"], request_kwargs={"timeout": 30}))
        registry = KeyRegistryContract(w3, info["registry"]) if info.get("registry") else None
        yield Chain(info, w3, registry)


_counter = iter(range(1, 1 << 30))


_seeds: dict[str, bytes] = {}


def fresh_account() -> CompositeAccount:
    """A new composite account with fixed, obviously-test keys (distinct per call)."""
    n = next(_counter)
    seed = (n + 0x5000).to_bytes(32, "big")
    account = CompositeAccount.from_keys((n + 0x100).to_bytes(32, "big"), seed)
    _seeds[account.address] = seed
    return account


def pqc_signer(account: CompositeAccount) -> PqcOnlySigner:
    """The PQC-only signer of a :func:`fresh_account` (same ML-DSA-87 key, no classical key)."""
    return PqcOnlySigner.from_seed(_seeds[account.address], account.address)


def wait_for(condition: Any, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.1)
