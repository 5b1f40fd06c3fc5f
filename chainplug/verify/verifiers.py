"""Verifiers: legacy (classical part only), upgraded (registry-driven), strict (both, always).

Each ``verify`` either returns a :class:`VerifiedTransaction` (which only this module can create)
or raises: :class:`~chainplug.errors.MalformedEnvelope` for bytes that do not parse,
:class:`~chainplug.errors.VerificationError` subclasses for well-formed input that is rejected.
There is no bool to forget to check.

The upgraded verifier decides what it *requires* from the sender's registered state and the
activation block, never from what the envelope happens to contain (docs/design.md §threat model):
stripping the PQC part of a registered sender's transaction is a rejection, not a fallback.

``verify`` takes bytes (decoded here, strictly) or what :func:`decode` already made of them, so a
process that has decoded a transaction once passes the typed result on instead of its bytes.
"""

from __future__ import annotations

import hmac
from collections import OrderedDict
from enum import StrEnum

from ..constants import ENVELOPE_MAGIC, MLDSA87_PUBLIC_KEY_BYTES, SUITE_LABEL, TX_TYPE_PQC_ONLY, WNS_ARTIFACT_ADDRESS
from ..crypto.keccak import keccak256
from ..crypto.pqc import MLDSA87VerifyingKey, PQCBackend, get_backend, mldsa87_key_id
from ..crypto.secp256k1 import _recover_address_compact
from ..envelope.codec import Envelope, decode_envelope
from ..envelope.decode import decode_pqc_transaction, decode_transaction
from ..envelope.fields import AccessList
from ..envelope.message import _message_representative
from ..envelope.pqc_tx import PqcTransaction
from ..envelope.transaction import SignedTransaction
from ..errors import InvalidKey, InvalidSignature, PolicyRejected, Reason, UnsupportedEnvelope, VerificationError
from ..types import AccountState, Address, Hash32, KeyId
from .activation import pqc_enforced
from .pqc_only import check_pqc_only
from .registry import Registry, RegistryEntry

Decoded = SignedTransaction | Envelope | PqcTransaction
"""What a node receives, strictly decoded: a classical transaction, an envelope or a PQC-only transaction."""


class PqcStatus(StrEnum):
    """What a verifier found about the PQC part."""

    VALID = "valid"
    """Present and verified against the sender and (if registered) its committed key."""
    MISSING = "missing"
    """Expected (registered sender or hybrid artifact) but absent; accepted only before activation."""
    INVALID = "invalid"
    """Present but rejected; accepted only before activation (telemetry), see ``pqc_reason``."""
    NOT_EXPECTED = "not-expected"
    """A CLASSICAL sender's plain transaction: nothing to check."""
    NOT_CHECKED = "not-checked"
    """Legacy verifier: it does not read PQC parts."""


class VerifiedTransaction:
    """Proof that a verifier accepted a transaction.

    Only verifiers in this module can create one: the constructor refuses, and there is no
    dataclass ``replace`` to turn one acceptance into another (e.g. a legacy acceptance into a
    strict one for some other sender). Instances are immutable. (The fields live in the instance
    dictionary, given whole by ``_mint``: one call per result instead of one per field.)
    """

    policy: str
    """Which verifier accepted: legacy, upgraded or strict."""
    sender: Address
    """Recovered from the classical signature."""
    transaction: SignedTransaction | PqcTransaction
    """The classical transaction, or the PQC-only transaction (type 0x50)."""
    pqc: PqcStatus
    sender_state: AccountState | None
    """Registered state the decision used (None for the legacy verifier)."""
    key_id: KeyId | None
    """The ML-DSA-87 key that verified (VALID only)."""
    pqc_reason: Reason | None
    """Why the PQC part was INVALID, when that was tolerated before activation."""

    def __init__(self, *_: object, **__: object) -> None:
        raise TypeError("VerifiedTransaction is created only by chainplug verifiers")

    @classmethod
    def _mint(
        cls,
        policy: str,
        sender: Address,
        transaction: SignedTransaction | PqcTransaction,
        pqc: PqcStatus,
        sender_state: AccountState | None = None,
        key_id: KeyId | None = None,
        pqc_reason: Reason | None = None,
    ) -> VerifiedTransaction:
        result = _object_new(cls)
        _object_setattr(result, "__dict__", {
            "policy": policy, "sender": sender, "transaction": transaction, "pqc": pqc,
            "sender_state": sender_state, "key_id": key_id, "pqc_reason": pqc_reason,
        })  # fmt: skip
        return result

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("VerifiedTransaction is immutable")

    def __delattr__(self, name: str) -> None:
        raise AttributeError("VerifiedTransaction is immutable")

    def __repr__(self) -> str:
        state = self.sender_state.name if self.sender_state is not None else None
        return (
            f"VerifiedTransaction(policy={self.policy!r}, sender=0x{self.sender.hex()}, "
            f"tx_hash=0x{self.tx_hash.hex()}, pqc={self.pqc.value!r}, sender_state={state})"
        )

    @property
    def tx_hash(self) -> Hash32:
        return self.transaction.tx_hash

    @property
    def chain_id(self) -> int:
        return self.transaction.chain_id


