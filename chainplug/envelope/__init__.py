"""chainplug.envelope — transactions and the composite envelope v1: build, encode, strict decode.

Imports only chainplug.crypto and the root modules (constants, errors, types). Entry points:
:class:`CompositeAccount` (signing), :func:`decode_envelope` / :class:`Envelope` (the format,
docs/envelope-v1.md), one frozen class per transaction type — :class:`LegacyTransaction` (EIP-155),
:class:`FeeMarketTransaction` (EIP-1559) and :class:`PqcOnlyTransaction` (type 0x50,
docs/pqc-transaction.md) — with their strict decoders :func:`decode_transaction` and
:func:`decode_pqc_transaction`, :func:`message_representative` (M'), and :class:`PqcOnlySigner`.
"""

from .account import CompositeAccount, SignedComposite, check_transaction_fields, unsigned_from_dict
from .codec import Envelope, decode_envelope, is_envelope
from .decode import decode_pqc_transaction, decode_transaction
from .message import MPRIME_BYTES, classical_signature_hash, message_representative
from .pqc_signer import PqcOnlySigner, SignedPqcTransaction
from .pqc_tx import PqcOnlyTransaction, PqcTransaction, verify_pqc_signature
from .transaction import TX_TYPE_LEGACY, FeeMarketTransaction, LegacyTransaction, SignedTransaction

__all__ = [
    "MPRIME_BYTES",
    "TX_TYPE_LEGACY",
    "CompositeAccount",
    "Envelope",
    "FeeMarketTransaction",
    "LegacyTransaction",
    "PqcOnlySigner",
    "PqcOnlyTransaction",
    "PqcTransaction",
    "SignedComposite",
    "SignedPqcTransaction",
    "SignedTransaction",
    "check_transaction_fields",
    "classical_signature_hash",
    "decode_envelope",
    "decode_pqc_transaction",
    "decode_transaction",
    "is_envelope",
    "message_representative",
    "unsigned_from_dict",
    "verify_pqc_signature",
]
