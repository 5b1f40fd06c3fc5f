"""What CompositeAccount.sign_transaction accepts: bad transaction dicts fail as MalformedTransaction
(never another exception type), and nothing is silently dropped from what the caller asked to sign."""

from __future__ import annotations

from typing import Any

import pytest

from chainplug.constants import TX_TYPE_EIP1559
from chainplug.envelope import TX_TYPE_LEGACY, CompositeAccount
from chainplug.errors import MalformedTransaction

BASE: dict[str, Any] = {"chainId": 1, "nonce": 0, "gas": 21_000, "to": "0x" + "ab" * 20, "value": 1}
EIP1559_FEES = {"maxFeePerGas": 10**10, "maxPriorityFeePerGas": 10**9}


@pytest.mark.parametrize(
    "tx",
    [
        BASE | EIP1559_FEES | {"gasPrice": 10**9},
        BASE | {"gasPrice": 10**9, "maxFeePerGas": 10**10},
        BASE | EIP1559_FEES | {"gasPrice": 10**9, "type": 2},
    ],
    ids=["both-fee-kinds", "gasPrice+maxFee", "both-with-type-2"],
)
def test_mixed_fee_fields_are_refused(alice: CompositeAccount, tx: dict[str, Any]) -> None:
    """eth-account refuses a dict with both gasPrice and EIP-1559 fee caps. Signing it as a legacy
    transaction instead silently drops the caps *and the WNS artifact* (EIP-155 cannot carry one),
    so a later stripping of this transaction is undetectable; signing it as type 2 drops gasPrice."""
    with pytest.raises(MalformedTransaction):
        alice.sign_transaction(tx)


@pytest.mark.parametrize(
    "access_list",
    [
        [5],
        [("0x" + "11" * 20,)],
        ["0x" + "11" * 20],
        [{"address": "0x" + "11" * 20, "storageKeys": 7}],
        {"0x" + "11" * 20: []},
    ],
    ids=["int-entry", "1-tuple", "bare-string", "keys-not-a-list", "mapping-not-list"],
)
def test_malformed_access_list_is_a_malformed_transaction(alice: CompositeAccount, access_list: list[Any]) -> None:
    with pytest.raises(MalformedTransaction):
        alice.sign_transaction(BASE | EIP1559_FEES | {"accessList": access_list})


@pytest.mark.parametrize(
    "tx",
    [
        {k: v for k, v in BASE.items() if k != "chainId"} | EIP1559_FEES,
        BASE | {"chainId": 0} | EIP1559_FEES,
        BASE | {"nonce": -1} | EIP1559_FEES,
        BASE | {"value": True} | EIP1559_FEES,
        BASE | {"gasLimit": 1} | EIP1559_FEES,
        BASE | {"to": "0x1234"} | EIP1559_FEES,
        BASE | {"type": 1} | EIP1559_FEES,
        BASE | {"gasPrice": 1, "accessList": [{"address": "0x" + "11" * 20, "storageKeys": []}]},
        BASE | {"from": "0x" + "00" * 20} | EIP1559_FEES,
        BASE | {"maxFeePerGas": 1},
    ],
    ids=["no-chain-id", "chain-id-0", "negative", "bool", "unknown-field", "short-to", "type-1",
         "legacy-access-list", "foreign-from", "missing-priority-fee"],
)  # fmt: skip
def test_invalid_transaction_dicts(alice: CompositeAccount, tx: dict[str, Any]) -> None:
    with pytest.raises(MalformedTransaction):
        alice.sign_transaction(tx)


def test_type_selection(alice: CompositeAccount) -> None:
    assert alice.sign_transaction(BASE | EIP1559_FEES).transaction.unsigned.tx_type == TX_TYPE_EIP1559
    assert alice.sign_transaction(BASE | {"gasPrice": 1}).transaction.unsigned.tx_type == TX_TYPE_LEGACY
    own = alice.sign_transaction(BASE | EIP1559_FEES | {"from": alice.address})
    assert own.transaction.unsigned.to == bytes.fromhex("ab" * 20)


@pytest.mark.parametrize("declared", [0, "0x0"])
def test_declared_legacy_type_without_gas_price(alice: CompositeAccount, declared: Any) -> None:
    """``type: 0`` without ``gasPrice`` must be a MalformedTransaction, not a KeyError."""
    with pytest.raises(MalformedTransaction):
        alice.sign_transaction(BASE | EIP1559_FEES | {"type": declared})
    with pytest.raises(MalformedTransaction):
        alice.sign_transaction(BASE | {"type": declared})
