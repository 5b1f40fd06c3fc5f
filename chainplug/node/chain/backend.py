"""The chain itself: py-evm's ``MiningChain`` running :class:`UpgradedPragueVM`, with anvil's dev accounts,
a transaction pool and a block builder.

# NOTE: py-evm directly, not eth-tester's PyEVMBackend: that backend fixes its chain id
# (131277322940537) and answers in eth-tester's own formats, while a JSON-RPC server needs the raw py-evm
# objects. The genesis follows eth-tester's post-merge defaults.

How a transaction becomes part of a block (docs/design.md §chain):

* **Submission** decodes it once and looks it up by hash (pending, queued, mined: one dict or one index
  lookup each). If the block being built has room for it, it is *executed there at once*, on that block's
  one live state — the whole of py-evm's validity (signature, nonce, balance, fee cap, intrinsic gas) and
  the upgraded rules, judged against the block's parent — so a refusal is the JSON-RPC answer to the
  submission, exactly as before this pool existed. Nothing is re-merkleized per transaction: py-evm's
  ``MiningChain.apply_transaction`` rebuilt the pending block's transaction and receipt tries and
  persisted the state after every transaction (cost growing with the block); here that happens once,
  when the block is sealed.
* A transaction that does not fit (the block's gas is used up) waits in the **queue**, in arrival order,
  after cheap checks against the pending state (nonce after the sender's queued transactions, balance
  for all of them at their fee caps, intrinsic gas, the upgraded rules against the parent the pending
  block builds on); every later submission queues behind it, so a sender's nonces stay in order.
* **Sealing** (automine: after every transaction; ``--block-time``: on the interval; ``evm_mine``) builds
  the tries once, finalizes the state, persists the block and indexes its transactions, then opens the
  next block and executes the queue into it. A queued transaction that turns out invalid there (the rules
  against the new parent, a base fee that rose above its fee cap) is dropped with a log line; it never
  stops the block or the chain.

Reads of mined blocks and receipts go through a small cache of recent blocks (.mined); which keccak
py-evm hashes with is chosen process-wide in .evm_keccak.

Not thread-safe: the server calls it from its one event loop, so requests and mining are serialized.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from eth._utils.address import generate_contract_address
from eth.abc import BlockAPI, BlockHeaderAPI, ReceiptAPI, SignedTransactionAPI, StateAPI, VirtualMachineAPI
from eth.chains.base import MiningChain
from eth.constants import ZERO_ADDRESS
from eth.db.atomic import AtomicDB
from eth.exceptions import HeaderNotFound, TransactionNotFound
from eth.vm.forks.berlin.transactions import TypedTransaction
from eth.vm.forks.cancun.state import get_total_blob_gas
from eth.vm.forks.prague.constants import MAX_BLOB_GAS_PER_BLOCK
from eth_account import Account
from eth_typing import Address as EvmAddress
from eth_typing import BlockNumber
from eth_typing import Hash32 as EvmHash32
from eth_utils.exceptions import ValidationError

from ...crypto.keccak import keccak256
from ...crypto.pqc import PQCBackend
from ...envelope import Envelope, decode_envelope
from ...envelope.fees import default_fees
from ...errors import RegistryError
from ...registry.artifact import load_artifact
from ...types import Address, Hash32
from ..sidecars import SidecarStore
from .accounts import DEV_BALANCE, DEV_MNEMONIC, dev_accounts
from .fork import UpgradedPragueVM
from .mined import MinedBlocks, ReceiptInfo
from .rules import ChainRules
from .trie import ordered_trie_root_and_nodes

LOG = logging.getLogger(__name__)

GAS_LIMIT = 30_000_000
"""Block gas limit, constant (as eth-tester)."""
REGISTRY_DEPLOY_GAS = 1_000_000
"""Gas limit of the --deploy-registry transaction (docs/registry.md measures 383,984)."""
MAX_QUEUED = 50_000
"""Transactions waiting for room in a block before submissions are refused (a bound on memory)."""


@dataclass(frozen=True, slots=True)
class TxLocation:
    """Where a transaction is: mined (``block``, ``index``), in the block being built (``pending``, with
    its index there) or queued for a later block (``pending``, ``index`` None)."""

    transaction: SignedTransactionAPI
    block: BlockAPI | None
    """The mined block; None while pending or queued."""
    index: int | None
    pending: bool
    base_fee: int
    """Base fee of the block it is in (mined) or of the block being built."""


class _ConstantGasLimitChain(MiningChain):
    """Keeps the block gas limit constant (as eth-tester) instead of drifting toward a target."""

    def create_header_from_parent(self, parent_header: BlockHeaderAPI, **header_params: Any) -> BlockHeaderAPI:
        return super().create_header_from_parent(
            parent_header, **{**header_params, "gas_limit": parent_header.gas_limit}
        )


class AlreadyKnown(ValueError):
    """The transaction is already pending, queued or mined (geth: "already known")."""


class _RunningHeader:
    """The header of the block being built as py-evm's transaction checks and receipts read it: the base
    header's fields with the gas used so far. (py-evm copies the header - an rlp deep copy - twice per
    transaction to carry these; here they are counted, and the header is made once, when needed.)"""

    __slots__ = ("base", "gas_used")

    def __init__(self, base: BlockHeaderAPI, gas_used: int) -> None:
        self.base = base
        self.gas_used = gas_used

    def __getattr__(self, name: str) -> Any:
        return getattr(self.base, name)


@dataclass
class _Building:
    """The block being built: its transactions executed in order on one VM's live state."""

    base: BlockHeaderAPI
    """``chain.header`` when this block was opened (its parent is the head)."""
    vm: VirtualMachineAPI
    transactions: list[SignedTransactionAPI] = field(default_factory=list)
    receipts: list[ReceiptAPI] = field(default_factory=list)
    index: dict[bytes, int] = field(default_factory=dict)
    gas_used: int = 0
    bloom: int = 0
    blob_gas_used: int = 0
    header_made: BlockHeaderAPI | None = None
    state_header: BlockHeaderAPI | None = None
    """``header`` with the state root after every transaction so far (made on demand, for reads)."""
    view: BlockAPI | None = None
    """The pending block as a block object (made on demand, for eth_getBlockByNumber("pending"))."""

    @property
    def header(self) -> BlockHeaderAPI:
        """``base`` with the gas used, bloom and blob gas of the transactions so far."""
        if self.header_made is None:
            self.header_made = self.base.copy(
                gas_used=self.gas_used, bloom=self.bloom, blob_gas_used=self.blob_gas_used
            )
        return self.header_made


