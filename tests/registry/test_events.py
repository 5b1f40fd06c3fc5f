"""The registry view folded from StateChanged events, on logs crafted as a node returns them: several
changes in one block, the state between blocks, long ranges fetched in spans, broken logs refused.
(tests/chain/test_block_bundle.py holds it to the contract's own state on a real chain.)"""

from __future__ import annotations

from typing import Any

import pytest

from chainplug.errors import RegistryError
from chainplug.registry.events import MAX_LOG_SPAN, STATE_CHANGED_TOPIC, EventRegistry, RegistryLogs
from chainplug.types import AccountState, Address

REGISTRY = "0x" + "77" * 20
ALICE = Address(bytes.fromhex("a1" * 20))
KEY = bytes.fromhex("c3" * 32)


def log(block: int, index: int, account: bytes, state: AccountState, key: bytes = KEY) -> dict[str, Any]:
    data = (0).to_bytes(32, "big") + int(state).to_bytes(32, "big") + (1).to_bytes(32, "big")
    return {
        "address": REGISTRY,
        "topics": ["0x" + STATE_CHANGED_TOPIC.hex(), "0x" + bytes(12).hex() + account.hex(), "0x" + key.hex()],
        "data": "0x" + data.hex(),
        "blockNumber": hex(block),
        "logIndex": hex(index),
    }


class Node:
    """eth_getLogs over a fixed list of logs, recording the ranges asked for."""

    def __init__(self, logs: list[dict[str, Any]]) -> None:
        self.logs = logs
        self.asked: list[tuple[int, int]] = []

    def get_logs(self, query: dict[str, Any]) -> list[dict[str, Any]]:
        start, stop = int(query["fromBlock"], 16), int(query["toBlock"], 16)
        assert query["address"] == REGISTRY and query["topics"] == ["0x" + STATE_CHANGED_TOPIC.hex()]
        self.asked.append((start, stop))
        return [entry for entry in self.logs if start <= int(entry["blockNumber"], 16) <= stop]


def test_each_block_ends_in_its_last_change_and_blocks_between_keep_the_state() -> None:
    node = Node([
        log(5, 1, bytes(ALICE), AccountState.FINALIZING),  # given out of order: sorted by (block, index)
        log(5, 0, bytes(ALICE), AccountState.HYBRID),
        log(9, 0, bytes(ALICE), AccountState.PQC_ONLY),
    ])  # fmt: skip
    view = EventRegistry(RegistryLogs(node.get_logs, REGISTRY))
    assert view.entry(ALICE, 4).state is AccountState.CLASSICAL and view.entry(ALICE, 4).key_id is None
    assert view.entry(ALICE, 5).state is AccountState.FINALIZING and view.entry(ALICE, 5).key_id == KEY
    assert view.entry(ALICE, 8).state is AccountState.FINALIZING
    assert view.entry(ALICE, 20).state is AccountState.PQC_ONLY
    assert view.entry(ALICE, 6).state is AccountState.FINALIZING, "an earlier block, asked after a later one"
    assert node.asked == [(0, 4), (5, 5), (6, 8), (9, 20)], "each block fetched once, in order"


def test_a_rollback_clears_the_key_and_views_share_what_was_fetched() -> None:
    node = Node(
        [log(3, 0, bytes(ALICE), AccountState.HYBRID), log(4, 0, bytes(ALICE), AccountState.CLASSICAL, bytes(32))]
    )
    logs = RegistryLogs(node.get_logs, REGISTRY)
    first, second = EventRegistry(logs), EventRegistry(logs)
    assert first.entry(ALICE, 4).key_id is None and first.entry(ALICE, 3).key_id == KEY
    assert second.entry(ALICE, 4) == first.entry(ALICE, 4)
    assert node.asked == [(0, 4)], "the second view folds the first one's fetch"


def test_long_ranges_are_fetched_in_spans() -> None:
    node = Node([log(12_000, 0, bytes(ALICE), AccountState.HYBRID)])
    view = EventRegistry(RegistryLogs(node.get_logs, REGISTRY))
    assert view.entry(ALICE, 12_000).state is AccountState.HYBRID
    assert node.asked == [(0, MAX_LOG_SPAN - 1), (MAX_LOG_SPAN, 2 * MAX_LOG_SPAN - 1), (2 * MAX_LOG_SPAN, 12_000)]


@pytest.mark.parametrize("broken", [
    {"topics": []},
    {"data": "0x00"},
    {"data": "0x" + "00" * 63 + "09" + "00" * 32},  # state 9
    {"topics": ["0x" + "00" * 32, "0x" + "00" * 32, "0x" + "00" * 32]},  # another event
    {"logIndex": None},
])  # fmt: skip
def test_an_unreadable_log_is_an_error_not_a_guess(broken: dict[str, Any]) -> None:
    node = Node([{**log(2, 0, bytes(ALICE), AccountState.HYBRID), **broken}])
    with pytest.raises(RegistryError):
        EventRegistry(RegistryLogs(node.get_logs, REGISTRY)).entry(ALICE, 3)


def test_latest_needs_a_head() -> None:
    view = EventRegistry(RegistryLogs(Node([]).get_logs, REGISTRY))
    with pytest.raises(RegistryError, match="latest"):
        view.entry(ALICE)
    assert EventRegistry(RegistryLogs(Node([]).get_logs, REGISTRY, head=lambda: 7)).entry(ALICE).state is (
        AccountState.CLASSICAL
    )
