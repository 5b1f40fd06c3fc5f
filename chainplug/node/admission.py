"""The transaction admission hook: ``check(tx_or_envelope) -> Verdict`` for a node of a given version.

Pure (no I/O beyond the registry it is given) and cheap; usable inside any Python node, sidecar or
gateway. A :class:`Verdict` is data for logs, RPC answers and metrics; the decision itself comes
from the verifiers in chainplug.verify, so there is one policy implementation. ``check`` takes bytes
or what :func:`chainplug.verify.decode` made of them: a caller that decoded the input already
(to route it, to store it) passes the typed result, and nothing is decoded twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from ..errors import ChainplugError, ConfigError, Reason, UnsupportedEnvelope
from ..verify import Decoded, LegacyVerifier, PqcStatus, Registry, UpgradedVerifier, VerifiedTransaction


class NodeVersion(StrEnum):
    """Which rules a node runs."""

    LEGACY = "legacy"
    """Stock rules: the classical signature only."""
    UPGRADED = "upgraded"
    """chainplug rules: registry-driven PQC requirements (docs/envelope-v1.md §verifiers)."""


@dataclass(frozen=True, slots=True)
class Verdict:
    """An admission decision."""

    accepted: bool
    reason: Reason | None
    """Why it was rejected; None when accepted ("ok" in JSON)."""
    message: str
    """Human-readable detail (never contains key material)."""
    sender: str | None = None
    """0x-address recovered from the classical signature, when the input decoded that far."""
    tx_hash: str | None = None
    pqc: PqcStatus | None = None
    """What the verifier found about the PQC part, for accepted transactions."""
    unsupported: bool = False
    """True when the node cannot read this kind of input at all (e.g. a PQC-only tx on a legacy node)."""

    @property
    def reason_code(self) -> str:
        """``reason`` as it appears in JSON, logs and metrics: "ok" when accepted."""
        return "ok" if self.reason is None else self.reason.value

    def to_json(self) -> dict[str, Any]:
        return {
            "accepted": self.accepted,
            "reason": self.reason_code,
            "message": self.message,
            "sender": self.sender,
            "tx_hash": self.tx_hash,
            "pqc": None if self.pqc is None else self.pqc.value,
            "unsupported": self.unsupported,
        }


def _accepted(result: VerifiedTransaction) -> Verdict:
    return Verdict(True, None, "accepted", "0x" + result.sender.hex(), "0x" + result.tx_hash.hex(), result.pqc)


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
                raise ConfigError("an upgraded node needs a registry")
            self._verifier = UpgradedVerifier(registry, activation_block=activation_block, chain_id=chain_id)

    def verify(self, data: bytes | Decoded, *, inclusion_block: int | None = None) -> VerifiedTransaction:
        """The verifier's own answer (raises what it raises): for a caller that keeps its own record
        of an acceptance instead of a :class:`Verdict` (the validator's per-transaction check)."""
        if isinstance(self._verifier, LegacyVerifier):
            return self._verifier.verify(data)
        return self._verifier.verify(data, inclusion_block=inclusion_block)

    def check(self, data: bytes | Decoded, *, inclusion_block: int | None = None) -> Verdict:
        """Decide on a raw transaction or an envelope (bytes or decoded) for inclusion in block
        ``inclusion_block`` (None = now)."""
        try:
            if isinstance(self._verifier, LegacyVerifier):
                return _accepted(self._verifier.verify(data))
            return _accepted(self._verifier.verify(data, inclusion_block=inclusion_block))
        except UnsupportedEnvelope as exc:
            return rejected(exc, unsupported=True)
        except ChainplugError as exc:
            return rejected(exc)


def rejected(error: ChainplugError, *, unsupported: bool = False) -> Verdict:
    """The verdict for input refused with ``error`` (undecodable, or rejected by the policy)."""
    return Verdict(False, error.reason, str(error), unsupported=unsupported)


def check(
    data: bytes | Decoded,
    *,
    version: NodeVersion | str,
    registry: Registry | None = None,
    inclusion_block: int | None = None,
    activation_block: int = 0,
    chain_id: int | None = None,
) -> Verdict:
    """One-shot admission check. In a hot loop, keep an :class:`AdmissionHook` instead."""
    hook = AdmissionHook(version, registry, activation_block=activation_block, chain_id=chain_id)
    return hook.check(data, inclusion_block=inclusion_block)
