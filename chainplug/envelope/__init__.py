"""chainplug.envelope — composite envelope v1: build, encode, strict decode (docs/envelope-v1.md).

Imports only chainplug.crypto and the root modules (constants, errors, types). Entry points:
:class:`CompositeAccount` (signing), :func:`decode_envelope` / :class:`Envelope` (format),
:func:`decode_transaction` (the classical part), :func:`message_representative` (M'), and the
PQC-only transaction (type 0x50, docs/pqc-transaction.md): :class:`PqcOnlySigner`,
:func:`decode_pqc_transaction`.
"""

from .account import CompositeAccount, SignedComposite, check_transaction_fields, unsigned_from_dict
from .codec import Envelope, decode_envelope, is_envelope
from .message import MPRIME_BYTES, classical_signature_hash, message_representative
from .pqc_signer import PqcOnlySigner, SignedPqcTransaction
from .pqc_tx import PqcTransaction, UnsignedPqcTransaction, decode_pqc_transaction, verify_pqc_signature
from .transaction import TX_TYPE_LEGACY, SignedTransaction, UnsignedTransaction, decode_transaction

__all__ = [
    "MPRIME_BYTES",
    "TX_TYPE_LEGACY",
    "CompositeAccount",
    "Envelope",
    "PqcOnlySigner",
    "PqcTransaction",
    "SignedComposite",
    "SignedPqcTransaction",
    "SignedTransaction",
    "UnsignedPqcTransaction",
    "UnsignedTransaction",
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
