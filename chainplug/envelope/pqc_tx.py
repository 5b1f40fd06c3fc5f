"""The PQC-only transaction (type 0x50): encoding, strict decoding, verification (docs/pqc-transaction.md;
signing is in pqc_signer).

    0x50 || rlp([chain_id, nonce, max_priority_fee_per_gas, max_fee_per_gas, gas, to, value, data,
                 access_list, sender, public_key, signature])

    signing_hash = keccak256(0x50 || rlp([chain_id, ..., access_list, sender]))   (the first ten fields)
    signature    = ML-DSA-87.Sign(sk, M', ctx = SUITE_LABEL)
    M'           = message_representative(chain_id, sender, keccak256(public_key), signing_hash, 0^32)

ML-DSA has no public-key recovery, so the sender is an explicit field, authenticated by the registry
commitment (keccak256(public_key) == the sender's committed key id, checked by the chain rules).

# NOTE: this module depends only on chainplug.crypto and chainplug.envelope, so the envelope layer can
# own it later (its strict decoding reuses that layer's canonical RLP decoder).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import rlp

from ..constants import (
    MAX_RAW_TX_BYTES,
    MLDSA87_PUBLIC_KEY_BYTES,
    MLDSA87_SIGNATURE_BYTES,
    SUITE_LABEL,
    TX_TYPE_PQC_ONLY,
    ZERO_CLASSICAL_SIGNATURE_HASH,
)
from ..crypto.keccak import keccak256
from ..crypto.pqc import PQCBackend, get_backend, mldsa87_key_id
from ..errors import ChainplugError, InvalidKey, InvalidSignature, MalformedTransaction, Reason
from ..types import Address, Hash32, KeyId
from ._rlp import decode_list
from .message import message_representative
from .transaction import AccessList, _access_list, _int  # the same strict field rules as EIP-1559

PQC_TX_FIELDS = 12
"""Number of RLP fields of a signed PQC-only transaction."""


@dataclass(frozen=True, slots=True)
class UnsignedPqcTransaction:
    """The fields the ML-DSA-87 key signs: an EIP-1559 transaction plus the explicit sender."""

    chain_id: int
    """EIP-155 chain id (> 0); also inside M'."""
    nonce: int
    max_priority_fee_per_gas: int
    max_fee_per_gas: int
    gas: int
    """Gas limit; must cover EIP-1559 intrinsic gas plus PQC_TX_AUTH_GAS."""
    to: bytes
    """20-byte recipient, or empty for contract creation."""
    value: int
    """Wei transferred."""
    data: bytes
    access_list: AccessList
    sender: Address
    """20-byte sending account (ML-DSA has no recovery)."""

    def _items(self) -> list[Any]:
        access = [[address, list(keys)] for address, keys in self.access_list]
        return [
            self.chain_id,
            self.nonce,
            self.max_priority_fee_per_gas,
            self.max_fee_per_gas,
            self.gas,
            self.to,
            self.value,
            self.data,
            access,
            self.sender,
        ]

    def signing_hash(self) -> Hash32:
        """keccak256(0x50 || rlp(first ten fields))."""
        return keccak256(bytes((TX_TYPE_PQC_ONLY,)) + rlp.encode(self._items()))

    def message_representative(self, key_id: KeyId, signing_hash: Hash32 | None = None) -> bytes:
        """M' of DESIGN.md §3 with the classical-signature hash = 32 zero bytes."""
        return message_representative(
            chain_id=self.chain_id,
            sender=self.sender,
            key_id=key_id,
            signing_hash=signing_hash if signing_hash is not None else self.signing_hash(),
            classical_signature_hash=ZERO_CLASSICAL_SIGNATURE_HASH,
        )

    def encode_signed(self, public_key: bytes, signature: bytes) -> bytes:
        """The raw signed transaction, as ``eth_sendRawTransaction`` takes it."""
        if len(public_key) != MLDSA87_PUBLIC_KEY_BYTES or len(signature) != MLDSA87_SIGNATURE_BYTES:
            raise MalformedTransaction("PQC-only transaction needs a 2,592-byte key and a 4,627-byte signature")
        body: bytes = rlp.encode([*self._items(), public_key, signature])
        return bytes((TX_TYPE_PQC_ONLY,)) + body


