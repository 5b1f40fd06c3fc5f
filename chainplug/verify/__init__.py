"""chainplug.verify — verifiers and policies (imports chainplug.envelope, chainplug.crypto and the
root modules only).

Entry points: :class:`LegacyVerifier` (classical part only, what stock nodes check),
:class:`UpgradedVerifier` (requirements from the registry and the activation block),
:class:`StrictVerifier` (both components, always); :func:`pqc_enforced` (the activation rule);
:func:`decode` (strict decoding of whatever a node receives, so it is decoded once and the typed
result passed to ``verify``); the :class:`Registry` interface and :class:`InMemoryRegistry`.
Verification returns a :class:`VerifiedTransaction` or raises.
"""

from .activation import pqc_enforced
from .registry import UNREGISTERED, InMemoryRegistry, Registry, RegistryEntry
from .verifiers import (
    Decoded,
    LegacyVerifier,
    PqcStatus,
    StrictVerifier,
    UpgradedVerifier,
    VerifiedTransaction,
    artifact_key_ids,
    decode,
    parse,
)

__all__ = [
    "UNREGISTERED",
    "Decoded",
    "InMemoryRegistry",
    "LegacyVerifier",
    "PqcStatus",
    "Registry",
    "RegistryEntry",
    "StrictVerifier",
    "UpgradedVerifier",
    "VerifiedTransaction",
    "artifact_key_ids",
    "decode",
    "parse",
    "pqc_enforced",
]
