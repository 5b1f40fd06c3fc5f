"""The reference decoders: strict decoding spelled out field by field, as the specifications read.

Each transaction is decoded from its class's declared fields (chainplug.envelope.fields), in wire
order, each failure with its precise message and reason; the signing hash is recomputed by encoding
the decoded fields again (canonical decoding makes that the signed prefix, byte for byte). This is
the definition of what the strict decoders accept. The fast decoders (chainplug.envelope.decode)
hand every input they do not accept outright to the functions here, so which error an invalid
transaction gets never depends on the fast path; a differential test holds the two to the same
answers on valid and invalid input.

Rules beyond canonical RLP (checked against pyrlp's strict decoder, tests/envelope): canonical
integers (no leading zero, at most 8 bytes for U64 fields and 32 for U256), a recipient of 0 or 20
bytes, a well-shaped access list, a size cap, no trailing bytes, a nonzero chain id, and a low-s
secp256k1 signature with an EIP-155 chain id.
"""

from __future__ import annotations

from typing import Any

from ..constants import MAX_RAW_TX_BYTES, SECP256K1_HALF_N, SECP256K1_N, TX_TYPE_EIP1559, TX_TYPE_PQC_ONLY
from ..crypto.secp256k1 import RecoverableSignature
from ..errors import ChainplugError, MalformedTransaction, Reason, UnsupportedEnvelope
from ..types import Address, Hash32
from ._rlp import RlpItem, decode_list
from .fields import AccessList, WireField, payload_fields, wire_fields
from .pqc_tx import PqcOnlyTransaction, PqcTransaction
from .transaction import FeeMarketTransaction, LegacyTransaction, SignedTransaction


class _Reader:
    """Field rules, with the message prefix of one transaction type."""

    def __init__(self, what: str) -> None:
        self.what = what

    def error(self, message: str, reason: Reason = Reason.MALFORMED) -> MalformedTransaction:
        return MalformedTransaction(f"{self.what} {message}", reason=reason)

    def uint(self, item: RlpItem, name: str, max_bytes: int = 32) -> int:
        if not isinstance(item, bytes):
            raise self.error(f"field {name} must be a byte string")
        if len(item) > max_bytes:
            raise self.error(f"field {name} is longer than {max_bytes} bytes")
        if item[:1] == b"\x00":
            raise self.error(f"field {name} has a leading zero", Reason.NON_CANONICAL)
        return int.from_bytes(item, "big")

    def byte_string(self, item: RlpItem, name: str) -> bytes:
        if not isinstance(item, bytes):
            raise self.error(f"field {name} must be a byte string")
        return item

    def access_list(self, item: RlpItem) -> AccessList:
        if not isinstance(item, list):
            raise self.error("access list must be a list")
        entries = []
        for entry in item:
            if not isinstance(entry, list) or len(entry) != 2 or not isinstance(entry[1], list):
                raise self.error("access list entry must be [address, [storage keys]]")
            address = self.byte_string(entry[0], "access list address")
            keys = tuple(self.byte_string(key, "access list storage key") for key in entry[1])
            if len(address) != 20 or any(len(key) != 32 for key in keys):
                raise self.error("access list address must be 20 bytes and storage keys 32 bytes")
            entries.append((address, keys))
        return tuple(entries)

    def field(self, f: WireField, item: RlpItem) -> Any:
        """One declared field's value from its RLP item."""
        spec = f.wire
        if spec.kind == "uint":
            return self.uint(item, f.name, spec.size)
        if spec.kind == "access_list":
            return self.access_list(item)
        value = self.byte_string(item, f.name)
        if spec.kind == "to" and len(value) not in (0, 20):
            raise self.error(f"field {f.name} must be empty or 20 bytes")
        if spec.kind == "fixed" and len(value) != spec.size:
            raise self.error(f"field {f.name} must be {spec.size} bytes")
        return value

    def fields(self, cls: type, items: list[RlpItem]) -> dict[str, Any]:
        """Every payload field of ``cls`` from ``items``, in wire order."""
        return {f.name: self.field(f, item) for f, item in zip(payload_fields(cls), items, strict=False)}

    def nonzero(self, cls: type, values: dict[str, Any]) -> None:
        for f in wire_fields(cls):
            if f.wire.nonzero and values.get(f.name) == 0:
                raise self.error("chain id 0 is not allowed (no replay protection)")

    def signature(self, y_parity: int, r_item: RlpItem, s_item: RlpItem) -> RecoverableSignature:
        r, s = self.uint(r_item, "r"), self.uint(s_item, "s")
        if not (0 < r < SECP256K1_N and 0 < s < SECP256K1_N):
            raise self.error("signature r or s out of range")
        if s > SECP256K1_HALF_N:  # EIP-2: a high-s signature is a malleated copy, never canonical
            raise self.error("signature has high s (EIP-2)", Reason.HIGH_S)
        return RecoverableSignature(r, s, y_parity)