_object_new = object.__new__
_object_setattr = object.__setattr__
_MAGIC_BYTES = len(ENVELOPE_MAGIC)


_PQC_ONLY_TYPE = bytes((TX_TYPE_PQC_ONLY,))


def decode(data: bytes) -> Decoded:
    """Strictly decode an envelope, a PQC-only transaction or a classical transaction (by its first
    bytes). Raises MalformedEnvelope (UnsupportedEnvelope for what this build cannot read)."""
    if data[:_MAGIC_BYTES] == ENVELOPE_MAGIC:  # is_envelope(), inline (hot path)
        return decode_envelope(data)
    if data[:1] == _PQC_ONLY_TYPE:
        return decode_pqc_transaction(data)
    return decode_transaction(data)


def parse(data: bytes | Decoded) -> tuple[SignedTransaction, Envelope | None]:
    """(classical transaction, envelope or None) of an envelope or a classical transaction, decoding
    bytes strictly. Raises MalformedEnvelope; UnsupportedEnvelope for a PQC-only transaction."""
    if type(data) is not bytes:  # bytes first: the hot path
        if isinstance(data, Envelope):
            return data.transaction, data
        if isinstance(data, SignedTransaction):
            return data, None
        if isinstance(data, PqcTransaction):
            raise UnsupportedEnvelope(
                f"transaction type 0x{TX_TYPE_PQC_ONLY:02x} is not supported (EIP-1559 type 2 and legacy EIP-155 are)",
                reason=Reason.UNSUPPORTED_TX_TYPE,
            )
        data = bytes(data)
    if data[:_MAGIC_BYTES] == ENVELOPE_MAGIC:  # is_envelope(), inline (hot path)
        envelope = decode_envelope(data)
        return envelope.transaction, envelope
    return decode_transaction(data), None


def _check_chain(tx: SignedTransaction, chain_id: int | None) -> None:
    if chain_id is not None and tx.chain_id != chain_id:
        raise PolicyRejected(
            f"transaction is for chain {tx.chain_id}, this verifier is on chain {chain_id} (replay?)",
            reason=Reason.WRONG_CHAIN,
        )


class LegacyVerifier:
    """What a stock node checks: the classical signature only. Envelopes are read for their
    classical transaction; their PQC part is ignored."""

    policy = "legacy"

    def __init__(self, *, chain_id: int | None = None) -> None:
        self.chain_id = chain_id

    def verify(self, data: bytes | Decoded) -> VerifiedTransaction:
        tx, _ = parse(data)
        _check_chain(tx, self.chain_id)
        sender = _recover_address_compact(tx.signing_hash, tx.signature.to_bytes())
        return VerifiedTransaction._mint(self.policy, sender, tx, PqcStatus.NOT_CHECKED)


