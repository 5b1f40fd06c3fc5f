"""Byte-kind types and the account migration state shared by every layer.

``NewType`` wrappers say which 32 bytes mean what; they cost nothing at run time.
"""

from __future__ import annotations

from enum import IntEnum
from typing import NewType

Address = NewType("Address", bytes)
"""20-byte Ethereum account address (keccak256 of the uncompressed secp256k1 key, last 20 bytes)."""

Hash32 = NewType("Hash32", bytes)
"""A 32-byte keccak256 digest."""

KeyId = NewType("KeyId", bytes)
"""32-byte ML-DSA-87 key id: keccak256 of the raw 2,592-byte public key (docs/design.md, "The envelope binding")."""


class AccountState(IntEnum):
    """The four migration states (docs/design.md, "The life of one key"). Values are the on-chain registry encoding."""

    CLASSICAL = 0
    HYBRID = 1
    FINALIZING = 2
    PQC_ONLY = 3
