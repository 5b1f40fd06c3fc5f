"""The upgraded chain rules, as block-validity checks (docs/pqc-transaction.md §validity, docs/design.md §chain).

Every transaction of block N is judged, by one long-lived :class:`~chainplug.verify.UpgradedVerifier`
(one policy implementation for nodes, gateways and the chain; one cache of parsed keys), against the
KeyRegistry state at N's *parent*, as a transaction included in N:

* a PQC-only transaction (type 0x50) is valid only if its chain id is this chain's, the registry
  says its sender is FINALIZING or PQC_ONLY, keccak256(public key) equals the committed key id, and the
  ML-DSA-87 signature over M' verifies;
* any other transaction is judged with its PQC sidecar, if ``chainplug_sendEnvelope`` brought one: the
  sidecar is checked, and a HYBRID sender's bare transaction is invalid from the activation block on, a
  FINALIZING sender's always, a PQC_ONLY sender's classical one always.

The rules know nothing of py-evm's classes: chainplug.node.chain.fork calls them from the VM with a
reader of the parent state's registry.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field

from eth_utils.exceptions import ValidationError

from ...crypto.pqc import PQCBackend
from ...envelope.pqc_tx import PqcTransaction
from ...errors import ChainplugError, ConfigError, PolicyRejected, Reason, UnsupportedEnvelope
from ...types import AccountState, Address, Hash32, KeyId
from ...verify import RegistryEntry, UpgradedVerifier
from ..sidecars import NoSidecars, SidecarSource

RegistryReader = Callable[[Address], RegistryEntry]
"""Reads one account's registry entry from the parent block's state."""


class PqcRuleViolation(ChainplugError, ValidationError):
    """A transaction breaks the upgraded chain rules. Also a py-evm ``ValidationError``, so py-evm treats
    the transaction (and a block containing it) as invalid; :attr:`error` is the underlying chainplug
    error (PolicyRejected, InvalidSignature, MalformedTransaction, ...) and :attr:`reason` its reason."""

    default_reason = Reason.PQC_REQUIRED

    def __init__(self, error: ChainplugError) -> None:
        super().__init__(str(error), reason=error.reason)
        self.error = error


class ParentStateRegistry:
    """The verifiers' :class:`~chainplug.verify.Registry`, answered from the parent state of the block
    under validation: :meth:`reading` binds the reader of that state for the duration of one check.

    # NOTE: ``entry`` ignores its ``block`` argument: the bound reader is exactly the state the rules
    # must judge by. Outside a check there is no state to read, and asking is a bug.
    """

    def __init__(self, public_keys: Mapping[bytes, bytes]) -> None:
        self._read: RegistryReader | None = None
        self._public_keys = public_keys

    @contextmanager
    def reading(self, read: RegistryReader) -> Iterator[None]:
        self._read = read
        try:
            yield
        finally:
            self._read = None

    def entry(self, address: Address, block: int | None = None) -> RegistryEntry:
        if self._read is None:
            raise ConfigError("the chain rules read the registry only while checking a block")
        return self._read(address)

    def public_key(self, key_id: KeyId) -> bytes | None:
        return self._public_keys.get(bytes(key_id))


@dataclass
class ChainRules:
    """Configuration, verifier and caches of the upgraded rules for one chain (not thread-safe: the
    chain validates one transaction at a time)."""

    chain_id: int
    activation_block: int = 0
    """From this block on, HYBRID senders need a valid PQC sidecar (FINALIZING always does). Fixed at
    construction: the verifier is built with it."""
    registry_address: Address | None = None
    """The KeyRegistry the rules read; None = no registry (every sender CLASSICAL, no PQC-only tx valid)."""
    sidecars: SidecarSource = field(default_factory=NoSidecars)
    backend: PQCBackend | None = None
    public_keys: dict[bytes, bytes] = field(default_factory=dict)
    """ML-DSA-87 public keys seen in full-key envelopes and PQC-only transactions, by key id (the
    registry stores only the commitment; key-id envelopes are checked against these)."""
    _entries: OrderedDict[tuple[bytes, bytes, bytes], RegistryEntry] = field(default_factory=OrderedDict, repr=False)
    _versions: OrderedDict[tuple[bytes, bytes], bytes] = field(default_factory=OrderedDict, repr=False)
    _parent_state: ParentStateRegistry = field(init=False, repr=False)
    verifier: UpgradedVerifier = field(init=False, repr=False)

    _CACHE_SIZE = 16_384

    def __post_init__(self) -> None:
        self._parent_state = ParentStateRegistry(self.public_keys)
        self.verifier = UpgradedVerifier(
            self._parent_state, activation_block=self.activation_block, chain_id=self.chain_id, backend=self.backend
        )

    def cached_entry(
        self, parent_hash: Hash32, account: Address, read: RegistryReader, version: Callable[[], bytes] | None = None
    ) -> RegistryEntry:
        """``read(account)``, cached: an entry read at one parent is reused at every parent whose registry
        has the same ``version()`` — what identifies the registry's content there (asked once per parent;
        without it, the parent hash: a mined block's state never changes)."""
        registry = bytes(self.registry_address or b"")
        at = (bytes(parent_hash), registry)
        content = self._versions.get(at)
        if content is None:
            content = self._versions[at] = version() if version is not None else b"parent:" + at[0]
            if len(self._versions) > self._CACHE_SIZE:
                self._versions.popitem(last=False)
        key = (content, registry, bytes(account))
        entry = self._entries.get(key)
        if entry is None:
            entry = self._entries[key] = read(account)
            if len(self._entries) > self._CACHE_SIZE:
                self._entries.popitem(last=False)
        return entry

    def check_pqc_only(self, tx: PqcTransaction, inclusion_block: int, read: RegistryReader) -> None:
        """Raise :class:`PqcRuleViolation` unless the PQC-only transaction may be included in block
        ``inclusion_block`` (the verifiers' pqc-only policy)."""
        try:
            with self._parent_state.reading(read):
                self.verifier.verify(tx, inclusion_block=inclusion_block)
        except ChainplugError as exc:
            raise PqcRuleViolation(exc) from exc
        self.public_keys[bytes(tx.key_id)] = tx.public_key

    def check_classical(
        self, raw: bytes, tx_hash: Hash32, sender: Callable[[], Address], inclusion_block: int, read: RegistryReader
    ) -> Address | None:
        """Raise :class:`PqcRuleViolation` unless the classical transaction ``raw`` (with its sidecar,
        if the chain has one) may be included in block ``inclusion_block``. Returns the sender the
        verifier recovered from ``raw`` (None for a transaction type it does not read: ``sender()`` then
        gives it, the caller's own way)."""
        sidecar = self.sidecars.get(tx_hash)
        try:
            try:
                with self._parent_state.reading(read):
                    verified = self.verifier.verify(
                        sidecar if sidecar is not None else raw, inclusion_block=inclusion_block
                    )
            except UnsupportedEnvelope:
                # EIP-2930, blob, set-code or pre-EIP-155 transactions cannot carry a PQC part: stock
                # rules for CLASSICAL senders, invalid for every registered one.
                state = read(sender()).state
                if state != AccountState.CLASSICAL:
                    raise PolicyRejected(
                        f"sender is {state.name}: only EIP-1559 or EIP-155 transactions with a PQC sidecar "
                        "(or PQC-only transactions) are valid",
                        reason=Reason.UNSUPPORTED_TX_TYPE,
                    ) from None
                return None
        except ChainplugError as exc:
            raise PqcRuleViolation(exc) from exc
        return verified.sender
