"""The signing backend: keys from a migration store, and transactions signed the way the account's
state requires.

* CLASSICAL: a plain signed transaction (stock format, no PQC part);
* HYBRID: a composite envelope (the classical transaction with the hybrid artifact, plus ML-DSA-87);
* FINALIZING and PQC_ONLY: a PQC-only transaction (type 0x50) signed with ML-DSA-87.

Concurrency: :meth:`SigningBackend.sign` may run in many threads at once. An account's keys are
loaded once (under :attr:`SigningBackend.engine_lock`, the one lock every use of the single-writer
migration engine takes) and then used without any lock: secp256k1 signing (libsecp256k1 through
coincurve's cffi) and ML-DSA-87 signing (liboqs through ctypes, or OpenSSL through cryptography's
Rust bindings) release the GIL while they compute, so signatures for different requests proceed in
parallel. The caller makes sure no migration step runs while a signature is being made (the service's
key guard): a step may destroy the very key handle a signature is using.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from eth_utils.address import to_checksum_address

from ..constants import PQC_TX_AUTH_GAS
from ..crypto import RecoverableSignature, Secp256k1PrivateKey
from ..envelope import (
    CompositeAccount,
    PqcOnlySigner,
    PqcTransaction,
    SignedTransaction,
    unsigned_from_dict,
)
from ..errors import ClassicalKeyRetired, MalformedTransaction
from ..migration import MigrationEngine, Phase
from ..rpc import RpcClient
from ..types import AccountState, Address, Hash32

CLASSICAL, HYBRID, PQC_ONLY = "classical", "hybrid", "pqc-only"
"""The three kinds of signature an account makes, by its migration phase (:func:`kind_of`)."""


def kind_of(phase: Phase) -> str:
    """What an account in ``phase`` signs: classical, hybrid (composite) or pqc-only."""
    if phase >= Phase.FINALIZING:
        return PQC_ONLY
    return HYBRID if phase is Phase.HYBRID else CLASSICAL


@dataclass(frozen=True, slots=True)
class Signed:
    """A transaction signed for one account."""

    kind: str
    """"classical", "hybrid" or "pqc-only"."""
    raw: bytes
    """What eth_sendRawTransaction takes: the stock signed transaction (classical, hybrid) or the
    type-0x50 transaction (pqc-only)."""
    tx_hash: Hash32
    transaction: SignedTransaction | PqcTransaction
    state: AccountState
    """The account's state when it signed."""
    envelope: bytes | None = None
    """The composite envelope (hybrid only): the classical transaction and its ML-DSA-87 part."""


def _quantity(value: Any) -> int:
    """A quantity as a node answers it ("0x1a") or as a request gives it (an int, "0x1a" or "26")."""
    if isinstance(value, str):
        return int(value, 16) if value.lower().startswith("0x") else int(value)
    return int(value)


def pqc_only_fields(tx: Mapping[str, Any]) -> dict[str, Any]:
    """A stock client's transaction dict as the PQC-only transaction it becomes.

    The client estimated ``gas`` for an ordinary transaction (it cannot know the account signs with
    ML-DSA-87), so the signature's own cost, :data:`~chainplug.constants.PQC_TX_AUTH_GAS`, is added to
    it here — as a hybrid signature adds the 4,300 gas of its artifact. A legacy ``gasPrice`` becomes
    both EIP-1559 fee fields (what a legacy transaction pays under EIP-1559); ``type`` is dropped (the
    type is 0x50 whatever the client thought).
    """
    fields = {key: value for key, value in tx.items() if key not in ("type", "gasPrice")}
    if "gasPrice" in tx:
        if "maxFeePerGas" in tx or "maxPriorityFeePerGas" in tx:
            raise MalformedTransaction("transaction mixes gasPrice with EIP-1559 fee fields; give one kind")
        fields["maxFeePerGas"] = fields["maxPriorityFeePerGas"] = tx["gasPrice"]
    fields["gas"] = _quantity(tx["gas"]) + PQC_TX_AUTH_GAS
    return fields


@dataclass(slots=True)
class _Keys:
    """One account's signers for one phase and generation (handles the engine destroys when they end)."""

    phase: Phase
    generation: int
    classical: Secp256k1PrivateKey | None = None
    composite: CompositeAccount | None = None
    pqc_only: PqcOnlySigner | None = None


