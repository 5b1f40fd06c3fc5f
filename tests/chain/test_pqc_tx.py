"""The PQC-only transaction format: round trips, strict decoding, the signature checklist, the vectors."""

from __future__ import annotations

import dataclasses
import json
import random
from pathlib import Path
from typing import Any

import pytest
import rlp
from dilithium_py.ml_dsa import ML_DSA_87
from hypothesis import given, settings
from hypothesis import strategies as st

from chainplug.constants import MLDSA87_PUBLIC_KEY_BYTES, MLDSA87_SIGNATURE_BYTES, PQC_TX_AUTH_GAS, SUITE_LABEL
from chainplug.crypto import get_backend
from chainplug.errors import InvalidSignature, MalformedTransaction
from chainplug.node.chain import PqcOnlySigner, PqcOnlyTransaction, decode_pqc_transaction, verify_pqc_signature
from chainplug.node.chain.fork import EvmPqcOnlyTransaction, PqcPayloadDecoder
from chainplug.types import Address

VECTORS = json.loads((Path(__file__).parents[1] / "vectors" / "pqc_tx" / "pqc-tx-v1.json").read_text())
SENDER = Address(bytes.fromhex("11" * 20))
SEED = b"\x42" * 32


@pytest.fixture(scope="module")
def signer() -> PqcOnlySigner:
    return PqcOnlySigner.from_seed(SEED, SENDER)


def transfer(**overrides: Any) -> dict[str, Any]:
    return {
        "chainId": 1337,
        "nonce": 3,
        "gas": 21_000 + PQC_TX_AUTH_GAS,
        "to": "0x" + "22" * 20,
        "value": 5,
        "maxFeePerGas": 2 * 10**9,
        "maxPriorityFeePerGas": 10**9,
        **overrides,
    }


# --- round trips ------------------------------------------------------------------------------------

addresses = st.binary(min_size=20, max_size=20)
uint256 = st.integers(min_value=0, max_value=2**256 - 1)
uint64 = st.integers(min_value=0, max_value=2**64 - 1)
access_lists = st.lists(
    st.tuples(addresses, st.lists(st.binary(min_size=32, max_size=32), max_size=3).map(tuple)), max_size=3
).map(tuple)


def sized_bytes(size: int) -> st.SearchStrategy[bytes]:
    """Exactly ``size`` bytes, grown from a small seed (a 7 kB minimal example defeats shrinking)."""
    return st.integers(min_value=0, max_value=2**64).map(lambda seed: random.Random(seed).randbytes(size))


@st.composite
def unsigned_transactions(draw: st.DrawFn) -> PqcOnlyTransaction:
    return PqcOnlyTransaction(
        chain_id=draw(st.integers(min_value=1, max_value=2**256 - 1)),
        nonce=draw(uint64),
        max_priority_fee_per_gas=draw(uint256),
        max_fee_per_gas=draw(uint256),
        gas=draw(uint64),
        to=draw(st.one_of(st.just(b""), addresses)),
        value=draw(uint256),
        data=draw(st.binary(max_size=300)),
        access_list=draw(access_lists),
        sender=Address(draw(addresses)),
    )


@settings(max_examples=150, deadline=None)
@given(unsigned_transactions(), sized_bytes(MLDSA87_PUBLIC_KEY_BYTES), sized_bytes(MLDSA87_SIGNATURE_BYTES))
def test_encode_decode_round_trip(unsigned: PqcOnlyTransaction, public_key: bytes, signature: bytes) -> None:
    raw = unsigned.encode_signed(public_key, signature)
    decoded = decode_pqc_transaction(raw)
    assert decoded.unsigned == unsigned
    assert (decoded.public_key, decoded.signature, decoded.raw) == (public_key, signature, raw)
    assert decoded.unsigned.encode_signed(decoded.public_key, decoded.signature) == raw
    assert decoded.signing_hash == unsigned.signing_hash()


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=8000))
def test_decoding_garbage_raises_only_malformed(data: bytes) -> None:
    for candidate in (data, b"\x50" + data):
        with pytest.raises(MalformedTransaction):
            decode_pqc_transaction(candidate)


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_any_single_byte_change_is_rejected_or_changes_the_transaction(data: st.DataObject) -> None:
    raw = VECTORS["vectors"][0]["raw"]
    original = bytes.fromhex(raw[2:])
    position = data.draw(st.integers(min_value=0, max_value=len(original) - 1))
    value = data.draw(st.integers(min_value=0, max_value=255).filter(lambda v: v != original[position]))
    mutated = original[:position] + bytes((value,)) + original[position + 1 :]
    try:
        decoded = decode_pqc_transaction(mutated)
    except MalformedTransaction:
        return
    with pytest.raises(InvalidSignature):  # canonical, but not what the key signed
        verify_pqc_signature(decoded)


