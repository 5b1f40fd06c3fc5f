"""The signing backend: keys from a migration store, transactions signed the way the account's
state requires, submitted to the right place.

* CLASSICAL: a plain signed transaction (stock format, no PQC part);
* HYBRID: a composite envelope; the classical part goes to the node, the envelope to the gateway
  (or to the embedded chain, which takes sidecars) with ``chainplug_sendEnvelope``;
* FINALIZING (erased) and PQC_ONLY: a PQC-only transaction (type 0x50) signed with ML-DSA-87.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from eth_utils.address import to_checksum_address

from ..constants import TX_TYPE_PQC_ONLY
from ..crypto import Secp256k1PrivateKey, keccak256
from ..envelope import CompositeAccount, PqcOnlySigner, unsigned_from_dict
from ..envelope.fees import default_fees
from ..errors import ConfigError
from ..migration import MigrationEngine, Phase
from ..rpc import RpcCallError, RpcClient
from ..types import Address


@dataclass(frozen=True, slots=True)
class Signed:
    """A transaction signed for one account."""

    kind: str
    """"classical", "hybrid" or "pqc-only"."""
    raw: bytes
    tx_hash: bytes
    envelope: bytes | None = None


def _quantity(value: Any) -> int:
    """A quantity as a node answers it ("0x1a") or as a request gives it (an int, "0x1a" or "26")."""
    if isinstance(value, str):
        return int(value, 16) if value.lower().startswith("0x") else int(value)
    return int(value)


class SigningBackend:
    """Signs and submits for the accounts of one migration engine (callers serialise access)."""

    def __init__(self, engine: MigrationEngine, chain: RpcClient, *, gateway: RpcClient | None = None) -> None:
        self.engine = engine
        self.chain = chain
        self.gateway = gateway
        self.chain_id = _quantity(chain.call("eth_chainId"))
        self.lock = threading.RLock()
        """Serialises every use of the engine (it is single-threaded by design)."""
        self._signers: dict[Address, tuple[Phase, int, CompositeAccount | PqcOnlySigner | Secp256k1PrivateKey]] = {}

    def _signer(self, address: Address) -> CompositeAccount | PqcOnlySigner | Secp256k1PrivateKey:
        """The account's signer for its current phase, loaded once (the engine destroys the handles
        at erasure, rollback and close; a phase change reloads)."""
        account = self.engine.account(address)
        cached = self._signers.get(address)
        if cached is not None and cached[:2] == (account.phase, account.generation):
            return cached[2]
        signer: CompositeAccount | PqcOnlySigner | Secp256k1PrivateKey
        if account.phase >= Phase.FINALIZING:
            signer = PqcOnlySigner(self.engine.load_pqc_key(address), address)
        elif account.phase is Phase.HYBRID:
            signer = CompositeAccount(self.engine.load_classical_key(address), self.engine.load_pqc_key(address))
        else:
            signer = self.engine.load_classical_key(address)
        self._signers[address] = (account.phase, account.generation, signer)
        return signer

    def _fill(self, address: Address, tx: dict[str, Any], pqc_only: bool) -> dict[str, Any]:
        checksum = to_checksum_address(address)
        filled = {k: v for k, v in tx.items() if k != "from"}
        filled.setdefault("chainId", self.chain_id)
        filled.setdefault("value", 0)
        if "nonce" not in filled:
            filled["nonce"] = _quantity(self.chain.call("eth_getTransactionCount", checksum, "pending"))
        if "maxFeePerGas" not in filled and "gasPrice" not in filled:
            base_fee = _quantity(self.chain.call("eth_getBlockByNumber", "latest", False)["baseFeePerGas"])
            filled.update(default_fees(base_fee))
        if "gas" not in filled:
            call = {"from": checksum, "to": filled.get("to"), "value": hex(_quantity(filled["value"])),
                    "data": filled.get("data", "0x")}  # fmt: skip
            if pqc_only:
                call["type"] = hex(TX_TYPE_PQC_ONLY)
            filled["gas"] = _quantity(self.chain.call("eth_estimateGas", {k: v for k, v in call.items() if v}))
        return filled

    def sign(self, tx: dict[str, Any]) -> Signed:
        """Sign ``tx`` (which names ``from``) as the account's current state requires."""
        if "from" not in tx:
            raise ConfigError("transaction needs a 'from' account of this signer")
        address = Address(bytes.fromhex(str(tx["from"]).removeprefix("0x")))
        with self.lock:
            signer = self._signer(address)
            if isinstance(signer, PqcOnlySigner):
                pqc_signed = signer.sign_transaction(self._fill(address, tx, pqc_only=True))
                return Signed("pqc-only", pqc_signed.raw_transaction, pqc_signed.tx_hash)
            filled = self._fill(address, tx, pqc_only=False)
            if isinstance(signer, CompositeAccount):
                signed = signer.sign_transaction(filled)
                return Signed("hybrid", signed.raw_transaction, signed.tx_hash, signed.envelope)
            unsigned = unsigned_from_dict(filled)
            raw = unsigned.encode_signed(signer.sign_digest(unsigned.signing_hash()))
            return Signed("classical", raw, keccak256(raw))

    def submit(self, signed: Signed) -> str:
        """Send to the gateway if configured (envelopes there), else to the chain; returns the tx hash."""
        target = self.gateway or self.chain
        if signed.envelope is not None:
            try:
                return str(target.call("chainplug_sendEnvelope", "0x" + signed.envelope.hex()))
            except RpcCallError as exc:
                if not exc.method_not_found:
                    raise
                # A stock node without sidecar support: the classical part alone (telemetry only).
        return str(target.call("eth_sendRawTransaction", "0x" + signed.raw.hex()))


def account_json(engine: MigrationEngine, address: Address) -> dict[str, Any]:
    account = engine.account(address)
    return {
        "address": to_checksum_address(address),
        "state": account.state.name,
        "phase": account.phase.name,
        "generation": account.generation,
        "key_id": "0x" + account.key_id.hex() if account.key_id is not None else None,
    }
