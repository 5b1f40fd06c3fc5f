"""The upgraded gateway reads what does not change within a block once per block (chainplug.node.upstream)
and never lets a stale reading admit what the chain refuses: the embedded chain and a gateway in front of
it, both on loopback sockets in this process, the chain mined by hand so every step lands where the test
puts it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from aiohttp import ClientSession
from eth_account import Account
from web3 import Web3

from chainplug.envelope import CompositeAccount
from chainplug.node.admission import AdmissionHook, NodeVersion
from chainplug.node.chain.backend import ChainBackend
from chainplug.node.chain.server import ChainServer
from chainplug.node.gateway import Gateway
from chainplug.node.upstream import UpstreamView
from chainplug.registry import KeyRegistryContract, Transition
from chainplug.rpc import AsyncRpcClient
from tests.node.services import serve_app

CHAIN_ID = 1337
RECIPIENT = "0x5a5A5a5a5A5a5a5a5a5A5a5A5A5a5a5A5A5A5A5A"
FEES = {"maxFeePerGas": 10**11, "maxPriorityFeePerGas": 10**9}
SECRETS: dict[bytes, bytes] = {}


def account(secret: bytes, seed: bytes) -> CompositeAccount:
    composite = CompositeAccount.from_keys(secret, seed)
    SECRETS[composite.address_bytes] = secret
    return composite


ALICE = account(b"\x71" * 32, b"\x72" * 32)
BOB = account(b"\x73" * 32, b"\x74" * 32)
CROWD = [account(bytes([0x80 + i]) * 32, bytes([0x90 + i]) * 32) for i in range(8)]


@dataclass
class Net:
    backend: ChainBackend
    chain: ChainServer
    gateway: Gateway
    view: UpstreamView
    url: str
    session: ClientSession

    async def rpc(self, method: str, *params: Any) -> dict[str, Any]:
        body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}
        async with self.session.post(self.url, json=body) as response:
            answer: dict[str, Any] = await response.json()
        return answer

    def rejected(self, method: str, reason: str) -> float:
        value = self.gateway.metrics.get_sample_value(
            "chainplug_gateway_rejected_total", {"method": method, "reason": reason}
        )
        return value or 0.0

    def chain_refused(self, reason: str) -> float:
        labels = {"method": "eth_sendRawTransaction", "result": reason}
        return self.chain.metrics.get_sample_value("chainplug_chain_transactions_total", labels) or 0.0


@asynccontextmanager
async def network(max_age: float) -> AsyncIterator[Net]:
    funded = {a.address_bytes: 10**21 for a in (ALICE, BOB, *CROWD)}
    backend = ChainBackend(chain_id=CHAIN_ID, accounts=1, activation_block=0, funded=funded)
    registry = backend.deploy_registry()
    server = ChainServer(backend)
    backend.automine = False  # mined by the test
    chain_runner, chain_url = await serve_app(server.app())
    view = UpstreamView(AsyncRpcClient(chain_url), registry, max_age=max_age)
    gateway = Gateway(chain_url, AdmissionHook(NodeVersion.UPGRADED, view, chain_id=CHAIN_ID), view=view)
    gateway_runner, gateway_url = await serve_app(gateway.app())
    try:
        async with ClientSession() as session:
            yield Net(backend, server, gateway, view, gateway_url, session)
    finally:
        await gateway_runner.cleanup()
        await chain_runner.cleanup()


def run(test: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(test())  # type: ignore[arg-type]


def bare(sender: CompositeAccount, nonce: int) -> str:
    tx = {"chainId": CHAIN_ID, "nonce": nonce, "to": RECIPIENT, "value": 1, "gas": 21_000, "type": 2, **FEES}
    return "0x" + bytes(Account.sign_transaction(tx, SECRETS[sender.address_bytes]).raw_transaction).hex()


def envelope(sender: CompositeAccount, nonce: int, **fields: Any) -> str:
    tx = {"chainId": CHAIN_ID, "nonce": nonce, "to": RECIPIENT, "value": 1, "gas": 30_000, **FEES, **fields}
    return "0x" + sender.sign_transaction(tx).envelope.hex()


def registration(net: Net, sender: CompositeAccount, nonce: int) -> str:
    call = KeyRegistryContract(Web3(), net.backend.rules.registry_address or b"").transition_call(
        Transition.REGISTER, sender.key_id
    )
    return envelope(sender, nonce, value=0, gas=150_000, **call)


def accepted(answer: dict[str, Any]) -> str:
    assert "result" in answer, answer
    result: str = answer["result"]
    return result


def refusal(answer: dict[str, Any]) -> str:
    assert "error" in answer and answer["error"]["code"] == -32003, answer
    reason: str = answer["error"]["data"]["reason"]
    return reason


# --- a registration landing between two transactions ---------------------------------------------------


def test_a_fresh_gateway_refuses_itself_once_a_registration_has_landed() -> None:
    async def scenario() -> None:
        async with network(max_age=0.0) as net:  # every judgement reads the head first
            accepted(await net.rpc("eth_sendRawTransaction", bare(ALICE, 0)))  # CLASSICAL: a bare tx is fine
            accepted(await net.rpc("eth_sendRawTransaction", bare(BOB, 0)))
            net.backend.mine()
            accepted(await net.rpc("chainplug_sendEnvelope", registration(net, ALICE, 1)))
            net.backend.mine()  # ALICE is HYBRID from the next block on
            assert refusal(await net.rpc("eth_sendRawTransaction", bare(ALICE, 2))) == "pqc-required"
            assert net.rejected("eth_sendRawTransaction", "pqc-required") == 1  # the gateway's own verdict
            assert net.chain_refused("pqc-required") == 0  # ... so the chain never saw it
            accepted(await net.rpc("chainplug_sendEnvelope", envelope(ALICE, 2)))
            accepted(await net.rpc("eth_sendRawTransaction", bare(BOB, 1)))
            # ALICE read at the first head, again after her registration's event; BOB once: his entry
            # was carried over every block that did not change it.
            assert net.view.entry_reads == 3

    run(scenario)


def test_a_stale_reading_admits_but_the_chain_refuses_and_the_client_sees_the_refusal() -> None:
    async def scenario() -> None:
        async with network(max_age=3600.0) as net:  # the head is read once and never again
            accepted(await net.rpc("eth_sendRawTransaction", bare(ALICE, 0)))
            net.backend.mine()
            accepted(await net.rpc("chainplug_sendEnvelope", registration(net, ALICE, 1)))
            net.backend.mine()
            stripped = await net.rpc("eth_sendRawTransaction", bare(ALICE, 2))
            assert refusal(stripped) == "pqc-required"  # the chain's verdict, relayed
            assert net.chain_refused("pqc-required") == 1
            assert net.rejected("eth_sendRawTransaction", "upstream:pqc-required") == 1
            assert net.view.head_reads == 1
            answer = await net.rpc("chainplug_sendEnvelope", envelope(ALICE, 2))
            assert accepted(await net.rpc("chainplug_getSidecar", accepted(answer))) is not None

    run(scenario)


def test_a_registration_in_the_block_being_built_does_not_change_that_block() -> None:
    async def scenario() -> None:
        async with network(max_age=0.0) as net:
            accepted(await net.rpc("chainplug_sendEnvelope", registration(net, ALICE, 0)))
            # Same block: both are judged against its parent, where ALICE is CLASSICAL.
            accepted(await net.rpc("eth_sendRawTransaction", bare(ALICE, 1)))
            net.backend.mine()
            assert refusal(await net.rpc("eth_sendRawTransaction", bare(ALICE, 2))) == "pqc-required"

    run(scenario)


# --- once per block, not once per transaction --------------------------------------------------------


def test_many_transactions_cost_one_registry_read_per_sender_and_go_upstream_together() -> None:
    async def scenario() -> None:
        async with network(max_age=3600.0) as net:
            forwarded: list[Any] = []
            post = net.view.client.post
            submissions = net.gateway._submissions

            async def held(document: Any, **options: Any) -> Any:
                if isinstance(document, dict) and document.get("method") == "chainplug_sendEnvelope" and not forwarded:
                    # The first submission's request is held until every other sender's first one waits
                    # behind it (a condition, not a delay): they must then go upstream as one batch.
                    for _ in range(6000):  # up to a minute on a very loaded machine
                        if len(submissions._waiting) == len(CROWD) - 1:
                            break
                        await asyncio.sleep(0.01)
                    else:
                        raise AssertionError("the other senders' submissions never queued behind the first")
                if isinstance(document, list) or document.get("method") == "chainplug_sendEnvelope":
                    forwarded.append(document)
                return await post(document, **options)

            net.view.client.post = held  # type: ignore[method-assign]

            async def sender(who: CompositeAccount) -> None:
                for nonce in range(5):  # each after the answer to the one before, as a wallet does
                    accepted(await net.rpc("chainplug_sendEnvelope", envelope(who, nonce)))

            await asyncio.gather(*(sender(who) for who in CROWD))
            assert net.view.entry_reads == len(CROWD) and net.view.head_reads == 1
            assert isinstance(forwarded[1], list) and len(forwarded[1]) == len(CROWD) - 1
            sent = 5 * len(CROWD)
            assert sum(len(d) if isinstance(d, list) else 1 for d in forwarded) == sent
            net.backend.mine()
            block = net.backend.chain.get_canonical_block_by_number(net.backend.head.block_number)
            assert len(block.transactions) == sent  # every sender's nonces in order

    run(scenario)
