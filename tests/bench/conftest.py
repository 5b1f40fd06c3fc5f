"""Benchmarks run once each in the normal suite (harness correctness only, ``--benchmark-disable``
is the default); measure with ``pytest tests/bench --benchmark-enable``. Nothing here asserts time."""
