"""The message representative M' that the ML-DSA-87 component signs (docs/envelope-v1.md §M').

    M' = "chainplug-composite-v1" || len(label) (1 byte) || label
         || chain_id (32, big-endian) || sender (20) || key id (32)
         || transaction signing hash (32) || keccak256(r || s || y_parity) (32; zeros in PQC_ONLY)

Every field after the label has a fixed length and the label is length-prefixed, so the encoding is
injective (the seed's HIG-001 collision cannot happen). The ML-DSA-87 context string is the label.
"""

from __future__ import annotations

from ..constants import MPRIME_PREFIX, SUITE_LABEL
from ..crypto.keccak import keccak256
from ..crypto.secp256k1 import RecoverableSignature
from ..errors import MalformedEnvelope
from ..types import Address, Hash32, KeyId

MPRIME_BYTES = len(MPRIME_PREFIX) + 1 + len(SUITE_LABEL) + 32 + 20 + 32 + 32 + 32
"""M' is always this long for the v1 suite: 22 + 1 + 37 + 32 + 20 + 32 + 32 + 32 = 208 bytes."""

_HEAD = MPRIME_PREFIX + bytes((len(SUITE_LABEL),)) + SUITE_LABEL


def classical_signature_hash(signature: RecoverableSignature) -> Hash32:
    """keccak256(r || s || y_parity): binds the PQC part to this exact classical signature."""
    return keccak256(signature.to_bytes())


def message_representative(
    *,
    chain_id: int,
    sender: Address,
    key_id: KeyId,
    signing_hash: Hash32,
    classical_signature_hash: bytes,
) -> bytes:
    """Build M'. Lengths are checked, never padded or truncated."""
    return _message_representative(chain_id, sender, key_id, signing_hash, classical_signature_hash)


_CHAIN_ID_LIMIT = 2**256


def _message_representative(
    chain_id: int, sender: bytes, key_id: bytes, signing_hash: bytes, signature_hash: bytes
) -> bytes:
    """:func:`message_representative` with positional arguments (verifiers' hot path); same checks."""
    if not 0 < chain_id < _CHAIN_ID_LIMIT:
        raise MalformedEnvelope("chain id out of range for M'")
    if len(sender) != 20 or len(key_id) != 32 or len(signing_hash) != 32 or len(signature_hash) != 32:
        raise MalformedEnvelope("M' field has the wrong length")
    return b"".join((_HEAD, chain_id.to_bytes(32, "big"), sender, key_id, signing_hash, signature_hash))
