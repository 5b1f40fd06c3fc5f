"""The devnet's block clock against a real ``chain serve --manual-mining``: the chain moves only when the
clock says, stands at the ceiling however long a step takes, and still mines what a step waits for.

Nothing here is timed: the test waits for the clock's own ticks or for a block, and checks heights."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest

from chainplug.devnet.clock import BlockClock
from chainplug.devnet.rpc import JsonRpc, quantity
from tests.node.services import chainplug_service

PATIENCE = 120.0
"""Seconds before a wait gives up: only a broken clock ever gets near it."""


@pytest.fixture(scope="module")
def chain() -> Iterator[JsonRpc]:
    with chainplug_service("chain", "serve", "--manual-mining", "--deploy-registry", "--accounts", "3") as info:
        assert info["mining"] == "manual (evm_mine)"
        yield JsonRpc(info["url"], timeout=30)


def head(chain: JsonRpc) -> int:
    return quantity(chain.call("eth_blockNumber"))


def until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + PATIENCE
    while not condition():
        assert time.monotonic() < deadline, f"never happened: {what}"
        time.sleep(0.02)


def ticks_pass(clock: BlockClock, count: int) -> None:
    target = clock.ticks + count
    until(lambda: clock.ticks >= target, f"{count} clock ticks")


def send(chain: JsonRpc, sender: str) -> str:
    return str(chain.call("eth_sendTransaction", {"from": sender, "to": "0x" + "11" * 20, "value": "0x1"}))


def mined(chain: JsonRpc, tx_hash: str) -> bool:
    return chain.call("eth_getTransactionReceipt", tx_hash) is not None


def test_the_chain_mines_only_when_asked(chain: JsonRpc) -> None:
    start = head(chain)
    assert start >= 1  # the registry's block
    sender = chain.call("eth_accounts")[0]
    tx = send(chain, sender)
    assert head(chain) == start and not mined(chain, tx)
    chain.call("evm_mine")
    assert head(chain) == start + 1 and mined(chain, tx)


def test_the_clock_holds_at_its_ceiling_and_mines_only_what_a_step_waits_for(chain: JsonRpc) -> None:
    start = head(chain)
    ceiling = start + 3
    clock = BlockClock(chain, block_time=0.05)
    clock.hold_at(ceiling)
    clock.start()
    try:
        until(lambda: head(chain) >= ceiling, "the clock mines up to its ceiling")
        ticks_pass(clock, 20)  # a step that takes "long": however long, the chain stands still
        assert head(chain) == ceiling
        assert clock.holds and clock.holds[-1].block == ceiling

        watched, other = chain.call("eth_accounts")[1:3]
        stray = send(chain, other)  # not a step's account: it waits with the chain
        ticks_pass(clock, 10)
        assert head(chain) == ceiling and not mined(chain, stray)
        with clock.watching([watched]):
            step = send(chain, watched)  # a step's transaction: it gets its block
            until(lambda: mined(chain, step), "the watched account's transaction is mined")
        assert head(chain) == ceiling + 1 and mined(chain, stray)  # the block carried what was pending
        ticks_pass(clock, 10)
        assert head(chain) == ceiling + 1

        clock.need(ceiling + 4)  # a step waits for a height
        until(lambda: head(chain) >= ceiling + 4, "the needed height")
        ticks_pass(clock, 10)
        assert head(chain) == ceiling + 4

        clock.hold_at(None)  # activation may come: the clock runs freely
        until(lambda: head(chain) >= ceiling + 8, "free running")
    finally:
        clock.stop()
    assert all(hold.ended_at >= hold.started_at for hold in clock.holds)
