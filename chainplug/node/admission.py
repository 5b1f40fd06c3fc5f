"""The transaction admission hook: ``check(tx_or_envelope) -> Verdict`` for a node of a given version.

Pure (no I/O beyond the registry it is given) and cheap; usable inside any Python node, sidecar or
gateway. A :class:`Verdict` is data for logs, RPC answers and metrics; the decision itself comes
from the verifiers in chainplug.verify, so there is one policy implementation.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from ..errors import ChainplugError, MalformedEnvelope, UnsupportedEnvelope
from ..verify import LegacyVerifier, Registry, UpgradedVerifier, VerifiedTransaction


class NodeVersion(StrEnum):
    """Which rules a node runs."""

    LEGACY = "legacy"
    """Stock rules: the classical signature only."""
    UPGRADED = "upgraded"
    """chainplug rules: registry-driven PQC requirements (DESIGN.md §2-3)."""


@dataclass(frozen=True, slots=True)
class Verdict:
    """An admission decision."""

    accepted: bool
    reason: str
    """"ok", or a chainplug.errors.Reason value."""
    message: str
    """Human-readable detail (never contains key material)."""
    sender: str | None = None
    """0x-address recovered from the classical signature, when the input decoded that far."""
    tx_hash: str | None = None
    pqc: str | None = None
    """PqcStatus value for accepted transactions."""
    unsupported: bool = False
    """True when the node cannot read this kind of input at all (e.g. a PQC-only tx on a legacy node)."""

    def to_json(self) -> dict[str, Any]:
        return {
            "accepted": self.accepted,
            "reason": self.reason,
            "message": self.message,
            "sender": self.sender,
            "tx_hash": self.tx_hash,
            "pqc": self.pqc,
            "unsupported": self.unsupported,
        }


def _accepted(result: VerifiedTransaction) -> Verdict:
    return Verdict(
        True,
        "ok",
        "accepted",
        "0x" + result.sender.hex(),
        "0x" + result.tx_hash.hex(),
        result.pqc.value,
    )


class AdmissionHook:
    """A reusable admission check (keeps the verifier's parsed-key cache warm)."""

    def __init__(
        self,
        version: NodeVersion | str,
        registry: Registry | None = None,
        *,
        activation_block: int = 0,
        chain_id: int | None = None,
    ) -> None:
        self.version = NodeVersion(version)
        self._verifier: LegacyVerifier | UpgradedVerifier
        if self.version == NodeVersion.LEGACY:
            self._verifier = LegacyVerifier(chain_id=chain_id)
        else:
            if registry is None:
                raise ValueError("an upgraded node needs a registry")
            self._verifier = UpgradedVerifier(registry, activation_block=activation_block, chain_id=chain_id)

    def check(self, data: bytes, *, block: int | None = None) -> Verdict:
        """Decide on raw transaction or envelope bytes, as of ``block`` (None = now)."""
        try:
            if isinstance(self._verifier, LegacyVerifier):
                return _accepted(self._verifier.verify(data))
            return _accepted(self._verifier.verify(data, block=block))
        except UnsupportedEnvelope as exc:
            return Verdict(False, exc.reason.value, str(exc), unsupported=True)
        except MalformedEnvelope as exc:
            return Verdict(False, exc.reason.value, str(exc))
        except ChainplugError as exc:
            return Verdict(False, exc.reason.value, str(exc))


def check(
    data: bytes,
    *,
    version: NodeVersion | str,
    registry: Registry | None = None,
    block: int | None = None,
    activation_block: int = 0,
    chain_id: int | None = None,
) -> Verdict:
    """One-shot admission check. In a hot loop, keep an :class:`AdmissionHook` instead."""
    hook = AdmissionHook(version, registry, activation_block=activation_block, chain_id=chain_id)
    return hook.check(data, block=block)
