"""The chain itself: py-evm's ``MiningChain`` running :class:`UpgradedPragueVM`, with anvil's dev accounts.

# NOTE: py-evm directly, not eth-tester's PyEVMBackend: that backend fixes its chain id
# (131277322940537) and answers in eth-tester's own formats, while a JSON-RPC server needs the raw py-evm
# objects. The genesis follows eth-tester's post-merge defaults.

Not thread-safe: the server calls it from its one event loop, so requests and mining are serialized.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from eth._utils.address import generate_contract_address
from eth.abc import BlockAPI, BlockHeaderAPI, ReceiptAPI, SignedTransactionAPI
from eth.chains.base import MiningChain
from eth.constants import ZERO_ADDRESS
from eth.db.atomic import AtomicDB
from eth.exceptions import HeaderNotFound, TransactionNotFound
from eth_account import Account
from eth_typing import Address as EvmAddress
from eth_typing import BlockNumber
from eth_typing import Hash32 as EvmHash32
from eth_utils.exceptions import ValidationError

from ...crypto.pqc import PQCBackend
from ...envelope import Envelope, decode_envelope
from ...envelope.fees import default_fees
from ...errors import RegistryError
from ...registry.artifact import load_artifact
from ...types import Address, Hash32
from ..sidecars import SidecarStore
from .accounts import DEV_BALANCE, DEV_MNEMONIC, dev_accounts
from .fork import UpgradedPragueVM
from .rules import ChainRules

GAS_LIMIT = 30_000_000
"""Block gas limit, constant (as eth-tester)."""
REGISTRY_DEPLOY_GAS = 1_000_000
"""Gas limit of the --deploy-registry transaction (docs/registry.md measures 383,984)."""


@dataclass(frozen=True, slots=True)
class TxLocation:
    block: BlockAPI
    index: int
    pending: bool
    """True while the transaction sits in the block being built (``--block-time`` mode)."""

    @property
    def transaction(self) -> SignedTransactionAPI:
        return self.block.transactions[self.index]


@dataclass(frozen=True, slots=True)
class ReceiptInfo:
    """A mined transaction's receipt with what the wire format derives from the whole block."""

    transaction: SignedTransactionAPI
    receipt: ReceiptAPI
    index: int
    gas_used: int
    first_log_index: int
    contract_address: bytes | None


class _ConstantGasLimitChain(MiningChain):
    """Keeps the block gas limit constant (as eth-tester) instead of drifting toward a target."""

    def create_header_from_parent(self, parent_header: BlockHeaderAPI, **header_params: Any) -> BlockHeaderAPI:
        return super().create_header_from_parent(
            parent_header, **{**header_params, "gas_limit": parent_header.gas_limit}
        )


class AlreadyKnown(ValueError):
    """The transaction is already pending or mined (geth: "already known")."""


