"""The upgraded chain rules, as block-validity checks (docs/pqc-transaction.md §validity, DESIGN.md §7).

Every transaction of a block is judged against the KeyRegistry state at the block's *parent*:

* a PQC-only transaction (type 0x50) is valid only if its chain id is this chain's, the registry
  says its sender is FINALIZING or PQC_ONLY, keccak256(public key) equals the committed key id, and the
  ML-DSA-87 signature over M' verifies;
* any other transaction is judged by :class:`~chainplug.verify.UpgradedVerifier` (one policy
  implementation for nodes, gateways and the chain): the PQC sidecar learnt through
  ``chainplug_sendEnvelope`` is checked if there is one, and a HYBRID sender's bare transaction is invalid
  from the activation block on, a FINALIZING sender's always, a PQC_ONLY sender's classical one always.

The rules know nothing of py-evm's classes: chainplug.node.chain.fork calls them from the VM with a
reader of the parent state's registry.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from eth_utils.exceptions import ValidationError

from ...crypto.pqc import PQCBackend
from ...envelope.pqc_tx import PqcTransaction, verify_pqc_signature
from ...errors import ChainplugError, PolicyRejected, Reason, UnsupportedEnvelope
from ...types import AccountState, Address, Hash32, KeyId
from ...verify import RegistryEntry, UpgradedVerifier
from ...verify.pqc_only import check_pqc_only

SIDECAR_CAPACITY = 100_000
"""Sidecars kept by a :class:`SidecarStore` before the oldest is evicted."""

RegistryReader = Callable[[Address], RegistryEntry]
"""Reads one account's registry entry from the parent block's state."""


class PqcRuleViolation(ChainplugError, ValidationError):
    """A transaction breaks the upgraded chain rules. Also a py-evm ``ValidationError``, so py-evm treats
    the transaction (and a block containing it) as invalid; :attr:`error` is the underlying chainplug
    error (PolicyRejected, InvalidSignature, MalformedTransaction, ...) and :attr:`reason` its reason."""

    def __init__(self, error: ChainplugError) -> None:
        super().__init__(str(error), reason=error.reason)
        self.error = error


class SidecarSource(Protocol):
    """Where the chain finds a transaction's PQC sidecar (its composite envelope), by tx hash."""

    def get(self, tx_hash: bytes) -> bytes | None: ...


class NoSidecars:
    """A chain that learns no sidecars (the default)."""

    def get(self, tx_hash: bytes) -> bytes | None:
        return None


class SidecarStore:
    """PQC sidecars (composite envelopes) by transaction hash; bounded, oldest evicted (a mined
    block was judged when it was built, so an evicted sidecar is never needed again here)."""

    def __init__(self, capacity: int = SIDECAR_CAPACITY) -> None:
        self._items: OrderedDict[bytes, bytes] = OrderedDict()
        self._capacity = capacity

    def get(self, tx_hash: bytes) -> bytes | None:
        return self._items.get(bytes(tx_hash))

    def put(self, tx_hash: bytes, envelope: bytes) -> None:
        self._items[bytes(tx_hash)] = bytes(envelope)
        if len(self._items) > self._capacity:
            self._items.popitem(last=False)

    def discard(self, tx_hash: bytes) -> None:
        self._items.pop(bytes(tx_hash), None)

    def __len__(self) -> int:
        return len(self._items)


class ParentStateRegistry:
    """The verifiers' :class:`~chainplug.verify.Registry`, answered from one block's parent state.

    # NOTE: ``entry`` ignores its ``block`` argument: an instance is bound to the parent of the block
    # under validation, which is exactly the state the rules must judge by.
    """

    def __init__(self, read: RegistryReader, public_keys: Mapping[bytes, bytes]) -> None:
        self._read = read
        self._public_keys = public_keys

    def entry(self, address: Address, block: int | None = None) -> RegistryEntry:
        return self._read(address)

    def public_key(self, key_id: KeyId) -> bytes | None:
        return self._public_keys.get(bytes(key_id))


