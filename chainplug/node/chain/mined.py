"""Mined blocks as the chain's reads see them: a small cache of recent blocks and their receipts.

A mined block never changes, so reads of mined blocks and receipts go through this cache, and a client
polling receipts does not rebuild a block per poll. A receipt is kept with what the wire format derives
from the whole block (the transaction's own gas, its first log index, the contract it created). Apart
from the pool and block builder (chainplug.node.chain.backend), which only hands each block it seals in.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

from eth._utils.address import generate_contract_address
from eth.abc import BlockAPI, ReceiptAPI, SignedTransactionAPI
from eth.chains.base import MiningChain
from eth_typing import Hash32 as EvmHash32

BLOCK_CACHE = 64
"""Mined blocks (with their receipts) kept decoded for reads."""


@dataclass(frozen=True, slots=True)
class ReceiptInfo:
    """A mined transaction's receipt with what the wire format derives from the whole block."""

    transaction: SignedTransactionAPI
    receipt: ReceiptAPI
    index: int
    gas_used: int
    first_log_index: int
    contract_address: bytes | None


class MinedBlocks:
    """Recently mined blocks by hash, with their receipts once computed."""

    def __init__(self, chain: MiningChain) -> None:
        self._chain = chain
        self._blocks: OrderedDict[bytes, tuple[BlockAPI, list[ReceiptInfo] | None]] = OrderedDict()

    def cached(self, block_hash: bytes) -> BlockAPI | None:
        """The block if it is in the cache (its place there unchanged), else None."""
        cached = self._blocks.get(block_hash)
        return cached[0] if cached is not None else None

    def get(self, block_hash: bytes) -> BlockAPI:
        """The mined block ``block_hash``, from the cache or read from the chain (and then kept)."""
        cached = self._blocks.get(block_hash)
        if cached is not None:
            self._blocks.move_to_end(block_hash)
            return cached[0]
        block = self._chain.get_block_by_hash(EvmHash32(block_hash))
        self._remember(block, None)
        return block

    def sealed(self, block: BlockAPI, receipts: Sequence[ReceiptAPI]) -> None:
        """Keep a block just sealed, with the receipts its builder made."""
        self._remember(block, receipt_infos(block, receipts))

    def receipts(self, block: BlockAPI) -> list[ReceiptInfo]:
        """Every receipt of a mined block, with per-transaction gas and block-wide log indices."""
        cached = self._blocks.get(bytes(block.hash))
        if cached is not None and cached[1] is not None:
            return cached[1]
        infos = receipt_infos(block, block.get_receipts(self._chain.chaindb))
        if cached is not None:
            self._blocks[bytes(block.hash)] = (cached[0], infos)
        return infos

    def _remember(self, block: BlockAPI, receipts: list[ReceiptInfo] | None) -> None:
        self._blocks[bytes(block.hash)] = (block, receipts)
        self._blocks.move_to_end(bytes(block.hash))
        while len(self._blocks) > BLOCK_CACHE:
            self._blocks.popitem(last=False)


def receipt_infos(block: BlockAPI, receipts: Sequence[ReceiptAPI]) -> list[ReceiptInfo]:
    """A block's receipts with each transaction's own gas, first log index and created contract."""
    result = []
    previous_cumulative = first_log = 0
    for index, (transaction, receipt) in enumerate(zip(block.transactions, receipts, strict=True)):
        created = generate_contract_address(transaction.sender, transaction.nonce) if not transaction.to else None
        used = receipt.gas_used - previous_cumulative
        result.append(ReceiptInfo(transaction, receipt, index, used, first_log, created))
        previous_cumulative, first_log = receipt.gas_used, first_log + len(receipt.logs)
    return result
