"""The classical part is a stock Ethereum transaction: stock code (eth-account, py-evm) accepts it.

Stock code must show it, not our own (docs/design.md, "The envelope binding"). Every expectation here is computed
by eth-account / eth-utils / py-evm; chainplug only produces the bytes under test.
"""

from __future__ import annotations

from typing import Any

import pytest
from eth_account import Account
from eth_account._utils.legacy_transactions import serializable_unsigned_transaction_from_dict
from eth_account.typed_transactions import TypedTransaction
from eth_utils import keccak, to_checksum_address
from hexbytes import HexBytes
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chainplug.constants import WNS_ARTIFACT_ADDRESS
from chainplug.envelope import TX_TYPE_LEGACY, CompositeAccount, decode_envelope, decode_transaction
from chainplug.verify import LegacyVerifier

RECIPIENT = to_checksum_address("0x" + "5a" * 20)


@pytest.fixture(scope="module")
def chain() -> Any:
    from web3 import EthereumTesterProvider, Web3

    return Web3(EthereumTesterProvider())


def _fund(w3: Any, address: str) -> None:
    receipt = w3.eth.wait_for_transaction_receipt(
        w3.eth.send_transaction({"from": w3.eth.accounts[0], "to": address, "value": 10**18})
    )
    assert receipt["status"] == 1


def _tx(w3: Any, account: CompositeAccount, *, legacy: bool) -> dict[str, Any]:
    base_fee = w3.eth.get_block("latest")["baseFeePerGas"]
    tx: dict[str, Any] = {
        "chainId": w3.eth.chain_id,
        "nonce": w3.eth.get_transaction_count(account.address),
        "gas": 21_000,
        "to": RECIPIENT,
        "value": 12_345,
    }
    if legacy:
        tx["gasPrice"] = 2 * base_fee
    else:
        tx["maxFeePerGas"] = 2 * base_fee
        tx["maxPriorityFeePerGas"] = 1
    return tx


@pytest.mark.parametrize("legacy", [False, True], ids=["eip1559", "eip155"])
def test_stock_chain_mines_composite_signed_transaction(chain: Any, alice: CompositeAccount, legacy: bool) -> None:
    w3 = chain
    _fund(w3, alice.address)
    signed = alice.sign_transaction(_tx(w3, alice, legacy=legacy))
    raw = signed.raw_transaction

    assert Account.recover_transaction(raw) == alice.address
    assert keccak(raw) == signed.tx_hash

    tx_hash = w3.eth.send_raw_transaction(raw)
    assert bytes(tx_hash) == signed.tx_hash
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash)
    assert receipt["status"] == 1
    assert receipt["from"] == alice.address
    assert bytes(receipt["transactionHash"]) == signed.tx_hash
    mined = w3.eth.get_transaction(tx_hash)
    assert mined["from"] == alice.address
    assert mined["value"] == 12_345
    if legacy:
        # EIP-155 has no access list, hence no artifact and no extra intrinsic gas.
        assert receipt["gasUsed"] == 21_000
    else:
        # The WNS artifact is one access-list address + one storage key: 2,400 + 1,900 gas.
        assert receipt["gasUsed"] == 21_000 + 2_400 + 1_900
        assert [(e["address"], list(e["storageKeys"])) for e in mined["accessList"]] == [
            (to_checksum_address(WNS_ARTIFACT_ADDRESS), ["0x" + alice.key_id.hex()])
        ]


@pytest.mark.parametrize("legacy", [False, True], ids=["eip1559", "eip155"])
def test_envelope_carries_the_stock_transaction_byte_for_byte(alice: CompositeAccount, legacy: bool) -> None:
    tx = {"chainId": 1, "nonce": 7, "gas": 30_000, "to": RECIPIENT, "value": 1, "data": b"\xde\xad"}
    tx |= {"gasPrice": 10**9} if legacy else {"maxFeePerGas": 10**10, "maxPriorityFeePerGas": 10**9}
    signed = alice.sign_transaction(tx)
    envelope = decode_envelope(signed.envelope)
    assert envelope.raw_transaction == signed.raw_transaction
    # What a stock node reads from the envelope's classical part is exactly the stock transaction.
    assert Account.recover_transaction(envelope.raw_transaction) == alice.address
    assert LegacyVerifier().verify(signed.envelope).tx_hash == keccak(signed.raw_transaction)


