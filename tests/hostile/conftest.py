"""The four services as a user starts them (``chainplug chain serve``, ``gateway``, ``validator run``,
``signer serve``, and the signer once more with ``--fronts 1``: real subprocesses on loopback ports),
shared by the hostile-input tests."""

from __future__ import annotations

import contextlib
import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests

from tests.node.services import chainplug_service, wait_ready

TOKEN = "hostile-suite-token-0123456789"


@dataclass
class Service:
    """One running service: where it listens, how to authenticate, and a call that must always work."""

    name: str
    url: str
    process: subprocess.Popen[str]
    headers: dict[str, str] = field(default_factory=dict)
    probe: str = "eth_chainId"
    methods: list[Any] = field(default_factory=list)

    def post(self, data: bytes | Any, *, timeout: float = 60, headers: dict[str, str] | None = None) -> Any:
        """POST raw bytes (or a JSON document); returns (HTTP status, parsed JSON answer)."""
        body = data if isinstance(data, bytes) else json.dumps(data).encode()
        sent_headers = {"Content-Type": "application/json", **self.headers, **(headers or {})}
        response = requests.post(self.url, data=body, timeout=timeout, headers=sent_headers)
        return response.status_code, response.json()

    def call(self, method: str, params: list[Any]) -> Any:
        return self.post({"jsonrpc": "2.0", "id": 1, "method": method, "params": params})[1]

    def assert_alive(self, after: str) -> None:
        """The process still runs and still answers a valid call with a result."""
        assert self.process.poll() is None, f"{self.name} died after {after} (exit {self.process.returncode})"
        answer = self.call(self.probe, [])
        assert "result" in answer, f"{self.name} no longer answers {self.probe} after {after}: {answer}"


@pytest.fixture(scope="session")
def services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Service]]:
    root = tmp_path_factory.mktemp("hostile")
    (root / "token").write_text(TOKEN + "\n")
    with contextlib.ExitStack() as stack:
        chain = stack.enter_context(chainplug_service("chain", "serve", "--deploy-registry"))
        registry = chain["registry"]
        gateway = stack.enter_context(
            chainplug_service("gateway", "--upstream", chain["url"], "--version", "upgraded", "--registry", registry)
        )
        validator = stack.enter_context(
            chainplug_service(
                "validator",
                "run",
                "--version",
                "upgraded",
                "--rpc",
                chain["url"],
                "--registry",
                registry,
                "--sidecars",
                gateway["url"],
                "--state-dir",
                str(root / "validator"),
                "--workers",
                "1",
            )
        )

        def signer(name: str, *extra: str) -> Service:
            """``signer serve`` with its own store and the suite's token; ready before the tests start."""
            args = ["signer", "serve", "--store", str(root / f"store-{name}"), "--rpc", chain["url"],
                    "--token-file", str(root / "token"), *extra]  # fmt: skip
            started = stack.enter_context(chainplug_service(*args))
            wait_ready(started["url"])
            return Service(name, started["url"], started["process"], headers={"Authorization": f"Bearer {TOKEN}"},
                           probe="chainplug_accounts")  # fmt: skip

        running = {
            "chain": Service("chain", chain["url"], chain["process"]),
            "gateway": Service("gateway", gateway["url"], gateway["process"]),
            "validator": Service(
                "validator", validator["url"], validator["process"], probe="chainplug_validatorHealth"
            ),
            "signer": signer("signer"),
            # the same signer behind a front process (signer serve --fronts 1): the front takes the input
            "signer-fronts": signer("signer-fronts", "--fronts", "1"),
        }
        yield running


@pytest.fixture(scope="session")
def signer_accounts(services: dict[str, Service]) -> dict[str, str]:
    """One account of each signer (valid parameters need one), by service name."""
    accounts = {}
    for name in ("signer", "signer-fronts"):
        answer = services[name].call("chainplug_createAccounts", [1])
        assert "result" in answer, answer
        accounts[name] = str(answer["result"][0])
    return accounts


def dev_account(services: dict[str, Service]) -> str:
    accounts: list[str] = services["chain"].call("eth_accounts", [])["result"]
    return accounts[0]