@dataclass(frozen=True, slots=True)
class PqcTransaction:
    """A decoded signed PQC-only transaction. Not verified: see :func:`verify_pqc_signature`."""

    unsigned: UnsignedPqcTransaction
    public_key: bytes
    """Raw 2,592-byte ML-DSA-87 public key."""
    signature: bytes
    """4,627-byte ML-DSA-87 signature over M'."""
    signing_hash: Hash32
    raw: bytes
    """The exact raw transaction bytes."""

    @property
    def tx_hash(self) -> Hash32:
        """keccak256 of the raw bytes, as for every EIP-2718 transaction."""
        return keccak256(self.raw)

    @property
    def sender(self) -> Address:
        return self.unsigned.sender

    @property
    def chain_id(self) -> int:
        return self.unsigned.chain_id

    @property
    def key_id(self) -> KeyId:
        """keccak256 of the carried public key: must equal the sender's registry commitment."""
        return mldsa87_key_id(self.public_key)

    def message_representative(self) -> bytes:
        return self.unsigned.message_representative(self.key_id, self.signing_hash)


def verify_pqc_signature(tx: PqcTransaction, backend: PQCBackend | None = None) -> KeyId:
    """Verify the ML-DSA-87 signature over M' (ctx = suite label); return the key id. Raises
    :class:`InvalidSignature`. Says nothing about whether the key belongs to the sender: the
    registry check does (chainplug.node.chain.rules)."""
    try:
        verifying_key = (backend or get_backend()).mldsa87_public_key(tx.public_key)
    except InvalidKey as exc:
        raise InvalidSignature("ML-DSA-87 public key of the PQC-only transaction is invalid") from exc
    verifying_key.verify(tx.signature, tx.message_representative(), SUITE_LABEL)
    return tx.key_id


# --- strict decoding ------------------------------------------------------------------------------


def _malformed(message: str, reason: Reason = Reason.MALFORMED) -> MalformedTransaction:
    return MalformedTransaction(f"PQC-only transaction: {message}", reason=reason)


def _fixed(item: object, name: str, sizes: tuple[int, ...]) -> bytes:
    if not isinstance(item, bytes) or len(item) not in sizes:
        raise _malformed(f"{name} must be {' or '.join(map(str, sizes))} bytes")
    return item


def decode_pqc_transaction(raw: bytes) -> PqcTransaction:
    """Strictly decode a raw PQC-only transaction. Raises :class:`MalformedTransaction` only."""
    raw = bytes(raw)
    if not raw:
        raise _malformed("empty input", Reason.TRUNCATED)
    if len(raw) > MAX_RAW_TX_BYTES:
        raise _malformed(f"larger than {MAX_RAW_TX_BYTES} bytes", Reason.OVERSIZED)
    if raw[0] != TX_TYPE_PQC_ONLY:
        raise _malformed(f"type byte is 0x{raw[0]:02x}, not 0x{TX_TYPE_PQC_ONLY:02x}", Reason.UNSUPPORTED_TX_TYPE)
    try:
        items, _, _ = decode_list(raw[1:])
        if len(items) != PQC_TX_FIELDS:
            raise _malformed(f"must have {PQC_TX_FIELDS} fields")
        data = items[7]
        if not isinstance(data, bytes):
            raise _malformed("data must be a byte string")
        unsigned = UnsignedPqcTransaction(
            chain_id=_int(items[0], "chain_id"),
            nonce=_int(items[1], "nonce", 8),
            max_priority_fee_per_gas=_int(items[2], "max_priority_fee_per_gas"),
            max_fee_per_gas=_int(items[3], "max_fee_per_gas"),
            gas=_int(items[4], "gas", 8),
            to=_fixed(items[5], "to", (0, 20)),
            value=_int(items[6], "value"),
            data=data,
            access_list=_access_list(items[8]),
            sender=Address(_fixed(items[9], "sender", (20,))),
        )
        public_key = _fixed(items[10], "public key", (MLDSA87_PUBLIC_KEY_BYTES,))
        signature = _fixed(items[11], "signature", (MLDSA87_SIGNATURE_BYTES,))
    except ChainplugError:
        raise
    except (ValueError, TypeError, IndexError) as exc:  # defensive: no crash escapes the boundary
        raise _malformed("fields are malformed") from exc
    if unsigned.chain_id == 0:
        raise _malformed("chain id 0 is not allowed (no replay protection)")
    # Ten fields re-encoded: decoding was canonical, so this equals the signed prefix byte for byte.
    return PqcTransaction(unsigned, public_key, signature, unsigned.signing_hash(), raw)