def test_signer_output_decodes_and_verifies(signer: PqcOnlySigner) -> None:
    signed = signer.sign_transaction(
        transfer(data="0xabcd", accessList=[{"address": "0x" + "33" * 20, "storageKeys": ["0x" + "00" * 32]}])
    )
    decoded = decode_pqc_transaction(signed.raw_transaction)
    assert decoded == signed.transaction and decoded.tx_hash == signed.tx_hash
    assert decoded.sender == SENDER and decoded.public_key == signer.public_key
    assert verify_pqc_signature(decoded) == signer.key_id
    assert decoded.unsigned.data == b"\xab\xcd" and decoded.unsigned.access_list[0][0] == b"\x33" * 20


def test_signer_refuses_a_foreign_from_and_bad_fields(signer: PqcOnlySigner) -> None:
    with pytest.raises(MalformedTransaction):
        signer.sign_transaction(transfer(**{"from": "0x" + "99" * 20}))
    with pytest.raises(MalformedTransaction):
        signer.sign_transaction({k: v for k, v in transfer().items() if k != "chainId"})
    with pytest.raises(MalformedTransaction):
        signer.sign_transaction({**transfer(), "gasPrice": 10**9})
    with pytest.raises(MalformedTransaction):
        PqcOnlySigner.from_seed(b"\x42" * 32, "0x1234")


# --- the signature checklist (STYLE.md habit 17) ----------------------------------------------------


