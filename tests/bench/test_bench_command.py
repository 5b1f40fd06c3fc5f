"""`chainplug bench`: the harness is correct (structure, ratios computed from the same rounds, every
figure labelled with the PQC backend it ran on). Nothing here asserts a time; the numbers themselves
are reported, not judged, by the suite."""

import json
import subprocess
import sys
from typing import Any

import pytest

from chainplug.bench import Harness, resolve_backends
from chainplug.crypto import available_backends, get_backend
from chainplug.errors import ConfigError


def test_ratio_is_median_of_per_round_ratios() -> None:
    harness = Harness(quick=True, progress=False, backend="cryptography")
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
    assert ratio.to_json()["backend"] == ratio.product.to_json()["backend"] == "cryptography"


def _bench(*args: str) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-m", "chainplug.cli.main", "bench", "--quick", "--json", *args],
        capture_output=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    report: dict[str, Any] = json.loads(out.stdout)  # nothing else on stdout (liboqs-python logs there)
    return report


def test_bench_quick_json_reports_every_figure_on_the_backend_in_use() -> None:
    # Every section but the node path, whose harness test_bench_node.py runs (chain and gateway processes).
    report = _bench("--processes", "2", "--only", "primitives,envelope,throughput,keystore,migration,signer")
    in_use = get_backend().name
    assert report["backend_in_use"] == in_use and report["backends"] == [in_use]
    (run,) = report["runs"]
    assert run["backend"] == in_use and run["description"]
    names = {r["name"] for r in run["ratios"]}
    assert {"legacy verify", "upgraded verify (full key)", "upgraded verify (key id)", "composite sign"} <= names
    assert {"upgraded verify (full key) vs eth-account", "legacy verify vs eth-account"} <= names
    for ratio in run["ratios"]:
        assert ratio["ratio"] > 0 and ratio["backend"] == in_use
        assert ratio["baseline"] == ("reference" if "vs eth-account" in ratio["name"] else "floor")
        assert all(t["backend"] == in_use for t in [ratio["product"], *ratio["floor"]])
    assert all(t["backend"] == in_use for t in run["primitives"])
    figures = run["figures"]
    throughput = figures["validator_throughput"]
    assert set(throughput["verifications_per_s"]) == {"1", "2"} and "speedup_2_vs_1" in throughput
    assert figures["sizes"]["envelope_full_key"] > figures["sizes"]["envelope_key_id"]
    keystore, migration = figures["keystore_unlock"], figures["migration"]
    assert keystore["keys"] == 200 and keystore["ratio_to_floor"] > 0 and keystore["mode"] == "default"
    assert migration["batch"]["syncs_per_key"] < migration["per_key"]["syncs_per_key"]
    assert throughput["backend"] == keystore["backend"] == migration["backend"] == in_use
    signer = figures["signer_throughput"]
    assert signer["backend"] == in_use and set(signer["clients"]) == {"1", "2", "4"} and signer["speedup_2_vs_1"] > 0
    for clients in signer["clients"].values():
        assert (
            clients["requests_per_s"] > 0 and clients["p99_ms"] >= clients["p50_ms"] > 0 and clients["normalised"] > 0
        )
    assert signer["clients"]["1"]["speedup_vs_1"] == 1.0 and len(signer["load_average_before"]) == 3
    front = signer["with_front"]  # the same clients against `signer serve --fronts 1`
    assert front["fronts"] == 1 and set(front["clients"]) == {"1", "2", "4"} and front["speedup_2_vs_1"] > 0
    assert all(c["requests_per_s"] > 0 and c["signer_cpu_us_per_request"] > 0 for c in front["clients"].values())
    assert set(signer["gil_released"]) == {"ML-DSA-87 sign", "secp256k1 sign"}
    primitives = {t["name"] for t in run["primitives"]}
    assert any(name.startswith("PBKDF2") for name in primitives) and "fsync (128 B append)" in primitives
    assert "node" not in figures  # --only: the node path is checked in test_bench_node.py


def test_bench_all_backends_side_by_side() -> None:
    """--backends all measures every loadable backend against its own floor (one backend where only
    one loads: the liboqs tests say why elsewhere)."""
    report = _bench("--backends", "all", "--only", "primitives")
    assert report["backends"] == resolve_backends("all")
    assert sorted(report["backends"]) == sorted(available_backends())
    for run in report["runs"]:
        assert {t["backend"] for t in run["primitives"]} == {run["backend"]}
        assert run["ratios"] == [] and run["figures"] == {}  # --only
    descriptions = {run["backend"]: run["description"] for run in report["runs"]}
    assert all(descriptions[name] == get_backend(name).description for name in descriptions)


def test_backend_selection_is_checked() -> None:
    assert resolve_backends(None) == resolve_backends("in-use") == [get_backend().name]
    assert resolve_backends("cryptography") == ["cryptography"]
    with pytest.raises(ConfigError):
        resolve_backends("openssl-please")
    out = subprocess.run(
        [sys.executable, "-m", "chainplug.cli.main", "bench", "--only", "everything"], capture_output=True, timeout=60
    )
    assert out.returncode == 2 and b"--only" in out.stderr
