"""The attacks a scenario can send, played by a network attacker (docs/design.md, "The envelope binding").

The attacker holds what travels on the wire — signed transactions and envelopes of the signer's
accounts (obtained here with ``chainplug_signTransaction``, i.e. intercepted before they were ever
submitted) — and an ML-DSA-87 key of its own, but no account's private keys. It sends straight to
the chain's node (bypassing every gateway) or to the gateway:

* ``strip``: a HYBRID account's classical transaction without its PQC part (downgrade);
* ``pqc-swap``: the PQC signature of one envelope paired with another transaction of the account;
* ``replay``: a transaction the account signed for another chain;
* ``forged-pqc-only``: a PQC-only transaction (type 0x50) naming the account as sender, signed
  with the attacker's key.

Before the activation block the upgraded rules tolerate a missing or invalid PQC part of a HYBRID
account (telemetry only), so ``strip`` and ``pqc-swap`` sent then are *expected* to be mined;
everything else must never be accepted by an upgraded party.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from ..envelope import Envelope, PqcOnlySigner, decode_envelope
from ..envelope.fees import default_fees
from ..verify import pqc_enforced
from .rpc import JsonRpc, RpcFailure, quantity

TOLERATED_BEFORE_ACTIVATION = frozenset({"strip", "pqc-swap"})
NEEDS_HYBRID = frozenset({"strip", "pqc-swap"})


@dataclass
class AttackRecord:
    kind: str
    target: str
    target_state: str
    via: str
    submitted_at: float
    block: int
    """Chain head when the attack was sent."""
    expected: str
    """"rejected", or "tolerated" (a missing/invalid PQC part before activation)."""
    outcome: str = "skipped"
    """"rejected-at-admission", "admitted" (then the validators judge it), or "skipped"."""
    tx_hash: str | None = None
    reason: str | None = None
    """The refusing party's reason code or message."""
    detail: str = ""


@dataclass
class AttackContext:
    chain: JsonRpc
    gateway: JsonRpc
    signer: JsonRpc
    chain_id: int
    activation_block: int
    sink: str
    attacker_seed: bytes
    """32-byte ML-DSA-87 seed of the attacker's own key (derived from the scenario seed)."""
    chain_takes_envelopes: bool
    """The embedded chain answers chainplug_sendEnvelope; a stock node does not (the gateway does)."""


def choose_target(kind: str, states: dict[str, str], preferred: list[str]) -> str | None:
    """The account to attack: the first preferred one in a usable state, else any usable one."""
    if kind in NEEDS_HYBRID:
        usable = [a for a, s in states.items() if s == "HYBRID"]
    elif kind == "forged-pqc-only":
        migrated = [a for a, s in states.items() if s in ("FINALIZING", "PQC_ONLY")]
        usable = migrated or list(states)
    else:
        usable = list(states)
    for address in preferred:
        if address in usable:
            return address
    return usable[0] if usable else None


def run_attack(ctx: AttackContext, kind: str, target: str, state: str, via: str, head: int) -> AttackRecord:
    """Build and send one attack; returns what happened at admission."""
    enforced = pqc_enforced(inclusion_block=head + 1, activation_block=ctx.activation_block)  # enters the next block
    expected = "tolerated" if kind in TOLERATED_BEFORE_ACTIVATION and not enforced else "rejected"
    record = AttackRecord(kind, target, state, via, time.time(), head, expected)
    try:
        method, payload, record.tx_hash, record.detail = _build(ctx, kind, target, state)
    except RpcFailure as exc:
        record.detail = f"could not build the attack: {exc}"
        return record
    if method == "chainplug_sendEnvelope" and via == "chain" and not ctx.chain_takes_envelopes:
        # NOTE: a stock node takes no envelopes at all; the gateway in front of it is their way in.
        record.via, record.detail = "gateway", record.detail + " (sent to the gateway: the node takes no envelopes)"
    destination = ctx.chain if record.via == "chain" else ctx.gateway
    try:
        destination.call(method, payload)
        record.outcome = "admitted"
    except RpcFailure as exc:
        if exc.unreachable:
            record.detail += f"; {via} unreachable"
            return record
        record.outcome = "rejected-at-admission"
        record.reason = exc.rejection_reason
    return record


def _sign(ctx: AttackContext, target: str, **extra: Any) -> dict[str, Any]:
    tx = {"from": target, "to": ctx.sink, "value": 1, **extra}
    signed: dict[str, Any] = ctx.signer.call("chainplug_signTransaction", tx)
    return signed


def _build(ctx: AttackContext, kind: str, target: str, state: str) -> tuple[str, str, str, str]:
    """(method, hex payload, tx hash, description) of the attack."""
    if kind == "strip":
        signed = _sign(ctx, target)
        return (
            "eth_sendRawTransaction",
            signed["raw"],
            str(signed["tx_hash"]).lower(),
            "classical part of a HYBRID account's envelope, PQC part removed",
        )
    if kind == "pqc-swap":
        first, second = _sign(ctx, target, value=1), _sign(ctx, target, value=2)
        a = decode_envelope(bytes.fromhex(first["envelope"][2:]))
        b = decode_envelope(bytes.fromhex(second["envelope"][2:]))
        swapped = Envelope(a.transaction, a.key, b.pqc_signature, a.version, a.suite, a.kind).encode()
        return (
            "chainplug_sendEnvelope",
            "0x" + swapped.hex(),
            str(first["tx_hash"]).lower(),
            "transaction 1 with the PQC signature of transaction 2 (same account, same nonce)",
        )
    if kind == "replay":
        other = 1 if ctx.chain_id != 1 else 5
        signed = _sign(ctx, target, chainId=other)
        if signed.get("envelope"):
            return (
                "chainplug_sendEnvelope",
                signed["envelope"],
                str(signed["tx_hash"]).lower(),
                f"{signed['kind']} transaction signed for chain {other}",
            )
        return (
            "eth_sendRawTransaction",
            signed["raw"],
            str(signed["tx_hash"]).lower(),
            f"{signed['kind']} transaction signed for chain {other}",
        )
    # forged-pqc-only: the attacker's ML-DSA-87 key, the victim's address as sender.
    forger = PqcOnlySigner.from_seed(ctx.attacker_seed, target)
    nonce = quantity(ctx.chain.call("eth_getTransactionCount", target, "pending"))
    base_fee = quantity(ctx.chain.call("eth_getBlockByNumber", "latest", False).get("baseFeePerGas", "0x0"))
    forged = forger.sign_transaction(
        {
            "chainId": ctx.chain_id,
            "nonce": nonce,
            "to": ctx.sink,
            "value": 10**15,
            "gas": 250_000,
            **default_fees(base_fee),
        }
    )
    return (
        "eth_sendRawTransaction",
        "0x" + forged.raw_transaction.hex(),
        "0x" + forged.tx_hash.hex(),
        f"PQC-only transaction from a {state} account, signed with the attacker's ML-DSA-87 key",
    )
