"""Background traffic: value transfers at the scenario's rate, from the signer's migrating accounts
(classical, hybrid or PQC-only — whatever each account's state makes the signer produce) and from
plain wallets that never migrate (the chain's unlocked dev accounts).

Every transaction is recorded (hash, sender, kind, when, and any refusal) for the report. An
account has at most one transaction in flight, and none while the driver holds it (a migration
step, an attack or a signer restart uses the account's nonce): see :meth:`Traffic.hold`.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass

from .rpc import JsonRpc, RpcFailure

IN_FLIGHT_TIMEOUT = 20.0
"""Seconds after which a transaction still not in a block stops holding its account back."""
SENDERS = 3
"""Threads sending the signer's accounts' traffic (and as many for the plain wallets'); at most twice as
many transfers of each kind wait for one of them: a busy signer — a batch migration holds it for
seconds — makes its accounts skip their turns (the plain wallets take them) instead of queueing up."""


@dataclass
class SentTx:
    """One transaction the devnet sent as honest traffic."""

    sender: str
    kind: str
    """"plain" (dev wallet), or the signer's kind: "classical", "hybrid", "pqc-only"."""
    submitted_at: float
    source: str = "traffic"
    """"traffic", or the driver step that sent it (e.g. "recovery-check")."""
    tx_hash: str | None = None
    error: str | None = None
    """Who refused it and why, if it was refused at submission."""


class Traffic:
    """Sends transactions at ``rate`` per second in a daemon thread until :meth:`stop`."""

    def __init__(
        self,
        chain: JsonRpc,
        signer: Callable[[], JsonRpc | None],
        mined_in: Callable[[str], int | None],
        *,
        rate: float,
        plain_share: float,
        plain_wallets: Sequence[str],
        seed: int,
    ) -> None:
        self.chain = chain
        self.signer = signer
        self.mined_in = mined_in
        self.rate = rate
        self.plain_share = plain_share
        self.plain_wallets = list(plain_wallets)
        self.accounts: list[str] = []
        self.rng = random.Random(seed)  # noqa: S311 - reproducible choices, not secrets
        self.sink = "0x" + self.rng.randbytes(20).hex()
        self.sent: list[SentTx] = []
        self.paused = False
        self._held: set[str] = set()
        self._in_flight: dict[str, tuple[str | None, float]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._pools = {kind: ThreadPoolExecutor(SENDERS, thread_name_prefix=f"devnet-traffic-{kind}")
                       for kind in ("plain", "signer")}  # fmt: skip
        self._queued = {"plain": 0, "signer": 0}
        """Transfers handed to each pool and not sent yet."""
        self.skipped = 0
        """Turns skipped because the senders were all busy and their queues full."""
        self._thread = threading.Thread(target=self._run, name="devnet-traffic", daemon=True)

    def start(self) -> None:
        if self.rate > 0:
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)
        for pool in self._pools.values():
            pool.shutdown(wait=True, cancel_futures=True)

    def _busy(self, sender: str) -> bool:
        entry = self._in_flight.get(sender)
        if entry is None:
            return False
        tx_hash, since = entry
        done = tx_hash is not None and self.mined_in(tx_hash) is not None
        if done or time.monotonic() - since > IN_FLIGHT_TIMEOUT:
            del self._in_flight[sender]
            return False
        return True

    def _pick(self) -> tuple[str, bool] | None:
        """(sender, is_plain) of a sender free to send now (whose kind's queue is not full), or None."""
        with self._lock:
            full = {kind: queued >= 3 * SENDERS for kind, queued in self._queued.items()}
            plain = [] if full["plain"] else [w for w in self.plain_wallets if not self._busy(w)]
            ours: list[str] = []
            if not (self.paused or full["signer"]):
                ours = [a for a in self.accounts if a not in self._held and not self._busy(a)]
            if ours and (not plain or self.rng.random() >= self.plain_share):
                choice = self.rng.choice(ours), False
            elif plain:
                choice = self.rng.choice(plain), True
            else:
                self.skipped += any(full.values())
                return None
            self._in_flight[choice[0]] = (None, time.monotonic())
            self._queued["plain" if choice[1] else "signer"] += 1
            return choice

    def _run(self) -> None:
        period = 1.0 / self.rate
        next_at = time.monotonic()
        while not self._stop.is_set():
            next_at += period
            picked = self._pick()
            if picked is not None:
                sender, plain = picked
                pool = self._pools["plain" if plain else "signer"]
                pool.submit(self._send_queued, sender, plain=plain, value=self.rng.randint(1, 10**6))
            self._stop.wait(max(0.0, next_at - time.monotonic()))

    def _send_queued(self, sender: str, *, plain: bool, value: int) -> None:
        try:
            self.send(sender, plain=plain, value=value)
        finally:
            with self._lock:
                self._queued["plain" if plain else "signer"] -= 1

    def send(self, sender: str, *, plain: bool, value: int = 1, source: str = "traffic") -> SentTx:
        """Send one transfer now (also used by the driver, e.g. to prove a recovered key still signs)."""
        record = SentTx(sender, "plain" if plain else "?", time.time(), source)
        try:
            if plain:
                record.tx_hash = str(
                    self.chain.call("eth_sendTransaction", {"from": sender, "to": self.sink, "value": hex(value)})
                )
            else:
                signer = self.signer()
                if signer is None:
                    raise RpcFailure("signer", "chainplug_sendTransaction", None, "signer not started")
                answer = signer.call("chainplug_sendTransaction", {"from": sender, "to": self.sink, "value": value})
                record.tx_hash, record.kind = str(answer["tx_hash"]).lower(), str(answer["kind"])
        except RpcFailure as exc:
            record.error = f"{exc.method} refused by {exc.url}: {exc.message} ({exc.rejection_reason})"
        with self._lock:
            self.sent.append(record)
            if self._in_flight.get(sender, (None, 0.0))[0] is None:
                self._in_flight[sender] = (record.tx_hash, time.monotonic())
            if record.tx_hash is None:
                self._in_flight.pop(sender, None)
        return record

    @contextmanager
    def hold(self, accounts: Sequence[str], timeout: float = IN_FLIGHT_TIMEOUT) -> Iterator[None]:
        """Keep traffic off ``accounts`` (and wait for their in-flight transactions to be mined)."""
        with self._lock:
            self._held.update(accounts)
        try:
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                with self._lock:
                    if not any(self._busy(a) for a in accounts):
                        break
                time.sleep(0.05)
            yield
        finally:
            with self._lock:
                self._held.difference_update(accounts)