@dataclass
class ChainRules:
    """Configuration and caches of the upgraded rules for one chain."""

    chain_id: int
    activation_block: int = 0
    """From this block on, HYBRID senders need a valid PQC sidecar (FINALIZING always does)."""
    registry_address: Address | None = None
    """The KeyRegistry the rules read; None = no registry (every sender CLASSICAL, no PQC-only tx valid)."""
    sidecars: SidecarSource = field(default_factory=NoSidecars)
    backend: PQCBackend | None = None
    public_keys: dict[bytes, bytes] = field(default_factory=dict)
    """ML-DSA-87 public keys seen in full-key envelopes and PQC-only transactions, by key id (the
    registry stores only the commitment; key-id envelopes are checked against these)."""
    _verified: OrderedDict[bytes, KeyId] = field(default_factory=OrderedDict, repr=False)
    _entries: OrderedDict[tuple[bytes, bytes, bytes], RegistryEntry] = field(default_factory=OrderedDict, repr=False)

    _CACHE_SIZE = 16_384

    def cached_entry(self, parent_hash: Hash32, account: Address, read: RegistryReader) -> RegistryEntry:
        """``read(account)``, cached per (parent block, account): a mined block's state never changes."""
        key = (bytes(parent_hash), bytes(self.registry_address or b""), bytes(account))
        entry = self._entries.get(key)
        if entry is None:
            entry = self._entries[key] = read(account)
            if len(self._entries) > self._CACHE_SIZE:
                self._entries.popitem(last=False)
        return entry

    def verify_signature(self, tx: PqcTransaction) -> KeyId:
        """ML-DSA-87 check of a PQC-only transaction, memoised by transaction hash (it covers every byte)."""
        tx_hash = tx.tx_hash
        key_id = self._verified.get(tx_hash)
        if key_id is None:
            key_id = verify_pqc_signature(tx, self.backend)
            self._verified[tx_hash] = key_id
            self.public_keys[bytes(key_id)] = tx.public_key
            if len(self._verified) > self._CACHE_SIZE:
                self._verified.popitem(last=False)
        return key_id

    def check_pqc_only(self, tx: PqcTransaction, read: RegistryReader) -> None:
        """Raise :class:`PqcRuleViolation` unless the PQC-only transaction may be included (the
        verifiers' pqc-only policy, with the signature check memoised per transaction)."""
        try:
            check_pqc_only(tx, read(tx.sender), chain_id=self.chain_id, verify=self.verify_signature)
        except ChainplugError as exc:
            raise PqcRuleViolation(exc) from exc

    def check_classical(
        self, raw: bytes, tx_hash: Hash32, sender: Address, block_number: int, read: RegistryReader
    ) -> None:
        """Raise :class:`PqcRuleViolation` unless the classical transaction (with its sidecar, if the
        chain has one) may be included in block ``block_number``."""
        sidecar = self.sidecars.get(tx_hash)
        registry = ParentStateRegistry(read, self.public_keys)
        verifier = UpgradedVerifier(
            registry, activation_block=self.activation_block, chain_id=self.chain_id, backend=self.backend
        )
        try:
            try:
                # the registry is the parent's state; the verifier's block is that parent's number
                verifier.verify(sidecar if sidecar is not None else raw, block=block_number - 1)
            except UnsupportedEnvelope:
                # EIP-2930, blob, set-code or pre-EIP-155 transactions cannot carry a PQC part: stock
                # rules for CLASSICAL senders, invalid for every registered one.
                state = read(sender).state
                if state != AccountState.CLASSICAL:
                    raise PolicyRejected(
                        f"sender is {state.name}: only EIP-1559 or EIP-155 transactions with a PQC sidecar "
                        "(or PQC-only transactions) are valid",
                        reason=Reason.UNSUPPORTED_TX_TYPE,
                    ) from None
        except ChainplugError as exc:
            raise PqcRuleViolation(exc) from exc
