"""Transaction dicts are held to the strict decoder's field rules before anything is signed (#13): every
signing path (composite, classical through the signer, PQC-only) goes through unsigned_from_dict, and
whatever it lets through decodes again."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chainplug.constants import MAX_RAW_TX_BYTES
from chainplug.envelope import (
    CompositeAccount,
    PqcOnlySigner,
    check_transaction_fields,
    decode_pqc_transaction,
    decode_transaction,
    unsigned_from_dict,
)
from chainplug.envelope.account import DICT_FIELDS
from chainplug.errors import MalformedEnvelope, MalformedTransaction

INT_FIELD_BYTES = {name: f.wire.size for name, f in DICT_FIELDS.items() if f.wire.kind == "uint"}
SEED = bytes.fromhex("a4" * 32)
BASE: dict[str, Any] = {"chainId": 1, "nonce": 0, "gas": 50_000, "to": "0x" + "11" * 20, "value": 1,
                        "maxFeePerGas": 10**10, "maxPriorityFeePerGas": 10**9}  # fmt: skip
LEGACY: dict[str, Any] = {k: v for k, v in BASE.items() if not k.startswith("max")} | {"gasPrice": 10**10}


@pytest.fixture(scope="module")
def account() -> CompositeAccount:
    return CompositeAccount.from_keys(bytes.fromhex("44" * 32), SEED)


@pytest.fixture(scope="module")
def pqc_signer(account: CompositeAccount) -> PqcOnlySigner:
    return PqcOnlySigner.from_seed(SEED, account.address)


def signed_raw(account: CompositeAccount, pqc: PqcOnlySigner, tx: dict[str, Any]) -> list[bytes]:
    """Sign ``tx`` every way it can be signed; each raw transaction must decode strictly."""
    raws = [account.sign_transaction(tx).raw_transaction]
    unsigned = unsigned_from_dict(tx)
    raws.append(unsigned.encode_signed(account._classical.sign_digest(unsigned.signing_hash())))  # the signer's path
    if "gasPrice" not in tx:
        pqc_raw = pqc.sign_transaction(tx).raw_transaction
        assert decode_pqc_transaction(pqc_raw).raw == pqc_raw
    for raw in raws:
        assert decode_transaction(raw).raw == raw
    return raws


@pytest.mark.parametrize("name", sorted(set(INT_FIELD_BYTES) - {"type"}))
def test_every_integer_field_is_held_to_its_width(
    name: str, account: CompositeAccount, pqc_signer: PqcOnlySigner
) -> None:
    template = LEGACY if name == "gasPrice" else BASE
    widest = 2 ** (8 * INT_FIELD_BYTES[name]) - 1
    if name == "gas":
        widest -= 4_300  # the hybrid artifact's access-list gas is added to it
    if name == "chainId" and template is LEGACY:
        widest = (2**256 - 37) // 2
    signed_raw(account, pqc_signer, {**template, name: widest})
    for wider in (widest + 2**64, 2**300, hex(2**300), str(2**300)):
        tx = {**template, name: wider}
        with pytest.raises(MalformedTransaction, match=name):
            unsigned_from_dict(tx)
        with pytest.raises(MalformedTransaction):
            account.sign_transaction(tx)
        with pytest.raises(MalformedTransaction):
            check_transaction_fields({"from": account.address, name: wider})
        if template is BASE:
            with pytest.raises(MalformedTransaction):
                pqc_signer.sign_transaction(tx)


def test_other_field_rules(account: CompositeAccount, pqc_signer: PqcOnlySigner) -> None:
    for tx in (
        {**BASE, "gas": 2**64 - 1},  # + the artifact's gas overflows the decoder's 8 bytes
        {**LEGACY, "chainId": 2**255},  # v = 2 * chainId + 35 would be wider than 32 bytes
    ):  # rules that need the whole transaction: fine field by field, refused when signing
        check_transaction_fields(tx)
        with pytest.raises(MalformedTransaction):
            account.sign_transaction(tx)
    refused: list[dict[str, Any]] = [
        {**BASE, "chainId": 0},
        {**BASE, "to": "0x" + "11" * 19},
        {**BASE, "to": 0},
        {**BASE, "to": False},
        {**BASE, "data": "0x" + "00" * (MAX_RAW_TX_BYTES + 1)},
        {**BASE, "data": "0xzz"},
        {**BASE, "value": -1},
        {**BASE, "value": True},
        {**BASE, "value": 1.5},
        {**BASE, "nonce": "0xzz"},
        {**BASE, "accessList": [{"address": "0x" + "11" * 20, "storageKeys": ["0x01"]}]},
        {**BASE, "accessList": "nope"},
        {**BASE, "unknown": 1},
    ]
    for tx in refused:
        with pytest.raises(MalformedEnvelope):
            account.sign_transaction(tx)
        with pytest.raises(MalformedEnvelope):
            check_transaction_fields(tx)
    assert unsigned_from_dict({**BASE, "to": None}).to == b""
    assert unsigned_from_dict({**BASE, "to": ""}).to == b""
    check_transaction_fields({"from": account.address, "to": account.address, "value": "0x10"})  # partial is fine
    with pytest.raises(MalformedTransaction):
        check_transaction_fields({"from": "0x1234"})


integers = st.one_of(st.integers(0, 2**300), st.integers(-5, 5), st.just(2**64), st.just(2**64 - 1))


@settings(max_examples=150, deadline=None)
@given(
    st.fixed_dictionaries(
        {"chainId": integers, "nonce": integers, "gas": integers, "value": integers},
        optional={"maxFeePerGas": integers, "maxPriorityFeePerGas": integers, "gasPrice": integers},
    )
)
def test_what_signs_decodes(account: CompositeAccount, pqc_signer: PqcOnlySigner, fields: dict[str, Any]) -> None:
    tx = {"to": "0x" + "22" * 20, **fields}
    try:
        unsigned_from_dict(tx)
    except MalformedTransaction:
        with pytest.raises(MalformedTransaction):
            account.sign_transaction(tx)
        return
    try:
        account.sign_transaction(tx)
    except MalformedTransaction as exc:
        assert "artifact" in str(exc)  # the one rule added after the dict's own: room for the artifact's gas
        return
    signed_raw(account, pqc_signer, tx)
