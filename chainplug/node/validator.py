"""The validator: follows a chain, checks every transaction of every block (with its sidecar) under
its own version, and attests per block (docs/design.md §validators).

Legacy validators check the classical signature only and cannot read a PQC-only transaction (they
reject its block). Upgraded validators apply the registry policy at the parent block, read from their
own view of the KeyRegistry (folded from its events: one ``eth_getLogs`` per stretch of new blocks,
not one ``eth_call`` per sender). Blocks come from a :class:`~.blockfeed.BlockFeed` (one call per
block on the embedded chain). Verification runs in a process pool (``chainplug validator run``) or
inline (several validators in one process: ``chainplug validator host``); either way every validator
decodes and verifies with its own admission hook. Attestations are appended durably, so a restarted
validator continues at the block after its last attestation: no gaps, no duplicates.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import time
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from ..envelope import Envelope, decode_envelope
from ..errors import ChainplugError, ConfigError, MalformedEnvelope, Reason
from ..registry.events import EventRegistry, RegistryLogs
from ..rpc import RpcClient
from ..verify import Registry
from ._procs import die_with_parent
from .admission import AdmissionHook, NodeVersion
from .attestations import Attestation, AttestationLog, TxCheck
from .blockfeed import BlockFeed


@dataclass(frozen=True, slots=True)
class ValidatorConfig:
    """Everything a validator process needs; all endpoints come from configuration (multi-host ready)."""

    name: str
    version: NodeVersion
    rpc_url: str
    sidecar_urls: tuple[str, ...] = ()
    """JSON-RPC endpoints answering chainplug_getSidecar (gateways, or the embedded chain)."""
    registry_address: str | None = None
    activation_block: int = 0
    state_dir: Path = Path(".")
    workers: int = 0
    """Verification processes; 0 = one per core."""
    start_height: int = 1


# --- worker side (runs in pool processes) -------------------------------------------------------

_HOOK: AdmissionHook | None = None
Item = tuple[str, bytes, bytes | None, int]
"""(tx hash, raw tx, sidecar envelope or None, the block it is in)."""


def make_hook(version: str, registry_logs: RegistryLogs | None, activation_block: int, chain_id: int) -> AdmissionHook:
    """A validator's own admission hook; an upgraded one with its own registry view over ``registry_logs``
    (which validators of one process may share: it holds fetched bytes, not verdicts)."""
    registry: Registry | None = None
    if version == NodeVersion.UPGRADED:
        if registry_logs is None:
            raise ConfigError("an upgraded validator needs the registry address")
        registry = EventRegistry(registry_logs)
    return AdmissionHook(version, registry, activation_block=activation_block, chain_id=chain_id)


def registry_logs(rpc_url: str, registry_address: str | None) -> RegistryLogs | None:
    """The KeyRegistry's events read from ``rpc_url`` (None without a registry address)."""
    if registry_address is None:
        return None
    return RegistryLogs.over_rpc(RpcClient(rpc_url, timeout=30), registry_address)


def init_worker(version: str, rpc_url: str, registry_address: str | None, activation_block: int, chain_id: int) -> None:
    """Pool initializer: each worker builds its own verifier and registry view (own cache)."""
    global _HOOK
    die_with_parent()
    _HOOK = make_hook(version, registry_logs(rpc_url, registry_address), activation_block, chain_id)


def init_worker_with_registry(version: str, registry: Registry | None, activation_block: int, chain_id: int) -> None:
    """Pool initializer like :func:`init_worker`, for a registry object given directly (an
    in-memory registry: benchmarks, tests, offline replays) instead of one read from the chain."""
    global _HOOK
    die_with_parent()
    _HOOK = AdmissionHook(version, registry, activation_block=activation_block, chain_id=chain_id)


def check_transaction(item: Item) -> TxCheck:
    """Verdict on one transaction: (tx hash, raw tx, sidecar envelope or None, the block it is in)."""
    assert _HOOK is not None, "worker not initialised"
    return check_with(_HOOK, item)


def check_with(hook: AdmissionHook, item: Item) -> TxCheck:
    """:func:`check_transaction` with a given hook (a validator that verifies inline)."""
    tx_hash, raw, sidecar, height = item
    envelope = sidecar_envelope(sidecar, raw) if sidecar is not None and hook.version == NodeVersion.UPGRADED else None
    if envelope is not None:
        # The hot path: the verifier's result straight into the record (no Verdict, and the tx hash
        # the block already gave is not computed again).
        try:
            result = hook.verify(envelope, inclusion_block=height)
        except ChainplugError:
            # NOTE: sidecars come from third parties; a bad one must not make a transaction that is
            # valid on its own invalid, so the bare transaction gets its own verdict.
            pass
        else:
            return TxCheck(tx_hash, True, None, result.pqc, True, "0x" + result.sender.hex())
    verdict = hook.check(raw, inclusion_block=height)
    return TxCheck(tx_hash, verdict.accepted, verdict.reason, verdict.pqc, False, verdict.sender)


