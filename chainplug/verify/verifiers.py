"""Verifiers: legacy (classical part only), upgraded (registry-driven), strict (both, always).

Each ``verify`` either returns a :class:`VerifiedTransaction` (which only this module can create)
or raises: :class:`~chainplug.errors.MalformedEnvelope` for bytes that do not parse,
:class:`~chainplug.errors.VerificationError` subclasses for well-formed input that is rejected.
There is no bool to forget to check.

The upgraded verifier decides what it *requires* from the sender's registered state and the
activation block, never from what the envelope happens to contain (DESIGN.md §2, the seed audit's
HIG-005): stripping the PQC part of a registered sender's transaction is a rejection, not a fallback.
"""

from __future__ import annotations

import hmac
from collections import OrderedDict
from enum import StrEnum

from ..constants import SUITE_LABEL, WNS_ARTIFACT_ADDRESS
from ..crypto.pqc import MLDSA87VerifyingKey, PQCBackend, get_backend, mldsa87_key_id
from ..crypto.secp256k1 import recover_address
from ..envelope.codec import Envelope, decode_envelope, is_envelope
from ..envelope.message import classical_signature_hash, message_representative
from ..envelope.transaction import SignedTransaction, decode_transaction
from ..errors import InvalidKey, InvalidSignature, PolicyRejected, Reason, VerificationError
from ..types import AccountState, Address, Hash32, KeyId
from .registry import Registry, RegistryEntry


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
    strict one for some other sender). Instances are immutable.
    """

    __slots__ = ("key_id", "policy", "pqc", "pqc_reason", "sender", "sender_state", "transaction")

    policy: str
    """Which verifier accepted: legacy, upgraded or strict."""
    sender: Address
    """Recovered from the classical signature."""
    transaction: SignedTransaction
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
        transaction: SignedTransaction,
        pqc: PqcStatus,
        sender_state: AccountState | None = None,
        key_id: KeyId | None = None,
        pqc_reason: Reason | None = None,
    ) -> VerifiedTransaction:
        result = object.__new__(cls)
        fields = {"policy": policy, "sender": sender, "transaction": transaction, "pqc": pqc,
                  "sender_state": sender_state, "key_id": key_id, "pqc_reason": pqc_reason}  # fmt: skip
        for name, value in fields.items():
            object.__setattr__(result, name, value)
        return result

    def __setattr__(self, name: str, value: object) -> None:
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


def parse(data: bytes) -> tuple[SignedTransaction, Envelope | None]:
    """Split input into (classical transaction, envelope or None). Raises MalformedEnvelope."""
    if is_envelope(data):
        envelope = decode_envelope(data)
        return envelope.transaction, envelope
    return decode_transaction(bytes(data)), None


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

    def verify(self, data: bytes) -> VerifiedTransaction:
        tx, _ = parse(data)
        _check_chain(tx, self.chain_id)
        sender = recover_address(tx.signing_hash, tx.signature)
        return VerifiedTransaction._mint(self.policy, sender, tx, PqcStatus.NOT_CHECKED)


class _PqcChecker:
    """Shared PQC-part check with a bounded cache of parsed public keys (parsing costs ~10 µs)."""

    _CACHE_SIZE = 4096

    def __init__(self, registry: Registry | None, backend: PQCBackend | None, artifact_address: bytes) -> None:
        self.registry = registry
        self.backend = backend or get_backend()
        self.artifact_address = bytes(artifact_address)
        self._keys: OrderedDict[bytes, tuple[KeyId, MLDSA87VerifyingKey]] = OrderedDict()

    def _verifying_key(self, envelope: Envelope) -> tuple[KeyId, MLDSA87VerifyingKey]:
        public = envelope.public_key
        if public is None:  # key-id form: the key must be known from the registry
            key_id = envelope.key_id
            public = self.registry.public_key(key_id) if self.registry is not None else None
            if public is None:
                raise PolicyRejected("envelope names a key id this verifier does not know", reason=Reason.UNKNOWN_KEY)
        cached = self._keys.get(public)
        if cached is not None:
            self._keys.move_to_end(public)
            return cached
        try:
            verifying_key = self.backend.mldsa87_public_key(public)
        except InvalidKey as exc:
            raise InvalidSignature("ML-DSA-87 public key in envelope is invalid") from exc
        cached = (mldsa87_key_id(public), verifying_key)
        self._keys[public] = cached
        if len(self._keys) > self._CACHE_SIZE:
            self._keys.popitem(last=False)
        return cached

    def check(self, tx: SignedTransaction, envelope: Envelope, sender: Address, entry: RegistryEntry) -> KeyId:
        """Raise unless the PQC part is valid for this sender, transaction and registered key."""
        key_id, verifying_key = self._verifying_key(envelope)
        if entry.key_id is not None and not hmac.compare_digest(key_id, entry.key_id):
            raise PolicyRejected("envelope key does not match the sender's registered key", reason=Reason.KEY_MISMATCH)
        artifacts = artifact_key_ids(tx, self.artifact_address)
        if artifacts and key_id not in artifacts:
            raise PolicyRejected("hybrid artifact names a different key", reason=Reason.ARTIFACT_MISMATCH)
        m_prime = message_representative(
            chain_id=tx.chain_id,
            sender=sender,
            key_id=key_id,
            signing_hash=tx.signing_hash,
            classical_signature_hash=classical_signature_hash(tx.signature),
        )
        verifying_key.verify(envelope.pqc_signature, m_prime, SUITE_LABEL)
        return key_id


def artifact_key_ids(tx: SignedTransaction, artifact_address: bytes) -> frozenset[bytes]:
    """Storage keys listed under the WNS artifact address in the access list (empty if none)."""
    keys: set[bytes] = set()
    for address, storage_keys in tx.unsigned.access_list:
        if address == artifact_address:
            keys.update(storage_keys)
    return frozenset(keys)


class UpgradedVerifier:
    """Registry-aware verifier for upgraded nodes (DESIGN.md §2-3).

    Requirements by the sender's registered state (at ``block``) and the activation block:

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

    ``block`` is the block whose state the decision rests on: for a transaction included in block
    N, pass N - 1 (its parent; DESIGN.md §7), for admission to the next block pass the current head.
    The registry is read at ``block`` and enforcement applies when ``block >= activation_block``.
    ``block=None`` means "now" (latest registry state) and counts as activated.
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

    def verify(self, data: bytes, *, block: int | None = None) -> VerifiedTransaction:
        tx, envelope = parse(data)
        _check_chain(tx, self.chain_id)
        sender = recover_address(tx.signing_hash, tx.signature)
        entry = self.registry.entry(sender, block)
        state = entry.state
        enforced = block is None or block >= self.activation_block
        strict_state = state == AccountState.FINALIZING or (state == AccountState.HYBRID and enforced)

        def accepted(pqc: PqcStatus, key_id: KeyId | None = None, why: Reason | None = None) -> VerifiedTransaction:
            return VerifiedTransaction._mint(self.policy, sender, tx, pqc, state, key_id, why)

        if state == AccountState.PQC_ONLY:
            raise PolicyRejected(
                "sender is PQC_ONLY: its classical key is retired, classical signatures are refused",
                reason=Reason.CLASSICAL_NOT_ALLOWED,
            )
        if envelope is None:
            if strict_state:
                raise PolicyRejected(f"sender is {state.name}: the PQC part is required (stripped?)")
            if artifact_key_ids(tx, self._pqc.artifact_address):
                if enforced:
                    raise PolicyRejected("transaction carries a hybrid artifact but no PQC part (stripped)")
                return accepted(PqcStatus.MISSING)
            return accepted(PqcStatus.MISSING if state == AccountState.HYBRID else PqcStatus.NOT_EXPECTED)
        try:
            key_id = self._pqc.check(tx, envelope, sender, entry)
        except VerificationError as exc:
            if strict_state or (state == AccountState.CLASSICAL and enforced):
                raise
            return accepted(PqcStatus.INVALID, why=exc.reason)
        return accepted(PqcStatus.VALID, key_id)


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

    def verify(self, data: bytes, *, block: int | None = None) -> VerifiedTransaction:
        tx, envelope = parse(data)
        _check_chain(tx, self.chain_id)
        sender = recover_address(tx.signing_hash, tx.signature)
        entry = (
            self.registry.entry(sender, block)
            if self.registry is not None
            else RegistryEntry(AccountState.CLASSICAL, None)
        )
        if entry.state == AccountState.PQC_ONLY:
            raise PolicyRejected(
                "sender is PQC_ONLY: classical signatures are refused", reason=Reason.CLASSICAL_NOT_ALLOWED
            )
        if envelope is None:
            raise PolicyRejected("strict policy requires a composite envelope (PQC part missing)")
        key_id = self._pqc.check(tx, envelope, sender, entry)
        return VerifiedTransaction._mint(self.policy, sender, tx, PqcStatus.VALID, entry.state, key_id)
