"""Composite envelope v1: one canonical byte encoding, strict decoding (docs/envelope-v1.md).

    offset  size        field
    0       3           magic 0x8c 0x50 0x51
    3       1           version (1)
    4       1           suite (1 = secp256k1 + ML-DSA-87 + keccak256)
    5       1           kind (1 = hybrid)
    6       1           key form (0 = key id, 1 = full public key)
    7       4           length of the raw classical transaction, big-endian, 1..131072
    11      n           raw signed classical transaction (EIP-1559 or EIP-155)
    11+n    32 | 2592   key id or ML-DSA-87 public key
    ...     4627        ML-DSA-87 signature

Fixed-width fields and an exact total length give exactly one encoding per envelope
(``encode(decode(b)) == b``). Decoding never allocates more than the input and rejects anything
over ``MAX_ENVELOPE_BYTES`` before looking inside.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..constants import (
    ENVELOPE_HEADER_BYTES,
    ENVELOPE_MAGIC,
    ENVELOPE_VERSION,
    FORM_FULL_KEY,
    FORM_KEY_ID,
    KEY_ID_BYTES,
    KIND_HYBRID,
    KIND_PQC_ONLY,
    MAX_ENVELOPE_BYTES,
    MAX_RAW_TX_BYTES,
    MLDSA87_PUBLIC_KEY_BYTES,
    MLDSA87_SIGNATURE_BYTES,
    SUITE_ID_MLDSA87_SECP256K1,
)
from ..crypto.keccak import keccak256
from ..errors import MalformedEnvelope, Reason, UnsupportedEnvelope
from ..types import KeyId
from .decode import decode_transaction
from .transaction import SignedTransaction


@dataclass(frozen=True, slots=True)
class Envelope:
    """A decoded (not yet verified) composite envelope v1."""

    transaction: SignedTransaction
    """The classical part: a stock signed Ethereum transaction."""
    key: bytes
    """The key field: a 32-byte key id, or the 2,592-byte ML-DSA-87 public key."""
    pqc_signature: bytes
    """The 4,627-byte ML-DSA-87 signature over M'."""
    version: int = ENVELOPE_VERSION
    suite: int = SUITE_ID_MLDSA87_SECP256K1
    kind: int = KIND_HYBRID

    @property
    def form(self) -> int:
        """FORM_FULL_KEY or FORM_KEY_ID, from the key field's length."""
        return FORM_FULL_KEY if len(self.key) == MLDSA87_PUBLIC_KEY_BYTES else FORM_KEY_ID

    @property
    def key_id(self) -> KeyId:
        """keccak256 of the ML-DSA-87 public key (computed in full-key form)."""
        return KeyId(keccak256(self.key)) if self.form == FORM_FULL_KEY else KeyId(self.key)

    @property
    def public_key(self) -> bytes | None:
        """The ML-DSA-87 public key when the envelope carries it, else None."""
        return self.key if self.form == FORM_FULL_KEY else None

    @property
    def raw_transaction(self) -> bytes:
        return self.transaction.raw

    def encode(self) -> bytes:
        """The canonical encoding."""
        raw = self.transaction.raw
        if len(self.key) not in (KEY_ID_BYTES, MLDSA87_PUBLIC_KEY_BYTES):
            raise MalformedEnvelope("key field must be a 32-byte key id or a 2,592-byte public key")
        if len(self.pqc_signature) != MLDSA87_SIGNATURE_BYTES:
            raise MalformedEnvelope("ML-DSA-87 signature must be 4,627 bytes")
        header = ENVELOPE_MAGIC + bytes((self.version, self.suite, self.kind, self.form))
        return header + len(raw).to_bytes(4, "big") + raw + self.key + self.pqc_signature

    def without_public_key(self) -> Envelope:
        """The same envelope in key-id form (32 bytes instead of 2,592)."""
        return Envelope(self.transaction, self.key_id, self.pqc_signature, self.version, self.suite, self.kind)


def is_envelope(data: bytes) -> bool:
    """True if ``data`` starts with the envelope magic (a raw transaction never does)."""
    return data[: len(ENVELOPE_MAGIC)] == ENVELOPE_MAGIC


_MAGIC_BYTES = len(ENVELOPE_MAGIC)
_ENVELOPE_SETTERS = tuple(
    Envelope.__dict__[name].__set__ for name in ("transaction", "key", "pqc_signature", "version", "suite", "kind")
)


def decode_envelope(data: bytes) -> Envelope:
    """Strictly decode envelope bytes. Every failure raises :class:`MalformedEnvelope` (or its
    subclass :class:`UnsupportedEnvelope` for a version, suite, kind or tx type we do not implement)."""
    data = bytes(data)
    size = len(data)
    if size > MAX_ENVELOPE_BYTES:
        raise MalformedEnvelope(f"envelope larger than {MAX_ENVELOPE_BYTES} bytes", reason=Reason.OVERSIZED)
    if size < ENVELOPE_HEADER_BYTES:
        raise MalformedEnvelope("envelope shorter than its header", reason=Reason.TRUNCATED)
    if data[:_MAGIC_BYTES] != ENVELOPE_MAGIC:  # is_envelope(), inline (hot path)
        raise MalformedEnvelope("not a chainplug envelope (bad magic)")
    version, suite, kind, form = data[3], data[4], data[5], data[6]
    if version != ENVELOPE_VERSION:
        raise UnsupportedEnvelope(f"envelope version {version} is not supported (this build reads 1)")
    if suite != SUITE_ID_MLDSA87_SECP256K1:
        raise UnsupportedEnvelope(f"envelope suite {suite} is not supported", reason=Reason.UNSUPPORTED_SUITE)
    if kind == KIND_PQC_ONLY:
        raise UnsupportedEnvelope("PQC_ONLY envelopes are not supported by this build", reason=Reason.UNSUPPORTED_KIND)
    if kind != KIND_HYBRID:
        raise MalformedEnvelope(f"unknown envelope kind {kind}")
    if form == FORM_KEY_ID:
        key_len = KEY_ID_BYTES
    elif form == FORM_FULL_KEY:
        key_len = MLDSA87_PUBLIC_KEY_BYTES
    else:
        raise MalformedEnvelope(f"unknown key form {form}")
    tx_len = int.from_bytes(data[7:11], "big")
    if not 0 < tx_len <= MAX_RAW_TX_BYTES:
        raise MalformedEnvelope("classical transaction length out of range")
    tx_end = ENVELOPE_HEADER_BYTES + tx_len
    expected = tx_end + key_len + MLDSA87_SIGNATURE_BYTES
    if size < expected:
        raise MalformedEnvelope("envelope is truncated", reason=Reason.TRUNCATED)
    if size > expected:
        raise MalformedEnvelope("envelope has trailing bytes", reason=Reason.TRAILING_BYTES)
    transaction = decode_transaction(data[ENVELOPE_HEADER_BYTES:tx_end])
    key_end = tx_end + key_len
    # Every field is validated above; build the frozen instance without the constructor's
    # per-field object.__setattr__ (same class, same immutability).
    envelope: Envelope = object.__new__(Envelope)
    set_transaction, set_key, set_signature, set_version, set_suite, set_kind = _ENVELOPE_SETTERS
    set_transaction(envelope, transaction)
    set_key(envelope, data[tx_end:key_end])
    set_signature(envelope, data[key_end:])
    set_version(envelope, version)
    set_suite(envelope, suite)
    set_kind(envelope, kind)
    return envelope