def _max_cost(transaction: SignedTransactionAPI) -> int:
    """What a transaction may take from its sender's balance at most (py-evm's balance rule)."""
    try:
        price = transaction.max_fee_per_gas
    except AttributeError:
        price = transaction.gas_price
    return int(transaction.gas * price + transaction.value)


class ChainBackend:
    """One embedded chain: genesis, dev accounts, the transaction pool, block building, reads."""

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
        funded: Mapping[bytes, int] | None = None,
    ) -> None:
        """``funded``: more accounts holding ether from genesis (address -> wei), beside the dev accounts."""
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
        for address, balance in (funded or {}).items():
            alloc[EvmAddress(bytes(address))] = {"balance": balance, "nonce": 0, "code": b"", "storage": {}}
        chain = chain_class.from_genesis(AtomicDB(), genesis, alloc)  # type: ignore[arg-type]
        assert isinstance(chain, MiningChain)
        self.chain: MiningChain = chain
        self._decoder = chain.get_vm().get_transaction_builder()
        self.automine = True
        """Mine one block per accepted transaction (anvil's default); off in ``--block-time`` mode."""
        self._building: _Building | None = None
        self._queue: OrderedDict[bytes, SignedTransactionAPI] = OrderedDict()
        self._queued_cost: dict[bytes, int] = {}
        """Per sender: the summed maximum cost of its queued transactions."""
        self._queued_count: dict[bytes, int] = {}
        self._mined = MinedBlocks(chain)
        self.dropped = 0
        """Queued transactions found invalid when their block was built (each also logged)."""

    @property
    def chain_id(self) -> int:
        return self.rules.chain_id

    # --- the block being built --------------------------------------------------------------------------

    def _current(self) -> _Building:
        """The block being built, opened on the current head if there is none (or the head moved
        underneath it: ``chain.import_block`` replaces ``chain.header``)."""
        building = self._building
        if building is None or building.base is not self.chain.header:
            if building is not None and building.transactions:
                # Only a caller importing blocks directly gets here with work in progress (the server never
                # does): those transactions were built on a parent that is no longer the head.
                LOG.warning("the head moved under the block being built: %d transactions dropped",
                            len(building.transactions))  # fmt: skip
            header = self.chain.header
            building = self._building = _Building(header, self.chain.get_vm(header))
        return building

    def _execute(self, building: _Building, transaction: SignedTransactionAPI, *, rebuild: bool = True) -> None:
        """Apply ``transaction`` to the block being built (all of py-evm's validity and the upgraded
        rules), or raise with the state untouched."""
        vm, state = building.vm, building.vm.state
        running: Any = _RunningHeader(building.base, building.gas_used)
        # VM.apply_transaction, with its validation first and on its own: everything that can refuse a
        # transaction refuses it here, before the state is touched (py-evm's lock_changes makes a
        # snapshot taken before it impossible to roll back to).
        vm.validate_transaction_against_header(running, transaction)
        state.validate_transaction(transaction)
        try:
            state.lock_changes()
            computation = state.apply_transaction(transaction)  # validates again: cheap, the sender is known
            receipt = vm.make_receipt(running, transaction, computation, state)
            vm.validate_receipt(receipt)
        except Exception:
            # Not a refusal (those raised above): a fault in the middle of execution. The block being built
            # is rebuilt from the transactions it held, and the fault is the caller's answer.
            LOG.exception("executing 0x%s failed; rebuilding the pending block", bytes(transaction.hash).hex())
            if rebuild:
                self._rebuild(building)
            raise
        # VM.add_receipt_to_header and increment_blob_gas_used, counted
        building.gas_used = receipt.gas_used
        building.bloom |= int(receipt.bloom)
        building.blob_gas_used += get_total_blob_gas(transaction)
        building.header_made = None
        building.index[bytes(transaction.hash)] = len(building.transactions)
        building.transactions.append(transaction)
        building.receipts.append(receipt)
        building.state_header = building.view = None

    def _rebuild(self, broken: _Building) -> None:
        """Open the block being built afresh on the same parent and execute again what it held."""
        self._building = None
        building = self._current()
        for transaction in broken.transactions:
            try:
                self._execute(building, transaction, rebuild=False)
            except Exception as exc:  # valid a moment ago: only another fault gets here
                self.dropped += 1
                LOG.warning("dropped 0x%s while rebuilding the pending block: %s", bytes(transaction.hash).hex(), exc)

    def _fits(self, building: _Building, transaction: SignedTransactionAPI) -> bool:
        if building.blob_gas_used + get_total_blob_gas(transaction) > MAX_BLOB_GAS_PER_BLOCK:
            return False  # checked only when a whole block is validated: a blob transaction waits instead
        return building.gas_used + int(transaction.gas) <= int(building.base.gas_limit)

    def _admit_to_queue(self, building: _Building, transaction: SignedTransactionAPI) -> None:
        """The checks a queued transaction must pass now; the full ones run when it is executed."""
        if len(self._queue) >= MAX_QUEUED:
            raise ValidationError("transaction pool is full")
        # The upgraded rules against the parent the block being built has (a later block's parent may
        # judge differently: the transaction is judged again when it is executed), then py-evm's field
        # rules (a PQC-only transaction's signature was verified by the rules just before).
        building.vm.validate_transaction_against_header(building.base, transaction)
        transaction.validate()
        sender = bytes(transaction.sender)
        state = building.vm.state
        expected = state.get_nonce(EvmAddress(sender)) + self._queued_count.get(sender, 0)
        if transaction.nonce != expected:
            raise ValidationError(f"Invalid transaction nonce: Expected {expected}, but got {transaction.nonce}")
        needed = self._queued_cost.get(sender, 0) + _max_cost(transaction)
        balance = state.get_balance(EvmAddress(sender))
        if balance < needed:
            raise ValidationError(
                f"Sender does not have enough balance to cover its queued transactions (has {balance}, needs {needed})"
            )

    def _enqueue(self, transaction: SignedTransactionAPI) -> None:
        sender = bytes(transaction.sender)
        self._queue[bytes(transaction.hash)] = transaction
        self._queued_count[sender] = self._queued_count.get(sender, 0) + 1
        self._queued_cost[sender] = self._queued_cost.get(sender, 0) + _max_cost(transaction)

    def _unqueue(self, transaction: SignedTransactionAPI) -> None:
        sender = bytes(transaction.sender)
        del self._queue[bytes(transaction.hash)]
        remaining = self._queued_count[sender] - 1
        if remaining:
            self._queued_count[sender] = remaining
            self._queued_cost[sender] -= _max_cost(transaction)
        else:
            del self._queued_count[sender], self._queued_cost[sender]

    def _drain_queue(self) -> None:
        """Execute queued transactions into the (new) block being built, in order, while they fit."""
        building = self._current()
        while self._queue:
            transaction = next(iter(self._queue.values()))
            if not self._fits(building, transaction):
                return
            self._unqueue(transaction)
            try:
                self._execute(building, transaction)
            except Exception as exc:  # invalid now (or a fault executing it): never the block's problem
                self.dropped += 1
                self.sidecars.discard(bytes(transaction.hash))
                LOG.warning("dropped queued transaction 0x%s from 0x%s: %s", bytes(transaction.hash).hex(),
                            bytes(transaction.sender).hex(), exc)  # fmt: skip

    # --- writes ---------------------------------------------------------------------------------------

    def _decode(self, raw: bytes) -> SignedTransactionAPI:
        transaction: SignedTransactionAPI = self._decoder.decode(raw)
        if isinstance(transaction, TypedTransaction):
            # Its hash is keccak256 of these bytes: computed here (libkeccak), not by py-evm re-encoding them.
            transaction.__dict__["hash"] = keccak256(raw)
        return transaction

    def send_raw(self, raw: bytes) -> Hash32:
        """Decode, judge (py-evm validity + the upgraded rules) and include ``raw`` in the block being
        built, or queue it for the next one when that block is full. Raises py-evm's ``ValidationError``
        (incl. ``PqcRuleViolation``), ``rlp.DecodingError`` or :class:`AlreadyKnown`."""
        return self._submit(self._decode(raw))

    def _submit(self, transaction: SignedTransactionAPI) -> Hash32:
        tx_hash = Hash32(transaction.hash)
        if self.find_transaction(tx_hash) is not None:
            raise AlreadyKnown("already known")
        if transaction.gas < transaction.intrinsic_gas:  # geth's wording; py-evm would say "negative gas"
            raise ValidationError(f"intrinsic gas too low: have {transaction.gas}, want {transaction.intrinsic_gas}")
        building = self._current()
        if transaction.gas > building.base.gas_limit:
            raise ValidationError(
                f"Transaction exceeds gas limit: using {transaction.gas}, bringing total to "
                f"{transaction.gas}, but limit is {building.base.gas_limit}"
            )
        if not self._queue and self._fits(building, transaction):
            self._execute(building, transaction)
            if self.automine:
                self.mine()
        else:
            self._admit_to_queue(building, transaction)
            self._enqueue(transaction)
        return tx_hash

    def send_envelope(self, data: bytes | Envelope) -> Hash32:
        """Record the envelope as its transaction's PQC sidecar, then submit the classical part; the
        rules check the sidecar (decoded once, here) with their UpgradedVerifier. Raises MalformedEnvelope
        or as send_raw."""
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
        nonce = self.pending_nonce(deployer.address)
        tx = {
            "chainId": self.chain_id,
            "nonce": nonce,
            "gas": REGISTRY_DEPLOY_GAS,
            "value": 0,
            "data": load_artifact()["bytecode"],
            **default_fees(self.next_base_fee()),
        }
        tx_hash = self.send_raw(bytes(Account.sign_transaction(tx, deployer.private_key).raw_transaction))
        location = self.find_transaction(tx_hash)
        while location is not None and location.pending:
            self.mine()
            location = self.find_transaction(tx_hash)
        if location is None or location.block is None or location.index is None:
            raise RegistryError("KeyRegistry deployment failed")
        if self.receipts(location.block)[location.index].receipt.state_root != b"\x01":
            raise RegistryError("KeyRegistry deployment failed")
        address = Address(generate_contract_address(EvmAddress(deployer.address), nonce))
        self.rules.registry_address = address
        return address

    def mine(self, count: int = 1) -> None:
        """Seal the block being built (and ``count - 1`` more, each with what the queue holds)."""
        for _ in range(count):
            self._seal()

    def _seal(self) -> None:
        building = self._current()
        vm = building.vm
        # What MiningChain.mine_block does (VM.set_block_transactions_and_withdrawals, pack_block,
        # finalize_block), with the tries built in one pass (.trie) and without its deep copies of every
        # transaction (rlp's Serializable.copy deep-copies each field, three times over for a mined block).
        tx_root, tx_nodes = ordered_trie_root_and_nodes(building.transactions)
        receipt_root, receipt_nodes = ordered_trie_root_and_nodes(building.receipts)
        self.chain.chaindb.persist_trie_data_dict(tx_nodes)  # type: ignore[arg-type]
        self.chain.chaindb.persist_trie_data_dict(receipt_nodes)  # type: ignore[arg-type]
        header = building.header.copy(transaction_root=tx_root, receipt_root=receipt_root)
        block_class = vm.get_block_class()
        # Finalizing reads only the header and the (absent) uncles: block rewards, then the state root.
        finalized = vm.finalize_block(block_class(header, (), ())).block.header
        mined = block_class(finalized, tuple(building.transactions), ())
        self.chain.validate_block(mined)  # the header against its parent (VM.validate_block would also
        # re-derive the transaction trie just built)
        self.chain.chaindb.persist_block(mined)
        self.chain.header = self.chain.create_header_from_parent(mined.header)
        self._building = None
        self._mined.sealed(mined, building.receipts)
        self._drain_queue()

    # --- reads ----------------------------------------------------------------------------------------

    @property
    def head(self) -> BlockHeaderAPI:
        """The latest mined block's header."""
        return self.chain.get_canonical_head()

    @property
    def pending_header(self) -> BlockHeaderAPI:
        """The header of the block being built, as it stands."""
        return self._current().header

    def next_base_fee(self) -> int:
        return int(self.chain.header.base_fee_per_gas or 0)

    def pending_state(self) -> StateAPI:
        """The state after every transaction of the block being built (read only: do not apply to it)."""
        return self._current().vm.state

    def pending_nonce(self, address: bytes) -> int:
        """The nonce a sender's next transaction must have: mined, pending and queued ones counted."""
        return int(self.pending_state().get_nonce(EvmAddress(address))) + self._queued_count.get(bytes(address), 0)

    def _pending_state_header(self) -> BlockHeaderAPI:
        building = self._current()
        if building.state_header is None:
            if building.transactions:
                building.vm.state.persist()  # what MiningChain did after every transaction; here on demand
                building.state_header = building.header.copy(state_root=building.vm.state.state_root)
            else:
                building.state_header = building.header
        return building.state_header

    def _pending_block(self) -> BlockAPI:
        building = self._current()
        if building.view is None:
            header = self._pending_state_header().copy(
                transaction_root=ordered_trie_root_and_nodes(building.transactions)[0],
                receipt_root=ordered_trie_root_and_nodes(building.receipts)[0],
            )
            building.view = building.vm.get_block_class()(header, tuple(building.transactions), ())
        return building.view

    def block(self, ident: str | int | bytes) -> tuple[BlockAPI, bool] | None:
        """(block, is_pending) for a tag, number or hash; None if there is no such block."""
        if ident == "pending":
            return self._pending_block(), True
        head = self.head
        if isinstance(ident, bytes):
            found = self._mined.cached(bytes(ident))
            if found is None:
                try:
                    found = self.chain.get_block_by_hash(EvmHash32(ident))
                except HeaderNotFound:
                    return None
            canonical = self.chain.get_canonical_block_hash(found.number) if found.number <= head.block_number else None
            return (found, False) if canonical == found.hash else None
        number = {"earliest": 0}.get(ident, head.block_number) if isinstance(ident, str) else ident
        if number > head.block_number:
            return None
        return self._mined.get(bytes(self.chain.get_canonical_block_hash(BlockNumber(number)))), False

    def state_header(self, ident: str | int | bytes) -> BlockHeaderAPI | None:
        """The header whose post-state answers reads at ``ident`` (the pending header for "pending")."""
        if ident == "pending":
            return self._pending_state_header()
        found = self.block(ident)
        return found[0].header if found is not None else None

    def find_transaction(self, tx_hash: Hash32) -> TxLocation | None:
        key = bytes(tx_hash)
        building = self._current()
        position = building.index.get(key)
        base_fee = int(building.base.base_fee_per_gas or 0)
        if position is not None:
            return TxLocation(building.transactions[position], None, position, True, base_fee)
        queued = self._queue.get(key)
        if queued is not None:
            return TxLocation(queued, None, None, True, base_fee)
        try:
            number, index = self.chain.chaindb.get_transaction_index(EvmHash32(tx_hash))
        except TransactionNotFound:
            return None
        block = self._mined.get(bytes(self.chain.get_canonical_block_hash(number)))
        return TxLocation(block.transactions[index], block, index, False, int(block.header.base_fee_per_gas or 0))

    def receipts(self, block: BlockAPI) -> list[ReceiptInfo]:
        """Every receipt of a mined block, with per-transaction gas and block-wide log indices."""
        return self._mined.receipts(block)

    def dev_key(self, address: bytes) -> bytes | None:
        for account in self.accounts:
            if account.address == address:
                return account.private_key
        return None

    @property
    def queued(self) -> int:
        """Transactions waiting for room in a later block."""
        return len(self._queue)


def _now() -> int:
    return int(time.time())
