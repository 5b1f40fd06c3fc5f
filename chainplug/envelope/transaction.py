"""The classical part: standard signed Ethereum transactions, one frozen class per type.

:class:`LegacyTransaction` (EIP-155) and :class:`FeeMarketTransaction` (EIP-1559, type 2) hold the
fields a secp256k1 key signs, each declared once with its wire kind (chainplug.envelope.fields);
:class:`SignedTransaction` is a decoded signed one. Encoding is byte-for-byte what stock clients
produce, so eth-account, py-evm and real nodes accept our raw transactions unchanged (tests check
this with their code, not ours). The strict decoders are in chainplug.envelope.decode (fast) and
chainplug.envelope._reference (field by field, the specification).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ClassVar

from ..constants import TX_TYPE_EIP1559
from ..crypto.keccak import keccak256
from ..crypto.secp256k1 import RecoverableSignature
from ..errors import MalformedTransaction
from ..types import Hash32
from . import _rlp
from .fields import (
    ACCESS_LIST,
    CHAIN_ID,
    DATA,
    EIP155_CHAIN_ID,
    TO,
    U64,
    U256,
    VALUE,
    AccessList,
    check_values,
    payload_items,
)

TX_TYPE_LEGACY = 0
"""A legacy (untyped, EIP-155) transaction's type; it has no type byte on the wire."""

SignDigest = Callable[[Hash32], RecoverableSignature]
"""A secp256k1 key's ``sign_digest``: 32-byte digest -> low-s recoverable signature."""


@dataclass(frozen=True, slots=True)
class LegacyTransaction:
    """An EIP-155 transaction: ``rlp([nonce, gas_price, gas, to, value, data, v, r, s])`` with
    v = 2 * chain_id + 35 + y_parity; the key signs ``rlp([nonce, ..., data, chain_id, 0, 0])``."""

    tx_type: ClassVar[int] = TX_TYPE_LEGACY
    access_list: ClassVar[AccessList] = ()
    """EIP-155 transactions have no access list (a constant, not a field): no hybrid artifact."""

    chain_id: int = field(metadata=EIP155_CHAIN_ID)
    nonce: int = field(metadata=U64)
    gas_price: int = field(metadata=U256)
    gas: int = field(metadata=U64)
    """Gas limit."""
    to: bytes = field(metadata=TO)
    """20-byte recipient, or empty for contract creation."""
    value: int = field(metadata=VALUE)
    """Wei transferred."""
    data: bytes = field(metadata=DATA)
    """Calldata or init code."""

    def __post_init__(self) -> None:
        check_values(self)
        if (2 * self.chain_id + 36).bit_length() > 256:  # v = 2 * chain_id + 35 + y_parity fits 32 bytes
            raise MalformedTransaction("chain id too large for an EIP-155 v")

    def signing_hash(self) -> Hash32:
        """The digest the classical key signs (EIP-155)."""
        return keccak256(self._signing_preimage(_rlp.encode_payload(payload_items(self))))

    def encode_signed(self, signature: RecoverableSignature) -> bytes:
        """The raw signed transaction, as ``eth_sendRawTransaction`` takes it."""
        return self._signed(_rlp.encode_payload(payload_items(self)), signature)

    def _signing_preimage(self, payload: bytes) -> bytes:
        """What the key signs, from ``payload`` = the encoded payload fields (no list header)."""
        tail = _rlp.encode_payload([self.chain_id, 0, 0])
        return _rlp.list_header(len(payload) + len(tail)) + payload + tail

    def _signed(self, payload: bytes, signature: RecoverableSignature) -> bytes:
        v = self.chain_id * 2 + 35 + signature.y_parity
        if v.bit_length() > 256:
            raise MalformedTransaction("chain id too large for an EIP-155 v")
        tail = _rlp.encode_payload([v, signature.r, signature.s])
        return _rlp.list_header(len(payload) + len(tail)) + payload + tail


@dataclass(frozen=True, slots=True)
class _FeeMarketFields:
    """The EIP-1559 fields, in wire order: the classical type 2 and the PQC-only type 0x50 share them."""

    chain_id: int = field(metadata=CHAIN_ID)
    """EIP-155 chain id (> 0)."""
    nonce: int = field(metadata=U64)
    max_priority_fee_per_gas: int = field(metadata=U256)
    max_fee_per_gas: int = field(metadata=U256)
    gas: int = field(metadata=U64)
    """Gas limit."""
    to: bytes = field(metadata=TO)
    """20-byte recipient, or empty for contract creation."""
    value: int = field(metadata=VALUE)
    """Wei transferred."""
    data: bytes = field(metadata=DATA)
    """Calldata or init code."""
    access_list: AccessList = field(metadata=ACCESS_LIST)
    """EIP-2930 access list (where the hybrid artifact lives)."""


@dataclass(frozen=True, slots=True)
class FeeMarketTransaction(_FeeMarketFields):
    """An EIP-1559 transaction: ``0x02 || rlp([chain_id, nonce, max_priority_fee_per_gas,
    max_fee_per_gas, gas, to, value, data, access_list, y_parity, r, s])``; the key signs
    ``keccak256(0x02 || rlp(first nine fields))``."""

    tx_type: ClassVar[int] = TX_TYPE_EIP1559

    def __post_init__(self) -> None:
        check_values(self)

    def signing_hash(self) -> Hash32:
        """The digest the classical key signs (EIP-1559 §signature)."""
        return keccak256(self._signing_preimage(_rlp.encode_payload(payload_items(self))))

    def encode_signed(self, signature: RecoverableSignature) -> bytes:
        """The raw signed transaction, as ``eth_sendRawTransaction`` takes it."""
        return self._signed(_rlp.encode_payload(payload_items(self)), signature)

    def _signing_preimage(self, payload: bytes) -> bytes:
        """What the key signs, from ``payload`` = the encoded payload fields (no list header)."""
        return _TYPE_BYTE + _rlp.list_header(len(payload)) + payload

    def _signed(self, payload: bytes, signature: RecoverableSignature) -> bytes:
        tail = _rlp.encode_payload([signature.y_parity, signature.r, signature.s])
        return _TYPE_BYTE + _rlp.list_header(len(payload) + len(tail)) + payload + tail


_TYPE_BYTE = bytes((TX_TYPE_EIP1559,))


ClassicalTransaction = LegacyTransaction | FeeMarketTransaction
"""Either classical transaction type (what a secp256k1 key signs)."""


@dataclass(frozen=True, slots=True)
class SignedTransaction:
    """A signed classical transaction (decoded, or just signed). The sender is *not* recovered here
    (verify does it)."""

    unsigned: ClassicalTransaction
    signature: RecoverableSignature
    signing_hash: Hash32
    """Digest the classical key signed."""
    raw: bytes
    """The exact raw transaction bytes."""

    @classmethod
    def sign(cls, unsigned: ClassicalTransaction, sign_digest: SignDigest) -> SignedTransaction:
        """Sign ``unsigned`` with ``sign_digest`` (a secp256k1 key's): the typed result, no decoding."""
        payload = _rlp.encode_payload(payload_items(unsigned))  # encoded once, wrapped twice
        signing_hash = keccak256(unsigned._signing_preimage(payload))
        signature = sign_digest(signing_hash)
        return cls(unsigned, signature, signing_hash, unsigned._signed(payload, signature))

    @property
    def tx_hash(self) -> Hash32:
        """Transaction hash as nodes report it: keccak256 of the raw bytes."""
        return keccak256(self.raw)

    @property
    def chain_id(self) -> int:
        return self.unsigned.chain_id