class ChainBackend:
    """One embedded chain: genesis, dev accounts, transaction submission, mining, reads."""

    def __init__(
        self,
        *,
        chain_id: int = 1337,
        accounts: int = 10,
        activation_block: int = 0,
        registry_address: bytes | None = None,
        mnemonic: str = DEV_MNEMONIC,
        backend: PQCBackend | None = None,
        genesis_timestamp: int | None = None,
    ) -> None:
        self.sidecars = SidecarStore()
        self.rules = ChainRules(
            chain_id=chain_id,
            activation_block=activation_block,
            registry_address=Address(bytes(registry_address)) if registry_address else None,
            sidecars=self.sidecars,
            backend=backend,
        )
        self.accounts = dev_accounts(accounts, mnemonic)
        vm_class = UpgradedPragueVM.configure(rules=self.rules)
        chain_class = _ConstantGasLimitChain.configure(
            __name__="ChainplugChain", vm_configuration=((BlockNumber(0), vm_class),), chain_id=chain_id
        )
        genesis = {
            "coinbase": ZERO_ADDRESS,
            "difficulty": 0,
            "gas_limit": GAS_LIMIT,
            "extra_data": b"",
            "mix_hash": bytes(32),
            "nonce": bytes(8),
            "timestamp": genesis_timestamp if genesis_timestamp is not None else _now(),
        }
        alloc = {
            EvmAddress(account.address): {"balance": DEV_BALANCE, "nonce": 0, "code": b"", "storage": {}}
            for account in self.accounts
        }
        chain = chain_class.from_genesis(AtomicDB(), genesis, alloc)  # type: ignore[arg-type]
        assert isinstance(chain, MiningChain)
        self.chain: MiningChain = chain
        self.automine = True
        """Mine one block per accepted transaction (anvil's default); off in ``--block-time`` mode."""

    @property
    def chain_id(self) -> int:
        return self.rules.chain_id

    # --- writes ---------------------------------------------------------------------------------------

    def send_raw(self, raw: bytes) -> Hash32:
        """Decode, judge (py-evm validity + the upgraded rules) and include ``raw`` in the pending block.
        Raises py-evm's ``ValidationError`` (incl. ``PqcRuleViolation``), ``rlp.DecodingError`` or
        :class:`AlreadyKnown`."""
        transaction = self.chain.get_vm().get_transaction_builder().decode(raw)
        if self.find_transaction(Hash32(transaction.hash)) is not None:
            raise AlreadyKnown("already known")
        if transaction.gas < transaction.intrinsic_gas:  # geth's wording; py-evm would say "negative gas"
            raise ValidationError(f"intrinsic gas too low: have {transaction.gas}, want {transaction.intrinsic_gas}")
        self.chain.apply_transaction(transaction)
        if self.automine:
            self.mine()
        return Hash32(transaction.hash)

    def send_envelope(self, data: bytes | Envelope) -> Hash32:
        """Record the envelope as its transaction's PQC sidecar, then submit the classical part; the
        rules check the sidecar (decoded once, here) with their UpgradedVerifier. Raises
        MalformedEnvelope or as send_raw."""
        envelope = data if isinstance(data, Envelope) else decode_envelope(data)
        tx_hash = envelope.transaction.tx_hash
        if self.sidecars.get(tx_hash) is not None or self.find_transaction(tx_hash) is not None:
            raise AlreadyKnown("already known")
        self.sidecars.put(envelope)
        try:
            self.send_raw(envelope.raw_transaction)
        except Exception:
            self.sidecars.discard(tx_hash)
            raise
        if envelope.public_key is not None:
            self.rules.public_keys[bytes(envelope.key_id)] = envelope.public_key
        return tx_hash

    def deploy_registry(self) -> Address:
        """Deploy the committed KeyRegistry artifact from dev account 0, mine it, and make it the
        registry the rules read (effective from the next block: rules read the parent state)."""
        deployer = self.accounts[0]
        nonce = self.chain.get_vm(self.chain.header).state.get_nonce(EvmAddress(deployer.address))
        tx = {
            "chainId": self.chain_id,
            "nonce": nonce,
            "gas": REGISTRY_DEPLOY_GAS,
            "value": 0,
            "data": load_artifact()["bytecode"],
            **default_fees(self.next_base_fee()),
        }
        tx_hash = self.send_raw(bytes(Account.sign_transaction(tx, deployer.private_key).raw_transaction))
        if not self.automine:
            self.mine()
        location = self.find_transaction(tx_hash)
        if location is None or self.receipts(location.block)[location.index].receipt.state_root != b"\x01":
            raise RegistryError("KeyRegistry deployment failed")
        address = Address(generate_contract_address(EvmAddress(deployer.address), nonce))
        self.rules.registry_address = address
        return address

    def mine(self, count: int = 1) -> None:
        for _ in range(count):
            self.chain.mine_block()

    # --- reads ----------------------------------------------------------------------------------------

    @property
    def head(self) -> BlockHeaderAPI:
        """The latest mined block's header."""
        return self.chain.get_canonical_head()

    def next_base_fee(self) -> int:
        return int(self.chain.header.base_fee_per_gas or 0)

    def block(self, ident: str | int | bytes) -> tuple[BlockAPI, bool] | None:
        """(block, is_pending) for a tag, number or hash; None if there is no such block."""
        head = self.head
        if ident == "pending":
            return self.chain.get_block(), True
        if isinstance(ident, bytes):
            try:
                found = self.chain.get_block_by_hash(EvmHash32(ident))
            except HeaderNotFound:
                return None
            canonical = self.chain.get_canonical_block_hash(found.number) if found.number <= head.block_number else None
            return (found, False) if canonical == found.hash else None
        number = {"earliest": 0}.get(ident, head.block_number) if isinstance(ident, str) else ident
        if number > head.block_number:
            return None
        return self.chain.get_canonical_block_by_number(BlockNumber(number)), False

    def state_header(self, ident: str | int | bytes) -> BlockHeaderAPI | None:
        """The header whose post-state answers reads at ``ident`` (the pending header for "pending")."""
        if ident == "pending":
            return self.chain.header
        found = self.block(ident)
        return found[0].header if found is not None else None

    def find_transaction(self, tx_hash: Hash32) -> TxLocation | None:
        try:
            number, index = self.chain.chaindb.get_transaction_index(EvmHash32(tx_hash))
        except TransactionNotFound:
            pending = self.chain.get_block()
            for position, transaction in enumerate(pending.transactions):
                if bytes(transaction.hash) == bytes(tx_hash):
                    return TxLocation(pending, position, True)
            return None
        return TxLocation(self.chain.get_canonical_block_by_number(number), index, False)

    def receipts(self, block: BlockAPI) -> list[ReceiptInfo]:
        """Every receipt of a mined block, with per-transaction gas and block-wide log indices."""
        result = []
        previous_cumulative = first_log = 0
        for index, (transaction, receipt) in enumerate(
            zip(block.transactions, block.get_receipts(self.chain.chaindb), strict=True)
        ):
            created = generate_contract_address(transaction.sender, transaction.nonce) if not transaction.to else None
            used = receipt.gas_used - previous_cumulative
            result.append(ReceiptInfo(transaction, receipt, index, used, first_log, created))
            previous_cumulative, first_log = receipt.gas_used, first_log + len(receipt.logs)
        return result

    def dev_key(self, address: bytes) -> bytes | None:
        for account in self.accounts:
            if account.address == address:
                return account.private_key
        return None


def _now() -> int:
    return int(time.time())
