"""chainplug.crypto — the raw primitives layer (lowest layer; imports only chainplug.constants,
chainplug.errors and chainplug.types).

Owns secp256k1 (Ethereum recoverable form, low-s), ML-DSA-87 and ML-KEM-1024 behind one backend
interface, keccak256 and buffer wiping. Use envelopes (chainplug.envelope) instead of calling these
directly; they exist so higher layers have one audited place for each primitive.
"""

from .keccak import keccak256
from .pqc import (
    MLDSA87SigningKey,
    MLDSA87VerifyingKey,
    MLKEM1024DecapsulationKey,
    PQCBackend,
    available_backends,
    backend_name,
    get_backend,
    mldsa87_key_id,
)
from .secp256k1 import RecoverableSignature, Secp256k1PrivateKey, recover_address, recover_public_key
from .zeroize import zeroize

__all__ = [
    "MLDSA87SigningKey",
    "MLDSA87VerifyingKey",
    "MLKEM1024DecapsulationKey",
    "PQCBackend",
    "RecoverableSignature",
    "Secp256k1PrivateKey",
    "available_backends",
    "backend_name",
    "get_backend",
    "keccak256",
    "mldsa87_key_id",
    "recover_address",
    "recover_public_key",
    "zeroize",
]
