"""The upgraded chain as a py-evm fork: Prague plus the PQC-only transaction and the sidecar rule.

``UpgradedPragueVM`` subclasses py-evm's latest fork (Prague, the one eth-tester's PyEVMBackend runs):

* its transaction builder also decodes type 0x50 (strictly, with chainplug's decoder, once) into
  :class:`EvmPqcOnlyTransaction`, which executes as an EIP-1559 transaction from its explicit sender with
  intrinsic gas = EIP-1559 intrinsic gas + PQC_TX_AUTH_GAS; its RLP fields are the ones declared by
  chainplug.envelope's :class:`~chainplug.envelope.PqcOnlyTransaction`;
* its state applies the EIP-1559 fee and balance rules to that type (without the secp256k1 low-s check,
  there is no secp256k1 signature);
* ``validate_transaction_against_header`` — called for every transaction py-evm applies, when building a
  block and when importing one — runs :class:`~chainplug.node.chain.rules.ChainRules` against the
  KeyRegistry *called inside the EVM* on the parent block's state.

``eth_call`` and ``eth_estimateGas`` apply transactions to a state directly, not through the VM, so the
rules do not judge them (a call carries no signature to judge).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from typing import Any

import rlp
from eth.abc import ReceiptAPI, SetCodeAuthorizationAPI, SignedTransactionAPI, StateAPI, TransactionDecoderAPI
from eth.constants import CREATE_CONTRACT_ADDRESS, ZERO_ADDRESS
from eth.rlp.logs import Log
from eth.rlp.receipts import Receipt
from eth.rlp.sedes import address as address_sedes
from eth.rlp.transactions import SignedTransactionMethods
from eth.vm.forks.berlin.transactions import AccountAccesses, calculate_txn_intrinsic_gas_berlin
from eth.vm.forks.frontier.validation import validate_frontier_transaction
from eth.vm.forks.london.transactions import validate_dynamic_fee_tx
from eth.vm.forks.prague import PragueVM
from eth.vm.forks.prague.blocks import PragueBlock, PragueBlockHeader
from eth.vm.forks.prague.receipts import PragueReceiptBuilder, PragueTypedReceipt
from eth.vm.forks.prague.state import PragueState
from eth.vm.forks.prague.transactions import PragueTransactionBuilder, PragueTypedTransaction
from eth.vm.forks.shanghai.withdrawals import Withdrawal
from eth.vm.message import Message
from eth_typing import Address as EvmAddress
from eth_typing import Hash32 as EvmHash32
from eth_utils.exceptions import ValidationError
from rlp.sedes import Binary, CountableList, big_endian_int, binary

from ...constants import PQC_TX_AUTH_GAS, TX_TYPE_PQC_ONLY
from ...crypto.keccak import keccak256
from ...envelope.decode import decode_pqc_transaction
from ...envelope.fields import WireField, payload_fields, wire_fields
from ...envelope.pqc_tx import PqcOnlyTransaction, PqcTransaction, verify_pqc_signature
from ...errors import ChainplugError, RegistryError
from ...registry.artifact import decode_entry, entry_call_data, load_artifact
from ...types import Address, Hash32
from ...verify import UNREGISTERED, RegistryEntry
from .rules import ChainRules, PqcRuleViolation

REGISTRY_READ_GAS = 1_000_000
"""Gas for the in-EVM registry read (a view call needs ~10,000)."""


_SEDES: dict[str, Any] = {
    "uint": big_endian_int,
    "to": address_sedes,
    "bytes": binary,
    "access_list": CountableList(AccountAccesses),
}


def _sedes(f: WireField) -> Any:
    return Binary.fixed_length(f.wire.size) if f.wire.kind == "fixed" else _SEDES[f.wire.kind]


def _evm_name(name: str) -> str:
    # NOTE: not "sender": SignedTransactionMethods.sender is the (cached) result of get_sender().
    return "sender_address" if name == "sender" else name


_PQC_WIRE_FIELDS = (*payload_fields(PqcOnlyTransaction), *wire_fields(PqcTransaction))
"""The signed type-0x50 payload: the ten signed fields, then the public key and the signature."""


class EvmPqcOnlyTransaction(rlp.Serializable, SignedTransactionMethods, SignedTransactionAPI):  # type: ignore[misc]
    """The type-0x50 payload as py-evm sees it, its RLP fields those chainplug declares. Built only by
    :class:`PqcPayloadDecoder`, from what the strict chainplug decoder made of the bytes."""

    _type_id = TX_TYPE_PQC_ONLY
    fields = [(_evm_name(f.name), _sedes(f)) for f in _PQC_WIRE_FIELDS]  # noqa: RUF012 - pyrlp's declaration style

    @classmethod
    def from_decoded(cls, pqc: PqcTransaction, payload: bytes) -> EvmPqcOnlyTransaction:
        """The py-evm object for ``pqc`` (decoded from ``payload``), without decoding the bytes again:
        the same values pyrlp's sedes would produce (storage keys as integers), ``payload`` as its
        cached encoding."""
        values = {_evm_name(f.name): getattr(pqc.unsigned, f.name) for f in payload_fields(PqcOnlyTransaction)}
        values["access_list"] = tuple(
            AccountAccesses(address, tuple(int.from_bytes(key, "big") for key in keys))
            for address, keys in pqc.unsigned.access_list
        )
        values.update({f.name: getattr(pqc, f.name) for f in wire_fields(PqcTransaction)})
        transaction = cls(**values)
        transaction._cached_rlp = payload
        transaction.__dict__["pqc"] = pqc  # the cached_property's slot: decoded once
        return transaction

    @cached_property
    def pqc(self) -> PqcTransaction:
        """The chainplug view of the same bytes."""
        return decode_pqc_transaction(bytes((TX_TYPE_PQC_ONLY,)) + self.encode())

    @property
    def gas_price(self) -> int:
        raise AttributeError("a PQC-only transaction has max_fee_per_gas and max_priority_fee_per_gas")

    @property
    def y_parity(self) -> int:
        raise AttributeError("a PQC-only transaction has no secp256k1 signature")

    @property
    def r(self) -> int:
        raise AttributeError("a PQC-only transaction has no secp256k1 signature")

    @property
    def s(self) -> int:
        raise AttributeError("a PQC-only transaction has no secp256k1 signature")

    @property
    def max_fee_per_blob_gas(self) -> int:
        raise NotImplementedError("a PQC-only transaction carries no blobs")

    @property
    def blob_versioned_hashes(self) -> Sequence[EvmHash32]:
        raise NotImplementedError("a PQC-only transaction carries no blobs")

    @property
    def authorization_list(self) -> Sequence[SetCodeAuthorizationAPI]:
        raise NotImplementedError("a PQC-only transaction carries no EIP-7702 authorizations")

    @cached_property
    def hash(self) -> EvmHash32:
        raise NotImplementedError("call hash on the typed transaction")

    def get_sender(self) -> EvmAddress:
        return EvmAddress(self.sender_address)

    def get_message_for_signing(self) -> bytes:
        return self.pqc.message_representative()

    def check_signature_validity(self) -> None:
        if self.__dict__.get("_signature_ok"):  # verified once per object: the bytes are immutable
            return
        try:
            verify_pqc_signature(self.pqc)
        except ChainplugError as exc:
            raise PqcRuleViolation(exc) from exc
        self.__dict__["_signature_ok"] = True

    def validate(self) -> None:
        validate_dynamic_fee_tx(self)
        if self.max_priority_fee_per_gas > self.max_fee_per_gas:
            raise ValidationError("max_priority_fee_per_gas is higher than max_fee_per_gas (EIP-1559)")
        if self.gas < self.intrinsic_gas:
            raise ValidationError(f"intrinsic gas too low: have {self.gas}, want {self.intrinsic_gas}")
        self.check_signature_validity()

    def get_intrinsic_gas(self) -> int:
        """EIP-1559 (Berlin-schedule) intrinsic gas plus the ML-DSA-87 surcharge."""
        return int(calculate_txn_intrinsic_gas_berlin(self)) + PQC_TX_AUTH_GAS

    def encode(self) -> bytes:
        encoded: bytes = rlp.encode(self)
        return encoded

    def make_receipt(
        self, status: bytes, gas_used: int, log_entries: tuple[tuple[bytes, tuple[int, ...], bytes], ...]
    ) -> ReceiptAPI:
        logs = [Log(address, topics, data) for address, topics, data in log_entries]
        return Receipt(state_root=status, gas_used=gas_used, logs=logs)


class PqcPayloadDecoder(TransactionDecoderAPI):
    """Decodes a type-0x50 payload with chainplug's strict decoder, once, and builds py-evm's object
    from the result."""

    @classmethod
    def decode(cls, payload: bytes) -> SignedTransactionAPI:
        try:
            pqc = decode_pqc_transaction(bytes((TX_TYPE_PQC_ONLY,)) + payload)
        except ChainplugError as exc:
            raise PqcRuleViolation(exc) from exc
        return EvmPqcOnlyTransaction.from_decoded(pqc, bytes(payload))


class UpgradedTypedReceipt(PragueTypedReceipt):
    codecs: dict[int, type[Receipt]] = {  # noqa: RUF012 - py-evm's declaration style
        **PragueTypedReceipt.codecs,
        TX_TYPE_PQC_ONLY: Receipt,  # type: ignore[type-abstract]
    }


class UpgradedReceiptBuilder(PragueReceiptBuilder):
    typed_receipt_class = UpgradedTypedReceipt


class UpgradedTypedTransaction(PragueTypedTransaction):
    decoders: dict[int, type[TransactionDecoderAPI]] = {  # noqa: RUF012 - py-evm's declaration style
        **PragueTypedTransaction.decoders,
        TX_TYPE_PQC_ONLY: PqcPayloadDecoder,
    }
    receipt_builder = UpgradedReceiptBuilder


class UpgradedTransactionBuilder(PragueTransactionBuilder):
    typed_transaction = UpgradedTypedTransaction


class UpgradedBlock(PragueBlock):
    transaction_builder = UpgradedTransactionBuilder
    receipt_builder = UpgradedReceiptBuilder
    fields = [  # noqa: RUF012 - pyrlp's declaration style
        ("header", PragueBlockHeader),
        ("transactions", CountableList(UpgradedTransactionBuilder)),
        ("uncles", CountableList(None, max_length=0)),
        ("withdrawals", CountableList(Withdrawal)),
    ]


class UpgradedState(PragueState):
    def validate_transaction(self, transaction: SignedTransactionAPI) -> None:
        if transaction.type_id != TX_TYPE_PQC_ONLY:
            super().validate_transaction(transaction)
            return
        # EIP-1559 rules (london + cancun state checks) minus the secp256k1 low-s check.
        base_fee = self.execution_context.base_fee_per_gas or 0
        if transaction.max_fee_per_gas < base_fee:
            raise ValidationError(f"max fee per gas {transaction.max_fee_per_gas} is below the base fee {base_fee}")
        validate_frontier_transaction(self, transaction)
        if self.get_balance(transaction.sender) < transaction.gas * transaction.max_fee_per_gas:
            raise ValidationError("sender cannot afford gas * max_fee_per_gas")


def read_registry_entry(state: StateAPI, registry: Address, account: Address) -> RegistryEntry:
    """Call ``KeyRegistry.entry(account)`` inside the EVM on ``state`` (never over RPC).

    No code at ``registry`` (not deployed yet at this block) means nobody is registered; code that does
    not answer like the KeyRegistry raises :class:`RegistryError` (never a silent CLASSICAL).
    """
    evm_registry = EvmAddress(registry)
    code = state.get_code(evm_registry)
    if not code:
        return UNREGISTERED
    message = Message(
        gas=REGISTRY_READ_GAS,
        to=evm_registry,
        sender=ZERO_ADDRESS,
        value=0,
        data=entry_call_data(account),
        code=code,
        is_static=True,
    )
    context = state.get_transaction_context_class()(gas_price=0, origin=ZERO_ADDRESS)
    computation = state.computation_class.apply_computation(state, message, context)
    output = computation.output
    if computation.is_error:
        raise RegistryError(f"contract at 0x{bytes(registry).hex()} does not answer KeyRegistry.entry(address)")
    return decode_entry(output, registry)


def registry_version(state: StateAPI, registry: Address | None, parent_hash: Hash32) -> bytes:
    """What identifies the registry's answers on ``state`` (the state after block ``parent_hash``).

    For the committed KeyRegistry's code, ``entry(account)`` reads the contract's own storage and
    nothing else, so its storage root (with the code hash) identifies every answer: two parents with the
    same registry storage give the same entries, and the rules' cache carries them over from block to
    block until a registry transaction changes the storage. For any other code at the address (or none),
    the parent block itself is the identity: nothing is carried over.
    """
    if registry is None:
        return b"no-registry"
    evm_registry = EvmAddress(registry)
    code_hash = bytes(state.get_code_hash(evm_registry))
    if code_hash == keyregistry_code_hash(state):
        # NOTE: py-evm exposes no public storage-root read; the account's own field, via AccountDB.
        storage_root = getattr(getattr(state, "_account_db", None), "_get_storage_root", None)
        if storage_root is not None:
            return b"keyregistry:" + bytes(registry) + code_hash + bytes(storage_root(evm_registry))
    return b"parent:" + bytes(parent_hash)


_RUNTIME_CODE_HASH: list[bytes] = []


def keyregistry_code_hash(state: StateAPI) -> bytes:
    """keccak256 of the runtime code the committed KeyRegistry artifact deploys: its init code run once,
    in a throw-away snapshot of ``state``."""
    if not _RUNTIME_CODE_HASH:
        init_code = bytes.fromhex(load_artifact()["bytecode"].removeprefix("0x"))
        snapshot = state.snapshot()
        try:
            message = Message(gas=REGISTRY_READ_GAS * 10, to=CREATE_CONTRACT_ADDRESS, sender=ZERO_ADDRESS, value=0,
                              data=b"", code=init_code, create_address=EvmAddress(bytes(20)))  # fmt: skip
            context = state.get_transaction_context_class()(gas_price=0, origin=ZERO_ADDRESS)
            computation = state.computation_class.apply_create_message(state, message, context)
        finally:
            state.revert(snapshot)
        if computation.is_error:
            raise RegistryError("the committed KeyRegistry artifact does not deploy")
        _RUNTIME_CODE_HASH.append(keccak256(bytes(computation.output)))
    return _RUNTIME_CODE_HASH[0]


class UpgradedPragueVM(PragueVM):
    """Prague + the chainplug rules. Configure with ``UpgradedPragueVM.configure(rules=ChainRules(...))``."""

    fork = "prague+chainplug-pqc"
    block_class = UpgradedBlock
    _state_class = UpgradedState
    rules: ChainRules | None = None

    def validate_transaction_against_header(self, base_header: Any, transaction: SignedTransactionAPI) -> None:
        super().validate_transaction_against_header(base_header, transaction)
        rules = self.rules
        if rules is None:
            return
        parent_hash = Hash32(base_header.parent_hash)
        parent_state: list[StateAPI] = []

        def state() -> StateAPI:
            if not parent_state:  # built on first use only: most checks hit the cache
                parent = self.chaindb.get_block_header_by_hash(EvmHash32(parent_hash))
                parent_state.append(self.build_state(self.chaindb.db, parent, self.chain_context))
            return parent_state[0]

        def load(account: Address) -> RegistryEntry:
            if rules.registry_address is None:
                return UNREGISTERED
            return read_registry_entry(state(), rules.registry_address, account)

        def version() -> bytes:
            return registry_version(state(), rules.registry_address, parent_hash)

        def read(account: Address) -> RegistryEntry:
            return rules.cached_entry(parent_hash, account, load, version)

        if transaction.type_id == TX_TYPE_PQC_ONLY:
            inner = _pqc_inner(transaction)
            rules.check_pqc_only(inner.pqc, base_header.block_number, read)
            inner.__dict__["_signature_ok"] = True  # the rules verified it: py-evm's own check need not again
        else:
            sender = rules.check_classical(
                transaction.encode(),  # py-evm keeps the bytes it decoded: no re-encoding
                Hash32(transaction.hash),
                lambda: Address(transaction.sender),
                base_header.block_number,
                read,
            )
            if sender is not None:
                _set_sender(transaction, sender)


def _set_sender(transaction: SignedTransactionAPI, sender: Address) -> None:
    """Give py-evm the sender the rules' verifier recovered from these same bytes (libsecp256k1 directly,
    once), so py-evm's own recovery through eth-keys does not run again for its nonce and balance checks.

    # NOTE: SignedTransactionMethods.sender is a cached_property (kept in the instance __dict__); the
    # verifier decoded the bytes py-evm decoded (``transaction.encode()`` is py-evm's received bytes, or
    # the sidecar stored under their hash), so the two recoveries cannot differ.
    """
    transaction.__dict__.setdefault("sender", EvmAddress(sender))


def _pqc_inner(transaction: SignedTransactionAPI) -> EvmPqcOnlyTransaction:
    inner = getattr(transaction, "_inner", transaction)
    if not isinstance(inner, EvmPqcOnlyTransaction):
        raise TypeError("not a PQC-only transaction")
    return inner


def pqc_transaction(transaction: SignedTransactionAPI) -> PqcTransaction:
    """The chainplug view of a py-evm type-0x50 transaction."""
    return _pqc_inner(transaction).pqc
