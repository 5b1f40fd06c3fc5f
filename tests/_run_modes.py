"""pytest plugin (``-p tests._run_modes`` in pyproject's addopts): how the suite runs by default, and
how it runs when it measures.

By default ``pytest`` runs on two worker processes (pytest-xdist) with branch coverage of every
process the tests start (pytest-cov, coverage's subprocess patch). ``--benchmark-enable`` means the
run is a measurement: it then runs in one process without coverage, as if ``-n 0 --no-cov`` had been
given, because a tracer and a second worker competing for the cores would be measured too. And the
longest test files are handed out first, so that the two workers finish together.
"""

from __future__ import annotations

import pytest


def pytest_load_initial_conftests(early_config: pytest.Config, parser: pytest.Parser, args: list[str]) -> None:
    if "--benchmark-enable" in args:
        args[:] = [*args, "-n", "0", "--no-cov"]  # later options win over addopts'


HEAVY_FIRST = (
    "tests/devnet/",
    "tests/bench/",
    "tests/migration/test_migration_random_kills.py",
    "tests/hostile/",
    "tests/formal/",
    "tests/signer/",
    "tests/migration/",
    "tests/node/",
    "tests/keystore/test_cli.py",
)
"""Where the suite's longest files are (``--durations``), longest first."""


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The longest files first, each file's tests still together and in their order: the workers take
    files in this order, so the run does not end with one worker on a long file while the other idles."""

    def rank(item: pytest.Item) -> int:
        path = item.nodeid.split("::", 1)[0]
        return next((i for i, prefix in enumerate(HEAVY_FIRST) if path.startswith(prefix)), len(HEAVY_FIRST))

    items.sort(key=rank)  # stable
