"""EIP-191 and EIP-712 digests and signatures as the signer makes them, checked against eth-account (the
reference wallet library): what a dapp recovers is the account that signed."""

from __future__ import annotations

import json

import pytest
from eth_account import Account
from eth_account.messages import _hash_eip191_message, encode_defunct, encode_typed_data

from chainplug.crypto import Secp256k1PrivateKey
from chainplug.signer.messages import (
    MalformedMessage,
    personal_message_digest,
    typed_data_digest,
    wallet_signature,
)
from tests.signer.test_stock_clients import TYPED_DATA


@pytest.mark.parametrize("message", [b"", b"hello", bytes(range(256)) * 3])
def test_personal_message_digest_is_eip191_and_recovers(message: bytes) -> None:
    assert personal_message_digest(message) == _hash_eip191_message(encode_defunct(primitive=message))
    key = Secp256k1PrivateKey(b"\x07" * 32)
    signature = wallet_signature(key.sign_digest(personal_message_digest(message)))
    assert int(signature[-2:], 16) in (27, 28)
    assert (
        Account.recover_message(encode_defunct(primitive=message), signature=signature)
        == Account.from_key(b"\x07" * 32).address
    )


def test_typed_data_digest_is_eip712_v4_as_object_or_json_text() -> None:
    expected = _hash_eip191_message(encode_typed_data(full_message=TYPED_DATA))
    assert typed_data_digest(TYPED_DATA) == expected == typed_data_digest(json.dumps(TYPED_DATA))


@pytest.mark.parametrize(
    "bad",
    ["", "[", "{}", "\ud800", "[" * 100_000, {"types": {}, "primaryType": "X", "domain": {}, "message": {}},
     {**TYPED_DATA, "primaryType": "Nope"}, {**TYPED_DATA, "message": {"contents": 5}}, 7, []],
)  # fmt: skip
def test_bad_typed_data_is_a_malformed_message(bad: object) -> None:
    with pytest.raises(MalformedMessage):
        typed_data_digest(bad)
