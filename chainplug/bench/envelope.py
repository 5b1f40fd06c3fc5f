"""Signing and verifying one composite transaction, against the primitives each must run, and against
eth-account's stock ``recover_transaction`` for scale."""

from __future__ import annotations

from typing import Any

from .harness import Harness, Op, Ratio
from .primitives import MLDSA_SIGN, MLDSA_VERIFY, SECP_RECOVER, SECP_SIGN, Workload

TARGETS = {
    "legacy verify": 1.2,
    "upgraded verify (full key)": 1.10,
    "upgraded verify (key id)": 1.10,
    "composite sign": 1.15,
}
"""Issue #18: ratios to the floor on the fastest backend (the same bound is shown for every backend)."""


def envelope_ratios(h: Harness, prims: dict[str, Op], work: Workload) -> list[Ratio]:
    from eth_account import Account

    from ..envelope import decode_envelope
    from ..verify import LegacyVerifier, UpgradedVerifier

    signed, account = work.signed, work.account
    legacy, upgraded = LegacyVerifier(chain_id=1), UpgradedVerifier(work.registry, chain_id=1)
    key_id_envelope = work.envelope.without_public_key().encode()
    recover, verify, sign = prims[SECP_RECOVER], prims[MLDSA_VERIFY], prims[MLDSA_SIGN]
    tx = {"chainId": 1, "nonce": 8, "gas": 21000, "to": "0x" + "33" * 20, "maxFeePerGas": 10, "maxPriorityFeePerGas": 1}
    raw, envelope = signed.raw_transaction, signed.envelope
    pqc_floor = [(MLDSA_VERIFY, verify), (SECP_RECOVER, recover)]

    def stock() -> object:
        return Account.recover_transaction(raw)

    def upgraded_full() -> object:
        return upgraded.verify(envelope)

    return [
        h.ratio("legacy verify", lambda: legacy.verify(raw), [(SECP_RECOVER, recover)], TARGETS["legacy verify"]),
        h.ratio("upgraded verify (full key)", upgraded_full, pqc_floor, TARGETS["upgraded verify (full key)"]),
        h.ratio(
            "upgraded verify (key id)",
            lambda: upgraded.verify(key_id_envelope),
            pqc_floor,
            TARGETS["upgraded verify (key id)"],
        ),
        h.ratio("eth-account recover_transaction", stock, [(SECP_RECOVER, recover)]),
        h.ratio("envelope decode", lambda: decode_envelope(envelope), [(SECP_RECOVER, recover)]),
        h.ratio(
            "composite sign",
            lambda: account.sign_transaction(tx),
            [(MLDSA_SIGN, sign), (SECP_SIGN, prims[SECP_SIGN])],
            TARGETS["composite sign"],
        ),
        # For scale: the whole composite check against the stock classical-only path of eth-account.
        h.ratio(
            "upgraded verify (full key) vs eth-account",
            upgraded_full,
            [("eth-account recover_transaction", stock)],
            baseline="reference",
        ),
        h.ratio(
            "legacy verify vs eth-account",
            lambda: legacy.verify(raw),
            [("eth-account recover_transaction", stock)],
            baseline="reference",
        ),
    ]


def sizes(work: Workload) -> dict[str, Any]:
    from ..constants import MLDSA87_PUBLIC_KEY_BYTES, MLDSA87_SIGNATURE_BYTES

    return {
        "raw_transaction": len(work.signed.raw_transaction),
        "envelope_full_key": len(work.signed.envelope),
        "envelope_key_id": len(work.envelope.without_public_key().encode()),
        "mldsa87_signature": MLDSA87_SIGNATURE_BYTES,
        "mldsa87_public_key": MLDSA87_PUBLIC_KEY_BYTES,
        "classical_signature": 65,
    }
