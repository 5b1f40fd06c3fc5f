"""One running network for the signer's wallet-facing tests (tests/signer/network.py), shared by the
modules that only send through it: starting it and migrating its accounts takes most of a minute."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.signer.network import Network, network


@pytest.fixture(scope="session")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Network]:
    with network(tmp_path_factory.mktemp("signer-network")) as running:
        yield running
