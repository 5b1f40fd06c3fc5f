"""Raw bytes of a mined transaction: ``eth_getRawTransactionByHash`` where the node has it (geth,
anvil, the embedded chain), else rebuilt from the JSON fields for the standard types."""

from __future__ import annotations

from typing import Any

from web3 import Web3

from ..constants import TX_TYPE_EIP1559
from ..crypto.secp256k1 import RecoverableSignature
from ..envelope.transaction import TX_TYPE_LEGACY, UnsignedTransaction


def raw_transaction(w3: Web3, tx: Any) -> bytes:
    """The exact signed bytes of ``tx`` (a full transaction object from ``eth_getBlockByNumber``)."""
    tx_hash = "0x" + bytes(tx["hash"]).hex()
    answer = w3.provider.make_request("eth_getRawTransactionByHash", [tx_hash])  # type: ignore[arg-type]
    result = answer.get("result") if isinstance(answer, dict) else None
    if isinstance(result, str) and result.startswith("0x") and len(result) > 2:
        return bytes.fromhex(result[2:])
    return _rebuild(tx)


def _bytes(value: Any) -> bytes:
    """web3 hands back HexBytes or 0x-strings depending on the field; both mean the same bytes."""
    return bytes.fromhex(value[2:]) if isinstance(value, str) else bytes(value)


def _rebuild(tx: Any) -> bytes:
    tx_type = int(tx.get("type", 0))
    to = bytes.fromhex(str(tx["to"])[2:]) if tx.get("to") else b""
    data = _bytes(tx.get("input", b""))
    if tx_type == TX_TYPE_EIP1559:
        access = tuple(
            (_bytes(e["address"]), tuple(_bytes(k) for k in e["storageKeys"])) for e in tx.get("accessList", [])
        )
        unsigned = UnsignedTransaction(TX_TYPE_EIP1559, int(tx["chainId"]), int(tx["nonce"]), int(tx["gas"]), to,
                                       int(tx["value"]), data, int(tx["maxPriorityFeePerGas"]),
                                       int(tx["maxFeePerGas"]), access_list=access)  # fmt: skip
        y_parity = int(tx.get("yParity", tx.get("v", 0)))
    elif tx_type == TX_TYPE_LEGACY:
        v = int(tx["v"])
        chain_id = (v - 35) // 2
        unsigned = UnsignedTransaction(TX_TYPE_LEGACY, chain_id, int(tx["nonce"]), int(tx["gas"]), to,
                                       int(tx["value"]), data, gas_price=int(tx["gasPrice"]))  # fmt: skip
        y_parity = (v - 35) % 2
    else:
        raise ValueError(f"cannot rebuild a type-{tx_type} transaction without eth_getRawTransactionByHash")
    signature = RecoverableSignature(
        int.from_bytes(bytes(tx["r"]), "big"), int.from_bytes(bytes(tx["s"]), "big"), y_parity
    )
    return unsigned.encode_signed(signature)
