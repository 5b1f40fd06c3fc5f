"""The embedded chain's block clock, driven by the devnet so that a scenario's schedule is anchored to
blocks, not to how fast this machine happens to be.

The devnet starts the embedded chain with ``chain serve --manual-mining``: it mines only on
``evm_mine``. During setup nothing mines but what setup needs (the registry in block 1, the funding
of the signer's accounts in block 2), however long the processes take to start. Then this clock
mines one block every ``block_time`` seconds — up to a *ceiling* while the steps scheduled before
activation run (the driver sets it: activation minus the blocks those steps may still need).
At the ceiling the chain is *held*: it mines again only for a step that waits on it — a height the
driver asked for (:meth:`BlockClock.need`) or a transaction of an account a step is using
(:meth:`BlockClock.watching`). So the steps before activation always run before it, on a fast or a
loaded machine; once the driver lifts the ceiling the clock runs freely.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from .rpc import JsonRpc, RpcFailure, quantity


@dataclass
class Hold:
    """A time the chain stood still at the ceiling (no step needed a block)."""

    block: int
    started_at: float
    ended_at: float

    @property
    def seconds(self) -> float:
        return self.ended_at - self.started_at


class BlockClock:
    """Mines the chain at ``rpc`` (``evm_mine``) in a daemon thread until :meth:`stop`."""

    def __init__(self, rpc: JsonRpc, block_time: float) -> None:
        self.rpc = rpc
        self.block_time = block_time
        self.ceiling: int | None = None
        """Highest block mined by time alone; None: no ceiling."""
        self.holds: list[Hold] = []
        self.ticks = 0
        """Clock ticks so far (mined or held): a test waits on them, never on wall time."""
        self._needed = 0
        self._watched: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="devnet-block-clock", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=30)
        self._close_hold()

    def hold_at(self, ceiling: int | None) -> None:
        """Mine by time only up to ``ceiling`` (None: without limit)."""
        with self._lock:
            self.ceiling = ceiling

    def need(self, height: int) -> None:
        """A step waits for the chain to reach ``height``: mine up to it whatever the ceiling."""
        with self._lock:
            self._needed = max(self._needed, height)

    @contextmanager
    def watching(self, accounts: Sequence[str]) -> Iterator[None]:
        """While a step uses these accounts, any transaction of theirs waiting in the pending block gets a
        block (a migration step's registry transaction, traffic the step waits to see mined)."""
        with self._lock:
            self._watched.update(accounts)
        try:
            yield
        finally:
            with self._lock:
                self._watched.subtract(accounts)
                self._watched = +self._watched

    # --- the clock ------------------------------------------------------------------------------

    def _run(self) -> None:
        due = time.monotonic() + self.block_time
        while not self._stop.wait(max(0.0, due - time.monotonic())):
            with contextlib.suppress(RpcFailure):  # the chain is gone: the run notices that elsewhere
                self._tick()
            self.ticks += 1
            due = max(due + self.block_time, time.monotonic())

    def _tick(self) -> None:
        head = quantity(self.rpc.call("eth_blockNumber"))
        with self._lock:
            ceiling, needed, watched = self.ceiling, self._needed, list(self._watched)
        if ceiling is None or head < max(ceiling, needed) or self._waiting(watched):
            self.rpc.call("evm_mine")
            self._close_hold()
        elif not self.holds or self.holds[-1].ended_at:
            self.holds.append(Hold(head, time.time(), 0.0))

    def _waiting(self, accounts: list[str]) -> bool:
        for account in accounts:
            pending = quantity(self.rpc.call("eth_getTransactionCount", account, "pending"))
            if pending > quantity(self.rpc.call("eth_getTransactionCount", account, "latest")):
                return True
        return False

    def _close_hold(self) -> None:
        if self.holds and not self.holds[-1].ended_at:
            self.holds[-1].ended_at = time.time()
