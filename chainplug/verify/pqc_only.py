"""The pqc-only policy: PQC-only transactions (type 0x50, docs/pqc-transaction.md).

A PQC-only transaction names its sender explicitly (ML-DSA has no key recovery), so the sender is
authenticated by the registry: it must be FINALIZING or PQC_ONLY (its classical key retired or being
retired) with a committed key id equal to keccak256 of the transaction's public key, and the ML-DSA-87
signature over M' (classical-signature field = 32 zero bytes) must verify. Legacy verifiers cannot
read this type at all.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable

from ..crypto.pqc import PQCBackend
from ..envelope.pqc_tx import PqcTransaction, verify_pqc_signature
from ..errors import PolicyRejected, Reason
from ..types import AccountState, KeyId
from .registry import RegistryEntry

PQC_ONLY_SENDER_STATES = frozenset({AccountState.FINALIZING, AccountState.PQC_ONLY})
"""Registered states whose owners may send PQC-only transactions (FINALIZING: the classical key is
being erased, so the account's last on-chain step, complete_migration, can only be sent this way)."""


def check_pqc_only(
    tx: PqcTransaction,
    entry: RegistryEntry,
    *,
    chain_id: int | None,
    backend: PQCBackend | None = None,
    verify: Callable[[PqcTransaction], KeyId] | None = None,
) -> KeyId:
    """Raise unless ``tx`` is a valid PQC-only transaction for a sender registered as ``entry``.

    ``verify`` replaces the signature check (e.g. a memoising one); default: verify it now.
    """
    if chain_id is not None and tx.chain_id != chain_id:
        raise PolicyRejected(
            f"transaction is for chain {tx.chain_id}, this verifier is on chain {chain_id} (replay?)",
            reason=Reason.WRONG_CHAIN,
        )
    if entry.state not in PQC_ONLY_SENDER_STATES or entry.key_id is None:
        raise PolicyRejected(
            f"sender is {entry.state.name}: PQC-only transactions need a FINALIZING or PQC_ONLY registration",
            reason=Reason.KEY_NOT_REGISTERED,
        )
    if not hmac.compare_digest(tx.key_id, entry.key_id):
        raise PolicyRejected("public key does not match the sender's registered key", reason=Reason.KEY_MISMATCH)
    return verify(tx) if verify is not None else verify_pqc_signature(tx, backend)
