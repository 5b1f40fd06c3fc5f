"""``--block-time``: transactions wait in the block being built and are mined together on the interval."""

from __future__ import annotations

from tests.chain.harness import Chain, wait_for


def test_several_transactions_share_one_interval_block(interval_chain: Chain) -> None:
    w3 = interval_chain.w3
    sender, recipient = w3.eth.accounts[0], w3.eth.accounts[1]
    # Start right after a block was mined, so all three land in the next one.
    start = w3.eth.block_number
    wait_for(lambda: w3.eth.block_number > start)
    latest_nonce = w3.eth.get_transaction_count(sender)
    hashes = [w3.eth.send_transaction({"from": sender, "to": recipient, "value": v}) for v in (1, 2, 3)]
    assert w3.eth.get_transaction_count(sender, "pending") == latest_nonce + 3
    assert w3.eth.get_transaction_count(sender, "latest") == latest_nonce
    pending = w3.eth.get_transaction(hashes[0])
    assert pending["blockHash"] is None and pending["blockNumber"] is None
    assert interval_chain.rpc("eth_getTransactionReceipt", "0x" + bytes(hashes[0]).hex())["result"] is None
    pending_block = interval_chain.rpc("eth_getBlockByNumber", "pending", False)["result"]
    assert pending_block["hash"] is None and len(pending_block["transactions"]) == 3
    receipts = [w3.eth.wait_for_transaction_receipt(h, timeout=15) for h in hashes]
    assert len({r["blockNumber"] for r in receipts}) == 1
    assert [r["transactionIndex"] for r in receipts] == [0, 1, 2]
    assert [r["cumulativeGasUsed"] for r in receipts] == [21_000, 42_000, 63_000]
    assert w3.eth.get_block(receipts[0]["blockNumber"])["transactions"] == hashes


def test_empty_blocks_keep_coming_on_the_interval(interval_chain: Chain) -> None:
    w3 = interval_chain.w3
    start = w3.eth.block_number
    wait_for(lambda: w3.eth.block_number >= start + 2, timeout=10)
    assert w3.eth.get_block(start + 1)["timestamp"] < w3.eth.get_block(start + 2)["timestamp"]
