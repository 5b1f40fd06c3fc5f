"""chainplug — move Ethereum-style keys from secp256k1 to ML-DSA-87 (FIPS 204) with zero downtime.

Layers (a layer imports only those above it, plus the base modules; docs/design.md §the layers):

    constants, errors, types, _fs  shared definitions (security constants live in constants)
    crypto                         raw primitives: secp256k1, ML-DSA-87, ML-KEM-1024, keccak
    envelope                       the transaction types, the composite envelope v1, M', signing
    verify                         legacy / upgraded / strict / pqc-only verifiers, the activation rule
    keystore                       dual-compromise key files and vaults
    migration                      four-state engine, write-ahead log, erasure, recovery, fleet gate
    registry                       the KeyRegistry contract and its web3 bindings
    signer                         web3.py middleware, the HTTP signer service, its audit log
    node                           admission hook, gateway, validator, the embedded chain
    devnet                         a mixed fleet of processes driven through a scenario, and its report
    cli                            the ``chainplug`` command

Start from :class:`CompositeAccount` (signing) and :mod:`chainplug.verify` (verifying). The public
names below are imported on first use so that ``chainplug --help`` starts fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from . import errors
    from .envelope import CompositeAccount, Envelope, SignedComposite, decode_envelope
    from .types import AccountState

__version__ = "0.1.0"

_EXPORTS = {
    "AccountState": "chainplug.types",
    "CompositeAccount": "chainplug.envelope",
    "Envelope": "chainplug.envelope",
    "SignedComposite": "chainplug.envelope",
    "decode_envelope": "chainplug.envelope",
}

__all__ = [
    "AccountState",
    "CompositeAccount",
    "Envelope",
    "SignedComposite",
    "__version__",
    "decode_envelope",
    "errors",
]


def __getattr__(name: str) -> Any:
    if name == "errors":
        return importlib.import_module("chainplug.errors")
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'chainplug' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
