"""One error tree for chainplug.

Every error the package raises on purpose derives from :class:`ChainplugError` and carries a
machine-readable :attr:`ChainplugError.reason` (a :class:`Reason`) that tests, the CLI's ``--json``
output and RPC clients can switch on. Each class declares the reason its instances carry unless the
raiser names another (``default_reason``, in the class's own body: nothing is inherited silently);
a class that only groups others is declared ``abstract`` and cannot be raised itself. Messages say
what to do; they never contain key material. Where a builtin means the same thing, the error also
inherits it (``MalformedEnvelope`` is a ``ValueError``), so generic callers keep working.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, ClassVar


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
    UNSUPPORTED_KIND = "unsupported-kind"
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
    BACKEND_FAILED = "backend-failed"
    BAD_CONFIG = "bad-config"
    BAD_USAGE = "bad-usage"
    STORAGE_FAILED = "storage-failed"
    # migration
    ILLEGAL_TRANSITION = "illegal-transition"
    GATE_REJECTED = "gate-rejected"
    STORE_LOCKED = "store-locked"
    CLASSICAL_KEY_RETIRED = "classical-key-retired"
    UNKNOWN_ACCOUNT = "unknown-account"
    KEY_MISSING = "key-missing"
    WAL_CORRUPT = "wal-corrupt"
    WAL_GENERATION = "wal-generation"
    # logs kept by services (attestations, audit)
    LOG_CORRUPT = "log-corrupt"
    # keystore
    WRONG_PASSWORD_OR_KEY = "wrong-password-or-key"  # noqa: S105 - a reason code, not a password
    WEAK_KDF = "weak-kdf-parameters"
    KEY_NOT_FOUND = "key-not-found"
    KEY_EXISTS = "key-exists"
    ROTATION_INCOMPLETE = "rotation-incomplete"


class ChainplugError(Exception):
    """Root of every error chainplug raises deliberately (abstract: raise one of its subclasses)."""

    default_reason: ClassVar[Reason]
    """The reason an instance carries unless the raiser names one; declared by every concrete class."""
    abstract: ClassVar[bool] = True

    def __init_subclass__(cls, *, abstract: bool = False, **kwargs: Any) -> None:
        # tests/test_errors.py holds every concrete class to declaring its own default_reason
        super().__init_subclass__(**kwargs)
        cls.abstract = abstract

    def __init__(self, message: str, *, reason: Reason | None = None) -> None:
        if type(self).abstract:
            raise TypeError(f"{type(self).__name__} only groups errors: raise one of its subclasses")
        super().__init__(message)
        self.reason: Reason = reason if reason is not None else self.default_reason

    def to_json(self) -> dict[str, str]:
        """A JSON-safe description: error class, reason code, message."""
        return {"error": type(self).__name__, "reason": self.reason.value, "message": str(self)}


# --- crypto layer -----------------------------------------------------------------------------


class CryptoError(ChainplugError):
    """A primitive could not do its job (a backend failed to sign, encapsulate or generate)."""

    default_reason = Reason.BACKEND_FAILED


class InvalidKey(CryptoError, ValueError):
    """Key bytes have the wrong length or are not a valid key for the algorithm."""

    default_reason = Reason.INVALID_KEY


class BackendUnavailable(CryptoError, RuntimeError):
    """The requested PQC backend cannot be loaded on this machine."""

    default_reason = Reason.BACKEND_UNAVAILABLE


# --- envelope layer ---------------------------------------------------------------------------


class EnvelopeError(ChainplugError, abstract=True):
    """Problems with composite envelope bytes or the transactions inside them."""


class MalformedEnvelope(EnvelopeError, ValueError):
    """Bytes are not a well-formed composite envelope v1 (or transaction). The one decode error."""

    default_reason = Reason.MALFORMED


class UnsupportedEnvelope(MalformedEnvelope):
    """Well-framed, but a version, suite, envelope kind or transaction type this build does not
    implement. Kept distinct from an invalid signature: "I cannot check this" is not "this is forged"."""

    default_reason = Reason.UNSUPPORTED_VERSION


class MalformedTransaction(MalformedEnvelope):
    """The transaction (bytes alone or inside an envelope, or the fields given to sign) is not a
    canonical EIP-1559, EIP-155 or PQC-only transaction."""

    default_reason = Reason.MALFORMED


# --- verify layer -----------------------------------------------------------------------------


class VerificationError(ChainplugError, abstract=True):
    """A well-formed transaction or envelope was rejected."""


class InvalidSignature(VerificationError):
    """A signature does not verify. Deliberately does not say which component failed (which one a
    forger got wrong is information to them, nothing a user can act on)."""

    default_reason = Reason.INVALID_SIGNATURE


class PolicyRejected(VerificationError):
    """Signatures may be fine, but the verifier's policy for this sender does not accept them."""

    default_reason = Reason.PQC_REQUIRED


