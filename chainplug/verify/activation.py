"""The activation rule: from which block on the upgraded rules enforce PQC parts.

Before the activation block a HYBRID sender's missing or invalid PQC part is tolerated (and recorded,
telemetry); from it on, such a transaction is invalid, and so is a CLASSICAL sender's transaction
that carries a hybrid artifact without a valid PQC part (docs/design.md §activation). The question
"which block?" has one answer everywhere — the verifiers, the chain rules, gateways, validators and
the devnet's expectations: the block the transaction is *included in*. (The registry state a
transaction is judged by is that block's parent's; that is the verifiers' business, not the rule's.)
"""

from __future__ import annotations


def pqc_enforced(*, inclusion_block: int, activation_block: int) -> bool:
    """True if a transaction included in block ``inclusion_block`` is under the enforcing rules."""
    return inclusion_block >= activation_block
