"""The node path end to end against py-evm's own block building (chainplug.bench.node), with real
``chainplug chain serve`` and ``chainplug gateway`` processes over loopback sockets.

Measure: ``pytest tests/bench/test_bench_node.py --benchmark-enable -s`` (a few minutes).
Target (issue #14): composite transactions from many registered HYBRID senders through the upgraded
gateway, accepted and mined, at >= 0.5 x the rate at which py-evm builds the same classical transactions
into blocks in this process (``MiningChain.build_block_with_transactions_and_withdrawals``, signatures
recovered), measured around every run. The bare path (raw transactions straight to the chain) and the
chain's own pool and block building in process are reported beside it. Nothing here asserts a time: the
ratios are printed and stored in ``extra_info``; the normal suite runs a small workload once to check
the harness.
"""

from __future__ import annotations

from typing import Any

import pytest

from chainplug.bench.harness import Harness
from chainplug.bench.node import TARGET_RATIO, Tx, engine_seconds, node_figures
from chainplug.crypto import get_backend
from chainplug.envelope import CompositeAccount

SMOKE = {"senders": 4, "per_sender": 5, "rounds": 1}
"""With --benchmark-disable (the normal suite): enough to run every step once."""


def _engine_workload(senders: int, per_sender: int) -> tuple[list[Tx], list[CompositeAccount]]:
    accounts = [CompositeAccount.from_keys((0xA100 + i).to_bytes(32, "big"), bytes([i + 1]) * 32)
                for i in range(senders)]  # fmt: skip
    txs = []
    fields = {"chainId": 1337, "to": "0x" + "5a" * 20, "value": 1, "gas": 30_000, "maxFeePerGas": 10**11,
              "maxPriorityFeePerGas": 10**9}  # fmt: skip
    for nonce in range(1, per_sender + 1):
        for account in accounts:
            signed = account.sign_transaction({**fields, "nonce": nonce})
            txs.append(Tx(signed.envelope, signed.raw_transaction, account.address_bytes, nonce, 30_000))
    return txs, accounts


@pytest.mark.benchmark(group="node")
def test_node_path_against_py_evm_building_the_same_transactions(benchmark: Any) -> None:
    smoke = benchmark.disabled
    harness = Harness(quick=smoke, progress=False, backend=get_backend().name)
    figures = node_figures(harness, quick=smoke, **(SMOKE if smoke else {}))
    composite, bare, engine = figures["composite"], figures["bare"], figures["engine"]
    assert figures["backend"] == get_backend().name and figures["target_ratio"] == TARGET_RATIO
    for path, clients in ((composite, {"chain", "gateway", "client"}), (bare, {"chain", "client"})):
        assert len(path["runs"]) == figures["rounds"]
        for run in path["runs"]:  # every transaction accepted and mined
            assert run["transactions"] == figures["senders"] * figures["per_sender"] and run["mined_per_s"] > 0
            assert run["floor_per_s"] > 0 and run["ratio"] == pytest.approx(run["mined_per_s"] / run["floor_per_s"])
            assert clients <= set(run["cpu_ms_per_tx"]) or not run["cpu_ms_per_tx"]  # /proc where there is one
    for name in ("composite", "bare"):
        assert engine[name]["per_s"] > 0
        assert engine[name]["ratio"] == pytest.approx(engine[name]["per_s"] / engine[name]["floor_per_s"])

    txs, accounts = _engine_workload(*((4, 5) if smoke else (20, 50)))
    benchmark.pedantic(lambda: engine_seconds(txs, composite=True, accounts=accounts), rounds=1 if smoke else 5)
    benchmark.extra_info.update(
        backend=figures["backend"],
        block_time_s=figures["block_time_s"],
        composite_mined_per_s=composite["mined_per_s"],
        composite_floor_per_s=composite["floor_per_s"],
        composite_ratio=composite["ratio"],
        bare_mined_per_s=bare["mined_per_s"],
        bare_ratio=bare["ratio"],
        engine_composite_ratio=engine["composite"]["ratio"],
        engine_bare_ratio=engine["bare"]["ratio"],
        target_ratio=TARGET_RATIO,
    )
    print(
        f"\nnode path [{figures['backend']}], {figures['rounds']} round(s) of {figures['senders']} senders x "
        f"{figures['per_sender']}: composite via the gateway {composite['mined_per_s']:.0f} tx/s = "
        f"{composite['ratio']:.2f} x the floor ({composite['floor_per_s']:.0f} tx/s; target >= {TARGET_RATIO}); "
        f"bare to the chain {bare['mined_per_s']:.0f} tx/s = {bare['ratio']:.2f} x; chain engine in process: "
        f"composite {engine['composite']['ratio']:.2f} x, bare {engine['bare']['ratio']:.2f} x"
    )