def sidecar_envelope(sidecar: bytes, raw: bytes) -> Envelope | None:
    """``sidecar`` decoded, if it is an envelope whose classical part is exactly ``raw``; None for
    anything else (undecodable, or another transaction's)."""
    try:
        envelope = decode_envelope(sidecar)
    except MalformedEnvelope:
        return None
    return envelope if envelope.raw_transaction == raw else None


# --- coordinator side --------------------------------------------------------------------------


def verification_pool(workers: int, init_args: tuple[str, str, str | None, int, int]) -> ProcessPoolExecutor:
    """The verification pool, every worker forked now, from the calling (main) thread.

    # NOTE: a pool forks its workers lazily, at the first submit — which used to come from the
    # follower's worker thread while the event loop ran in the main thread; a first-time import in the
    # main thread at that moment left the module lock held in the child, and the worker deadlocked.
    # Forking every worker here, before the validator serves or starts any thread, leaves nothing
    # held to inherit. (A fork server would avoid the question too, but its workers hold the fork
    # server alive and outlive a SIGKILLed validator.)
    """
    pool = ProcessPoolExecutor(
        workers, mp_context=multiprocessing.get_context("fork"), initializer=init_worker, initargs=init_args
    )
    pool.submit(os.getpid).result()  # with "fork" the first submit forks all the workers at once
    return pool


class Validator:
    """Checks blocks and keeps the attestation log. Drive it with :meth:`catch_up`.

    ``inline=True`` verifies in the calling thread with this validator's own hook (the validators of a
    :mod:`~.validator_host` process); else in a process pool (``executor``, or one started here).
    ``feed`` and ``logs`` may be shared by the validators of one process: they hold fetched bytes only."""

    def __init__(
        self,
        config: ValidatorConfig,
        *,
        executor: Executor | None = None,
        feed: BlockFeed | None = None,
        logs: RegistryLogs | None = None,
        inline: bool = False,
    ) -> None:
        self.config = config
        upgraded = config.version == NodeVersion.UPGRADED
        self.feed = feed or BlockFeed(config.rpc_url, config.sidecar_urls, sidecars=upgraded)
        chain_id = self.feed.chain.call("eth_chainId")
        self.chain_id = int(chain_id, 16) if isinstance(chain_id, str) else int(chain_id)
        self.log = AttestationLog(config.state_dir)
        self.hook: AdmissionHook | None = None
        self._executor: Executor | None = None
        if inline:
            if logs is None and upgraded:
                logs = registry_logs(config.rpc_url, config.registry_address)
            self.hook = make_hook(config.version.value, logs, config.activation_block, self.chain_id)
            self.workers = 0
        else:
            workers = config.workers or os.cpu_count() or 1
            init_args = (config.version.value, config.rpc_url, config.registry_address, config.activation_block,
                         self.chain_id)  # fmt: skip
            self._executor = executor or verification_pool(workers, init_args)
            self.workers = workers

    @property
    def next_height(self) -> int:
        return self.log.next_height if self.log.next_height is not None else self.config.start_height

    def _verify(self, items: Sequence[Item]) -> Iterable[TxCheck]:
        if self.hook is not None:
            hook = self.hook
            return (check_with(hook, item) for item in items)
        assert self._executor is not None
        # Chunks amortise the pool's per-item transfer cost (~130 us per transaction unchunked).
        chunk = max(1, math.ceil(len(items) / (4 * self.workers)))
        return self._executor.map(check_transaction, items, chunksize=chunk) if items else ()

    def check_block(self, height: int) -> Attestation:
        block = self.feed.block(height)
        if block is None:
            raise ConfigError(f"block {height} is not on the chain at {self.config.rpc_url}")
        items = [(tx.tx_hash, tx.raw, tx.sidecar, height) for tx in block.txs if tx.raw is not None]
        verified: Iterator[TxCheck] = iter(self._verify(items))
        checks = [
            next(verified) if tx.raw is not None else TxCheck(tx.tx_hash, False, Reason.UNSUPPORTED_TX_TYPE)
            for tx in block.txs
        ]
        return Attestation(
            validator=self.config.name,
            version=self.config.version.value,
            height=height,
            block_hash=block.block_hash,
            parent_hash=block.parent_hash,
            accepted=all(check.accepted for check in checks),
            txs=checks,
            checked_at=time.time(),
        )

    def catch_up(self, head: int | None = None) -> list[Attestation]:
        """Attest every block from the next unattested one up to ``head`` (default: the chain's head);
        returns the new ones."""
        head = self.feed.head() if head is None else head
        made = []
        while self.next_height <= head:
            attestation = self.check_block(self.next_height)
            self.log.append(attestation)
            made.append(attestation)
        return made

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(cancel_futures=True)
        self.log.close()