# --- differential: our strict decoder against eth-account, on transactions eth-account signs ----------

_STOCK_KEY = b"\x44" * 32
_STOCK = Account.from_key(_STOCK_KEY)

addresses = st.binary(min_size=20, max_size=20).map(to_checksum_address)
storage_keys = st.binary(min_size=32, max_size=32).map(lambda b: "0x" + b.hex())
access_lists = st.lists(
    st.fixed_dictionaries({"address": addresses, "storageKeys": st.lists(storage_keys, max_size=2)}), max_size=2
)
common = {
    "chainId": st.integers(1, 2**64),
    "nonce": st.integers(0, 2**64 - 2),
    "gas": st.integers(21_000, 2**63),
    "to": addresses,
    "value": st.integers(0, 2**256 - 1),
    "data": st.binary(max_size=80),
}
eip1559_txs = st.fixed_dictionaries(
    common
    | {
        "maxFeePerGas": st.integers(0, 2**256 - 1),
        "maxPriorityFeePerGas": st.integers(0, 2**256 - 1),
        "accessList": access_lists,
        "type": st.just(2),
    }
)
legacy_txs = st.fixed_dictionaries(common | {"gasPrice": st.integers(0, 2**256 - 1)})


def _expected_signing_hash(tx: dict[str, Any]) -> bytes:
    if tx.get("type") == 2:
        return bytes(TypedTransaction.from_dict(tx).hash())
    return bytes(serializable_unsigned_transaction_from_dict(tx).hash())


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tx=st.one_of(eip1559_txs, legacy_txs))
def test_decoder_agrees_with_eth_account(tx: dict[str, Any]) -> None:
    stock = _STOCK.sign_transaction(tx)
    raw = bytes(stock.raw_transaction)
    ours = decode_transaction(raw)

    assert ours.signing_hash == _expected_signing_hash(tx)
    assert ours.tx_hash == bytes(stock.hash)
    assert (ours.signature.r, ours.signature.s) == (stock.r, stock.s)
    assert ours.chain_id == tx["chainId"]
    u = ours.unsigned
    assert (u.nonce, u.gas, u.value, u.data) == (tx["nonce"], tx["gas"], tx["value"], tx["data"])
    assert to_checksum_address(u.to) == tx["to"]
    if tx.get("type") == 2:
        assert (u.max_fee_per_gas, u.max_priority_fee_per_gas) == (tx["maxFeePerGas"], tx["maxPriorityFeePerGas"])
        assert [(to_checksum_address(a), ["0x" + k.hex() for k in ks]) for a, ks in u.access_list] == [
            (e["address"], e["storageKeys"]) for e in tx["accessList"]
        ]
    else:
        assert u.tx_type == TX_TYPE_LEGACY and u.gas_price == tx["gasPrice"]
    # Sender: eth-account's recovery and ours (the legacy verifier) agree.
    assert Account.recover_transaction(raw) == _STOCK.address
    assert LegacyVerifier().verify(raw).sender == bytes.fromhex(_STOCK.address[2:])


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(tx=st.one_of(eip1559_txs, legacy_txs))
def test_eth_account_reads_what_we_sign(alice: CompositeAccount, tx: dict[str, Any]) -> None:
    tx = dict(tx)
    tx["gas"] = min(tx["gas"], 2**63)
    signed = alice.sign_transaction(tx)
    raw = signed.raw_transaction
    assert Account.recover_transaction(raw) == alice.address
    if tx.get("type") == 2:
        stock = TypedTransaction.from_bytes(HexBytes(raw))
        fields = stock.as_dict()
        assert fields["chainId"] == tx["chainId"] and fields["nonce"] == tx["nonce"]
        assert fields["gas"] == tx["gas"] + 4_300  # the artifact's EIP-2930 intrinsic gas, added by the signer
        assert bytes(fields["accessList"][-1]["address"]) == WNS_ARTIFACT_ADDRESS
        assert fields["accessList"][-1]["storageKeys"] == (int.from_bytes(alice.key_id, "big"),)
        # Signing hash from eth-account's own encoder of the decoded fields.
        assert bytes(stock.hash()) == signed.transaction.signing_hash
    else:
        assert signed.transaction.signing_hash == _expected_signing_hash(tx)
