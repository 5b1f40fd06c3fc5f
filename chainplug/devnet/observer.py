"""Watches the running devnet: blocks as they are mined, every validator's attestations, the
signer's accounts — the raw material of the report — and draws the live status line.

One background thread polls (default every 0.25 s); readers take a consistent snapshot under a
lock. Block times are when the observer first saw the block (the chain's own timestamps have
one-second resolution); finality times are the attestations' ``checked_at``.
"""

from __future__ import annotations

import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TextIO

from ..errors import Reason
from ..node.attestations import TxCheck
from ..types import AccountState
from ..verify import PqcStatus
from .rpc import JsonRpc, RpcFailure, get_json, quantity


@dataclass(frozen=True, slots=True)
class TxSeen:
    tx_hash: str
    sender: str
    tx_type: int


@dataclass(frozen=True, slots=True)
class BlockSeen:
    height: int
    block_hash: str
    seen_at: float
    """Unix time the observer first saw the block."""
    txs: tuple[TxSeen, ...]


@dataclass(frozen=True, slots=True)
class TxVerdict:
    tx_hash: str
    accepted: bool
    reason: Reason | None
    """Why the validator rejected it; None when accepted."""
    pqc: PqcStatus | None
    sidecar: bool


@dataclass(frozen=True, slots=True)
class BlockVerdict:
    """One validator's attestation of one block."""

    validator: str
    version: str
    height: int
    accepted: bool
    checked_at: float
    reasons: tuple[Reason, ...]
    txs: tuple[TxVerdict, ...]


def _tx_verdict(check: TxCheck) -> TxVerdict:
    return TxVerdict(check.tx_hash, check.accepted, check.reason, check.pqc, check.sidecar)


def quorum_reached(accepts: int, fleet_size: int) -> bool:
    """A block is final when at least 2/3 of the whole fleet accepts it (devnet/README.md)."""
    return 3 * accepts >= 2 * fleet_size


@dataclass
class AccountSample:
    at: float
    block: int
    counts: dict[str, int]


@dataclass
class Observations:
    blocks: dict[int, BlockSeen] = field(default_factory=dict)
    verdicts: dict[str, dict[int, BlockVerdict]] = field(default_factory=dict)
    accounts: list[dict[str, Any]] = field(default_factory=list)
    samples: list[AccountSample] = field(default_factory=list)
    mined: dict[str, int] = field(default_factory=dict)
    """Transaction hash → block height, for every transaction seen in a block."""
    lag: dict[str, list[int]] = field(default_factory=dict)
    """Validator → its lag behind the head (head − its last attested block) at every poll while up."""


