"""PQC sidecars: the composite envelope of a transaction, kept beside it by transaction hash.

A stock node carries only the classical transaction; its PQC part travels as a sidecar that gateways
and the embedded chain keep and serve (``chainplug_getSidecar``), and that upgraded validators fetch
to check a block. One store for both: it holds the envelopes decoded (the chain rules verify them as
they are, without decoding them again) and gives back their canonical bytes on request.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Protocol

from ..envelope import Envelope

SIDECAR_CAPACITY = 100_000
"""Sidecars kept by a :class:`SidecarStore` before the oldest is evicted."""


class SidecarSource(Protocol):
    """Where a transaction's PQC sidecar is found, by transaction hash."""

    def get(self, tx_hash: bytes) -> Envelope | None: ...


class NoSidecars:
    """A source that has none (a chain that learns no sidecars)."""

    def get(self, tx_hash: bytes) -> Envelope | None:
        return None


class SidecarStore:
    """Decoded envelopes by the hash of the transaction they carry; bounded in count, oldest evicted
    (a mined block was judged when it was built, so the chain never needs an evicted one again)."""

    def __init__(self, capacity: int = SIDECAR_CAPACITY) -> None:
        self._items: OrderedDict[bytes, Envelope] = OrderedDict()
        self._capacity = capacity

    def get(self, tx_hash: bytes) -> Envelope | None:
        return self._items.get(bytes(tx_hash))

    def put(self, envelope: Envelope) -> bytes:
        """Keep ``envelope`` under its transaction's hash; returns that hash."""
        tx_hash = bytes(envelope.transaction.tx_hash)
        self._items[tx_hash] = envelope
        if len(self._items) > self._capacity:
            self._items.popitem(last=False)
        return tx_hash

    def discard(self, tx_hash: bytes) -> None:
        self._items.pop(bytes(tx_hash), None)

    def __len__(self) -> int:
        return len(self._items)