_CLASSICAL = _Reader("transaction")
_PQC = _Reader("PQC-only transaction")
_FEE_MARKET_ITEMS = len(payload_fields(FeeMarketTransaction)) + 3  # y_parity, r, s
_LEGACY_ITEMS = len(payload_fields(LegacyTransaction)) + 3  # v, r, s
_PQC_ITEMS = len(payload_fields(PqcOnlyTransaction)) + len(wire_fields(PqcTransaction))  # public key, signature


def decode_transaction(raw: bytes) -> SignedTransaction:
    """Strictly decode a raw signed EIP-1559 or EIP-155 transaction. Raises MalformedTransaction
    (UnsupportedEnvelope for another type or a pre-EIP-155 signature)."""
    raw = bytes(raw)
    if not raw:
        raise _CLASSICAL.error("is empty", Reason.TRUNCATED)
    if len(raw) > MAX_RAW_TX_BYTES:
        raise _CLASSICAL.error(f"is larger than {MAX_RAW_TX_BYTES} bytes", Reason.OVERSIZED)
    first = raw[0]
    try:
        if first == TX_TYPE_EIP1559:
            return fee_market(raw, decode_list(raw, 1)[0])
        if first >= 0xC0:
            return legacy(raw, decode_list(raw)[0])
    except ChainplugError:
        raise
    except (ValueError, TypeError, IndexError) as exc:  # defensive: no crash escapes the boundary
        raise _CLASSICAL.error("fields are malformed") from exc
    raise UnsupportedEnvelope(
        f"transaction type 0x{first:02x} is not supported (EIP-1559 type 2 and legacy EIP-155 are)",
        reason=Reason.UNSUPPORTED_TX_TYPE,
    )


def fee_market(raw: bytes, items: list[RlpItem]) -> SignedTransaction:
    """The EIP-1559 transaction ``raw`` whose list decoded (canonically) to ``items``."""
    read = _CLASSICAL
    if len(items) != _FEE_MARKET_ITEMS:
        raise read.error(f"of type 2 must have {_FEE_MARKET_ITEMS} fields")
    values = read.fields(FeeMarketTransaction, items)
    y_parity = read.uint(items[-3], "y_parity", 1)
    if y_parity > 1:
        raise read.error("field y_parity must be 0 or 1")
    signature = read.signature(y_parity, items[-2], items[-1])
    read.nonzero(FeeMarketTransaction, values)
    unsigned = FeeMarketTransaction(**values)
    return SignedTransaction(unsigned, signature, unsigned.signing_hash(), bytes(raw))


def legacy(raw: bytes, items: list[RlpItem]) -> SignedTransaction:
    """The EIP-155 transaction ``raw`` whose list decoded (canonically) to ``items``."""
    read = _CLASSICAL
    if len(items) != _LEGACY_ITEMS:
        raise read.error(f"of the legacy type must have {_LEGACY_ITEMS} fields")
    values = read.fields(LegacyTransaction, items)
    v = read.uint(items[-3], "v")
    if v in (27, 28):
        raise UnsupportedEnvelope(
            "pre-EIP-155 transaction (no chain id) is not accepted: it replays on every chain",
            reason=Reason.UNSUPPORTED_TX_TYPE,
        )
    if v < 37:
        raise read.error("field v is not an EIP-155 value")
    signature = read.signature((v - 35) % 2, items[-2], items[-1])
    unsigned = LegacyTransaction(chain_id=(v - 35) // 2, **values)
    return SignedTransaction(unsigned, signature, unsigned.signing_hash(), bytes(raw))


def decode_pqc_transaction(raw: bytes) -> PqcTransaction:
    """Strictly decode a raw PQC-only transaction. Raises :class:`MalformedTransaction` only."""
    raw = bytes(raw)
    if not raw:
        raise _PQC.error("is empty", Reason.TRUNCATED)
    if len(raw) > MAX_RAW_TX_BYTES:
        raise _PQC.error(f"is larger than {MAX_RAW_TX_BYTES} bytes", Reason.OVERSIZED)
    if raw[0] != TX_TYPE_PQC_ONLY:
        raise _PQC.error(f"type byte is 0x{raw[0]:02x}, not 0x{TX_TYPE_PQC_ONLY:02x}", Reason.UNSUPPORTED_TX_TYPE)
    try:
        return pqc_only(raw, decode_list(raw, 1)[0])
    except ChainplugError:
        raise
    except (ValueError, TypeError, IndexError) as exc:  # defensive: no crash escapes the boundary
        raise _PQC.error("fields are malformed") from exc


def pqc_only(raw: bytes, items: list[RlpItem]) -> PqcTransaction:
    """The PQC-only transaction ``raw`` whose list decoded (canonically) to ``items``."""
    read = _PQC
    if len(items) != _PQC_ITEMS:
        raise read.error(f"must have {_PQC_ITEMS} fields")
    values = read.fields(PqcOnlyTransaction, items)
    signed_fields = zip(wire_fields(PqcTransaction), items[-2:], strict=True)
    public_key, signature = (read.field(f, item) for f, item in signed_fields)  # after the ten signed ones
    read.nonzero(PqcOnlyTransaction, values)
    values["sender"] = Address(values["sender"])
    unsigned = PqcOnlyTransaction(**values)
    return PqcTransaction(unsigned, public_key, signature, Hash32(unsigned.signing_hash()), bytes(raw))
