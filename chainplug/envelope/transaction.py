"""The classical part: standard signed Ethereum transactions (EIP-1559 type 2 and legacy EIP-155).

Encoding here is byte-for-byte what stock clients produce, so eth-account, py-evm and real nodes
accept our raw transactions unchanged (tests check this with their code, not ours). Decoding is
strict: canonical RLP only (``_rlp``, checked against pyrlp's strict decoder), canonical integers,
exact field sizes, a size cap, no trailing bytes, and a low-s signature with an EIP-155 chain id.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import rlp

from ..constants import MAX_RAW_TX_BYTES, SECP256K1_HALF_N, SECP256K1_N, TX_TYPE_EIP1559
from ..crypto.keccak import keccak256
from ..crypto.secp256k1 import RecoverableSignature
from ..errors import ChainplugError, MalformedTransaction, Reason, UnsupportedEnvelope
from ..types import Hash32
from ._rlp import decode_list

AccessList = tuple[tuple[bytes, tuple[bytes, ...]], ...]
"""EIP-2930 access list: ((20-byte address, (32-byte storage key, ...)), ...)."""

TX_TYPE_LEGACY = 0
"""Our tag for a legacy (untyped, EIP-155) transaction; it has no type byte on the wire."""


@dataclass(frozen=True, slots=True)
class UnsignedTransaction:
    """The fields a classical key signs. ``gas_price`` is used for legacy, the fee caps for type 2."""

    tx_type: int
    """TX_TYPE_EIP1559 (2) or TX_TYPE_LEGACY (0)."""
    chain_id: int
    """EIP-155 chain id (> 0)."""
    nonce: int
    gas: int
    """Gas limit."""
    to: bytes
    """20-byte recipient, or empty for contract creation."""
    value: int
    """Wei transferred."""
    data: bytes
    """Calldata or init code."""
    max_priority_fee_per_gas: int = 0
    max_fee_per_gas: int = 0
    gas_price: int = 0
    access_list: AccessList = ()

    def _payload_items(self) -> list[Any]:
        access = [[address, list(keys)] for address, keys in self.access_list]
        if self.tx_type == TX_TYPE_EIP1559:
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
            ]
        return [self.nonce, self.gas_price, self.gas, self.to, self.value, self.data]

    def signing_hash(self) -> Hash32:
        """The digest the classical key signs (EIP-1559 §signature, EIP-155)."""
        if self.tx_type == TX_TYPE_EIP1559:
            return keccak256(bytes((TX_TYPE_EIP1559,)) + rlp.encode(self._payload_items()))
        return keccak256(rlp.encode([*self._payload_items(), self.chain_id, 0, 0]))

    def encode_signed(self, signature: RecoverableSignature) -> bytes:
        """The raw signed transaction, as ``eth_sendRawTransaction`` takes it."""
        if self.tx_type == TX_TYPE_EIP1559:
            items = [*self._payload_items(), signature.y_parity, signature.r, signature.s]
            body: bytes = rlp.encode(items)
            return bytes((TX_TYPE_EIP1559,)) + body
        v = self.chain_id * 2 + 35 + signature.y_parity
        encoded: bytes = rlp.encode([*self._payload_items(), v, signature.r, signature.s])
        return encoded


@dataclass(frozen=True, slots=True)
class SignedTransaction:
    """A decoded signed classical transaction. The sender is *not* recovered here (verify does it)."""

    unsigned: UnsignedTransaction
    signature: RecoverableSignature
    signing_hash: Hash32
    """Digest the classical key signed (computed from the raw bytes, no re-encoding)."""
    raw: bytes
    """The exact raw transaction bytes."""

    @property
    def tx_hash(self) -> Hash32:
        """Transaction hash as nodes report it: keccak256 of the raw bytes."""
        return keccak256(self.raw)

    @property
    def chain_id(self) -> int:
        return self.unsigned.chain_id


# --- strict decoding ------------------------------------------------------------------------------


def _malformed(message: str, reason: Reason = Reason.MALFORMED) -> MalformedTransaction:
    return MalformedTransaction(message, reason=reason)


def _int(item: object, name: str, max_bytes: int = 32) -> int:
    if not isinstance(item, bytes):
        raise _malformed(f"transaction field {name} must be a byte string")
    if len(item) > max_bytes:
        raise _malformed(f"transaction field {name} is longer than {max_bytes} bytes")
    if item[:1] == b"\x00":
        raise _malformed(f"transaction field {name} has a leading zero", Reason.NON_CANONICAL)
    return int.from_bytes(item, "big")


def _bytes(item: object, name: str) -> bytes:
    if not isinstance(item, bytes):
        raise _malformed(f"transaction field {name} must be a byte string")
    return item


def _to(item: object) -> bytes:
    to = _bytes(item, "to")
    if len(to) not in (0, 20):
        raise _malformed("transaction field to must be empty or 20 bytes")
    return to


def _access_list(item: object) -> AccessList:
    if not isinstance(item, list):
        raise _malformed("access list must be a list")
    entries = []
    for entry in item:
        if not isinstance(entry, list) or len(entry) != 2 or not isinstance(entry[1], list):
            raise _malformed("access list entry must be [address, [storage keys]]")
        address = _bytes(entry[0], "access list address")
        keys = tuple(_bytes(key, "access list storage key") for key in entry[1])
        if len(address) != 20 or any(len(key) != 32 for key in keys):
            raise _malformed("access list address must be 20 bytes and storage keys 32 bytes")
        entries.append((address, keys))
    return tuple(entries)


def _rlp_item_length(item: bytes) -> int:
    """Encoded length of an RLP byte string of at most 55 bytes (all signature fields are)."""
    if len(item) == 1 and item[0] < 0x80:
        return 1
    return 1 + len(item)


def _list_header(length: int) -> bytes:
    if length <= 55:
        return bytes((0xC0 + length,))
    size = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes((0xF7 + len(size),)) + size


def _split_list(body: bytes) -> tuple[list[Any], bytes]:
    """Decode one canonical RLP list filling ``body``; also return its payload (for hashing)."""
    items, start, stop = decode_list(body)
    return items, body[start:stop]


def decode_transaction(raw: bytes) -> SignedTransaction:
    """Strictly decode a raw signed EIP-1559 or EIP-155 transaction. Raises MalformedTransaction."""
    if not raw:
        raise _malformed("empty transaction", Reason.TRUNCATED)
    if len(raw) > MAX_RAW_TX_BYTES:
        raise _malformed(f"transaction larger than {MAX_RAW_TX_BYTES} bytes", Reason.OVERSIZED)
    first = raw[0]
    try:
        if first == TX_TYPE_EIP1559:
            return _decode_eip1559(raw)
        if first >= 0xC0:
            return _decode_legacy(raw)
    except ChainplugError:
        raise
    except (ValueError, TypeError, IndexError) as exc:  # defensive: no crash escapes the boundary
        raise _malformed("transaction fields are malformed") from exc
    raise UnsupportedEnvelope(
        f"transaction type 0x{first:02x} is not supported (EIP-1559 type 2 and legacy EIP-155 are)",
        reason=Reason.UNSUPPORTED_TX_TYPE,
    )


def _signature(y_parity: int, r_item: object, s_item: object) -> RecoverableSignature:
    r, s = _int(r_item, "r"), _int(s_item, "s")
    if not (0 < r < SECP256K1_N and 0 < s < SECP256K1_N):
        raise _malformed("classical signature r or s out of range")
    if s > SECP256K1_HALF_N:  # EIP-2: a high-s signature is a malleated copy, never canonical
        raise _malformed("classical signature has high s (EIP-2)", Reason.HIGH_S)
    return RecoverableSignature(r, s, y_parity)


def _decode_eip1559(raw: bytes) -> SignedTransaction:
    items, payload = _split_list(raw[1:])
    if len(items) != 12:
        raise _malformed("EIP-1559 transaction must have 12 fields")
    y_parity = _int(items[9], "y_parity", 1)
    if y_parity > 1:
        raise _malformed("EIP-1559 y_parity must be 0 or 1")
    unsigned = UnsignedTransaction(
        tx_type=TX_TYPE_EIP1559,
        chain_id=_int(items[0], "chain_id"),
        nonce=_int(items[1], "nonce", 8),
        max_priority_fee_per_gas=_int(items[2], "max_priority_fee_per_gas"),
        max_fee_per_gas=_int(items[3], "max_fee_per_gas"),
        gas=_int(items[4], "gas", 8),
        to=_to(items[5]),
        value=_int(items[6], "value"),
        data=_bytes(items[7], "data"),
        access_list=_access_list(items[8]),
    )
    signature = _signature(y_parity, items[10], items[11])
    # The signed payload is the first nine fields: the list payload minus the three trailing
    # signature fields. Slicing the original bytes avoids re-encoding (hot path, see bench).
    tail = sum(_rlp_item_length(item) for item in items[9:12])
    content = payload[: len(payload) - tail]
    signing_hash = keccak256(bytes((TX_TYPE_EIP1559,)) + _list_header(len(content)) + content)
    if unsigned.chain_id == 0:
        raise _malformed("chain id 0 is not allowed (no replay protection)")
    return SignedTransaction(unsigned, signature, signing_hash, bytes(raw))


def _decode_legacy(raw: bytes) -> SignedTransaction:
    items, payload = _split_list(raw)
    if len(items) != 9:
        raise _malformed("legacy transaction must have 9 fields")
    v = _int(items[6], "v")
    if v in (27, 28):
        raise UnsupportedEnvelope(
            "pre-EIP-155 transaction (no chain id) is not accepted: it replays on every chain",
            reason=Reason.UNSUPPORTED_TX_TYPE,
        )
    if v < 37:
        raise _malformed("legacy transaction v is not an EIP-155 value")
    chain_id, y_parity = (v - 35) // 2, (v - 35) % 2
    unsigned = UnsignedTransaction(
        tx_type=TX_TYPE_LEGACY,
        chain_id=chain_id,
        nonce=_int(items[0], "nonce", 8),
        gas_price=_int(items[1], "gas_price"),
        gas=_int(items[2], "gas", 8),
        to=_to(items[3]),
        value=_int(items[4], "value"),
        data=_bytes(items[5], "data"),
    )
    signature = _signature(y_parity, items[7], items[8])
    tail = sum(_rlp_item_length(item) for item in items[6:9])
    content = payload[: len(payload) - tail] + rlp.encode(chain_id) + b"\x80\x80"
    signing_hash = keccak256(_list_header(len(content)) + content)
    return SignedTransaction(unsigned, signature, signing_hash, bytes(raw))
