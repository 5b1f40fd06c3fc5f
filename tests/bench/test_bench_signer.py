"""The signer benchmark (chainplug.bench.signer) runs end to end once — a real chain and signer process,
concurrent clients over HTTP — and reports every figure; nothing here asserts a time. The GIL probe
tells a call that releases the GIL from one that holds it whatever the machine's load."""

import hashlib

from chainplug.bench import Harness
from chainplug.bench.primitives import MLDSA_SIGN, SECP_SIGN, Workload, primitive_ops
from chainplug.bench.signer import releases_gil, signer_throughput
from chainplug.crypto import get_backend


def test_signer_throughput_reports_every_figure() -> None:
    name = get_backend().name
    harness = Harness(quick=True, progress=False, backend=name)
    result = signer_throughput(harness, primitive_ops(name, Workload.build()), client_counts=(1, 2))
    assert result["backend"] == name and set(result["clients"]) == {"1", "2"}
    for figures in result["clients"].values():
        assert figures["requests_per_s"] > 0 and figures["p99_ms"] >= figures["p50_ms"] > 0
        assert figures["normalised"] > 0 and figures["client_cpu_us_per_request"] > 0
    assert result["clients"]["1"]["speedup_vs_1"] == 1.0 and result["speedup_2_vs_1"] > 0
    assert set(result["gil_released"]) == {MLDSA_SIGN, SECP_SIGN}
    assert len(result["load_average_before"]) == 3


def test_gil_probe_tells_releasing_calls_from_holding_ones() -> None:
    data = b"x" * (1 << 20)
    assert releases_gil(lambda: sum(range(20_000)), calls=30) == 0.0  # pure Python holds the GIL throughout
    assert releases_gil(lambda: hashlib.sha256(data).digest(), calls=30) > 0.0  # hashlib releases it
