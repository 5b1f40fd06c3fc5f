"""``chainplug demo``: the README's first command, end to end on the embedded py-evm chain.

Signs one composite transaction and shows, with stock code where it matters: eth-account recovers
the sender from the classical part, the py-evm chain mines it, the legacy verifier accepts it, the
upgraded verifier accepts the envelope's PQC part, and rejects the same transaction stripped of it.
"""

from __future__ import annotations

import argparse
from typing import Any

from ._output import EXIT_OK, EXIT_REJECTED, emit


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    demo = sub.add_parser(
        "demo",
        parents=[common],
        help="sign a composite transaction and check it with stock and chainplug verifiers",
        description=(
            "Run the end-to-end demo on an embedded py-evm chain: composite signing, stock acceptance, "
            "legacy and upgraded verification, and the stripping attack. Exit 0 if every check holds."
        ),
    )
    demo.set_defaults(handler=_demo)


def run_demo() -> dict[str, Any]:
    """Run every step; returns a JSON-ready report with ``checks`` (name -> bool)."""
    from eth_account import Account
    from web3 import EthereumTesterProvider, Web3
    from web3.types import Wei

    from ..crypto import get_backend
    from ..envelope import CompositeAccount
    from ..envelope.fees import default_fees
    from ..errors import PolicyRejected
    from ..types import AccountState
    from ..verify import InMemoryRegistry, LegacyVerifier, UpgradedVerifier

    w3 = Web3(EthereumTesterProvider())
    chain_id = w3.eth.chain_id
    account = CompositeAccount.generate()
    funder = w3.eth.accounts[0]
    w3.eth.wait_for_transaction_receipt(
        w3.eth.send_transaction({"from": funder, "to": account.address, "value": Wei(10**18)})
    )
    base_fee = w3.eth.get_block("latest")["baseFeePerGas"]
    signed = account.sign_transaction(
        {
            "chainId": chain_id,
            "nonce": 0,
            "to": funder,
            "value": 12345,
            "gas": 21000,
            **default_fees(base_fee),
        }
    )
    checks: dict[str, bool] = {}
    checks["stock eth-account recovers the sender"] = (
        Account.recover_transaction(signed.raw_transaction) == account.address
    )
    tx_hash = w3.eth.send_raw_transaction(signed.raw_transaction)
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash)
    checks["stock py-evm chain mines the classical part"] = receipt["status"] == 1 and bytes(tx_hash) == signed.tx_hash
    legacy = LegacyVerifier(chain_id=chain_id).verify(signed.raw_transaction)
    checks["legacy verifier accepts the classical part"] = legacy.sender == account.address_bytes

    # The on-chain registry arrives with chainplug.registry; here the same entry lives in memory.
    registry = InMemoryRegistry()
    registry.set(account.address_bytes, AccountState.HYBRID, account.key_id)
    upgraded = UpgradedVerifier(registry, chain_id=chain_id)
    result = upgraded.verify(signed.envelope)
    checks["upgraded verifier accepts the PQC part"] = result.pqc.value == "valid"
    try:
        upgraded.verify(signed.raw_transaction)
        stripped = "accepted"
    except PolicyRejected as exc:
        stripped = exc.reason.value
    checks["upgraded verifier rejects the stripped transaction"] = stripped == "pqc-required"
    backend = get_backend()
    return {
        "ok": all(checks.values()),
        "pqc_backend": backend.name,
        "pqc_backend_description": backend.description,
        "chain_id": chain_id,
        "address": account.address,
        "key_id": "0x" + account.key_id.hex(),
        "tx_hash": "0x" + signed.tx_hash.hex(),
        "block": receipt["blockNumber"],
        "sizes": {
            "raw_transaction": len(signed.raw_transaction),
            "envelope_full_key": len(signed.envelope),
            "envelope_key_id": len(signed.envelope) - 2592 + 32,
        },
        "stripped_verdict": stripped,
        "checks": checks,
    }


def _demo(args: argparse.Namespace) -> int:
    report = run_demo()
    lines = [
        f"PQC backend: {report['pqc_backend']} ({report['pqc_backend_description']})",
        f"account {report['address']} (ML-DSA-87 key id {report['key_id'][:18]}...)",
        f"tx {report['tx_hash']} mined in block {report['block']} on chain {report['chain_id']}",
        f"sizes: raw tx {report['sizes']['raw_transaction']} B, envelope "
        f"{report['sizes']['envelope_full_key']} B (full key) / {report['sizes']['envelope_key_id']} B (key id)",
    ]
    lines += [f"  [{'ok' if ok else 'FAIL'}] {name}" for name, ok in report["checks"].items()]
    lines.append("demo passed" if report["ok"] else "demo FAILED")
    emit(report, "\n".join(lines), as_json=args.json)
    return EXIT_OK if report["ok"] else EXIT_REJECTED
