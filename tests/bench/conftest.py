"""Benchmarks run once each in the normal suite (harness correctness only, ``--benchmark-disable``
is the default); measure with ``pytest tests/bench --benchmark-enable``. Nothing here asserts time."""

import pytest


@pytest.fixture(scope="session")
def benchmark_enabled(request: pytest.FixtureRequest) -> bool:
    """The rule pytest-benchmark applies: --benchmark-enable overrides the default --benchmark-disable."""
    config = request.config
    return bool(config.getoption("benchmark_enable") or not config.getoption("benchmark_disable"))
