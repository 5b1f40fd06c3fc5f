"""Differential check of the PQC part: M' rebuilt from stock-computed fields, verified by dilithium-py.

Nothing from chainplug computes an expectation here: the envelope is split by hand, the fields come
from eth-account / eth-utils, M' is laid out byte by byte below (docs/envelope-v1.md §M'), and the
ML-DSA-87 check is GiacomoPope/dilithium-py, an independent pure-Python FIPS 204 implementation.
"""

from __future__ import annotations

from typing import Any

import pytest
import rlp
from dilithium_py.ml_dsa import ML_DSA_87
from eth_account import Account
from eth_account._utils.legacy_transactions import Transaction, serializable_unsigned_transaction_from_dict
from eth_account.typed_transactions import TypedTransaction
from eth_utils import keccak, to_checksum_address
from hexbytes import HexBytes

from chainplug.envelope import CompositeAccount

LABEL = b"CHAINPLUG-MLDSA87-SECP256K1-KECCAK256"


def split_envelope(envelope: bytes) -> tuple[bytes, bytes, bytes]:
    """Hand-written split of a full-key envelope v1: (raw tx, public key, signature)."""
    assert envelope[:3] == bytes.fromhex("8c5051")  # magic
    assert envelope[3:7] == bytes([1, 1, 1, 1])  # version 1, suite 1, kind hybrid, form full key
    tx_len = int.from_bytes(envelope[7:11], "big")
    raw = envelope[11 : 11 + tx_len]
    public_key = envelope[11 + tx_len : 11 + tx_len + 2592]
    signature = envelope[11 + tx_len + 2592 :]
    assert len(public_key) == 2592 and len(signature) == 4627
    return raw, public_key, signature


def stock_fields(raw: bytes) -> tuple[int, bytes, int, int, int]:
    """(chain id, signing hash, r, s, y_parity) computed by eth-account alone."""
    if raw[0] == 2:
        typed = TypedTransaction.from_bytes(HexBytes(raw))
        v, r, s = typed.vrs()
        return typed.as_dict()["chainId"], bytes(typed.hash()), r, s, v
    legacy = rlp.decode(raw, Transaction)
    chain_id = (legacy.v - 35) // 2
    fields = legacy.as_dict()
    unsigned = {k: fields[k] for k in ("nonce", "gasPrice", "gas", "value", "data")}
    unsigned |= {"to": to_checksum_address(fields["to"]), "chainId": chain_id}
    return (
        chain_id,
        bytes(serializable_unsigned_transaction_from_dict(unsigned).hash()),
        legacy.r,
        legacy.s,
        (legacy.v - 35 - 2 * chain_id),
    )


def m_prime_by_hand(raw: bytes, public_key: bytes) -> bytes:
    chain_id, signing_hash, r, s, y_parity = stock_fields(raw)
    sender = bytes.fromhex(Account.recover_transaction(raw)[2:])
    m = b"chainplug-composite-v1"  # 22 bytes, offset 0
    m += bytes([len(LABEL)]) + LABEL  # 1 + 37 bytes, offsets 22, 23
    m += chain_id.to_bytes(32, "big")  # offset 60
    m += sender  # 20 bytes, offset 92
    m += keccak(public_key)  # key id, offset 112
    m += signing_hash  # offset 144
    m += keccak(r.to_bytes(32, "big") + s.to_bytes(32, "big") + bytes([y_parity]))  # offset 176
    assert len(m) == 208
    return m


TXS: dict[str, dict[str, Any]] = {
    "eip1559": {
        "chainId": 1337,
        "nonce": 5,
        "gas": 60_000,
        "to": "0x" + "42" * 20,
        "value": 10**15,
        "data": b"\x01\x02\x03",
        "maxFeePerGas": 3 * 10**9,
        "maxPriorityFeePerGas": 10**9,
    },
    "eip155": {"chainId": 1, "nonce": 0, "gas": 21_000, "to": "0x" + "42" * 20, "value": 1, "gasPrice": 10**9},
}


@pytest.mark.parametrize("kind", sorted(TXS))
def test_dilithium_py_verifies_envelope_over_hand_built_m_prime(alice: CompositeAccount, kind: str) -> None:
    signed = alice.sign_transaction(TXS[kind])
    raw, public_key, signature = split_envelope(signed.envelope)
    assert raw == signed.raw_transaction
    assert public_key == alice.pqc_public_key
    m_prime = m_prime_by_hand(raw, public_key)

    assert ML_DSA_87.verify(public_key, m_prime, signature, ctx=LABEL)
    # The context string is part of what is signed: the empty context must not verify.
    assert not ML_DSA_87.verify(public_key, m_prime, signature, ctx=b"")
    # One bit of M' (the chain id's last byte) changed: no longer verifies.
    tampered = bytearray(m_prime)
    tampered[91] ^= 1
    assert not ML_DSA_87.verify(public_key, bytes(tampered), signature, ctx=LABEL)
