"""The verifier's :class:`~chainplug.verify.Registry`, backed by the on-chain KeyRegistry.

Caching is per (account, block number): a historical block's answer never changes, so it is cached
for good (bounded LRU); "latest" is resolved to a block number first, so a cached answer is never
served for a block it was not read at.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping

from web3.exceptions import BadFunctionCallOutput

from ..types import Address
from ..verify.registry import UNREGISTERED, PublicKeyBook, RegistryEntry
from .contract import KeyRegistryContract


class ChainRegistry(PublicKeyBook):
    """Reads sender states and key commitments from a deployed KeyRegistry."""

    def __init__(
        self,
        contract: KeyRegistryContract,
        *,
        public_keys: Mapping[bytes, bytes] | None = None,
        cache_size: int = 65536,
    ) -> None:
        self.contract = contract
        super().__init__(public_keys)
        self._cache: OrderedDict[tuple[bytes, int], RegistryEntry] = OrderedDict()
        self._cache_size = cache_size
        self.reads = 0
        """Number of contract calls made (cache misses); exposed for tests and metrics."""

    def entry(self, address: Address, block: int | None = None) -> RegistryEntry:
        number = block if block is not None else self.contract.w3.eth.block_number
        key = (bytes(address), number)
        cached = self._cache.get(key)
        if cached is not None:
            self._cache.move_to_end(key)
            return cached
        self.reads += 1
        try:
            row = self.contract.entry(address, number)
            entry = RegistryEntry(row.state, row.key_id)
        except BadFunctionCallOutput:
            # Before the registry was deployed nobody is registered; anything else is a real fault.
            if self.contract.w3.eth.get_code(self.contract.address, number):
                raise
            entry = UNREGISTERED
        self._cache[key] = entry
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return entry