def test_signature_checklist(signer: PqcOnlySigner) -> None:
    tx = signer.sign_transaction(transfer()).transaction
    own, other = get_backend().mldsa87_from_seed(SEED), get_backend().mldsa87_from_seed(b"\x43" * 32)
    m_prime = tx.message_representative()
    bad: dict[str, bytes] = {
        "bit-flipped": bytes((tx.signature[0] ^ 1,)) + tx.signature[1:],
        "swapped-halves": tx.signature[len(tx.signature) // 2 :] + tx.signature[: len(tx.signature) // 2],
        "zeros": bytes(MLDSA87_SIGNATURE_BYTES),
        "wrong-key": other.sign(m_prime, SUITE_LABEL),
        "missing-context": own.sign(m_prime, b""),
        "wrong-message": own.sign(m_prime[:-1] + b"\x01", SUITE_LABEL),  # nonzero classical hash
    }
    for signature in bad.values():
        with pytest.raises(InvalidSignature):
            verify_pqc_signature(decode_pqc_transaction(tx.unsigned.encode_signed(tx.public_key, signature)))
    for length in (MLDSA87_SIGNATURE_BYTES - 1, MLDSA87_SIGNATURE_BYTES + 1, 0):
        with pytest.raises(MalformedTransaction):
            tx.unsigned.encode_signed(tx.public_key, bytes(length))
    altered = dataclasses.replace(tx.unsigned, nonce=4)
    with pytest.raises(InvalidSignature):
        verify_pqc_signature(decode_pqc_transaction(altered.encode_signed(tx.public_key, tx.signature)))


def test_strict_decoding_cases(signer: PqcOnlySigner) -> None:
    raw = signer.sign_transaction(transfer()).raw_transaction
    items = rlp.decode(raw[1:])
    cases = {
        "truncated": raw[:-1],
        "trailing": raw + b"\x00",
        "type": b"\x02" + raw[1:],
        "fields": b"\x50" + rlp.encode(items[:-1]),
        "leading-zero-value": b"\x50" + rlp.encode([*items[:6], b"\x00\x05", *items[7:]]),
        "to-19-bytes": b"\x50" + rlp.encode([*items[:5], b"\x22" * 19, *items[6:]]),
        "data-is-a-list": b"\x50" + rlp.encode([*items[:7], [], *items[8:]]),
        "oversized": b"\x50" + rlp.encode([*items[:7], b"\x01" * 140_000, *items[8:]]),
    }
    for data in cases.values():
        with pytest.raises(MalformedTransaction):
            decode_pqc_transaction(data)


# --- test vectors (tests/vectors/pqc_tx/README.md) ------------------------------------------------------


@pytest.mark.parametrize("vector", VECTORS["vectors"], ids=lambda v: v["name"])
def test_vectors(vector: dict[str, Any]) -> None:
    from chainplug.node.chain.fork import PqcPayloadDecoder

    raw = bytes.fromhex(vector["raw"][2:])
    tx = decode_pqc_transaction(raw)
    assert tx.chain_id == vector["chain_id"] and tx.unsigned.nonce == vector["nonce"]
    assert tx.unsigned.to.hex() == vector["to"] and tx.unsigned.data.hex() == vector["data"]
    assert "0x" + tx.sender.hex() == vector["sender"] == VECTORS["key"]["sender"]
    assert "0x" + tx.signing_hash.hex() == vector["signing_hash"]
    assert "0x" + tx.message_representative().hex() == vector["m_prime"]
    assert "0x" + tx.tx_hash.hex() == vector["tx_hash"]
    assert verify_pqc_signature(tx).hex() == VECTORS["key"]["key_id"][2:]
    public_key = bytes.fromhex(VECTORS["key"]["public_key"][2:])
    assert get_backend().mldsa87_from_seed(bytes.fromhex(VECTORS["key"]["mldsa87_seed"][2:])).public_key_bytes == (
        public_key
    )
    # Independent ML-DSA-87 implementation (dilithium-py) agrees.
    assert ML_DSA_87.verify(public_key, tx.message_representative(), tx.signature, ctx=SUITE_LABEL)
    # The py-evm fork decodes the same bytes and charges the documented intrinsic gas.
    inner = PqcPayloadDecoder.decode(raw[1:])
    data = bytes.fromhex(vector["data"])
    calldata = sum(16 if b else 4 for b in data)
    access = sum(2400 + 1900 * len(keys) for _, keys in vector["access_list"])
    create = 32_000 if not vector["to"] else 0
    assert inner.intrinsic_gas == 21_000 + calldata + access + create + VECTORS["pqc_tx_auth_gas"]


@pytest.mark.parametrize("vector", VECTORS["negative"], ids=lambda v: v["name"])
def test_negative_vectors(vector: dict[str, Any]) -> None:
    raw = bytes.fromhex(vector["raw"][2:])
    if vector["reason"] == "invalid-signature":
        with pytest.raises(InvalidSignature):
            verify_pqc_signature(decode_pqc_transaction(raw))
    else:
        with pytest.raises(MalformedTransaction) as caught:
            decode_pqc_transaction(raw)
        assert caught.value.reason.value == vector["reason"]


def test_constants_follow_their_definitions() -> None:
    from chainplug import constants

    assert constants.TX_TYPE_PQC_ONLY < 0x80  # an EIP-2718 type byte, never an RLP list prefix
    assert constants.TX_TYPE_PQC_ONLY not in (0, 1, 2, 3, 4, 7, constants.ENVELOPE_MAGIC[0])
    assert (
        constants.PQC_TX_AUTH_GAS
        == constants.PQC_TX_AUTH_BYTE_GAS * (MLDSA87_PUBLIC_KEY_BYTES + MLDSA87_SIGNATURE_BYTES)
        + constants.PQC_TX_VERIFY_GAS
        == 136_504
    )


@settings(max_examples=60, deadline=None)
@given(unsigned_transactions(), sized_bytes(MLDSA87_PUBLIC_KEY_BYTES), sized_bytes(MLDSA87_SIGNATURE_BYTES))
def test_py_evm_object_is_built_from_the_decoded_fields(
    unsigned: PqcOnlyTransaction, public_key: bytes, signature: bytes
) -> None:
    """The fork builds py-evm's object from what chainplug decoded (no second decode): it equals what
    pyrlp makes of the same bytes with the sedes derived from the declared fields, and re-encodes to them."""
    payload = unsigned.encode_signed(public_key, signature)[1:]
    built = PqcPayloadDecoder.decode(payload)
    assert built == rlp.decode(payload, sedes=EvmPqcOnlyTransaction)
    assert rlp.encode(built) == payload and rlp.encode(built, cache=False) == payload
    assert [name for name, _ in EvmPqcOnlyTransaction._meta.fields][-3:] == [
        "sender_address",
        "public_key",
        "signature",
    ]
