"""What validators read: chainplug_getBlockBundle against the standard methods, the block feed's two
paths against each other, and the registry view folded from events against the contract's state."""

from __future__ import annotations

from typing import Any

import pytest

from chainplug.constants import PQC_TX_AUTH_GAS
from chainplug.node.blockfeed import BlockFeed
from chainplug.registry import ChainRegistry, EventRegistry, RegistryLogs, Transition, submit_transition
from chainplug.registry.submit import sign_transition
from chainplug.rpc import RpcClient
from chainplug.types import AccountState
from tests.chain.harness import CHAIN_ID, Chain, fresh_account, pqc_signer


def result(answer: dict[str, Any]) -> Any:
    assert "result" in answer, answer
    return answer["result"]


@pytest.fixture(scope="module")
def mixed_block(chain: Chain) -> int:
    """Blocks holding an envelope (sidecar), a plain transfer, and a PQC-only transaction; returns the
    head after them (the chain automines: one block per transaction)."""
    assert chain.registry is not None
    hybrid, finishing = fresh_account(), fresh_account()
    for account in (hybrid, finishing):
        chain.fund(account.address)
    registration = sign_transition(chain.w3, chain.registry, hybrid, Transition.REGISTER)
    result(chain.rpc("chainplug_sendEnvelope", "0x" + registration.envelope.hex()))
    chain.fund(chain.w3.eth.accounts[1], 1)
    submit_transition(chain.w3, chain.registry, finishing, Transition.REGISTER)
    submit_transition(chain.w3, chain.registry, finishing, Transition.ANNOUNCE_FINALIZATION)
    call = chain.registry.transition_call(Transition.COMPLETE_MIGRATION)
    tx = {"chainId": CHAIN_ID, "nonce": chain.w3.eth.get_transaction_count(finishing.address), "value": 0,
          "gas": 60_000 + PQC_TX_AUTH_GAS, **call, **chain.fees()}  # fmt: skip
    result(chain.rpc("eth_sendRawTransaction", "0x" + pqc_signer(finishing).sign_transaction(tx).raw_transaction.hex()))
    rollback = fresh_account()
    chain.fund(rollback.address)
    submit_transition(chain.w3, chain.registry, rollback, Transition.REGISTER)
    submit_transition(chain.w3, chain.registry, rollback, Transition.ROLLBACK)
    return int(chain.w3.eth.block_number)


def test_a_bundle_is_the_block_with_its_raw_transactions_and_sidecars(chain: Chain, mixed_block: int) -> None:
    kinds = set()
    for height in range(1, mixed_block + 1):
        bundle = result(chain.rpc("chainplug_getBlockBundle", hex(height)))
        block = result(chain.rpc("eth_getBlockByNumber", hex(height), False))
        assert (bundle["number"], bundle["hash"], bundle["parentHash"]) == (block["number"], block["hash"],
                                                                           block["parentHash"])  # fmt: skip
        assert [t["hash"] for t in bundle["transactions"]] == block["transactions"]
        for tx in bundle["transactions"]:
            assert tx["raw"] == result(chain.rpc("eth_getRawTransactionByHash", tx["hash"]))
            assert tx["sidecar"] == result(chain.rpc("chainplug_getSidecar", tx["hash"]))
            kinds.add(("sidecar" if tx["sidecar"] else "bare", tx["raw"][:4]))
    assert ("sidecar", "0x02") in kinds and ("bare", "0x50") in kinds and ("bare", "0x02") in kinds


def test_a_bundle_of_a_block_not_mined_is_null_and_pending_is_refused(chain: Chain) -> None:
    assert result(chain.rpc("chainplug_getBlockBundle", hex(10**9))) is None
    assert chain.rpc("chainplug_getBlockBundle", "pending")["error"]["code"] == -32602
    latest = result(chain.rpc("chainplug_getBlockBundle", "latest"))
    assert int(latest["number"], 16) == chain.w3.eth.block_number


def test_the_feed_reads_the_same_blocks_in_one_call_as_with_the_standard_methods(
    chain: Chain, mixed_block: int
) -> None:
    bundled, standard = BlockFeed(chain.url, [chain.url]), BlockFeed(chain.url, [chain.url])
    standard._bundles = False  # as on a stock node (anvil, geth)
    for height in range(1, mixed_block + 1):
        calls = bundled.calls
        assert bundled.block(height) == standard.block(height)
        assert bundled.calls == calls + 1, "one call per block"
        assert bundled.block(height) is not None and bundled.calls == calls + 1, "a fetched block is kept"
    assert bundled.uses_bundles is True and standard.uses_bundles is False
    assert bundled.block(mixed_block + 1000) is None
    legacy = BlockFeed(chain.url, [chain.url], sidecars=False)
    assert all(tx.sidecar is None for h in range(1, mixed_block + 1) for tx in legacy.block(h).txs)  # type: ignore[union-attr]


def test_the_registry_view_from_events_is_the_contract_state_at_every_block(chain: Chain, mixed_block: int) -> None:
    assert chain.registry is not None
    contract = ChainRegistry(chain.registry)
    logs = RegistryLogs.over_rpc(RpcClient(chain.url), chain.registry.address)
    views = [EventRegistry(logs), EventRegistry(logs)]  # two validators of one process share the fetched logs
    senders = {
        tx["from"]
        for height in range(1, mixed_block + 1)
        for tx in chain.w3.eth.get_block(height, full_transactions=True)["transactions"]
    }
    seen = set()
    for height in range(0, mixed_block + 1):
        for sender in senders:
            address = bytes.fromhex(sender[2:])
            expected = contract.entry(address, height)  # type: ignore[arg-type]
            for view in views:
                assert view.entry(address, height) == expected, (sender, height)  # type: ignore[arg-type]
            seen.add(expected.state)
    assert seen == set(AccountState), "the blocks walk every state, rollback included"
    assert logs.calls <= mixed_block + 1, "at most one eth_getLogs per block, however many senders and views"
    assert views[0].entry(bytes(20), None).state is AccountState.CLASSICAL  # type: ignore[arg-type]
