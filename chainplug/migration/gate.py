"""The fleet gate: HYBRID → FINALIZING only when enough of the verifying fleet is upgraded.

A PQC_ONLY signature cannot be checked by a legacy verifier, so an account must not finalize while
legacy validators still matter (docs/design.md, "The life of one key"). A :class:`ReadinessSource`
reports which validators are upgraded — :class:`StaticReadiness` from a config file here; a devnet or validator status
endpoint later — and :class:`FleetGate` compares the upgraded fraction with a threshold: every
validator by default, configurable, never below a 2/3 quorum unless forced. Forcing is logged at
WARNING and recorded in the FINALIZING record.
"""

from __future__ import annotations

import json
import logging
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Final

from ..errors import ConfigError, GateRejected
from .records import GateEvidence

QUORUM: Final = Fraction(2, 3)
"""Lowest threshold accepted without --force: a block is final when 2/3 of validators accept it."""
ALL: Final = Fraction(1)
"""Default threshold: every validator upgraded."""

logger = logging.getLogger("chainplug.migration")


@dataclass(frozen=True, slots=True)
class ValidatorReadiness:
    """One validator's reported version."""

    name: str
    """Validator name or id, as the source reports it."""
    upgraded: bool
    """True if it runs an upgraded (PQC-verifying) version."""


class ReadinessSource(ABC):
    """Reports the verifying fleet's readiness."""

    @abstractmethod
    def validators(self) -> Sequence[ValidatorReadiness]:
        """Every validator the source knows about."""

    @abstractmethod
    def describe(self) -> str:
        """Where the report comes from (for messages and logs)."""


class StaticReadiness(ReadinessSource):
    """A fixed list, e.g. from ``{"validators": {"val-1": true, "val-2": false}}``."""

    def __init__(self, validators: Mapping[str, bool], origin: str = "static configuration") -> None:
        self._validators = tuple(ValidatorReadiness(name, upgraded) for name, upgraded in sorted(validators.items()))
        self._origin = origin

    @classmethod
    def from_file(cls, path: Path) -> StaticReadiness:
        """Load ``{"validators": {name: upgraded, ...}}`` from a JSON file."""
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ConfigError(f"{path}: cannot read readiness file") from exc
        validators = document.get("validators") if isinstance(document, dict) else None
        if not isinstance(validators, dict) or not all(
            isinstance(name, str) and isinstance(flag, bool) for name, flag in validators.items()
        ):
            raise ConfigError(f'{path}: expected {{"validators": {{"<name>": true|false, ...}}}}')
        return cls(validators, origin=str(path))

    def validators(self) -> Sequence[ValidatorReadiness]:
        return self._validators

    def describe(self) -> str:
        return self._origin


def parse_threshold(text: str) -> Fraction:
    """``"all"``, ``"2/3"`` or ``"0.9"`` → a fraction in (0, 1]."""
    try:
        value = ALL if text.strip().lower() == "all" else Fraction(text.strip())
    except (ValueError, ZeroDivisionError):
        raise ConfigError(f"threshold {text!r} is not 'all', a fraction like 2/3, or a decimal") from None
    if not 0 < value <= 1:
        raise ConfigError(f"threshold {text!r} must be in (0, 1]")
    return value


@dataclass(frozen=True, slots=True)
class FleetGate:
    """The HYBRID → FINALIZING check."""

    threshold: Fraction = ALL
    """Required upgraded fraction of the fleet."""
    force: bool = False
    """Let accounts through whatever the fleet says (logged loudly, recorded in the log)."""

    def __post_init__(self) -> None:
        if not 0 < self.threshold <= 1:
            raise ConfigError("fleet gate threshold must be in (0, 1]")
        if self.threshold < QUORUM and not self.force:
            raise ConfigError(f"fleet gate threshold {self.threshold} is below the 2/3 quorum; needs --force")

    def evaluate(self, source: ReadinessSource | None) -> GateEvidence:
        """Evidence that the gate passes, or :class:`GateRejected` naming the validators not ready."""
        validators = source.validators() if source is not None else ()
        not_ready = tuple(v.name for v in validators if not v.upgraded)
        total = len(validators)
        ready = total - len(not_ready)
        evidence = GateEvidence(ready, total, self.threshold, self.force)
        if total and Fraction(ready, total) >= self.threshold:
            return GateEvidence(ready, total, self.threshold, False)
        if source is None:
            problem = "no readiness source is configured"
        elif not total:
            problem = f"{source.describe()} reports no validators"
        else:
            problem = (
                f"{source.describe()}: {ready}/{total} validators upgraded, below the threshold "
                f"{self.threshold}; not ready: {', '.join(not_ready)}"
            )
        if self.force:
            logger.warning(
                "FLEET GATE FORCED: finalizing although %s. Legacy validators will not be "
                "able to verify PQC_ONLY signatures.",
                problem,
            )
            return evidence
        raise GateRejected(f"fleet gate refuses FINALIZING: {problem}", not_ready=not_ready)
