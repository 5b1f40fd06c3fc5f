"""One transaction's bytes are strictly decoded once per stop on its way: signing (none: it builds the
typed result), the gateway's admission, the chain, a validator's check. Counted in one process: the
embedded chain's and the gateway's aiohttp applications on loopback sockets, the validator's check
called directly (as its worker pool does), every call of chainplug's strict decoders recorded.

Decoding that is not chainplug's (py-evm's own decoding of the transactions it executes) is not
counted; the chain does not encode again what it decoded (its rules use py-evm's received bytes, or
the sidecar it stored decoded).
"""

from __future__ import annotations

import asyncio
import sys
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import CodeType, FrameType
from typing import Any

from aiohttp import ClientSession
from eth_account import Account

from chainplug.envelope import CompositeAccount, FeeMarketTransaction, LegacyTransaction, _reference, codec, decode
from chainplug.envelope.fees import default_fees
from chainplug.node.admission import AdmissionHook, NodeVersion
from chainplug.node.chain.backend import ChainBackend
from chainplug.node.chain.server import ChainServer
from chainplug.node.gateway import Gateway
from chainplug.node.validator import check_transaction, init_worker_with_registry
from chainplug.types import AccountState
from chainplug.verify import InMemoryRegistry, PqcStatus
from tests.node.services import serve_app

CHAIN_ID = 1337
COUNTED: dict[CodeType, str] = {
    codec.decode_envelope.__code__: "decode_envelope",
    decode.decode_transaction.__code__: "decode_transaction",
    decode.decode_pqc_transaction.__code__: "decode_pqc_transaction",
    **{
        getattr(_reference, name).__code__: f"reference.{name}"
        for name in ("decode_transaction", "fee_market", "legacy", "decode_pqc_transaction", "pqc_only")
    },
    # encode_signed() / signing_hash() and SignedTransaction.sign all go through these two
    FeeMarketTransaction._signed.__code__: "encode_signed",
    FeeMarketTransaction._signing_preimage.__code__: "signing_hash",
    LegacyTransaction._signed.__code__: "encode_signed",
}


@contextmanager
def counting() -> Iterator[Counter[str]]:
    """Counts calls of the COUNTED functions in every thread (asyncio.to_thread's included)."""
    calls: Counter[str] = Counter()

    def profile(frame: FrameType, event: str, _: Any) -> None:
        if event == "call":
            name = COUNTED.get(frame.f_code)
            if name is not None:
                calls[name] += 1

    sys.setprofile(profile)
    threading.setprofile(profile)
    try:
        yield calls
    finally:
        sys.setprofile(None)
        threading.setprofile(None)  # type: ignore[arg-type]


async def _rpc(session: ClientSession, url: str, method: str, *params: Any) -> Any:
    async with session.post(url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}) as r:
        answer = await r.json()
    assert "error" not in answer, answer
    return answer["result"]


def _journey(send: Callable[[ChainBackend, InMemoryRegistry], tuple[str, str]]) -> tuple[Counter[str], Any]:
    """Sign (``send`` picks what and how), go through the gateway to the chain, then check as a
    validator; returns the decoder calls after signing, and the validator's verdict."""
    backend = ChainBackend(chain_id=CHAIN_ID)
    registry = InMemoryRegistry()
    method, payload = send(backend, registry)
    init_worker_with_registry(NodeVersion.UPGRADED, registry, 0, CHAIN_ID)

    async def run() -> Any:
        chain_runner, chain_url = await serve_app(ChainServer(backend).app())
        gateway = Gateway(chain_url, AdmissionHook(NodeVersion.UPGRADED, registry, chain_id=CHAIN_ID))
        gateway_runner, gateway_url = await serve_app(gateway.app())
        try:
            async with ClientSession() as session:
                with counting() as calls:
                    tx_hash = await _rpc(session, gateway_url, method, payload)  # admission, then the chain
                    raw = await _rpc(session, chain_url, "eth_getRawTransactionByHash", tx_hash)
                    sidecar = await _rpc(session, chain_url, "chainplug_getSidecar", tx_hash)
                    height = int(
                        (await _rpc(session, chain_url, "eth_getTransactionReceipt", tx_hash))["blockNumber"], 16
                    )
                    verdict = check_transaction(
                        (tx_hash, bytes.fromhex(raw[2:]), bytes.fromhex(sidecar[2:]) if sidecar else None, height)
                    )
            return calls, verdict
        finally:
            await gateway_runner.cleanup()
            await chain_runner.cleanup()

    result: tuple[Counter[str], Any] = asyncio.run(run())
    return result


def test_a_hybrid_transaction_is_decoded_once_per_stop() -> None:
    def send(backend: ChainBackend, registry: InMemoryRegistry) -> tuple[str, str]:
        account = CompositeAccount.from_keys(backend.accounts[0].private_key, b"\x07" * 32)
        registry.set(account.address_bytes, AccountState.HYBRID, public_key=account.pqc_public_key)
        tx = {
            "chainId": CHAIN_ID,
            "nonce": 0,
            "to": "0x" + "22" * 20,
            "value": 1,
            "gas": 30_000,
            **default_fees(backend.next_base_fee()),
        }
        with counting() as signing:
            signed = account.sign_transaction(tx)
        assert signing == Counter({"encode_signed": 1, "signing_hash": 1})  # built, never decoded back
        return "chainplug_sendEnvelope", "0x" + signed.envelope.hex()

    calls, verdict = _journey(send)
    assert verdict.accepted and verdict.sidecar and verdict.pqc is PqcStatus.VALID
    # gateway, chain, validator: one envelope decode each (the classical transaction inside it once)
    assert calls == Counter({"decode_envelope": 3, "decode_transaction": 3})


def test_a_plain_transaction_is_decoded_once_per_stop() -> None:
    def send(backend: ChainBackend, registry: InMemoryRegistry) -> tuple[str, str]:
        tx = {
            "chainId": CHAIN_ID,
            "nonce": 0,
            "to": "0x" + "22" * 20,
            "value": 1,
            "gas": 21_000,
            **default_fees(backend.next_base_fee()),
        }
        signed = Account.sign_transaction(tx, backend.accounts[1].private_key)
        return "eth_sendRawTransaction", "0x" + bytes(signed.raw_transaction).hex()

    calls, verdict = _journey(send)
    assert verdict.accepted and not verdict.sidecar and verdict.pqc is PqcStatus.NOT_EXPECTED
    assert calls == Counter({"decode_transaction": 3})  # gateway, chain rules, validator
