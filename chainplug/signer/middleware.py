"""web3.py middleware: ``eth_sendTransaction`` from a chainplug account becomes a composite-signed
submission (sync and async; modelled on ``web3/middleware/signing.py``).

Two submission modes:

* node mode (default): the classical transaction goes out as ``eth_sendRawTransaction``; the
  envelope is kept in an :class:`EnvelopeStore` under the transaction hash (hand it to a gateway or
  a peer yourself);
* gateway mode (``via_gateway=True``): the provider is a chainplug gateway; the whole envelope goes
  out as ``chainplug_sendEnvelope``, and the gateway forwards the classical part upstream and keeps
  the PQC part as a sidecar.

Gas is estimated by web3 for the transaction as given; the account then adds the 4,300 gas of the
hybrid artifact's access-list entry itself.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, cast

from eth_utils.address import to_checksum_address
from web3._utils.async_transactions import async_fill_nonce, async_fill_transaction_defaults
from web3._utils.method_formatters import STANDARD_NORMALIZERS
from web3._utils.rpc_abi import TRANSACTION_PARAMS_ABIS, apply_abi_formatters_to_dict
from web3._utils.transactions import fill_nonce, fill_transaction_defaults
from web3.middleware.base import Web3MiddlewareBuilder
from web3.types import RPCEndpoint, TxParams

from ..envelope import CompositeAccount, SignedComposite

if TYPE_CHECKING:
    from web3 import AsyncWeb3, Web3

SEND_ENVELOPE = RPCEndpoint("chainplug_sendEnvelope")
"""Gateway JSON-RPC method taking one hex envelope; returns the transaction hash."""


class EnvelopeStore:
    """Envelopes the middleware produced, by transaction hash (bytes32)."""

    def __init__(self) -> None:
        self._by_hash: dict[bytes, bytes] = {}

    def add(self, signed: SignedComposite) -> None:
        self._by_hash[bytes(signed.tx_hash)] = signed.envelope

    def get(self, tx_hash: bytes) -> bytes | None:
        """The envelope of ``tx_hash`` (as returned by ``send_transaction``), if this middleware signed it."""
        return self._by_hash.get(bytes(tx_hash))

    def __len__(self) -> int:
        return len(self._by_hash)


def _fill_fields(tx: dict[str, Any], chain_id: int) -> dict[str, Any]:
    """web3's filled transaction -> the dict CompositeAccount signs (EIP-1559 unless gasPrice)."""
    fields = {k: v for k, v in tx.items() if k not in ("from",)}
    fields.setdefault("chainId", chain_id)
    if "gasPrice" in fields:
        fields.pop("maxFeePerGas", None)
        fields.pop("maxPriorityFeePerGas", None)
        fields.pop("type", None)
    return fields


class CompositeSigningMiddleware(Web3MiddlewareBuilder):
    """Signs ``eth_sendTransaction`` for the given chainplug accounts; other requests pass through."""

    _accounts: dict[str, CompositeAccount]
    _store: EnvelopeStore
    _via_gateway: bool

    @classmethod
    def build_for(
        cls,
        accounts: CompositeAccount | Iterable[CompositeAccount],
        *,
        store: EnvelopeStore | None = None,
        via_gateway: bool = False,
    ) -> Any:
        """A middleware builder to pass to ``w3.middleware_onion.inject(..., layer=0)``."""
        listed = [accounts] if isinstance(accounts, CompositeAccount) else list(accounts)
        by_address = {account.address: account for account in listed}
        sink = store if store is not None else EnvelopeStore()

        def builder(w3: Web3 | AsyncWeb3[Any]) -> CompositeSigningMiddleware:
            middleware = cls(w3)
            middleware._accounts = by_address
            middleware._store = sink
            middleware._via_gateway = via_gateway
            return middleware

        return builder

    def _account_for(self, tx: dict[str, Any]) -> CompositeAccount | None:
        sender = tx.get("from")
        return self._accounts.get(to_checksum_address(sender)) if sender else None

    def _submit(self, account: CompositeAccount, tx: dict[str, Any], chain_id: int) -> tuple[RPCEndpoint, list[str]]:
        signed = account.sign_transaction(_fill_fields(tx, chain_id))
        self._store.add(signed)
        if self._via_gateway:
            return SEND_ENVELOPE, ["0x" + signed.envelope.hex()]
        return RPCEndpoint("eth_sendRawTransaction"), ["0x" + signed.raw_transaction.hex()]

    def request_processor(self, method: RPCEndpoint, params: Any) -> Any:
        if method != "eth_sendTransaction":
            return method, params
        w3 = cast("Web3", self._w3)
        tx = apply_abi_formatters_to_dict(STANDARD_NORMALIZERS, TRANSACTION_PARAMS_ABIS, params[0])
        if self._account_for(tx) is None:
            return method, params
        filled = fill_nonce(w3, fill_transaction_defaults(w3, tx))
        account = self._account_for(filled)
        assert account is not None
        return self._submit(account, dict(filled), w3.eth.chain_id)

    async def async_request_processor(self, method: RPCEndpoint, params: Any) -> Any:
        if method != "eth_sendTransaction":
            return method, params
        w3 = cast("AsyncWeb3[Any]", self._w3)
        tx = cast(TxParams, apply_abi_formatters_to_dict(STANDARD_NORMALIZERS, TRANSACTION_PARAMS_ABIS, params[0]))
        if self._account_for(dict(tx)) is None:
            return method, params
        filled = await async_fill_nonce(w3, await async_fill_transaction_defaults(w3, tx))
        account = self._account_for(dict(filled))
        assert account is not None
        return self._submit(account, dict(filled), await w3.eth.chain_id)