class _PqcChecker:
    """Shared PQC-part check with a bounded cache of parsed public keys (parsing costs ~10 µs).

    The cache is keyed by key id, each entry holding the public key it was computed from, plus an
    index from public key to key id. A full-key envelope from a registered sender is matched against
    the cached key of the sender's committed key id with one byte comparison: no keccak of the
    2,592-byte key and no hashing of it for a dict lookup (it is a fresh object for every envelope).
    """

    _CACHE_SIZE = 4096

    def __init__(self, registry: Registry | None, backend: PQCBackend | None, artifact_address: bytes) -> None:
        self.registry = registry
        self.backend = backend or get_backend()
        self.artifact_address = bytes(artifact_address)
        self._keys: OrderedDict[KeyId, tuple[bytes, MLDSA87VerifyingKey]] = OrderedDict()
        """key id -> (public key, parsed key); invariant: key id == keccak256(public key)."""
        self._key_ids: dict[bytes, KeyId] = {}
        """public key -> key id, for every key in ``_keys``."""

    def _verifying_key(self, key: bytes, expected: KeyId | None = None) -> tuple[KeyId, MLDSA87VerifyingKey]:
        """(key id, parsed key) of ``key``: an ML-DSA-87 public key, or a key id the registry must know.
        ``expected``: the sender's committed key id, tried first (a hint only: the key id returned is
        always the one of ``key``)."""
        public = key
        if len(public) == MLDSA87_PUBLIC_KEY_BYTES:  # full-key form
            if expected is not None:
                cached = self._keys.get(expected)
                if cached is not None and cached[0] == public:
                    self._keys.move_to_end(expected)
                    return expected, cached[1]
        else:  # key-id form: the key must be known from the registry
            known = self.registry.public_key(KeyId(public)) if self.registry is not None else None
            if known is None:
                raise PolicyRejected("envelope names a key id this verifier does not know", reason=Reason.UNKNOWN_KEY)
            public = known
        key_id = self._key_ids.get(public)
        if key_id is not None:
            self._keys.move_to_end(key_id)
            return key_id, self._keys[key_id][1]
        try:
            verifying_key = self.backend.mldsa87_public_key(public)
        except InvalidKey as exc:
            raise InvalidSignature("ML-DSA-87 public key is invalid") from exc
        key_id = mldsa87_key_id(public)
        stale = self._keys.pop(key_id, None)  # only on a keccak256 collision; keeps the index exact
        if stale is not None:
            self._key_ids.pop(stale[0], None)
        self._keys[key_id] = (public, verifying_key)
        self._key_ids[public] = key_id
        if len(self._keys) > self._CACHE_SIZE:
            _, (evicted, _) = self._keys.popitem(last=False)
            self._key_ids.pop(evicted, None)
        return key_id, verifying_key

    def check(
        self,
        tx: SignedTransaction,
        envelope: Envelope,
        sender: Address,
        entry: RegistryEntry,
        classical_signature: bytes | None = None,
    ) -> KeyId:
        """Raise unless the PQC part is valid for this sender, transaction and registered key.
        ``classical_signature``: ``tx.signature.to_bytes()`` when the caller has it already."""
        key_id, verifying_key = self._verifying_key(envelope.key, entry.key_id)
        if entry.key_id is not None and not hmac.compare_digest(key_id, entry.key_id):
            raise PolicyRejected("envelope key does not match the sender's registered key", reason=Reason.KEY_MISMATCH)
        if _artifact_mismatch(tx.unsigned.access_list, self.artifact_address, key_id):
            raise PolicyRejected("hybrid artifact names a different key", reason=Reason.ARTIFACT_MISMATCH)
        if classical_signature is None:
            classical_signature = tx.signature.to_bytes()
        m_prime = _message_representative(
            tx.unsigned.chain_id, sender, key_id, tx.signing_hash, keccak256(classical_signature)
        )
        verifying_key.verify(envelope.pqc_signature, m_prime, SUITE_LABEL)
        return key_id

    def check_pqc_only(self, tx: PqcTransaction, entry: RegistryEntry, chain_id: int | None) -> KeyId:
        """The pqc-only policy for ``tx`` (chainplug.verify.pqc_only), its key parsed through the cache."""
        return check_pqc_only(tx, entry, chain_id=chain_id, verify=self._verify_pqc_only_signature)

    def _verify_pqc_only_signature(self, tx: PqcTransaction) -> KeyId:
        key_id, verifying_key = self._verifying_key(tx.public_key)
        verifying_key.verify(tx.signature, tx.message_representative(), SUITE_LABEL)
        return key_id


