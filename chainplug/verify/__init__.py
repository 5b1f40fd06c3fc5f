"""chainplug.verify — verifiers and policies (imports chainplug.envelope, chainplug.crypto and the
root modules only).

Entry points: :class:`LegacyVerifier` (classical part only, what stock nodes check),
:class:`UpgradedVerifier` (requirements from the registry and the activation block),
:class:`StrictVerifier` (both components, always); the :class:`Registry` interface and
:class:`InMemoryRegistry`. Verification returns a :class:`VerifiedTransaction` or raises.
"""

from .registry import UNREGISTERED, InMemoryRegistry, Registry, RegistryEntry
from .verifiers import (
    LegacyVerifier,
    PqcStatus,
    StrictVerifier,
    UpgradedVerifier,
    VerifiedTransaction,
    artifact_key_ids,
    parse,
)

__all__ = [
    "UNREGISTERED",
    "InMemoryRegistry",
    "LegacyVerifier",
    "PqcStatus",
    "Registry",
    "RegistryEntry",
    "StrictVerifier",
    "UpgradedVerifier",
    "VerifiedTransaction",
    "artifact_key_ids",
    "parse",
]
