"""From raw observations to the report's facts: finality per block, stranded validators, valid
transactions rejected by the quorum, invalid transactions accepted by upgraded validators, the
longest finality gap, PQ present/missing counts. Pure functions over plain data (no I/O), so the
definitions below are the whole truth of the numbers (devnet/README.md "Reading the report"):

* A block is **final** when at least 2/3 of the fleet (every validator, up or down) accepts it.
* A validator is **stranded** from the first final block it rejects: it no longer follows the chain.
* A **valid** transaction is any mined transaction that is not an attack the scenario sent; it is
  **rejected by the quorum** when its block never became final.
* An **invalid transaction accepted** is an attack that must be rejected (everything but a strip
  or swap before activation) accepted by an upgraded validator, or any transaction an upgraded
  validator accepted at or after activation with its PQC part missing or invalid.
* The **finality lag** of a block is the time from when it was mined until the finalized head (the
  highest block with every block below it final, ignoring blocks that rightly carry an attack)
  covered it, and the number of blocks mined meanwhile. The longest lag is the finality gap.
"""

from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from ..verify import PqcStatus, pqc_enforced
from .attacks import AttackRecord
from .observer import BlockSeen, BlockVerdict, quorum_reached
from .traffic import SentTx

PQC_ONLY_TX_TYPE = 0x50


@dataclass
class BlockFacts:
    height: int
    seen_at: float
    """When the block was first seen by the observer or any validator (≈ mined)."""
    final: bool
    accepts: int
    rejects: int
    missing: int
    finalized_at: float | None
    attack: bool
    """Carries an admitted attack transaction that must be rejected."""
    kinds: dict[str, int]
    verdicts: dict[str, str]
    versions: dict[str, str]
    reasons: dict[str, list[str]]


@dataclass
class Facts:
    blocks: list[BlockFacts] = field(default_factory=list)
    stranded: list[dict[str, Any]] = field(default_factory=list)
    valid_rejected: list[dict[str, Any]] = field(default_factory=list)
    invalid_accepted: list[dict[str, Any]] = field(default_factory=list)
    gap: dict[str, Any] = field(default_factory=dict)
    pq: dict[str, int] = field(default_factory=dict)
    kinds: dict[str, int] = field(default_factory=dict)


def tx_kinds(
    blocks: dict[int, BlockSeen],
    sent: list[SentTx],
    verdicts: dict[str, dict[int, BlockVerdict]],
    attack_hashes: set[str],
) -> dict[str, str]:
    """Transaction hash → "attack", "pqc-only", "hybrid" or "classical"."""
    known = {t.tx_hash: t.kind for t in sent if t.tx_hash}
    with_sidecar = {
        tx.tx_hash for by_height in verdicts.values() for v in by_height.values() for tx in v.txs if tx.sidecar
    }
    kinds = {}
    for block in blocks.values():
        for tx in block.txs:
            if tx.tx_hash in attack_hashes:
                kinds[tx.tx_hash] = "attack"
            elif tx.tx_type == PQC_ONLY_TX_TYPE:
                kinds[tx.tx_hash] = "pqc-only"
            elif known.get(tx.tx_hash) == "hybrid" or tx.tx_hash in with_sidecar:
                kinds[tx.tx_hash] = "hybrid"
            else:
                kinds[tx.tx_hash] = "classical"
    return kinds


