"""The upgraded chain rules, end to end over JSON-RPC: the PQC-only transaction, the attacks on it, and
the sidecar requirement from the activation block on (docs/pqc-transaction.md, docs/design.md "Activation")."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from eth_account import Account
from web3 import Web3

from chainplug.constants import PQC_TX_AUTH_GAS, TX_TYPE_PQC_ONLY
from chainplug.envelope import CompositeAccount, SignedComposite
from chainplug.errors import UnsupportedEnvelope
from chainplug.node.chain import PqcOnlySigner, decode_pqc_transaction
from chainplug.registry import Transition, sign_transition, submit_transition
from chainplug.types import AccountState
from chainplug.verify import LegacyVerifier
from tests.chain.harness import CHAIN_ID, Chain, fresh_account, pqc_signer

REJECTED = -32003


def send_raw(chain: Chain, raw: bytes) -> dict[str, Any]:
    return chain.rpc("eth_sendRawTransaction", "0x" + raw.hex())


def send_envelope(chain: Chain, signed: SignedComposite) -> dict[str, Any]:
    return chain.rpc("chainplug_sendEnvelope", "0x" + signed.envelope.hex())


def rejection(response: dict[str, Any]) -> str:
    """The chainplug reason of a -32003 rejection (fails the test on anything else)."""
    assert "error" in response, f"expected a rejection, got {response}"
    assert response["error"]["code"] == REJECTED, response["error"]
    reason: str = response["error"]["data"]["reason"]
    return reason


def mined(chain: Chain, response: dict[str, Any]) -> dict[str, Any]:
    assert "result" in response, response
    receipt = dict(chain.w3.eth.wait_for_transaction_receipt(response["result"]))
    assert receipt["status"] == 1
    return receipt


def pqc_tx(chain: Chain, signer: PqcOnlySigner, *, nonce: int | None = None, **fields: Any) -> bytes:
    tx = {
        "chainId": CHAIN_ID,
        "nonce": chain.w3.eth.get_transaction_count(signer.address) if nonce is None else nonce,
        "gas": 21_000 + PQC_TX_AUTH_GAS,
        "value": 0,
        "to": chain.w3.eth.accounts[0],
        **chain.fees(),
        **fields,
    }
    return signer.sign_transaction(tx).raw_transaction


def state_of(chain: Chain, account: CompositeAccount) -> AccountState:
    assert chain.registry is not None
    return chain.registry.entry(account.address).state


@dataclass
class Migration:
    account: CompositeAccount
    signer: PqcOnlySigner
    states: list[AccountState] = field(default_factory=list)
    bare_complete: dict[str, Any] = field(default_factory=dict)
    pqc_complete: dict[str, Any] = field(default_factory=dict)


@pytest.fixture(scope="module")
def migrated(chain: Chain) -> Migration:
    """CLASSICAL -> HYBRID -> FINALIZING -> PQC_ONLY on the chain (activation not reached yet)."""
    assert chain.registry is not None
    account = fresh_account()
    record = Migration(account, pqc_signer(account))
    chain.fund(account.address)
    record.states.append(state_of(chain, account))
    submit_transition(chain.w3, chain.registry, account, Transition.REGISTER)
    record.states.append(state_of(chain, account))
    submit_transition(chain.w3, chain.registry, account, Transition.ANNOUNCE_FINALIZATION)
    record.states.append(state_of(chain, account))
    bare = sign_transition(chain.w3, chain.registry, account, Transition.COMPLETE_MIGRATION)
    record.bare_complete = send_raw(chain, bare.raw_transaction)
    # The classical key is erased at FINALIZING: the last step is a PQC-only transaction.
    call = chain.registry.transition_call(Transition.COMPLETE_MIGRATION)
    raw = pqc_tx(chain, record.signer, to=call["to"], data=call["data"], gas=60_000 + PQC_TX_AUTH_GAS)
    record.pqc_complete = mined(chain, send_raw(chain, raw))
    record.states.append(state_of(chain, account))
    return record


def test_account_moves_through_the_four_states_on_chain(chain: Chain, migrated: Migration) -> None:
    assert migrated.states == [
        AccountState.CLASSICAL,
        AccountState.HYBRID,
        AccountState.FINALIZING,
        AccountState.PQC_ONLY,
    ]
    # FINALIZING refuses classical-only signatures, before activation too.
    assert rejection(migrated.bare_complete) == "pqc-required"
    tx = chain.w3.eth.get_transaction(migrated.pqc_complete["transactionHash"])
    assert tx["type"] == TX_TYPE_PQC_ONLY and tx["from"] == migrated.account.address
    assert bytes.fromhex(tx["pqcPublicKey"][2:]) == migrated.account.pqc_public_key


def test_pqc_only_transaction_moves_value_with_the_documented_gas(chain: Chain, migrated: Migration) -> None:
    w3, sender = chain.w3, migrated.account.address
    recipient = Web3.to_checksum_address("0x" + "5a" * 20)
    estimate = chain.rpc("eth_estimateGas", {"from": sender, "to": recipient, "value": "0x1", "type": "0x50"})
    assert int(estimate["result"], 16) == 21_000 + PQC_TX_AUTH_GAS
    before = w3.eth.get_balance(sender)
    raw = pqc_tx(chain, migrated.signer, to=recipient, value=10**15)
    response = send_raw(chain, raw)
    assert response["result"] == "0x" + decode_pqc_transaction(raw).tx_hash.hex()  # keccak256 of the raw bytes
    receipt = mined(chain, response)
    assert receipt["gasUsed"] == 21_000 + PQC_TX_AUTH_GAS
    assert w3.eth.get_balance(recipient) == 10**15
    assert w3.eth.get_balance(sender) == before - 10**15 - receipt["gasUsed"] * receipt["effectiveGasPrice"]
    block = w3.eth.get_block(receipt["blockNumber"], full_transactions=True)
    assert block["transactions"][0]["hash"] == receipt["transactionHash"]


def test_stock_code_cannot_read_a_pqc_only_transaction(chain: Chain, migrated: Migration) -> None:
    raw = pqc_tx(chain, migrated.signer)
    with pytest.raises(UnsupportedEnvelope):
        LegacyVerifier(chain_id=CHAIN_ID).verify(raw)
    with pytest.raises(Exception, match=r"(?i)type"):  # eth-account knows no type 0x50
        Account.recover_transaction(raw)


def test_classical_transactions_of_a_pqc_only_sender_are_refused(chain: Chain, migrated: Migration) -> None:
    signed = migrated.account.sign_transaction(
        {
            "chainId": CHAIN_ID,
            "nonce": chain.w3.eth.get_transaction_count(migrated.account.address),
            "to": chain.w3.eth.accounts[0],
            "value": 1,
            "gas": 30_000,
            **chain.fees(),
        }
    )
    assert rejection(send_raw(chain, signed.raw_transaction)) == "classical-not-allowed"
    assert rejection(send_envelope(chain, signed)) == "classical-not-allowed"
    assert chain.rpc("chainplug_getSidecar", "0x" + signed.tx_hash.hex())["result"] is None


def test_pqc_only_transaction_needs_a_finalizing_or_pqc_only_sender(chain: Chain) -> None:
    assert chain.registry is not None
    unregistered = fresh_account()
    chain.fund(unregistered.address)
    assert rejection(send_raw(chain, pqc_tx(chain, pqc_signer(unregistered)))) == "key-not-registered"
    hybrid = fresh_account()
    chain.fund(hybrid.address)
    submit_transition(chain.w3, chain.registry, hybrid, Transition.REGISTER)
    response = send_raw(chain, pqc_tx(chain, pqc_signer(hybrid)))
    assert rejection(response) == "key-not-registered"
    assert "HYBRID" in response["error"]["message"]


def test_wrong_key_bad_signature_and_wrong_chain_are_rejected(chain: Chain, migrated: Migration) -> None:
    sender = migrated.account.address
    nonce = chain.w3.eth.get_transaction_count(sender)
    impostor = PqcOnlySigner.from_seed(b"\xee" * 32, sender)  # a valid signature, by another key
    assert rejection(send_raw(chain, pqc_tx(chain, impostor, nonce=nonce))) == "key-mismatch"
    good = decode_pqc_transaction(pqc_tx(chain, migrated.signer, nonce=nonce))
    flipped = bytearray(good.signature)
    flipped[100] ^= 0x01
    forged = good.unsigned.encode_signed(good.public_key, bytes(flipped))
    assert rejection(send_raw(chain, forged)) == "invalid-signature"
    other_chain = pqc_tx(chain, migrated.signer, nonce=nonce, chainId=CHAIN_ID + 1)
    assert rejection(send_raw(chain, other_chain)) == "wrong-chain"
    truncated = good.raw[:-10]
    assert rejection(send_raw(chain, truncated)) in ("malformed", "non-canonical")
    assert chain.w3.eth.get_transaction_count(sender) == nonce  # nothing above was included


def test_replayed_pqc_only_transaction_is_not_included_twice(chain: Chain, migrated: Migration) -> None:
    raw = pqc_tx(chain, migrated.signer)
    mined(chain, send_raw(chain, raw))
    again = send_raw(chain, raw)
    assert again["error"]["code"] == -32000 and "already known" in again["error"]["message"]


# --- after activation: sidecars -----------------------------------------------------------------------


def _transition(chain: Chain, account: CompositeAccount, transition: Transition) -> SignedComposite:
    assert chain.registry is not None
    return sign_transition(chain.w3, chain.registry, account, transition)


def test_after_activation_a_hybrid_sender_needs_its_sidecar(activated_chain: Chain) -> None:
    chain = activated_chain
    account = fresh_account()
    chain.fund(account.address)
    register = _transition(chain, account, Transition.REGISTER)
    # The classical part alone carries the hybrid artifact: recognisably stripped.
    assert rejection(send_raw(chain, register.raw_transaction)) == "pqc-required"
    mined(chain, send_envelope(chain, register))
    assert state_of(chain, account) == AccountState.HYBRID
    transfer = account.sign_transaction(
        {"chainId": CHAIN_ID, "nonce": 1, "to": chain.w3.eth.accounts[1], "value": 99, "gas": 21_000, **chain.fees()}
    )
    bare = send_raw(chain, transfer.raw_transaction)
    assert rejection(bare) == "pqc-required"
    assert "HYBRID" in bare["error"]["message"]
    receipt = mined(chain, send_envelope(chain, transfer))
    assert bytes(receipt["transactionHash"]) == transfer.tx_hash
    sidecar = chain.rpc("chainplug_getSidecar", "0x" + transfer.tx_hash.hex())["result"]
    assert sidecar == "0x" + transfer.envelope.hex()


def test_after_activation_an_envelope_with_a_foreign_pqc_part_is_rejected(activated_chain: Chain) -> None:
    chain = activated_chain
    account = fresh_account()
    chain.fund(account.address)
    mined(chain, send_envelope(chain, _transition(chain, account, Transition.REGISTER)))
    nonce = chain.w3.eth.get_transaction_count(account.address)
    base = {"chainId": CHAIN_ID, "nonce": nonce, "to": chain.w3.eth.accounts[1], "gas": 21_000, **chain.fees()}
    first, second = account.sign_transaction({**base, "value": 1}), account.sign_transaction({**base, "value": 2})
    mixed = first.envelope[:-4627] + second.envelope[-4627:]  # PQC signature of another transaction
    response = chain.rpc("chainplug_sendEnvelope", "0x" + mixed.hex())
    assert rejection(response) == "invalid-signature"
    assert chain.rpc("chainplug_getSidecar", "0x" + first.tx_hash.hex())["result"] is None
    assert chain.w3.eth.get_transaction_count(account.address) == nonce
    malformed = chain.rpc("chainplug_sendEnvelope", "0x" + first.envelope[:-1].hex())
    assert malformed["error"]["code"] == -32602 and malformed["error"]["data"]["reason"] == "truncated"


def test_after_activation_finalization_by_envelopes_then_pqc_only(activated_chain: Chain) -> None:
    chain = activated_chain
    account = fresh_account()
    chain.fund(account.address)
    for transition, state in (
        (Transition.REGISTER, AccountState.HYBRID),
        (Transition.ANNOUNCE_FINALIZATION, AccountState.FINALIZING),
        (Transition.COMPLETE_MIGRATION, AccountState.PQC_ONLY),
    ):
        mined(chain, send_envelope(chain, _transition(chain, account, transition)))
        assert state_of(chain, account) == state
    receipt = mined(chain, send_raw(chain, pqc_tx(chain, pqc_signer(account), value=5)))
    assert receipt["type"] == TX_TYPE_PQC_ONLY


def test_classical_dev_transactions_still_work_after_activation(activated_chain: Chain) -> None:
    w3 = activated_chain.w3
    tx_hash = w3.eth.send_transaction({"from": w3.eth.accounts[2], "to": w3.eth.accounts[1], "value": 3})
    assert w3.eth.wait_for_transaction_receipt(tx_hash)["status"] == 1