def _artifact_mismatch(access_list: AccessList, artifact_address: bytes, key_id: bytes) -> bool:
    """``bool(artifacts) and key_id not in artifacts`` for ``artifacts = artifact_key_ids(...)``,
    without building the sets: the access list names artifact keys and none of them is ``key_id``."""
    named = False
    for address, storage_keys in access_list:
        if address == artifact_address and storage_keys:
            if key_id in storage_keys:
                return False
            named = True
    return named


def artifact_key_ids(tx: SignedTransaction, artifact_address: bytes) -> frozenset[bytes]:
    """Storage keys listed under the WNS artifact address in the access list (empty if none)."""
    keys: set[bytes] = set()
    for address, storage_keys in tx.unsigned.access_list:
        if address == artifact_address:
            keys.update(storage_keys)
    return frozenset(keys)


def _as_pqc_only(data: bytes | Decoded) -> PqcTransaction | None:
    """``data`` as a PQC-only transaction if it is one (decoding bytes strictly), else None."""
    if type(data) is not bytes:
        if isinstance(data, PqcTransaction):
            return data
        if isinstance(data, Envelope | SignedTransaction):
            return None
        data = bytes(data)
    return decode_pqc_transaction(data) if data[:1] == _PQC_ONLY_TYPE else None


def _verify_pqc_only(
    policy: str,
    tx: PqcTransaction,
    registry: Registry,
    inclusion_block: int | None,
    chain_id: int | None,
    checker: _PqcChecker,
) -> VerifiedTransaction:
    """The pqc-only policy (chainplug.verify.pqc_only) for a PQC-only transaction (type 0x50)."""
    entry = registry.entry(tx.sender, _parent(inclusion_block))
    key_id = checker.check_pqc_only(tx, entry, chain_id)
    return VerifiedTransaction._mint(policy, tx.sender, tx, PqcStatus.VALID, entry.state, key_id)


def _parent(inclusion_block: int | None) -> int | None:
    """The block whose registry state judges a transaction included in ``inclusion_block``: its
    parent (the state every validator of that block has; docs/design.md §activation)."""
    return None if inclusion_block is None else inclusion_block - 1


