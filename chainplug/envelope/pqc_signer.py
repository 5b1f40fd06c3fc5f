"""Signing PQC-only transactions with nothing but the account's ML-DSA-87 key (docs/pqc-transaction.md)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from eth_utils.address import to_checksum_address

from ..constants import SUITE_LABEL
from ..crypto.pqc import MLDSA87SigningKey, PQCBackend, get_backend
from ..errors import MalformedTransaction
from ..types import Address, Hash32, KeyId
from .fields import from_mapping
from .pqc_tx import PqcOnlyTransaction, PqcTransaction


@dataclass(frozen=True, slots=True)
class SignedPqcTransaction:
    """Result of :meth:`PqcOnlySigner.sign_transaction`."""

    raw_transaction: bytes
    """Send it with eth_sendRawTransaction (upgraded chains only: stock clients reject type 0x50)."""
    tx_hash: Hash32
    transaction: PqcTransaction


def _address(value: object) -> Address:
    if isinstance(value, bytes | bytearray):
        address = bytes(value)
    elif isinstance(value, str):
        try:
            address = bytes.fromhex(value.removeprefix("0x"))
        except ValueError as exc:
            raise MalformedTransaction("address is not hex") from exc
    else:
        raise MalformedTransaction("address must be bytes or a 0x-hex string")
    if len(address) != 20:
        raise MalformedTransaction("address must be 20 bytes")
    return Address(address)


_KNOWN = frozenset({"chainId", "nonce", "gas", "to", "value", "data", "input", "maxFeePerGas",
                    "maxPriorityFeePerGas", "accessList", "type", "from"})  # fmt: skip


class PqcOnlySigner:
    """Signs PQC-only transactions for ``sender`` with its ML-DSA-87 key (no classical key at all).

    ``gas`` is used as given: add :data:`~chainplug.constants.PQC_TX_AUTH_GAS` to an EIP-1559 estimate
    (the chain server's ``eth_estimateGas`` does so when the call object says ``"type": "0x50"``).
    """

    def __init__(self, signing_key: MLDSA87SigningKey, sender: bytes | str) -> None:
        self._key = signing_key
        self._sender = _address(sender)

    @classmethod
    def from_seed(cls, mldsa_seed: bytes, sender: bytes | str, *, backend: PQCBackend | None = None) -> PqcOnlySigner:
        """Rebuild the signer from the account's 32-byte ML-DSA-87 seed (as CompositeAccount.from_keys)."""
        return cls((backend or get_backend()).mldsa87_from_seed(mldsa_seed), sender)

    @property
    def address(self) -> str:
        """EIP-55 checksummed sender address."""
        return str(to_checksum_address(self._sender))

    @property
    def address_bytes(self) -> Address:
        return self._sender

    @property
    def key_id(self) -> KeyId:
        return self._key.key_id

    @property
    def public_key(self) -> bytes:
        return self._key.public_key_bytes

    def sign_transaction(self, tx: Mapping[str, Any]) -> SignedPqcTransaction:
        """Sign a web3.py-style dict (chainId, nonce, gas, to, value, data, maxFeePerGas,
        maxPriorityFeePerGas, accessList; ``from`` must be the sender if given)."""
        if "from" in tx and _address(tx["from"]) != self._sender:
            raise MalformedTransaction("transaction 'from' is not this signer's sender")
        if "gasPrice" in tx:
            raise MalformedTransaction(
                "a PQC-only transaction takes maxFeePerGas and maxPriorityFeePerGas, not gasPrice"
            )
        unknown = set(tx) - _KNOWN
        if unknown:
            raise MalformedTransaction(f"unknown transaction fields: {', '.join(sorted(unknown))}")
        unsigned = from_mapping(PqcOnlyTransaction, tx, sender=self._sender)
        signing_hash = unsigned.signing_hash()
        signature = self._key.sign(unsigned.message_representative(self.key_id, signing_hash), SUITE_LABEL)
        raw = unsigned.encode_signed(self.public_key, signature)
        transaction = PqcTransaction(unsigned, self.public_key, signature, signing_hash, raw)
        return SignedPqcTransaction(raw, transaction.tx_hash, transaction)

    def __repr__(self) -> str:
        return f"PqcOnlySigner(address={self.address}, key_id=0x{self.key_id.hex()})"