class Observer:
    """Polls chain, validators and signer in a daemon thread until :meth:`stop`."""

    def __init__(
        self,
        chain_url: str,
        validator_urls: dict[str, str],
        signer: Callable[[], JsonRpc | None],
        *,
        label: str,
        interval: float = 0.25,
        status: TextIO | None = sys.stderr,
    ) -> None:
        self.chain = JsonRpc(chain_url, timeout=10)
        self.validator_urls = validator_urls
        self.signer = signer
        self.label = label
        self.interval = interval
        self.status = status
        self.data = Observations(verdicts={name: {} for name in validator_urls}, lag={n: [] for n in validator_urls})
        self.phase = "starting"
        self.head = 0
        self.started = time.time()
        self.lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="devnet-observer", daemon=True)
        self._last_line = ""
        self._last_print = 0.0
        self._last_accounts = 0.0

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        self.poll_once()  # a last, complete look
        self._draw(force=True)
        if self.status is not None and self.status.isatty():
            self.status.write("\n")

    def set_phase(self, phase: str) -> None:
        self.phase = phase
        self._draw(force=True)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.poll_once()
            self._draw()

    # --- polling --------------------------------------------------------------------------------

    def poll_once(self) -> None:
        try:
            head = quantity(self.chain.call("eth_blockNumber"))
        except RpcFailure:
            return
        for height in range(max(self.data.blocks, default=0) + 1, head + 1):
            try:
                block = self.chain.call("eth_getBlockByNumber", hex(height), True)
            except RpcFailure:
                return
            txs = tuple(
                TxSeen(str(tx["hash"]), str(tx.get("from", "")).lower(), quantity(tx.get("type", "0x0")))
                for tx in block["transactions"]
            )
            with self.lock:
                self.data.blocks[height] = BlockSeen(height, str(block["hash"]), time.time(), txs)
                self.data.mined.update((tx.tx_hash, height) for tx in txs)
                self.head = height
        for name, url in self.validator_urls.items():
            if self._poll_validator(name, url):
                with self.lock:
                    self.data.lag[name].append(max(0, head - max(self.data.verdicts[name], default=0)))
        if time.monotonic() - self._last_accounts > 1.0:
            self._last_accounts = time.monotonic()
            self._poll_accounts()

    def _poll_validator(self, name: str, url: str) -> bool:
        """Read the validator's new attestations; False if it did not answer."""
        known = self.data.verdicts[name]
        start = max(known, default=0) + 1
        try:
            answer = get_json(f"{url}/attestations?from={start}&limit=2000", timeout=3)
        except RpcFailure:
            return False  # down (restarting, killed): it will catch up from its durable log
        for item in answer if isinstance(answer, list) else []:
            verdict = BlockVerdict(
                validator=name,
                version=str(item["version"]),
                height=int(item["height"]),
                accepted=bool(item["accepted"]),
                checked_at=float(item.get("checked_at", 0.0)),
                reasons=tuple(Reason(r) for r in item.get("reasons", ())),
                txs=tuple(_tx_verdict(TxCheck.from_json(t)) for t in item.get("txs", ())),
            )
            with self.lock:
                known[verdict.height] = verdict
        return True

    def _poll_accounts(self, timeout: float = 5) -> None:
        signer = self.signer()
        if signer is None:
            return
        try:
            accounts = signer.call("chainplug_accounts", timeout=timeout)
        except RpcFailure:
            return
        counts = Counter(str(a["state"]) for a in accounts)
        with self.lock:
            self.data.accounts = list(accounts)
            self.data.samples.append(AccountSample(time.time(), self.head, dict(counts)))

    # --- reading --------------------------------------------------------------------------------

    def highest_final(self) -> int:
        """The highest block that has reached 2/3 accepts so far (0 if none)."""
        size = len(self.validator_urls)
        with self.lock:
            accepts: Counter[int] = Counter()
            for verdicts in self.data.verdicts.values():
                accepts.update(h for h, v in verdicts.items() if v.accepted)
        return max((h for h, n in accepts.items() if quorum_reached(n, size)), default=0)

    def attested(self, name: str) -> int:
        with self.lock:
            return max(self.data.verdicts[name], default=0)

    def wait_head(self, height: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while self.head < height:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)
        return True

    def mined_in(self, tx_hash: str) -> int | None:
        """The block that included ``tx_hash``, if the observer has seen it."""
        with self.lock:
            return self.data.mined.get(tx_hash)

    def account_states(self) -> dict[str, str]:
        with self.lock:
            return {str(a["address"]).lower(): str(a["state"]) for a in self.data.accounts}

    def refresh_accounts(self, timeout: float = 5) -> None:
        """Read every account's state from the signer now (the poll loop's reading may be older)."""
        self._poll_accounts(timeout)

    # --- status line ----------------------------------------------------------------------------

    def _draw(self, force: bool = False) -> None:
        if self.status is None:
            return
        with self.lock:
            counts = Counter(str(a["state"]) for a in self.data.accounts)
            txs = sum(len(b.txs) for b in self.data.blocks.values())
        states = " ".join(
            f"{s.name[:1] if s.name != 'PQC_ONLY' else 'P'}:{counts.get(s.name, 0)}" for s in AccountState
        )
        state = (
            f"[{self.label}] {self.phase:<22.22} | block {self.head:>4} | final {self.highest_final():>4} | "
            f"accounts {states} | txs {txs:>4}"
        )
        line = f"{state} | {time.time() - self.started:5.0f} s"
        now = time.monotonic()
        if self.status.isatty():
            self.status.write("\r\x1b[K" + line)
            self.status.flush()
        elif state != self._last_line and (force or now - self._last_print > 5):
            # A log, not a terminal: a line only when something changed (a new phase at once, new
            # figures at most every 5 s), never the same line again with only the clock moved on.
            self.status.write(line + "\n")
            self.status.flush()
            self._last_print = now
            self._last_line = state