# --- registry layer ---------------------------------------------------------------------------


class RegistryError(ChainplugError):
    """The on-chain key registry could not be read or a transition was not accepted on chain."""

    default_reason = Reason.BAD_CONFIG


# --- configuration / usage --------------------------------------------------------------------


class ConfigError(ChainplugError, ValueError):
    """A configuration file, registry file or argument is invalid."""

    default_reason = Reason.BAD_CONFIG


class StorageFailed(ChainplugError):
    """A file could not be read or written (disk full, permissions, a missing file); the message names it."""

    default_reason = Reason.STORAGE_FAILED


# --- migration layer --------------------------------------------------------------------------


class MigrationError(ChainplugError, abstract=True):
    """The migration engine cannot do what was asked, or its store is inconsistent."""


class MigrationRejected(MigrationError, abstract=True):
    """A well-formed request the engine refuses in the account's current state (CLI exit 1)."""


class IllegalTransition(MigrationRejected):
    """The transition table has no such move (no skipping, no way back but HYBRID → CLASSICAL)."""

    default_reason = Reason.ILLEGAL_TRANSITION


class GateRejected(MigrationRejected):
    """The fleet gate refuses HYBRID → FINALIZING: too few verifiers are upgraded.

    :attr:`not_ready` names the validators that are not ready.
    """

    default_reason = Reason.GATE_REJECTED

    def __init__(self, message: str, *, not_ready: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.not_ready = not_ready

    def to_json(self) -> dict[str, str]:
        return {**super().to_json(), "not_ready": ",".join(self.not_ready)}


class StoreLocked(MigrationError):
    """Another process holds the store's lock: two engines never drive the same keys. Not a rejection
    of the request (CLI exit 2, like any store that cannot be used right now, from every command)."""

    default_reason = Reason.STORE_LOCKED


class ClassicalKeyRetired(MigrationRejected):
    """The account is FINALIZING or later: its classical private key is never loaded again."""

    default_reason = Reason.CLASSICAL_KEY_RETIRED


class UnknownAccount(MigrationError, LookupError):
    """No account with this address exists in the store."""

    default_reason = Reason.UNKNOWN_ACCOUNT


class KeyMaterialError(MigrationError):
    """A key file the state requires is missing, unreadable, or holds a different key."""

    default_reason = Reason.KEY_MISSING


class WalCorrupt(MigrationError):
    """The write-ahead log cannot be trusted: a corrupt record with valid records after it, a broken
    sequence, or a record history does not allow (future generation, state going back).

    The message names the file and the record; :attr:`path`, :attr:`record_index`, :attr:`seq` and
    :attr:`offset` carry the same for programs. Nothing is rewritten when this is raised.
    """

    default_reason = Reason.WAL_CORRUPT

    def __init__(
        self,
        message: str,
        *,
        path: str = "",
        record_index: int | None = None,
        seq: int | None = None,
        offset: int | None = None,
        reason: Reason | None = None,
    ) -> None:
        super().__init__(message, reason=reason)
        self.path = path
        self.record_index = record_index
        self.seq = seq
        self.offset = offset


# --- keystore layer ---------------------------------------------------------------------------


class KeystoreError(ChainplugError, abstract=True):
    """Key files, vaults and KEM key files (chainplug.keystore, docs/keystore.md)."""


class MalformedKeyFile(KeystoreError, ValueError):
    """Not a well-formed, canonical key file, vault manifest, KEM key file or V3 keystore of a
    supported version. Nothing was decrypted."""

    default_reason = Reason.MALFORMED


class WeakKdfParameters(MalformedKeyFile):
    """A file asks for password-KDF parameters outside the accepted range (fewer iterations than
    the minimum, or more than the maximum): refused, never obeyed (a file must not weaken its own KDF)."""

    default_reason = Reason.WEAK_KDF


class WrongPassphraseOrKey(KeystoreError, ValueError):
    """Authenticated decryption failed. AES-GCM cannot tell a wrong password from a wrong KEM key
    or a modified file (ML-KEM's implicit rejection turns each into a wrong key), so this is one
    error for all three (which one it was would help an attacker, not a user)."""

    default_reason = Reason.WRONG_PASSWORD_OR_KEY


class PublicKeyMismatch(KeystoreError, ValueError):
    """A decrypted private key does not re-derive the public key or address its file records."""

    default_reason = Reason.KEY_MISMATCH


class KeyNotFound(KeystoreError, LookupError):
    """No key file for this address, algorithm and generation."""

    default_reason = Reason.KEY_NOT_FOUND


class KeyExists(KeystoreError):
    """Refusing to overwrite an existing key, vault or KEM key file."""

    default_reason = Reason.KEY_EXISTS


class RotationIncomplete(KeystoreError):
    """A password or KEM-key rotation of this vault was interrupted; it must be finished (run the
    same rotation again) before the vault is used."""

    default_reason = Reason.ROTATION_INCOMPLETE
