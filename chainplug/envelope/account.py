"""CompositeAccount: one Ethereum account that signs with secp256k1 and ML-DSA-87 together.

``sign_transaction`` returns the stock raw transaction (what legacy nodes and eth-account read) and
the composite envelope (what upgraded verifiers check). The classical transaction carries the
weak-non-separability artifact (RFC 9955): an EIP-2930 access-list entry (artifact address, [key id])
inside what the classical key signs, so a stripped EIP-1559 transaction is still recognisable as
hybrid-originated. Legacy EIP-155 transactions have no access list and therefore no artifact.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from eth_utils.address import to_checksum_address

from ..constants import (
    ACCESS_LIST_ADDRESS_GAS,
    ACCESS_LIST_STORAGE_KEY_GAS,
    SUITE_LABEL,
    TX_TYPE_EIP1559,
    WNS_ARTIFACT_ADDRESS,
)
from ..crypto.pqc import MLDSA87SigningKey, PQCBackend, get_backend
from ..crypto.secp256k1 import Secp256k1PrivateKey
from ..errors import MalformedTransaction
from ..types import Address, Hash32, KeyId
from .codec import Envelope
from .fields import (
    WireField,
    as_access_list,
    as_bytes,
    as_int,
    check_value,
    from_mapping,
    value_from_json,
    wire_fields,
)
from .message import classical_signature_hash, message_representative
from .transaction import TX_TYPE_LEGACY, FeeMarketTransaction, LegacyTransaction, SignedTransaction


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


DICT_FIELDS: Mapping[str, WireField] = {
    f.json_name: f for cls in (FeeMarketTransaction, LegacyTransaction) for f in wire_fields(cls)
}
"""Every field a transaction dict may give, by its eth-account / JSON-RPC name, with its wire rules (the
classes' own declarations: a dict is held to the rules the strict decoder enforces)."""
_KNOWN_FIELDS = frozenset({*DICT_FIELDS, "input", "type", "from"})


def check_transaction_fields(tx: Mapping[str, Any]) -> None:
    """Check every field ``tx`` gives by the rules :func:`unsigned_from_dict` applies (names, types,
    widths), without requiring the ones a signer fills in itself (nonce, gas, fees, chainId).

    Raises MalformedTransaction with the field named. A signing service calls this before it looks
    anything up for the request; :func:`unsigned_from_dict` applies the same rules to the full dict.
    """
    unknown = set(tx) - _KNOWN_FIELDS
    if unknown:
        raise MalformedTransaction(f"unknown transaction fields: {', '.join(sorted(unknown))}")
    for name, f in DICT_FIELDS.items():
        key = "input" if name == "data" and name not in tx and "input" in tx else name
        if key in tx:
            check_value(f, value_from_json(f, tx[key]))
    if "type" in tx and as_int(tx["type"], "type") not in (TX_TYPE_EIP1559, TX_TYPE_LEGACY):
        raise MalformedTransaction("only type 2 (EIP-1559) and legacy (EIP-155) transactions are signed")
    if "from" in tx and len(as_bytes(tx["from"], "from")) != 20:
        raise MalformedTransaction("from must be a 20-byte address")


def unsigned_from_dict(
    tx: Mapping[str, Any], *, artifact: tuple[bytes, KeyId] | None = None
) -> LegacyTransaction | FeeMarketTransaction:
    """Build the unsigned transaction from an eth-account / web3.py style dict.

    Keys: chainId, nonce, gas, to, value, data, and either maxFeePerGas + maxPriorityFeePerGas
    (EIP-1559, the default) or gasPrice (legacy EIP-155). ``type`` may be given as 2 or 0.
    ``artifact``: (artifact address, key id) to add as :func:`with_artifact` does, in the same
    construction (an EIP-1559 transaction is then built and checked once, not twice).
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
        kind = as_int(declared, "type")
        if kind not in (TX_TYPE_EIP1559, TX_TYPE_LEGACY):
            raise MalformedTransaction("only type 2 (EIP-1559) and legacy (EIP-155) transactions are signed")
        legacy = kind == TX_TYPE_LEGACY
    if legacy:
        if tx.get("accessList"):
            raise MalformedTransaction("legacy transactions cannot carry an access list")
        fields = {key: value for key, value in tx.items() if key != "accessList"}
        return from_mapping(LegacyTransaction, fields)
    if "gasPrice" in tx:
        raise MalformedTransaction(
            "EIP-1559 (type 2) transaction takes maxFeePerGas/maxPriorityFeePerGas, not gasPrice"
        )
    if artifact is not None and "gas" in tx:
        try:
            access_list = as_access_list(tx.get("accessList"))
            gas = as_int(tx["gas"], "gas")
        except MalformedTransaction:
            pass  # reported in field order by from_mapping below
        else:
            address, key_id = artifact
            if not any(named == address and key_id in keys for named, keys in access_list):
                entry = (bytes(address), (bytes(key_id),))
                return from_mapping(
                    FeeMarketTransaction, tx, gas=_gas_with_artifact(gas), access_list=(*access_list, entry)
                )
    return from_mapping(FeeMarketTransaction, tx)


def with_artifact(
    unsigned: LegacyTransaction | FeeMarketTransaction, artifact_address: bytes, key_id: KeyId
) -> LegacyTransaction | FeeMarketTransaction:
    """Add the WNS artifact entry (and its EIP-2930 intrinsic gas) unless it is already present."""
    if not isinstance(unsigned, FeeMarketTransaction):
        return unsigned  # EIP-155 has no access list, so no artifact
    for address, keys in unsigned.access_list:
        if address == artifact_address and key_id in keys:
            return unsigned
    entry = (bytes(artifact_address), (bytes(key_id),))
    return replace(unsigned, gas=_gas_with_artifact(unsigned.gas), access_list=(*unsigned.access_list, entry))


def _gas_with_artifact(gas: int) -> int:
    """``gas`` plus the EIP-2930 intrinsic gas of the artifact's access-list entry (one address, one key)."""
    total = gas + ACCESS_LIST_ADDRESS_GAS + ACCESS_LIST_STORAGE_KEY_GAS
    if 0 <= gas < 1 << 64 <= total:  # gas is a U64 on the wire (a gas already out of range: its own error)
        raise MalformedTransaction("gas plus the artifact's access-list gas is wider than 8 bytes")
    return total


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
        """Sign ``tx`` classically (stock format) and with ML-DSA-87 over M' (docs/envelope-v1.md §M')."""
        if "from" in tx and as_bytes(tx["from"], "from") != self.address_bytes:
            raise MalformedTransaction("transaction 'from' is not this account")
        artifact = (self._artifact_address, self._key_id)
        unsigned = with_artifact(unsigned_from_dict(tx, artifact=artifact), *artifact)
        transaction = SignedTransaction.sign(unsigned, self._classical.sign_digest)
        m_prime = message_representative(
            chain_id=unsigned.chain_id,
            sender=self.address_bytes,
            key_id=self._key_id,
            signing_hash=transaction.signing_hash,
            classical_signature_hash=classical_signature_hash(transaction.signature),
        )
        pqc_signature = self._pqc.sign(m_prime, SUITE_LABEL)
        key = self._pqc.public_key_bytes if self._include_public_key else self._key_id
        envelope = Envelope(transaction, key, pqc_signature).encode()
        return SignedComposite(transaction.raw, envelope, transaction.tx_hash, transaction)

    def __repr__(self) -> str:
        return f"CompositeAccount(address={self.address}, key_id=0x{self._key_id.hex()})"
