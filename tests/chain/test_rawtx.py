"""A mined transaction's raw bytes rebuilt from its JSON-RPC object (for nodes without
eth_getRawTransactionByHash) are exactly the bytes that were sent, for both standard types."""

from __future__ import annotations

from typing import Any

import pytest
from eth_account import Account
from eth_utils import to_checksum_address

from chainplug.node.rawtx import _rebuild, raw_transaction
from tests.chain.harness import CHAIN_ID, Chain


@pytest.mark.parametrize("kind", ["eip1559-with-access-list", "legacy-eip155"])
def test_rebuilt_bytes_are_the_sent_bytes(chain: Chain, kind: str) -> None:
    sender = Account.create()
    chain.fund(sender.address)
    tx: dict[str, Any] = {
        "chainId": CHAIN_ID,
        "nonce": 0,
        "to": to_checksum_address("0x" + "7c" * 20),  # a fresh address: the session chain is shared
        "value": 7,
        "data": "0xabcd",
    }
    if kind == "legacy-eip155":
        tx |= {"gas": 30_000, "gasPrice": chain.fees()["maxFeePerGas"]}
    else:
        access = [{"address": "0x" + "6b" * 20, "storageKeys": ["0x" + "00" * 31 + "01", "0x" + "ff" * 32]}]
        tx |= {"gas": 40_000, "accessList": access, **chain.fees()}
    raw = bytes(Account.sign_transaction(tx, sender.key).raw_transaction)
    tx_hash = chain.w3.eth.send_raw_transaction(raw)
    receipt = chain.w3.eth.wait_for_transaction_receipt(tx_hash)
    mined = chain.w3.eth.get_block(receipt["blockNumber"], full_transactions=True)["transactions"]
    (as_json,) = [t for t in mined if bytes(t["hash"]) == bytes(tx_hash)]
    assert _rebuild(as_json) == raw
    assert raw_transaction(chain.w3, as_json) == raw  # the node answers eth_getRawTransactionByHash too
