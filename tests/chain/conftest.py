"""Fixtures: the three chain processes of tests/chain/harness.py (session-scoped, always shut down)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.chain.harness import Chain, chain_process


@pytest.fixture(scope="session")
def chain() -> Iterator[Chain]:
    with chain_process("--deploy-registry", "--activation-block", "1000000") as running:
        yield running


@pytest.fixture(scope="session")
def activated_chain() -> Iterator[Chain]:
    with chain_process("--deploy-registry", "--activation-block", "0", "--accounts", "3") as running:
        yield running


@pytest.fixture(scope="session")
def interval_chain() -> Iterator[Chain]:
    with chain_process("--block-time", "1.5", "--accounts", "3") as running:
        yield running
