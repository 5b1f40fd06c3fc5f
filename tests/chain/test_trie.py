"""The one-pass transaction/receipt trie gives py-evm's root and nodes exactly (the chain persists the
nodes: a block's transactions are read back from them, and an importing node derives the same root)."""

from __future__ import annotations

import random

import pytest
from eth.db.trie import _make_trie_root_and_nodes, make_trie_root_and_nodes
from hypothesis import given, settings
from hypothesis import strategies as st

from chainplug.node.chain.backend import ChainBackend
from chainplug.node.chain.trie import encoded_trie_root_and_nodes, ordered_trie_root_and_nodes


def _same_as_py_evm(values: tuple[bytes, ...]) -> None:
    root, nodes = _make_trie_root_and_nodes(values)
    assert encoded_trie_root_and_nodes(values) == (root, dict(nodes))


@pytest.mark.parametrize("size", [*range(0, 40), 127, 128, 129, 255, 256, 257, 1000, 1185])
def test_every_size_matches_py_evm(size: int) -> None:
    rng = random.Random(size)
    _same_as_py_evm(tuple(rng.randbytes(rng.choice((1, 2, 31, 32, 33, 120))) for _ in range(size)))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.binary(min_size=1, max_size=80), max_size=300))
def test_any_values_match_py_evm(values: list[bytes]) -> None:
    _same_as_py_evm(tuple(values))


def test_empty_values_are_refused() -> None:
    with pytest.raises(ValueError, match="empty"):
        encoded_trie_root_and_nodes((b"\x01", b""))


def test_a_mined_blocks_transactions_and_receipts_give_the_same_roots() -> None:
    backend = ChainBackend(accounts=2)
    backend.deploy_registry()  # a contract creation (logs, a large transaction) besides transfers
    head = backend.chain.get_canonical_block_by_number(backend.head.block_number)
    receipts = head.get_receipts(backend.chain.chaindb)
    for items, root in ((head.transactions, head.header.transaction_root), (receipts, head.header.receipt_root)):
        assert ordered_trie_root_and_nodes(items)[0] == make_trie_root_and_nodes(items)[0] == root
