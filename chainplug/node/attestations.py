"""Per-block attestations and the validator's durable attestation log (JSON lines, fsync per block)."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .._fs import append_durable, ensure_dir, truncate_durable


@dataclass(frozen=True, slots=True)
class TxCheck:
    """One transaction's verdict inside a block."""

    tx_hash: str
    accepted: bool
    reason: str
    """"ok" or a chainplug.errors.Reason value."""
    pqc: str | None = None
    """PqcStatus value when accepted."""
    sidecar: bool = False
    """Whether a PQC sidecar (envelope) was found for it."""
    sender: str | None = None


@dataclass(frozen=True, slots=True)
class Attestation:
    """A validator's verdict on one block: accepted iff every transaction in it is accepted."""

    validator: str
    version: str
    height: int
    block_hash: str
    parent_hash: str
    accepted: bool
    txs: list[TxCheck] = field(default_factory=list)
    checked_at: float = 0.0
    """Unix time the verdict was reached."""

    @property
    def reasons(self) -> list[str]:
        """Distinct rejection reasons, sorted."""
        return sorted({tx.reason for tx in self.txs if not tx.accepted})

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["reasons"] = self.reasons
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Attestation:
        txs = [TxCheck(**tx) for tx in data.get("txs", [])]
        fields = {k: data[k] for k in ("validator", "version", "height", "block_hash", "parent_hash", "accepted")}
        return cls(**fields, txs=txs, checked_at=float(data.get("checked_at", 0.0)))


class AttestationLog:
    """Append-only JSONL of attestations, one fsync per block. On open, a torn last line (a crash
    mid-append) is cut off; anything else unparsable is an error, never silently dropped."""

    def __init__(self, directory: Path) -> None:
        ensure_dir(directory, label="validator.dir")
        self.path = directory / "attestations.jsonl"
        self.attestations: list[Attestation] = []
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
        self._fd = fd
        self._load()

    def _load(self) -> None:
        data = self.path.read_bytes()
        good = 0
        for line in data.splitlines(keepends=True):
            if not line.endswith(b"\n"):
                break  # torn tail
            try:
                self.attestations.append(Attestation.from_json(json.loads(line)))
            except (ValueError, KeyError, TypeError) as exc:
                raise ValueError(f"{self.path}: corrupt attestation at byte {good}") from exc
            good += len(line)
        if good != len(data):
            truncate_durable(self._fd, good, label="validator.log.truncate")
        heights = [a.height for a in self.attestations]
        if heights != list(range(heights[0], heights[0] + len(heights))) if heights else False:
            raise ValueError(f"{self.path}: attestation heights are not consecutive")

    @property
    def next_height(self) -> int | None:
        """The height after the last attested one (None if nothing attested yet)."""
        return self.attestations[-1].height + 1 if self.attestations else None

    def append(self, attestation: Attestation) -> None:
        expected = self.next_height
        if expected is not None and attestation.height != expected:
            raise ValueError(f"attestation for height {attestation.height}, expected {expected}")
        line = json.dumps(attestation.to_json(), sort_keys=True, separators=(",", ":")) + "\n"
        append_durable(self._fd, line.encode(), label="validator.log.append")
        self.attestations.append(attestation)

    def close(self) -> None:
        os.close(self._fd)
