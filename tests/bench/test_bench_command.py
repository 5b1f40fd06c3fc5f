"""`chainplug bench`: the harness is correct (structure, ratios computed from the same rounds).
Nothing here asserts a time; the numbers themselves are reported, not judged, by the suite."""

import json
import subprocess
import sys

from chainplug.cli.benchmarks import Harness


def test_ratio_is_median_of_per_round_ratios() -> None:
    harness = Harness(quick=True, progress=False)
    calls = {"product": 0, "floor": 0}

    def product() -> None:
        calls["product"] += 1
        sum(range(200))

    def floor() -> None:
        calls["floor"] += 1
        sum(range(100))

    ratio = harness.ratio("product", product, [("floor", floor)], target=10.0)
    assert ratio.product.rounds == harness.rounds == ratio.floor[0].rounds
    assert ratio.ratio > 0 and ratio.meets_target is not None
    assert ratio.product.p25 <= ratio.product.median <= ratio.product.p75
    assert calls["product"] > harness.rounds and calls["floor"] > harness.rounds


def test_bench_quick_json_reports_every_ratio() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "chainplug.cli.main", "bench", "--quick", "--json", "--processes", "2"],
        capture_output=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    report = json.loads(out.stdout)
    names = {r["name"] for r in report["ratios"]}
    assert {"legacy verify", "upgraded verify (full key)", "upgraded verify (key id)", "composite sign"} <= names
    for ratio in report["ratios"]:
        assert ratio["ratio"] > 0
    throughput = report["figures"]["validator_throughput"]
    assert set(throughput["verifications_per_s"]) == {"1", "2"} and "speedup_2_vs_1" in throughput
    assert report["figures"]["sizes"]["envelope_full_key"] > report["figures"]["sizes"]["envelope_key_id"]
    keystore, migration = report["figures"]["keystore_unlock"], report["figures"]["migration"]
    assert keystore["keys"] == 200 and keystore["ratio_to_floor"] > 0
    assert migration["batch"]["syncs_per_key"] < migration["per_key"]["syncs_per_key"]
    primitives = {t["name"] for t in report["primitives"]}
    assert any(name.startswith("PBKDF2") for name in primitives) and "fsync (128 B append)" in primitives
