"""One error tree for chainplug.

Every error the package raises on purpose derives from :class:`ChainplugError` and carries a
machine-readable :attr:`ChainplugError.reason` (a :class:`Reason`) that tests, the CLI's ``--json``
output and RPC clients can switch on. Messages say what to do; they never contain key material.
Where a builtin means the same thing, the error also inherits it (``MalformedEnvelope`` is a
``ValueError``), so generic callers keep working.
"""

from __future__ import annotations

from enum import StrEnum


class Reason(StrEnum):
    """Machine-readable reason codes. Stable: they appear in JSON output and RPC errors."""

    # input / format
    MALFORMED = "malformed"
    TRUNCATED = "truncated"
    TRAILING_BYTES = "trailing-bytes"
    OVERSIZED = "oversized"
    NON_CANONICAL = "non-canonical"
    UNSUPPORTED_VERSION = "unsupported-version"
    UNSUPPORTED_SUITE = "unsupported-suite"
    UNSUPPORTED_TX_TYPE = "unsupported-transaction-type"
    # signatures
    INVALID_SIGNATURE = "invalid-signature"
    HIGH_S = "high-s"
    # policy
    WRONG_CHAIN = "wrong-chain"
    PQC_REQUIRED = "pqc-required"
    CLASSICAL_NOT_ALLOWED = "classical-not-allowed"
    KEY_NOT_REGISTERED = "key-not-registered"
    KEY_MISMATCH = "key-mismatch"
    UNKNOWN_KEY = "unknown-key"
    ARTIFACT_MISMATCH = "artifact-mismatch"
    # keys, backends, configuration
    INVALID_KEY = "invalid-key"
    BACKEND_UNAVAILABLE = "backend-unavailable"
    BAD_CONFIG = "bad-config"


class ChainplugError(Exception):
    """Root of every error chainplug raises deliberately."""

    default_reason: Reason = Reason.MALFORMED

    def __init__(self, message: str, *, reason: Reason | None = None) -> None:
        super().__init__(message)
        self.reason: Reason = reason if reason is not None else self.default_reason

    def to_json(self) -> dict[str, str]:
        """A JSON-safe description: error class, reason code, message."""
        return {"error": type(self).__name__, "reason": self.reason.value, "message": str(self)}


# --- crypto layer -----------------------------------------------------------------------------


class CryptoError(ChainplugError):
    """A primitive could not do its job (bad key bytes, unavailable backend)."""


class InvalidKey(CryptoError, ValueError):
    """Key bytes have the wrong length or are not a valid key for the algorithm."""

    default_reason = Reason.INVALID_KEY


class BackendUnavailable(CryptoError, RuntimeError):
    """The requested PQC backend cannot be loaded on this machine."""

    default_reason = Reason.BACKEND_UNAVAILABLE


# --- envelope layer ---------------------------------------------------------------------------


class EnvelopeError(ChainplugError):
    """Problems with composite envelope bytes or the transactions inside them."""


class MalformedEnvelope(EnvelopeError, ValueError):
    """Bytes are not a well-formed composite envelope v1 (or transaction). The one decode error."""


class UnsupportedEnvelope(MalformedEnvelope):
    """Well-framed, but a version, suite or transaction type this build does not implement.

    Kept distinct from an invalid signature (anchors §16 #22): "I cannot check this" is not
    "this is forged".
    """

    default_reason = Reason.UNSUPPORTED_VERSION


class MalformedTransaction(MalformedEnvelope):
    """The classical transaction bytes (alone or inside an envelope) are not a canonical signed
    EIP-1559 or EIP-155 transaction."""


# --- verify layer -----------------------------------------------------------------------------


class VerificationError(ChainplugError):
    """A well-formed transaction or envelope was rejected."""

    default_reason = Reason.INVALID_SIGNATURE


class InvalidSignature(VerificationError):
    """A signature does not verify. Deliberately does not say which component failed (anchors #20)."""


class PolicyRejected(VerificationError):
    """Signatures may be fine, but the verifier's policy for this sender does not accept them."""

    default_reason = Reason.PQC_REQUIRED


# --- configuration / usage --------------------------------------------------------------------


class ConfigError(ChainplugError, ValueError):
    """A configuration file, registry file or argument is invalid."""

    default_reason = Reason.BAD_CONFIG