def analyse(
    blocks: dict[int, BlockSeen],
    verdicts: dict[str, dict[int, BlockVerdict]],
    sent: list[SentTx],
    attacks: list[AttackRecord],
    *,
    activation_block: int,
    window_start: int,
    end_time: float,
    window_end: int | None = None,
) -> Facts:
    """``window_end``: the last block to judge (a run that settled: every validator attested it);
    blocks mined after it are left out, not reported as waiting for finality."""
    facts = Facts()
    if window_end is not None:
        blocks = {h: b for h, b in blocks.items() if h <= window_end}
        verdicts = {name: {h: v for h, v in by.items() if h <= window_end} for name, by in verdicts.items()}
    fleet = list(verdicts)
    must_reject = {a.tx_hash for a in attacks if a.tx_hash and a.outcome == "admitted" and a.expected == "rejected"}
    attack_hashes: set[str] = {a.tx_hash for a in attacks if a.tx_hash and a.outcome == "admitted"}
    kinds = tx_kinds(blocks, sent, verdicts, attack_hashes)
    need = -(-2 * len(fleet) // 3)  # accepts needed: ceil(2N/3)
    blocks = {h: _first_seen(b, verdicts) for h, b in blocks.items()}
    for height in sorted(blocks):
        block = blocks[height]
        mine = {name: verdicts[name].get(height) for name in fleet}
        accepts = sorted(v.checked_at for v in mine.values() if v is not None and v.accepted)
        final = quorum_reached(len(accepts), len(fleet))
        facts.blocks.append(
            BlockFacts(
                height=height,
                seen_at=block.seen_at,
                final=final,
                accepts=len(accepts),
                rejects=sum(1 for v in mine.values() if v is not None and not v.accepted),
                missing=sum(1 for v in mine.values() if v is None),
                finalized_at=accepts[need - 1] if final else None,
                attack=any(tx.tx_hash in must_reject for tx in block.txs),
                kinds=dict(Counter(kinds[tx.tx_hash] for tx in block.txs)),
                verdicts={
                    n: ("missing" if v is None else "accept" if v.accepted else "reject") for n, v in mine.items()
                },
                versions={n: v.version for n, v in mine.items() if v is not None},
                reasons={n: list(v.reasons) for n, v in mine.items() if v is not None and v.reasons},
            )
        )
    by_height = {b.height: b for b in facts.blocks}
    facts.stranded = _stranded(fleet, verdicts, by_height)
    for judged in facts.blocks:
        if not judged.final:
            facts.valid_rejected += [
                {
                    "tx_hash": tx.tx_hash,
                    "block": judged.height,
                    "kind": kinds[tx.tx_hash],
                    "rejected_by": sorted(n for n, v in judged.verdicts.items() if v == "reject"),
                    "reasons": judged.reasons,
                }
                for tx in blocks[judged.height].txs
                if tx.tx_hash not in attack_hashes
            ]
    facts.invalid_accepted = _invalid_accepted(verdicts, must_reject, activation_block)
    facts.gap = _finality_gap(facts.blocks, blocks, window_start, end_time)
    facts.pq = _pq_counts(blocks, verdicts, kinds, must_reject)
    facts.kinds = dict(Counter(kinds.values()))
    return facts


def _first_seen(block: BlockSeen, verdicts: dict[str, dict[int, BlockVerdict]]) -> BlockSeen:
    """The block with ``seen_at`` = the earliest anyone (observer or validator) saw it: the best
    estimate of when it was mined that the chain's one-second timestamps allow."""
    checked = [v[block.height].checked_at for v in verdicts.values() if block.height in v]
    earliest = min([block.seen_at, *checked])
    return block if earliest == block.seen_at else BlockSeen(block.height, block.block_hash, earliest, block.txs)


def _stranded(
    fleet: list[str], verdicts: dict[str, dict[int, BlockVerdict]], by_height: dict[int, BlockFacts]
) -> list[dict[str, Any]]:
    stranded = []
    for name in fleet:
        diverging = [v for h, v in sorted(verdicts[name].items()) if not v.accepted and by_height[h].final]
        if diverging:
            first = diverging[0]
            stranded.append(
                {
                    "validator": name,
                    "version": first.version,
                    "block": first.height,
                    "reasons": list(first.reasons),
                    "final_blocks_rejected": len(diverging),
                }
            )
    return stranded


def _invalid_accepted(
    verdicts: dict[str, dict[int, BlockVerdict]], must_reject: set[str], activation_block: int
) -> list[dict[str, Any]]:
    found = []
    for name, by_height in verdicts.items():
        for height, verdict in sorted(by_height.items()):
            if verdict.version != "upgraded":
                continue
            for tx in verdict.txs:
                attack = tx.tx_hash in must_reject
                enforced = pqc_enforced(inclusion_block=height, activation_block=activation_block)
                weak = enforced and tx.pqc in (PqcStatus.MISSING, PqcStatus.INVALID)
                if tx.accepted and (attack or weak):
                    found.append(
                        {
                            "validator": name,
                            "block": height,
                            "tx_hash": tx.tx_hash,
                            "why": "attack accepted" if attack else f"PQC part {tx.pqc} after activation",
                        }
                    )
    return found


def _finality_gap(
    facts: list[BlockFacts], blocks: dict[int, BlockSeen], window_start: int, end_time: float
) -> dict[str, Any]:
    covered = 0.0  # when the finalized head reached the current block
    lags: list[tuple[float, int, int, bool]] = []
    seen = sorted((b.seen_at, b.height) for b in blocks.values())
    for block in facts:
        if block.attack:
            continue  # rightly rejected: the finalized head steps over it
        censored = block.finalized_at is None
        covered = max(covered, end_time if censored else block.finalized_at or 0.0)
        if block.height < window_start:
            continue
        seen_at = blocks[block.height].seen_at
        mined_meanwhile = sum(1 for t, h in seen if h > block.height and seen_at < t <= covered)
        lags.append((max(0.0, covered - seen_at), mined_meanwhile, block.height, censored))
    if not lags:
        return {"longest_seconds": 0.0, "longest_blocks": 0, "at_block": None, "median_seconds": 0.0, "never_final": []}
    worst = max(lags)
    return {
        "longest_seconds": round(worst[0], 3),
        "longest_blocks": max(lag[1] for lag in lags),
        "at_block": worst[2],
        "median_seconds": round(statistics.median(lag[0] for lag in lags), 3),
        "never_final": [lag[2] for lag in lags if lag[3]],
    }


def _pq_counts(
    blocks: dict[int, BlockSeen],
    verdicts: dict[str, dict[int, BlockVerdict]],
    kinds: dict[str, str],
    excluded: set[str],
) -> dict[str, int]:
    """What upgraded validators found about the PQC part of each mined transaction, attacks that must be
    refused left out (a strip tolerated before activation counts: it is the "PQ missing" telemetry)."""
    seen: dict[str, str] = {}
    for by_height in verdicts.values():
        for verdict in by_height.values():
            if verdict.version == "upgraded":
                for tx in verdict.txs:
                    seen.setdefault(tx.tx_hash, tx.pqc or "rejected")
    counts: Counter[str] = Counter()
    for block in blocks.values():
        for mined in block.txs:
            if mined.tx_hash in excluded:
                continue
            status = seen.get(mined.tx_hash, "not-checked")
            if kinds[mined.tx_hash] == "pqc-only" or status == "pqc-only":
                counts["pqc_only"] += 1
            elif status == "valid":
                counts["present"] += 1
            elif status == "missing":
                counts["missing"] += 1
            else:
                counts[status.replace("-", "_")] += 1
    return {"present": 0, "missing": 0, "pqc_only": 0, "not_expected": 0, **counts}
