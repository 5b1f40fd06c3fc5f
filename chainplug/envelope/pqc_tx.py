"""The PQC-only transaction (type 0x50, docs/pqc-transaction.md): its class and its verification
(signing is in pqc_signer, strict decoding in decode and _reference).

    0x50 || rlp([chain_id, nonce, max_priority_fee_per_gas, max_fee_per_gas, gas, to, value, data,
                 access_list, sender, public_key, signature])

    signing_hash = keccak256(0x50 || rlp([chain_id, ..., access_list, sender]))   (the first ten fields)
    signature    = ML-DSA-87.Sign(sk, M', ctx = SUITE_LABEL)
    M'           = message_representative(chain_id, sender, keccak256(public_key), signing_hash, 0^32)

ML-DSA has no public-key recovery, so the sender is an explicit field, authenticated by the registry
commitment (keccak256(public_key) == the sender's committed key id, checked by the pqc-only policy).
The first nine fields are the EIP-1559 ones, declared once for both types.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from ..constants import (
    MLDSA87_PUBLIC_KEY_BYTES,
    MLDSA87_SIGNATURE_BYTES,
    SUITE_LABEL,
    TX_TYPE_PQC_ONLY,
    ZERO_CLASSICAL_SIGNATURE_HASH,
)
from ..crypto.keccak import keccak256
from ..crypto.pqc import PQCBackend, get_backend, mldsa87_key_id
from ..errors import InvalidKey, InvalidSignature, MalformedTransaction
from ..types import Address, Hash32, KeyId
from . import _rlp
from .fields import SENDER, Wire, check_values, payload_items, wire
from .message import message_representative
from .transaction import _FeeMarketFields

PUBLIC_KEY = wire(Wire("fixed", MLDSA87_PUBLIC_KEY_BYTES))
SIGNATURE = wire(Wire("fixed", MLDSA87_SIGNATURE_BYTES))


@dataclass(frozen=True, slots=True)
class PqcOnlyTransaction(_FeeMarketFields):
    """The fields the ML-DSA-87 key signs: the EIP-1559 fields plus the explicit sender."""

    tx_type: ClassVar[int] = TX_TYPE_PQC_ONLY

    sender: Address = field(metadata=SENDER)
    """20-byte sending account (ML-DSA has no recovery)."""

    def __post_init__(self) -> None:
        check_values(self)

    def signing_hash(self) -> Hash32:
        """keccak256(0x50 || rlp(first ten fields))."""
        return keccak256(bytes((TX_TYPE_PQC_ONLY,)) + _rlp.encode(payload_items(self)))

    def message_representative(self, key_id: KeyId, signing_hash: Hash32 | None = None) -> bytes:
        """M' (docs/envelope-v1.md §M') with the classical-signature hash = 32 zero bytes."""
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
        return bytes((TX_TYPE_PQC_ONLY,)) + _rlp.encode([*payload_items(self), bytes(public_key), bytes(signature)])


@dataclass(frozen=True, slots=True)
class PqcTransaction:
    """A signed PQC-only transaction (decoded, or just signed). Not verified: see
    :func:`verify_pqc_signature`. Its wire form is the unsigned fields, then the two declared here."""

    unsigned: PqcOnlyTransaction
    public_key: bytes = field(metadata=PUBLIC_KEY)
    """Raw 2,592-byte ML-DSA-87 public key."""
    signature: bytes = field(metadata=SIGNATURE)
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
    registry check does (chainplug.verify.pqc_only)."""
    try:
        verifying_key = (backend or get_backend()).mldsa87_public_key(tx.public_key)
    except InvalidKey as exc:
        raise InvalidSignature("ML-DSA-87 public key of the PQC-only transaction is invalid") from exc
    verifying_key.verify(tx.signature, tx.message_representative(), SUITE_LABEL)
    return tx.key_id
