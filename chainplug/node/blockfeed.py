"""Where validators read blocks: a block's transactions and sidecars in a constant number of calls.

On the embedded chain one ``chainplug_getBlockBundle`` call answers everything: the block's hash and
parent, and per transaction its hash, exact signed bytes and the sidecar the chain holds. On any other
node (anvil, geth) the fallback is ``eth_getBlockByNumber`` plus one batched
``eth_getRawTransactionByHash`` call (at most :data:`BATCH` per HTTP request). Sidecars the chain does
not hold are asked of the other sidecar sources (gateways), one batch per source.

A :class:`BlockFeed` keeps the last blocks it fetched, so the validators of one process fetch each block
once and share its bytes; every validator still decodes and verifies those bytes itself.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..constants import TX_TYPE_PQC_ONLY
from ..errors import ChainplugError
from ..rpc import RpcCallError, RpcClient
from .rawtx import _rebuild

BATCH = 100
"""Calls per JSON-RPC batch request (the chain's and gateway's batch limit)."""
KEEP = 64
"""Blocks a feed keeps (validators of one process that lag each other by fewer blocks share fetches)."""


@dataclass(frozen=True, slots=True)
class BlockTx:
    """One transaction of a block, as fetched: bytes only, nothing decoded."""

    tx_hash: str
    """0x-hex, lower case."""
    raw: bytes | None
    """The exact signed bytes; None when the node gave none and they could not be rebuilt."""
    sidecar: bytes | None
    """The PQC sidecar (an envelope, undecoded) found for it, if any."""


@dataclass(frozen=True, slots=True)
class BlockData:
    height: int
    block_hash: str
    parent_hash: str
    txs: tuple[BlockTx, ...]


def _hex(value: Any) -> bytes | None:
    if isinstance(value, str) and value.startswith("0x") and len(value) > 2:
        try:
            return bytes.fromhex(value[2:])
        except ValueError:
            return None
    return None


class BlockFeed:
    """Blocks from ``rpc_url``, with sidecars from the chain and from ``sidecar_urls``.

    ``sidecars=False`` (a feed serving only legacy validators) asks no sidecar source: legacy rules
    never read a PQC part."""

    def __init__(self, rpc_url: str, sidecar_urls: Sequence[str] = (), *, sidecars: bool = True,
                 timeout: float = 30.0) -> None:  # fmt: skip
        self.chain = RpcClient(rpc_url, timeout=timeout)
        self.sidecars = sidecars
        self._sources = [
            RpcClient(url, timeout=timeout) for url in sidecar_urls if url.rstrip("/") != rpc_url.rstrip("/")
        ]
        self._chain_is_source = len(self._sources) < len(sidecar_urls)
        self._bundles: bool | None = None
        """Whether the chain answers chainplug_getBlockBundle (None: not asked yet)."""
        self._kept: OrderedDict[int, BlockData] = OrderedDict()
        self._lock = threading.Lock()
        self.calls = 0
        """HTTP requests made (for tests and metrics)."""

    @property
    def uses_bundles(self) -> bool | None:
        return self._bundles

    def head(self) -> int:
        self.calls += 1
        value = self.chain.call("eth_blockNumber")
        return int(value, 16) if isinstance(value, str) else int(value)

    def block(self, height: int) -> BlockData | None:
        """The block at ``height`` (None if not mined yet). Raises RpcCallError if the chain fails."""
        with self._lock:
            kept = self._kept.get(height)
            if kept is not None:
                return kept
            found = self._fetch(height)
            if found is not None:
                self._kept[height] = found
                while len(self._kept) > KEEP:
                    self._kept.popitem(last=False)
            return found

    def _fetch(self, height: int) -> BlockData | None:
        if self._bundles is not False:
            try:
                self.calls += 1
                bundle = self.chain.call("chainplug_getBlockBundle", hex(height))
                self._bundles = True
            except RpcCallError as exc:
                if not exc.method_not_found:
                    raise
                self._bundles = False  # a stock node: the standard methods from now on
            else:
                return self._from_bundle(height, bundle) if bundle is not None else None
        return self._standard(height)

    def _from_bundle(self, height: int, bundle: Any) -> BlockData:
        txs = []
        for item in bundle["transactions"]:
            sidecar = _hex(item.get("sidecar")) if self.sidecars and self._chain_is_source else None
            txs.append(BlockTx(str(item["hash"]).lower(), _hex(item["raw"]), sidecar))
        return BlockData(height, str(bundle["hash"]), str(bundle["parentHash"]), self._add_sidecars(txs, self._sources))

    def _standard(self, height: int) -> BlockData | None:
        self.calls += 1
        block = self.chain.call("eth_getBlockByNumber", hex(height), True)
        if block is None:
            return None
        objects = list(block["transactions"])
        hashes = [str(tx["hash"]).lower() for tx in objects]
        raws: list[bytes | None] = []
        for start in range(0, len(hashes), BATCH):
            self.calls += 1
            answers = self.chain.batch([("eth_getRawTransactionByHash", [h]) for h in hashes[start : start + BATCH]])
            raws += [_hex(a) if not isinstance(a, RpcCallError) else None for a in answers]
        txs = [BlockTx(h, raw if raw is not None else _rebuilt(tx), None)
               for h, raw, tx in zip(hashes, raws, objects, strict=True)]  # fmt: skip
        sources = [self.chain, *self._sources] if self._chain_is_source else self._sources
        return BlockData(height, str(block["hash"]), str(block["parentHash"]), self._add_sidecars(txs, sources))

    def _add_sidecars(self, txs: Sequence[BlockTx], sources: Sequence[RpcClient]) -> tuple[BlockTx, ...]:
        """Sidecars for the transactions that have none yet, from the first source that has each: one
        batch per source (PQC-only transactions never have one)."""
        if not self.sidecars:
            return tuple(txs)
        by_hash = {tx.tx_hash: tx for tx in txs}
        for source in sources:
            missing = [
                h for h, tx in by_hash.items() if tx.sidecar is None and tx.raw and tx.raw[0] != TX_TYPE_PQC_ONLY
            ]
            for start in range(0, len(missing), BATCH):
                chunk = missing[start : start + BATCH]
                try:
                    self.calls += 1
                    answers = source.batch([("chainplug_getSidecar", [h]) for h in chunk])
                except RpcCallError:
                    break  # an unreachable sidecar source is like one that has nothing
                for tx_hash, answer in zip(chunk, answers, strict=True):
                    sidecar = _hex(answer) if not isinstance(answer, RpcCallError) else None
                    if sidecar is not None:  # sidecars come from third parties: a broken one is like none
                        tx = by_hash[tx_hash]
                        by_hash[tx_hash] = BlockTx(tx.tx_hash, tx.raw, sidecar)
        return tuple(by_hash[tx.tx_hash] for tx in txs)


def _may_have_sidecar(raw: bytes | None) -> bool:
    return bool(raw) and raw is not None and raw[0] != TX_TYPE_PQC_ONLY


def _rebuilt(tx: dict[str, Any]) -> bytes | None:
    """The raw bytes of a standard transaction from its JSON object, for a node without
    eth_getRawTransactionByHash; None for a type that cannot be rebuilt (the validator rejects it)."""
    fields = {k: (int(v, 16) if isinstance(v, str) and k in _QUANTITIES else v) for k, v in tx.items()}
    for key in ("r", "s"):
        if isinstance(fields.get(key), int):
            fields[key] = fields[key].to_bytes(32, "big")
    try:
        return _rebuild(fields)
    except (ChainplugError, KeyError, TypeError, ValueError):
        return None


_QUANTITIES = frozenset({"type", "chainId", "nonce", "gas", "gasPrice", "maxFeePerGas", "maxPriorityFeePerGas",
                         "value", "v", "yParity", "r", "s"})  # fmt: skip
