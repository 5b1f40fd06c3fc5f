"""The registry tests run against two real chains: py-evm (eth-tester) and anvil (skips if absent)."""

from collections.abc import Iterator

import pytest
from web3 import EthereumTesterProvider, Web3

from chainplug.registry import KeyRegistryContract
from tests.anvil import running_anvil


@pytest.fixture(scope="module", params=["eth-tester", "anvil"])
def chain(request: pytest.FixtureRequest) -> Iterator[tuple[Web3, KeyRegistryContract]]:
    if request.param == "eth-tester":
        w3 = Web3(EthereumTesterProvider())
        yield w3, KeyRegistryContract.deploy(w3, w3.eth.accounts[0])
    else:
        with running_anvil() as w3:
            yield w3, KeyRegistryContract.deploy(w3, w3.eth.accounts[0])