class UpgradedVerifier:
    """Registry-aware verifier for upgraded nodes (docs/envelope-v1.md §verifiers).

    Requirements by the sender's registered state and by :func:`~chainplug.verify.pqc_enforced`:

    ==============  ==========================  =========================================
    state           before activation            from ``activation_block`` on
    ==============  ==========================  =========================================
    CLASSICAL       classical ok; a PQC part     classical ok; a PQC part must verify;
                    that fails is recorded       a stripped hybrid (artifact, no PQC
                    (telemetry)                  part) is rejected
    HYBRID          classical ok; PQC status     PQC part required and valid
                    recorded (telemetry)
    FINALIZING      PQC part required and valid  PQC part required and valid
    PQC_ONLY        classical rejected           classical rejected
    ==============  ==========================  =========================================

    A PQC-only transaction (type 0x50) is checked by the pqc-only policy whatever the activation
    block: its sender must be registered FINALIZING or PQC_ONLY with the key it carries
    (chainplug.verify.pqc_only).

    ``inclusion_block`` is the block the transaction enters (for admission: the next block). The
    registry is read at its parent, and the rules enforce from ``activation_block`` on — the same
    block the chain's sidecar rule starts at. ``inclusion_block=None`` means "now": the latest
    registry state, activated. One instance is meant to live long: it caches parsed keys.
    """

    policy = "upgraded"

    def __init__(
        self,
        registry: Registry,
        *,
        activation_block: int = 0,
        chain_id: int | None = None,
        backend: PQCBackend | None = None,
        artifact_address: bytes = WNS_ARTIFACT_ADDRESS,
    ) -> None:
        self.registry = registry
        self.activation_block = activation_block
        self.chain_id = chain_id
        self._pqc = _PqcChecker(registry, backend, artifact_address)

    def verify(self, data: bytes | Decoded, *, inclusion_block: int | None = None) -> VerifiedTransaction:
        pqc_only = _as_pqc_only(data)
        if pqc_only is not None:
            return _verify_pqc_only(self.policy, pqc_only, self.registry, inclusion_block, self.chain_id, self._pqc)
        tx, envelope = parse(data)
        _check_chain(tx, self.chain_id)
        classical_signature = tx.signature.to_bytes()
        sender = _recover_address_compact(tx.signing_hash, classical_signature)
        entry = self.registry.entry(sender, _parent(inclusion_block))
        state = entry.state
        enforced = inclusion_block is None or pqc_enforced(
            inclusion_block=inclusion_block, activation_block=self.activation_block
        )
        strict_state = state == AccountState.FINALIZING or (state == AccountState.HYBRID and enforced)
        mint = VerifiedTransaction._mint
        if envelope is not None and state != AccountState.PQC_ONLY:  # the hot path: an envelope to check
            try:
                key_id = self._pqc.check(tx, envelope, sender, entry, classical_signature)
            except VerificationError as exc:
                if strict_state or (state == AccountState.CLASSICAL and enforced):
                    raise
                return mint(self.policy, sender, tx, PqcStatus.INVALID, state, None, exc.reason)
            return mint(self.policy, sender, tx, PqcStatus.VALID, state, key_id)

        def accepted(pqc: PqcStatus, key_id: KeyId | None = None, why: Reason | None = None) -> VerifiedTransaction:
            return mint(self.policy, sender, tx, pqc, state, key_id, why)

        if state == AccountState.PQC_ONLY:
            raise PolicyRejected(
                "sender is PQC_ONLY: its classical key is retired, classical signatures are refused",
                reason=Reason.CLASSICAL_NOT_ALLOWED,
            )
        # envelope is None here: a bare classical transaction
        if strict_state:
            raise PolicyRejected(f"sender is {state.name}: the PQC part is required (stripped?)")
        if artifact_key_ids(tx, self._pqc.artifact_address):
            if enforced:
                raise PolicyRejected("transaction carries a hybrid artifact but no PQC part (stripped)")
            return accepted(PqcStatus.MISSING)
        return accepted(PqcStatus.MISSING if state == AccountState.HYBRID else PqcStatus.NOT_EXPECTED)


class StrictVerifier:
    """AND-mode: both components always required and valid (an envelope, never a bare transaction).
    With a registry, the key must also match the sender's commitment."""

    policy = "strict"

    def __init__(
        self,
        registry: Registry | None = None,
        *,
        chain_id: int | None = None,
        backend: PQCBackend | None = None,
        artifact_address: bytes = WNS_ARTIFACT_ADDRESS,
    ) -> None:
        self.registry = registry
        self.chain_id = chain_id
        self._pqc = _PqcChecker(registry, backend, artifact_address)

    def verify(self, data: bytes | Decoded, *, inclusion_block: int | None = None) -> VerifiedTransaction:
        pqc_only = _as_pqc_only(data)
        if pqc_only is not None:
            if self.registry is None:
                raise PolicyRejected("a PQC-only transaction needs a registry to authenticate its sender",
                                     reason=Reason.KEY_NOT_REGISTERED)  # fmt: skip
            return _verify_pqc_only(self.policy, pqc_only, self.registry, inclusion_block, self.chain_id, self._pqc)
        tx, envelope = parse(data)
        _check_chain(tx, self.chain_id)
        classical_signature = tx.signature.to_bytes()
        sender = _recover_address_compact(tx.signing_hash, classical_signature)
        entry = (
            self.registry.entry(sender, _parent(inclusion_block))
            if self.registry is not None
            else RegistryEntry(AccountState.CLASSICAL, None)
        )
        if entry.state == AccountState.PQC_ONLY:
            raise PolicyRejected(
                "sender is PQC_ONLY: classical signatures are refused", reason=Reason.CLASSICAL_NOT_ALLOWED
            )
        if envelope is None:
            raise PolicyRejected("strict policy requires a composite envelope (PQC part missing)")
        key_id = self._pqc.check(tx, envelope, sender, entry, classical_signature)
        return VerifiedTransaction._mint(self.policy, sender, tx, PqcStatus.VALID, entry.state, key_id)
