"""CompositeAccount: one Ethereum account that signs with secp256k1 and ML-DSA-87 together.

``sign_transaction`` returns the stock raw transaction (what legacy nodes and eth-account read) and
the composite envelope (what upgraded verifiers check). The classical transaction carries the
weak-non-separability artifact (RFC 9955): an EIP-2930 access-list entry (artifact address, [key id])
inside what the classical key signs, so a stripped EIP-1559 transaction is still recognisable as
hybrid-originated. Legacy EIP-155 transactions have no access list and therefore no artifact.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from eth_utils.address import to_checksum_address

from ..constants import (
    ACCESS_LIST_ADDRESS_GAS,
    ACCESS_LIST_STORAGE_KEY_GAS,
    MAX_RAW_TX_BYTES,
    SUITE_LABEL,
    TX_TYPE_EIP1559,
    WNS_ARTIFACT_ADDRESS,
)
from ..crypto.pqc import MLDSA87SigningKey, PQCBackend, get_backend
from ..crypto.secp256k1 import Secp256k1PrivateKey
from ..errors import MalformedTransaction
from ..types import Address, Hash32, KeyId
from .codec import Envelope
from .message import classical_signature_hash, message_representative
from .transaction import (
    TX_TYPE_LEGACY,
    AccessList,
    SignedTransaction,
    UnsignedTransaction,
    decode_transaction,
)


@dataclass(frozen=True, slots=True)
class SignedComposite:
    """Result of composite signing."""

    raw_transaction: bytes
    """Stock signed Ethereum transaction: send it with eth_sendRawTransaction."""
    envelope: bytes
    """Canonical composite envelope v1 (classical transaction + ML-DSA-87 part)."""
    tx_hash: Hash32
    """keccak256(raw_transaction), the hash nodes report."""
    transaction: SignedTransaction
    """The decoded classical transaction."""


INT_FIELD_BYTES: Mapping[str, int] = {
    "chainId": 32, "nonce": 8, "gas": 8, "value": 32, "gasPrice": 32, "maxFeePerGas": 32,
    "maxPriorityFeePerGas": 32, "type": 1,
}  # fmt: skip
"""Widest value of each integer field, as the strict decoder enforces it (an RLP integer of at most this
many bytes): a dict is held to the same rules before anything is signed, so nothing is signed that no
verifier would accept."""
_KNOWN_FIELDS = frozenset({*INT_FIELD_BYTES, "to", "data", "input", "accessList", "from"})


def _as_int(value: Any, name: str) -> int:
    if isinstance(value, bool):
        raise MalformedTransaction(f"transaction field {name} must be an integer")
    if isinstance(value, int):
        result = value
    elif isinstance(value, str):
        try:
            result = int(value, 16) if value.lower().startswith("0x") else int(value)
        except ValueError as exc:
            raise MalformedTransaction(f"transaction field {name} is not a number") from exc
    else:
        raise MalformedTransaction(f"transaction field {name} must be an integer")
    if result < 0:
        raise MalformedTransaction(f"transaction field {name} must not be negative")
    width = INT_FIELD_BYTES.get(name, 32)
    if result.bit_length() > 8 * width:
        raise MalformedTransaction(f"transaction field {name} is wider than {width} bytes")
    return result


def _as_bytes(value: Any, name: str) -> bytes:
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    if isinstance(value, str):
        text = value[2:] if value.lower().startswith("0x") else value
        try:
            return bytes.fromhex(text)
        except ValueError as exc:
            raise MalformedTransaction(f"transaction field {name} is not hex") from exc
    raise MalformedTransaction(f"transaction field {name} must be bytes or a hex string")


def _access_list(value: Any) -> AccessList:
    if value is None:
        return ()
    if not isinstance(value, list | tuple):
        raise MalformedTransaction("accessList must be a list of {address, storageKeys} entries")
    entries = []
    for entry in value:
        if isinstance(entry, Mapping):
            address, keys = entry.get("address"), entry.get("storageKeys", ())
        elif isinstance(entry, list | tuple) and len(entry) == 2:
            address, keys = entry
        else:
            raise MalformedTransaction("accessList entry must be {address, storageKeys} or [address, keys]")
        if not isinstance(keys, list | tuple):
            raise MalformedTransaction("accessList storageKeys must be a list")
        address_bytes = _as_bytes(address, "accessList address")
        key_bytes = tuple(_as_bytes(k, "accessList storage key") for k in keys)
        if len(address_bytes) != 20 or any(len(k) != 32 for k in key_bytes):
            raise MalformedTransaction("accessList addresses must be 20 bytes and storage keys 32 bytes")
        entries.append((address_bytes, key_bytes))
    return tuple(entries)


def _as_to(value: Any) -> bytes:
    to = b"" if value is None else _as_bytes(value, "to")  # absent, null, "" or "0x": contract creation
    if len(to) not in (0, 20):
        raise MalformedTransaction("to must be a 20-byte address")
    return to


def _as_data(value: Any) -> bytes:
    data = _as_bytes(value, "data")
    if len(data) > MAX_RAW_TX_BYTES:
        raise MalformedTransaction(f"transaction data is larger than a transaction may be ({MAX_RAW_TX_BYTES} bytes)")
    return data


def check_transaction_fields(tx: Mapping[str, Any]) -> None:
    """Check every field ``tx`` gives by the rules :func:`unsigned_from_dict` applies (names, types,
    widths), without requiring the ones a signer fills in itself (nonce, gas, fees, chainId).

    Raises MalformedTransaction with the field named. A signing service calls this before it looks
    anything up for the request; :func:`unsigned_from_dict` applies the same rules to the full dict.
    """
    unknown = set(tx) - _KNOWN_FIELDS
    if unknown:
        raise MalformedTransaction(f"unknown transaction fields: {', '.join(sorted(unknown))}")
    for name in INT_FIELD_BYTES:
        if name in tx:
            _as_int(tx[name], name)
    if "chainId" in tx and _as_int(tx["chainId"], "chainId") == 0:
        raise MalformedTransaction("chainId must be positive")
    _as_to(tx.get("to"))
    for name in ("data", "input"):
        if name in tx:
            _as_data(tx[name])
    if "from" in tx and len(_as_bytes(tx["from"], "from")) != 20:
        raise MalformedTransaction("from must be a 20-byte address")
    _access_list(tx.get("accessList"))


def unsigned_from_dict(tx: Mapping[str, Any]) -> UnsignedTransaction:
    """Build the unsigned transaction from an eth-account / web3.py style dict.

    Keys: chainId, nonce, gas, to, value, data, and either maxFeePerGas + maxPriorityFeePerGas
    (EIP-1559, the default) or gasPrice (legacy EIP-155). ``type`` may be given as 2 or 0.
    """
    unknown = set(tx) - _KNOWN_FIELDS
    if unknown:
        raise MalformedTransaction(f"unknown transaction fields: {', '.join(sorted(unknown))}")
    if "chainId" not in tx:
        raise MalformedTransaction("transaction needs a chainId (EIP-155 replay protection)")
    has_fee_caps = "maxFeePerGas" in tx or "maxPriorityFeePerGas" in tx
    if "gasPrice" in tx and has_fee_caps:
        # Refused like eth-account does: guessing would silently drop fee caps or the hybrid artifact.
        raise MalformedTransaction("transaction mixes gasPrice with EIP-1559 fee fields; give one kind")
    legacy = "gasPrice" in tx
    declared = tx.get("type")
    if declared is not None:
        kind = _as_int(declared, "type")
        if kind not in (TX_TYPE_EIP1559, TX_TYPE_LEGACY):
            raise MalformedTransaction("only type 2 (EIP-1559) and legacy (EIP-155) transactions are signed")
        legacy = kind == TX_TYPE_LEGACY
    for name in ("nonce", "gas"):
        if name not in tx:
            raise MalformedTransaction(f"transaction needs {name}")
    to = _as_to(tx.get("to"))
    common: dict[str, Any] = dict(
        chain_id=_as_int(tx["chainId"], "chainId"),
        nonce=_as_int(tx["nonce"], "nonce"),
        gas=_as_int(tx["gas"], "gas"),
        to=to,
        value=_as_int(tx.get("value", 0), "value"),
        data=_as_data(tx.get("data", tx.get("input", b""))),
    )
    if common["chain_id"] == 0:
        raise MalformedTransaction("chainId must be positive")
    if legacy:
        if "gasPrice" not in tx:
            raise MalformedTransaction("legacy (type 0) transaction needs gasPrice")
        if tx.get("accessList"):
            raise MalformedTransaction("legacy transactions cannot carry an access list")
        if (2 * common["chain_id"] + 36).bit_length() > 256:  # EIP-155 v must fit the decoder's 32 bytes
            raise MalformedTransaction("chainId is too large for a legacy (EIP-155) transaction's v")
        return UnsignedTransaction(tx_type=TX_TYPE_LEGACY, gas_price=_as_int(tx["gasPrice"], "gasPrice"), **common)
    if "gasPrice" in tx:
        raise MalformedTransaction(
            "EIP-1559 (type 2) transaction takes maxFeePerGas/maxPriorityFeePerGas, not gasPrice"
        )
    for name in ("maxFeePerGas", "maxPriorityFeePerGas"):
        if name not in tx:
            raise MalformedTransaction(f"EIP-1559 transaction needs {name}")
    return UnsignedTransaction(
        tx_type=TX_TYPE_EIP1559,
        max_fee_per_gas=_as_int(tx["maxFeePerGas"], "maxFeePerGas"),
        max_priority_fee_per_gas=_as_int(tx["maxPriorityFeePerGas"], "maxPriorityFeePerGas"),
        access_list=_access_list(tx.get("accessList")),
        **common,
    )


def with_artifact(unsigned: UnsignedTransaction, artifact_address: bytes, key_id: KeyId) -> UnsignedTransaction:
    """Add the WNS artifact entry (and its EIP-2930 intrinsic gas) unless it is already present."""
    if unsigned.tx_type != TX_TYPE_EIP1559:
        return unsigned
    for address, keys in unsigned.access_list:
        if address == artifact_address and key_id in keys:
            return unsigned
    entry = (bytes(artifact_address), (bytes(key_id),))
    extra_gas = ACCESS_LIST_ADDRESS_GAS + ACCESS_LIST_STORAGE_KEY_GAS
    if (unsigned.gas + extra_gas).bit_length() > 8 * INT_FIELD_BYTES["gas"]:
        raise MalformedTransaction("gas plus the artifact's access-list gas is wider than 8 bytes")
    return UnsignedTransaction(
        tx_type=unsigned.tx_type,
        chain_id=unsigned.chain_id,
        nonce=unsigned.nonce,
        gas=unsigned.gas + extra_gas,
        to=unsigned.to,
        value=unsigned.value,
        data=unsigned.data,
        max_priority_fee_per_gas=unsigned.max_priority_fee_per_gas,
        max_fee_per_gas=unsigned.max_fee_per_gas,
        access_list=(*unsigned.access_list, entry),
    )


class CompositeAccount:
    """An account holding a secp256k1 key and an ML-DSA-87 key; signs composite transactions.

    Shaped like eth-account's ``LocalAccount`` where that makes sense (``address`` is checksummed).
    """

    def __init__(
        self,
        classical: Secp256k1PrivateKey,
        pqc: MLDSA87SigningKey,
        *,
        artifact_address: bytes = WNS_ARTIFACT_ADDRESS,
        include_public_key: bool = True,
    ) -> None:
        if len(artifact_address) != 20:
            raise MalformedTransaction("artifact address must be 20 bytes")
        self._classical = classical
        self._pqc = pqc
        self._artifact_address = bytes(artifact_address)
        self._include_public_key = include_public_key
        self._key_id = pqc.key_id

    @classmethod
    def generate(cls, *, backend: PQCBackend | None = None, **options: Any) -> CompositeAccount:
        """Fresh secp256k1 and ML-DSA-87 keys from the OS CSPRNG."""
        pqc_backend = backend or get_backend()
        return cls(Secp256k1PrivateKey.generate(), pqc_backend.mldsa87_generate(), **options)

    @classmethod
    def from_keys(
        cls, secp256k1_secret: bytes, mldsa_seed: bytes, *, backend: PQCBackend | None = None, **options: Any
    ) -> CompositeAccount:
        """Rebuild an account from a 32-byte secp256k1 secret and a 32-byte ML-DSA-87 seed."""
        pqc_backend = backend or get_backend()
        return cls(Secp256k1PrivateKey(secp256k1_secret), pqc_backend.mldsa87_from_seed(mldsa_seed), **options)

    @property
    def address(self) -> str:
        """EIP-55 checksummed address."""
        return str(to_checksum_address(self._classical.address))

    @property
    def address_bytes(self) -> Address:
        return self._classical.address

    @property
    def key_id(self) -> KeyId:
        """keccak256 of the ML-DSA-87 public key: the registry commitment."""
        return self._key_id

    @property
    def pqc_public_key(self) -> bytes:
        """Raw 2,592-byte ML-DSA-87 public key."""
        return self._pqc.public_key_bytes

    def sign_transaction(self, tx: Mapping[str, Any]) -> SignedComposite:
        """Sign ``tx`` classically (stock format) and with ML-DSA-87 over M' (DESIGN.md §3)."""
        if "from" in tx and _as_bytes(tx["from"], "from") != self.address_bytes:
            raise MalformedTransaction("transaction 'from' is not this account")
        unsigned = with_artifact(unsigned_from_dict(tx), self._artifact_address, self._key_id)
        signing_hash = unsigned.signing_hash()
        signature = self._classical.sign_digest(signing_hash)
        raw = unsigned.encode_signed(signature)
        m_prime = message_representative(
            chain_id=unsigned.chain_id,
            sender=self.address_bytes,
            key_id=self._key_id,
            signing_hash=signing_hash,
            classical_signature_hash=classical_signature_hash(signature),
        )
        pqc_signature = self._pqc.sign(m_prime, SUITE_LABEL)
        transaction = decode_transaction(raw)
        key = self._pqc.public_key_bytes if self._include_public_key else self._key_id
        envelope = Envelope(transaction, key, pqc_signature).encode()
        return SignedComposite(raw, envelope, transaction.tx_hash, transaction)

    def __repr__(self) -> str:
        return f"CompositeAccount(address={self.address}, key_id=0x{self._key_id.hex()})"
