"""How a wallet authenticates to the signer (#15): a bearer token, which each stock client can send
(web3.py ``request_kwargs`` headers, an ethers ``FetchRequest``, cast ``--rpc-headers``); or the
loopback-only ``--no-auth`` mode, off by default, loud when on, and closed to web pages."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from web3 import Web3

from tests.signer.network import TOKEN, Network, funded_accounts, network
from tests.signer.test_stock_clients import SINK, cast_binary, check_on_chain, ethers_available, run_ethers


@pytest.fixture(scope="module")
def token_net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Network]:
    with network(tmp_path_factory.mktemp("signer-token"), no_auth=False, accounts=False) as running:
        (running.accounts["CLASSICAL"],) = funded_accounts(running, 1)
        yield running


def test_web3_sends_the_bearer_token_in_request_kwargs(token_net: Network) -> None:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    w3 = Web3(Web3.HTTPProvider(token_net.signer, request_kwargs={"headers": headers}))
    sender = token_net.accounts["CLASSICAL"]
    assert w3.eth.accounts == [sender]
    tx_hash = w3.eth.send_transaction({"from": sender, "to": SINK, "value": 1})
    check_on_chain(token_net, "CLASSICAL", tx_hash.to_0x_hex(), dict(w3.eth.wait_for_transaction_receipt(tx_hash)))
    without = Web3(Web3.HTTPProvider(token_net.signer))
    with pytest.raises(Exception, match="401"):
        without.eth.accounts  # noqa: B018 - the request is the test


def test_ethers_sends_the_bearer_token_with_a_fetch_request(token_net: Network) -> None:
    missing = ethers_available()
    if missing:
        pytest.skip(missing)
    out = run_ethers(token_net, {"CLASSICAL": token_net.accounts["CLASSICAL"]}, token=TOKEN)
    sent = out["sent"]["CLASSICAL"]
    assert sent["status"] == 1
    receipt = token_net.rpc("eth_getTransactionReceipt", sent["hash"], url=token_net.chain)
    check_on_chain(token_net, "CLASSICAL", sent["hash"], receipt)


def test_cast_sends_the_bearer_token_with_rpc_headers(token_net: Network) -> None:
    cast = cast_binary()
    if cast is None:
        pytest.skip("foundry's cast is not installed (npm install --prefix .ci-tools @foundry-rs/cast@1.7.1)")
    done = subprocess.run(
        [str(cast), "send", "--unlocked", "--from", token_net.accounts["CLASSICAL"], "--rpc-url", token_net.signer,
         "--rpc-headers", f"Authorization: Bearer {TOKEN}", "--json", SINK, "--value", "5"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]


def post(url: str, headers: dict[str, str], body: bytes = b'{"jsonrpc":"2.0","id":1,"method":"eth_accounts"}') -> Any:
    return requests.post(url, data=body, headers=headers, timeout=30)


def test_no_auth_mode_answers_local_programs_and_refuses_web_pages(net: Network) -> None:
    json_type = {"Content-Type": "application/json"}
    assert "result" in post(net.signer, json_type).json()
    assert requests.get(net.signer + "/health", timeout=30).json()["auth"] == "none (loopback only)"
    refusals = {
        "origin-refused": {**json_type, "Origin": "https://evil.example"},  # a page's fetch
        "host-refused": {**json_type, "Host": "evil.example:8550"},  # DNS rebinding
        "content-type": {"Content-Type": "text/plain"},  # a cross-site "simple" request
    }
    for reason, headers in refusals.items():
        answer = post(net.signer, headers)
        assert answer.status_code == 403, (reason, answer.text)
        assert answer.json()["error"]["data"]["reason"] == reason
    # A refused request signed nothing, so a transaction there is harmless to try.
    tx = b'{"jsonrpc":"2.0","id":1,"method":"eth_sendTransaction","params":[{"from":"%s","to":"%s"}]}' % (
        net.accounts["CLASSICAL"].encode(), SINK.encode())  # fmt: skip
    assert post(net.signer, refusals["origin-refused"], tx).status_code == 403


def serve(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "chainplug.cli.main", "signer", "serve", *args],
                          capture_output=True, text=True, timeout=120)  # fmt: skip


def test_no_auth_is_refused_off_loopback_and_with_a_token(tmp_path: Path, net: Network) -> None:
    base = ["--store", str(tmp_path / "store"), "--rpc", net.chain]
    public = serve(*base, "--no-auth", "--listen", "0.0.0.0:0")
    assert public.returncode == 2 and "loopback only" in public.stderr, public.stderr
    (tmp_path / "token").write_text(TOKEN)
    both = serve(*base, "--no-auth", "--token-file", str(tmp_path / "token"), "--listen", "127.0.0.1:0")
    assert both.returncode == 2 and "choose one" in both.stderr, both.stderr
    origins = serve(*base, "--token-file", str(tmp_path / "token"), "--allow-origin", "x", "--listen", "127.0.0.1:0")
    assert origins.returncode == 2 and "--no-auth only" in origins.stderr, origins.stderr