class SigningBackend:
    """Signs for the accounts of one migration engine; :meth:`sign` is safe to call from many threads."""

    def __init__(self, engine: MigrationEngine, chain: RpcClient) -> None:
        self.engine = engine
        self.chain = chain
        self.chain_id = _quantity(chain.call("eth_chainId"))
        self.engine_lock = threading.RLock()
        """Serialises every use of the engine that is not a read of an account's state (it is
        single-writer by design): key loads here, and the service's migration steps."""
        self._keys: dict[Address, _Keys] = {}

    def kind(self, address: Address) -> str:
        """What ``address`` signs now (raises UnknownAccount for an account not in the store)."""
        return kind_of(self.engine.account(address).phase)

    def _keys_for(self, address: Address) -> tuple[AccountState, _Keys]:
        """The account's state and signers for its current phase, loaded once (the engine destroys the
        handles at erasure, rollback and close; a phase or generation change reloads)."""
        account = self.engine.account(address)
        cached = self._keys.get(address)
        if cached is not None and (cached.phase, cached.generation) == (account.phase, account.generation):
            return account.state, cached
        with self.engine_lock:
            account = self.engine.account(address)
            cached = self._keys.get(address)
            if cached is not None and (cached.phase, cached.generation) == (account.phase, account.generation):
                return account.state, cached
            keys = _Keys(account.phase, account.generation)
            kind = kind_of(account.phase)
            if kind == PQC_ONLY:
                keys.pqc_only = PqcOnlySigner(self.engine.load_pqc_key(address), address)
            else:
                keys.classical = self.engine.load_classical_key(address)
                if kind == HYBRID:
                    keys.composite = CompositeAccount(keys.classical, self.engine.load_pqc_key(address))
            self._keys[address] = keys
            return account.state, keys

    def sign(self, address: Address, tx: Mapping[str, Any]) -> Signed:
        """Sign ``tx`` (every field filled in; ``from``, if given, must be ``address``) as the account's
        current state requires. For a PQC-only signature ``gas`` is the execution gas a stock client
        estimated: see :func:`pqc_only_fields`."""
        state, keys = self._keys_for(address)
        fields = {key: value for key, value in tx.items() if key != "from"}
        if keys.pqc_only is not None:
            pqc = keys.pqc_only.sign_transaction(pqc_only_fields(fields))
            return Signed(PQC_ONLY, pqc.raw_transaction, pqc.tx_hash, pqc.transaction, state)
        if keys.composite is not None:
            composite = keys.composite.sign_transaction(fields)
            return Signed(HYBRID, composite.raw_transaction, composite.tx_hash, composite.transaction, state,
                          composite.envelope)  # fmt: skip
        assert keys.classical is not None
        transaction = SignedTransaction.sign(unsigned_from_dict(fields), keys.classical.sign_digest)
        return Signed(CLASSICAL, transaction.raw, transaction.tx_hash, transaction, state)

    def sign_digest(self, address: Address, digest: Hash32) -> tuple[AccountState, RecoverableSignature]:
        """A secp256k1 signature of a message digest (EIP-191 / EIP-712) with the account's classical key.

        Raises ClassicalKeyRetired from FINALIZING on: the classical key is gone (or going), and no
        verifier of these messages would accept an ML-DSA-87 signature instead.
        """
        state, keys = self._keys_for(address)
        if keys.classical is None:
            raise ClassicalKeyRetired(
                f"account {to_checksum_address(address)} is {state.name}: its secp256k1 key is retired, and "
                "EIP-191 / EIP-712 signatures are secp256k1 signatures (checked with ecrecover); it can sign "
                "transactions only (PQC-only, type 0x50)"
            )
        return state, keys.classical.sign_digest(digest)


def account_json(engine: MigrationEngine, address: Address) -> dict[str, Any]:
    account = engine.account(address)
    return {
        "address": to_checksum_address(address),
        "state": account.state.name,
        "phase": account.phase.name,
        "generation": account.generation,
        "key_id": "0x" + account.key_id.hex() if account.key_id is not None else None,
    }
