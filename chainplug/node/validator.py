"""The validator: follows a chain, checks every transaction of every block (with its sidecar) under
its own version, and attests per block (docs/design.md §validators).

Legacy validators check the classical signature only and cannot read a PQC-only transaction (they
reject its block). Upgraded validators apply the registry policy at the parent block. Verification
runs in a process pool; attestations are appended durably, so a restarted validator continues at
the block after its last attestation: no gaps, no duplicates.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
from web3 import Web3

from ..envelope import Envelope, decode_envelope
from ..errors import ChainplugError, ConfigError, MalformedEnvelope, Reason
from ..verify import Registry
from ._procs import die_with_parent
from .admission import AdmissionHook, NodeVersion
from .attestations import Attestation, AttestationLog, TxCheck
from .rawtx import raw_transaction


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


def init_worker(version: str, rpc_url: str, registry_address: str | None, activation_block: int, chain_id: int) -> None:
    """Pool initializer: each worker builds its own verifier and registry reader (own cache)."""
    global _HOOK
    die_with_parent()
    registry = None
    if version == NodeVersion.UPGRADED:
        from ..registry import ChainRegistry, KeyRegistryContract

        w3 = Web3(Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": 30}))
        if registry_address is None:
            raise ConfigError("an upgraded validator needs the registry address")
        registry = ChainRegistry(KeyRegistryContract(w3, registry_address))
    _HOOK = AdmissionHook(version, registry, activation_block=activation_block, chain_id=chain_id)


def init_worker_with_registry(version: str, registry: Registry | None, activation_block: int, chain_id: int) -> None:
    """Pool initializer like :func:`init_worker`, for a registry object given directly (an
    in-memory registry: benchmarks, tests, offline replays) instead of one read from the chain."""
    global _HOOK
    die_with_parent()
    _HOOK = AdmissionHook(version, registry, activation_block=activation_block, chain_id=chain_id)


def check_transaction(item: tuple[str, bytes, bytes | None, int]) -> TxCheck:
    """Verdict on one transaction: (tx hash, raw tx, sidecar envelope or None, the block it is in)."""
    tx_hash, raw, sidecar, height = item
    hook = _HOOK
    assert hook is not None, "worker not initialised"
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


def fetch_sidecars(urls: Sequence[str], tx_hashes: Sequence[str]) -> dict[str, bytes]:
    """Sidecars for the given hashes from the first endpoint that has each (one batch call per URL)."""
    found: dict[str, bytes] = {}
    for url in urls:
        missing = [h for h in tx_hashes if h not in found]
        if not missing:
            break
        batch: Any = [
            {"jsonrpc": "2.0", "id": i, "method": "chainplug_getSidecar", "params": [h]} for i, h in enumerate(missing)
        ]
        try:
            answers = requests.post(url, json=batch, timeout=30).json()
        except (requests.RequestException, ValueError):
            continue  # an unreachable sidecar source is like one that has nothing
        for answer in answers if isinstance(answers, list) else []:
            result = answer.get("result") if isinstance(answer, dict) else None
            if isinstance(result, str) and result.startswith("0x"):
                found[missing[answer["id"]]] = bytes.fromhex(result[2:])
    return found


class Validator:
    """Checks blocks and keeps the attestation log. Drive it with :meth:`catch_up`."""

    def __init__(self, config: ValidatorConfig, *, executor: Executor | None = None) -> None:
        self.config = config
        self.w3 = Web3(Web3.HTTPProvider(config.rpc_url, request_kwargs={"timeout": 30}))
        self.chain_id = self.w3.eth.chain_id
        self.log = AttestationLog(config.state_dir)
        workers = config.workers or os.cpu_count() or 1
        init_args = (config.version.value, config.rpc_url, config.registry_address, config.activation_block,
                     self.chain_id)  # fmt: skip
        self._executor = executor or ProcessPoolExecutor(workers, initializer=init_worker, initargs=init_args)
        self.workers = workers

    @property
    def next_height(self) -> int:
        return self.log.next_height if self.log.next_height is not None else self.config.start_height

    def check_block(self, height: int) -> Attestation:
        block: Any = self.w3.eth.get_block(height, full_transactions=True)
        transactions = list(block["transactions"])
        hashes = ["0x" + bytes(tx["hash"]).hex() for tx in transactions]
        raws: list[bytes | None] = []
        for tx in transactions:
            try:
                raws.append(raw_transaction(self.w3, tx))
            except ChainplugError:
                raws.append(None)  # a type this node cannot even fetch as bytes
        sidecars = fetch_sidecars(self.config.sidecar_urls, hashes) if hashes else {}
        items = [(h, raw, sidecars.get(h), height) for h, raw in zip(hashes, raws, strict=True) if raw is not None]
        # Chunks amortise the pool's per-item transfer cost (~130 us per transaction unchunked).
        chunk = max(1, math.ceil(len(items) / (4 * self.workers)))
        verified = iter(self._executor.map(check_transaction, items, chunksize=chunk)) if items else iter(())
        checks = [
            next(verified) if raw is not None else TxCheck(h, False, Reason.UNSUPPORTED_TX_TYPE)
            for h, raw in zip(hashes, raws, strict=True)
        ]
        return Attestation(
            validator=self.config.name,
            version=self.config.version.value,
            height=height,
            block_hash="0x" + bytes(block["hash"]).hex(),
            parent_hash="0x" + bytes(block["parentHash"]).hex(),
            accepted=all(check.accepted for check in checks),
            txs=checks,
            checked_at=time.time(),
        )

    def catch_up(self) -> list[Attestation]:
        """Attest every block from the next unattested one up to the head; returns the new ones."""
        head = self.w3.eth.block_number
        made = []
        while self.next_height <= head:
            attestation = self.check_block(self.next_height)
            self.log.append(attestation)
            made.append(attestation)
        return made

    def close(self) -> None:
        self._executor.shutdown(cancel_futures=True)
        self.log.close()
