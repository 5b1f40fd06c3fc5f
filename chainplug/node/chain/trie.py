"""The transaction and receipt tries of a block, built in one pass.

py-evm's ``make_trie_root_and_nodes`` inserts the items one by one into a ``HexaryTrie``: every
insertion re-encodes and re-hashes the nodes on its path, so building the tries of a 1,000-transaction
block costs about as much as executing the block. The keys of these tries are the items' indices
(``rlp(index)``), all known up front, so the trie can be built bottom-up from the sorted keys with each
node encoded and hashed exactly once (what geth's StackTrie does). Same root, same nodes;
tests/chain/test_trie.py checks both against py-evm's for every size up to a few hundred and for full
blocks.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import rlp
from eth.db.trie import _make_trie_root_and_nodes

from ...crypto.keccak import keccak256

_EMPTY = b"\x80"
"""rlp(b""): an empty branch slot."""


def _length_prefix(length: int, offset: int) -> bytes:
    if length < 56:
        return bytes((offset + length,))
    encoded = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes((offset + 55 + len(encoded),)) + encoded


def _rlp_bytes(value: bytes) -> bytes:
    if len(value) == 1 and value[0] < 0x80:
        return value
    return _length_prefix(len(value), 0x80) + value


def _rlp_list(encoded_items: Sequence[bytes]) -> bytes:
    payload = b"".join(encoded_items)
    return _length_prefix(len(payload), 0xC0) + payload


def _compact(nibbles: bytes, *, leaf: bool) -> bytes:
    """Hex-prefix encoding of a nibble path (Yellow Paper, appendix C)."""
    flag = 2 if leaf else 0
    if len(nibbles) % 2:
        head = bytes((((flag + 1) << 4) | nibbles[0],))
        rest = nibbles[1:]
    else:
        head = bytes((flag << 4,))
        rest = nibbles
    return head + bytes((rest[i] << 4) | rest[i + 1] for i in range(0, len(rest), 2))


def _nibbles(key: bytes) -> bytes:
    return bytes(n for byte in key for n in (byte >> 4, byte & 0x0F))


class _Builder:
    def __init__(self, keys: list[bytes], values: list[bytes]) -> None:
        self.keys = keys
        self.values = values
        self.nodes: dict[bytes, bytes] = {}

    def ref(self, encoded: bytes) -> bytes:
        """How a parent holds this node: inline under 32 bytes, else by hash (and the node is kept)."""
        if len(encoded) < 32:
            return encoded
        digest = keccak256(encoded)
        self.nodes[digest] = encoded
        return b"\xa0" + digest

    def node(self, lo: int, hi: int, depth: int) -> bytes:
        """The encoded node for keys[lo:hi], which share their first ``depth`` nibbles."""
        keys = self.keys
        if hi - lo == 1:
            return _rlp_list((_rlp_bytes(_compact(keys[lo][depth:], leaf=True)), _rlp_bytes(self.values[lo])))
        first, last = keys[lo], keys[hi - 1]  # sorted: the common prefix of all is that of these two
        end = depth
        while end < len(first) and end < len(last) and first[end] == last[end]:
            end += 1
        if end > depth:
            branch = self.branch(lo, hi, end)
            return _rlp_list((_rlp_bytes(_compact(first[depth:end], leaf=False)), self.ref(branch)))
        return self.branch(lo, hi, depth)

    def branch(self, lo: int, hi: int, depth: int) -> bytes:
        keys = self.keys
        slots = [_EMPTY] * 17
        index = lo
        if len(keys[index]) == depth:  # a key that ends here sorts first; its value sits in the branch
            slots[16] = _rlp_bytes(self.values[index])
            index += 1
        while index < hi:
            nibble = keys[index][depth]
            end = index + 1
            while end < hi and keys[end][depth] == nibble:
                end += 1
            slots[nibble] = self.ref(self.node(index, end, depth + 1))
            index = end
        return _rlp_list(slots)


def ordered_trie_root_and_nodes(items: Sequence[Any]) -> tuple[bytes, dict[bytes, bytes]]:
    """(root hash, {node hash: encoded node}) of the trie mapping ``rlp(i)`` to ``items[i].encode()`` —
    what py-evm's ``make_trie_root_and_nodes`` returns for transactions, receipts or withdrawals."""
    return encoded_trie_root_and_nodes([item.encode() for item in items])


def encoded_trie_root_and_nodes(values: Sequence[bytes]) -> tuple[bytes, dict[bytes, bytes]]:
    """(root hash, nodes) of the trie mapping ``rlp(i)`` to ``values[i]``, built in one pass. Values are
    never empty (a trie stores no empty value: setting one deletes the key)."""
    if not all(values):
        raise ValueError("an ordered trie holds no empty values")
    if not values:
        blank_root, blank_nodes = _make_trie_root_and_nodes(())
        return bytes(blank_root), {bytes(k): v for k, v in blank_nodes.items()}
    pairs = sorted((_nibbles(rlp.encode(index)), value) for index, value in enumerate(values))  # keys differ
    builder = _Builder([key for key, _ in pairs], [value for _, value in pairs])
    root = builder.node(0, len(pairs), 0)
    digest: bytes = keccak256(root)
    builder.nodes[digest] = root
    return digest, builder.nodes
