"""Per-block attestations and the validator's durable attestation log (JSON lines, fsync per block)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._fs import append_durable, ensure_dir, truncate_durable
from ..errors import ChainplugError, Reason
from ..verify import PqcStatus


class AttestationLogError(ChainplugError, ValueError):
    """The attestation log cannot be trusted (an unparsable line that is not a torn tail, heights that
    are not consecutive), or an append would break its order. Nothing is rewritten when raised."""

    default_reason = Reason.LOG_CORRUPT


@dataclass(frozen=True, slots=True)
class TxCheck:
    """One transaction's verdict inside a block."""

    tx_hash: str
    accepted: bool
    reason: Reason | None
    """Why it was rejected; None when accepted ("ok" in JSON)."""
    pqc: PqcStatus | None = None
    """What the verifier found about the PQC part, when accepted."""
    sidecar: bool = False
    """Whether a PQC sidecar (envelope) was found for it."""
    sender: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "tx_hash": self.tx_hash,
            "accepted": self.accepted,
            "reason": "ok" if self.reason is None else self.reason.value,
            "pqc": None if self.pqc is None else self.pqc.value,
            "sidecar": self.sidecar,
            "sender": self.sender,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TxCheck:
        reason, pqc = data["reason"], data.get("pqc")
        return cls(
            str(data["tx_hash"]),
            bool(data["accepted"]),
            None if reason == "ok" else Reason(reason),
            None if pqc is None else PqcStatus(pqc),
            bool(data.get("sidecar", False)),
            data.get("sender"),
        )


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
    def reasons(self) -> list[Reason]:
        """Distinct rejection reasons, sorted."""
        return sorted({tx.reason for tx in self.txs if not tx.accepted and tx.reason is not None})

    def to_json(self) -> dict[str, Any]:
        return {
            "validator": self.validator,
            "version": self.version,
            "height": self.height,
            "block_hash": self.block_hash,
            "parent_hash": self.parent_hash,
            "accepted": self.accepted,
            "txs": [tx.to_json() for tx in self.txs],
            "checked_at": self.checked_at,
            "reasons": [reason.value for reason in self.reasons],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Attestation:
        txs = [TxCheck.from_json(tx) for tx in data.get("txs", [])]
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
                raise AttestationLogError(f"{self.path}: corrupt attestation at byte {good}") from exc
            good += len(line)
        if good != len(data):
            truncate_durable(self._fd, good, label="validator.log.truncate")
        heights = [a.height for a in self.attestations]
        if heights != list(range(heights[0], heights[0] + len(heights))) if heights else False:
            raise AttestationLogError(f"{self.path}: attestation heights are not consecutive")

    @property
    def next_height(self) -> int | None:
        """The height after the last attested one (None if nothing attested yet)."""
        return self.attestations[-1].height + 1 if self.attestations else None

    def append(self, attestation: Attestation) -> None:
        expected = self.next_height
        if expected is not None and attestation.height != expected:
            raise AttestationLogError(f"attestation for height {attestation.height}, expected {expected}")
        line = json.dumps(attestation.to_json(), sort_keys=True, separators=(",", ":")) + "\n"
        append_durable(self._fd, line.encode(), label="validator.log.append")
        self.attestations.append(attestation)

    def close(self) -> None:
        os.close(self._fd)
