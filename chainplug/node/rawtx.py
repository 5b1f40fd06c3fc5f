"""Raw bytes of a mined transaction: ``eth_getRawTransactionByHash`` where the node has it (geth,
anvil, the embedded chain), else rebuilt from the JSON fields for the standard types."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..constants import TX_TYPE_EIP1559
from ..crypto.secp256k1 import RecoverableSignature
from ..envelope.fields import from_mapping
from ..envelope.transaction import TX_TYPE_LEGACY, FeeMarketTransaction, LegacyTransaction
from ..errors import Reason, UnsupportedEnvelope

if TYPE_CHECKING:  # a validator reading blocks over its own RPC client never loads web3.py
    from web3 import Web3


def raw_transaction(w3: Web3, tx: Any) -> bytes:
    """The exact signed bytes of ``tx`` (a full transaction object from ``eth_getBlockByNumber``).
    Raises a ChainplugError (UnsupportedEnvelope for a type it cannot rebuild) when it has none."""
    tx_hash = "0x" + bytes(tx["hash"]).hex()
    answer = w3.provider.make_request("eth_getRawTransactionByHash", [tx_hash])  # type: ignore[arg-type]
    result = answer.get("result") if isinstance(answer, dict) else None
    if isinstance(result, str) and result.startswith("0x") and len(result) > 2:
        return bytes.fromhex(result[2:])
    return _rebuild(tx)


def _rebuild(tx: Any) -> bytes:
    """The raw bytes of a standard transaction from its JSON-RPC object: the fields its class
    declares, read by their JSON names, and the signature (legacy: the chain id is inside v)."""
    tx_type = int(tx.get("type", 0))
    unsigned: FeeMarketTransaction | LegacyTransaction
    if tx_type == TX_TYPE_EIP1559:
        unsigned = from_mapping(FeeMarketTransaction, tx)
        y_parity = int(tx.get("yParity", tx.get("v", 0)))
    elif tx_type == TX_TYPE_LEGACY:
        v = int(tx["v"])
        unsigned = from_mapping(LegacyTransaction, tx, chain_id=(v - 35) // 2)
        y_parity = (v - 35) % 2
    else:
        raise UnsupportedEnvelope(
            f"cannot rebuild a type-{tx_type} transaction without eth_getRawTransactionByHash",
            reason=Reason.UNSUPPORTED_TX_TYPE,
        )
    signature = RecoverableSignature(
        int.from_bytes(bytes(tx["r"]), "big"), int.from_bytes(bytes(tx["s"]), "big"), y_parity
    )
    return unsigned.encode_signed(signature)
