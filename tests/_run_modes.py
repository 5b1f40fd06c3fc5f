"""pytest plugin (``-p tests._run_modes`` in pyproject's addopts): how the suite runs by default, and
how it runs when it measures.

By default ``pytest`` runs on two worker processes (pytest-xdist) with branch coverage of every
process the tests start (pytest-cov, coverage's subprocess patch). ``--benchmark-enable`` means the
run is a measurement: it then runs in one process without coverage, as if ``-n 0 --no-cov`` had been
given, because a tracer and a second worker competing for the cores would be measured too.
"""

from __future__ import annotations

import pytest


def pytest_load_initial_conftests(early_config: pytest.Config, parser: pytest.Parser, args: list[str]) -> None:
    if "--benchmark-enable" in args:
        args[:] = [*args, "-n", "0", "--no-cov"]  # later options win over addopts'
