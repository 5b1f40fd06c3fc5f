"""Every security-critical constant of chainplug, in one place.

Each value is pinned by ``tests/vectors/constants.json`` (see ``tests/test_constants.py``); changing
one is a format break and needs a new envelope version. Sources are cited per constant.
"""

from __future__ import annotations

from typing import Final

# --- ML-DSA-87 (FIPS 204, Table 2) ------------------------------------------------------------

MLDSA87_PUBLIC_KEY_BYTES: Final = 2592
"""Raw ML-DSA-87 public key (pkEncode), bytes."""
MLDSA87_SIGNATURE_BYTES: Final = 4627
"""ML-DSA-87 signature (sigEncode), bytes."""
MLDSA87_SEED_BYTES: Final = 32
"""Seed-form private key xi (FIPS 204 Alg. 1 input), bytes."""
MLDSA_MAX_CONTEXT_BYTES: Final = 255
"""FIPS 204 §5.2: ctx is at most 255 bytes; longer is rejected, never truncated (anchors #8)."""

# --- ML-KEM-1024 (FIPS 203, Table 3) ----------------------------------------------------------

MLKEM1024_ENCAPSULATION_KEY_BYTES: Final = 1568
MLKEM1024_CIPHERTEXT_BYTES: Final = 1568
MLKEM1024_SHARED_SECRET_BYTES: Final = 32
MLKEM1024_SEED_BYTES: Final = 64
"""Seed-form decapsulation key d || z (FIPS 203 Alg. 16 inputs), bytes."""

# --- secp256k1 (SEC 2 §2.4.1) -----------------------------------------------------------------

SECP256K1_N: Final = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
"""Group order n."""
SECP256K1_HALF_N: Final = SECP256K1_N // 2
"""Largest acceptable s (EIP-2, "low-s"): a signature with s > n/2 is rejected."""
SECP256K1_SECRET_BYTES: Final = 32
CLASSICAL_SIGNATURE_BYTES: Final = 65
"""Canonical classical signature r (32, big-endian) || s (32, big-endian) || y_parity (1, 0 or 1)."""

# --- Ethereum transactions --------------------------------------------------------------------

TX_TYPE_EIP2930: Final = 0x01
TX_TYPE_EIP1559: Final = 0x02
"""EIP-1559 dynamic-fee transaction type byte (EIP-2718 envelope)."""
MAX_RAW_TX_BYTES: Final = 128 * 1024
"""Largest raw classical transaction accepted: geth's txpool limit (txMaxSize, 4 x 32 KiB)."""
ACCESS_LIST_ADDRESS_GAS: Final = 2400
"""EIP-2930 intrinsic gas per access-list address."""
ACCESS_LIST_STORAGE_KEY_GAS: Final = 1900
"""EIP-2930 intrinsic gas per access-list storage key."""

# --- Composite envelope v1 (docs/envelope-v1.md) ----------------------------------------------

MPRIME_PREFIX: Final = b"chainplug-composite-v1"
"""Fixed ASCII prefix of the message representative M' (DESIGN.md §3)."""
SUITE_LABEL: Final = b"CHAINPLUG-MLDSA87-SECP256K1-KECCAK256"
"""Suite label: inside M' (length-prefixed) and the ML-DSA-87 context string (FIPS 204 ctx)."""
ENVELOPE_MAGIC: Final = b"\x8cPQ"
"""Envelope prefix 0x8c 0x50 0x51. 0x8c lies in 0x80..0xbf, which is neither an EIP-2718 type byte
(< 0x80) nor an RLP list (>= 0xc0), so an envelope is never mistaken for a raw transaction."""
ENVELOPE_VERSION: Final = 1
SUITE_ID_MLDSA87_SECP256K1: Final = 1
"""Suite byte for secp256k1 + ML-DSA-87 + keccak256 (the only suite of version 1)."""
KIND_HYBRID: Final = 1
"""Envelope kind: a classical signed transaction plus an ML-DSA-87 signature."""
KIND_PQC_ONLY: Final = 2
"""Envelope kind reserved for PQC_ONLY transactions (docs/envelope-v1.md §kinds); not yet decoded."""
FORM_KEY_ID: Final = 0
"""Key field is the 32-byte key id."""
FORM_FULL_KEY: Final = 1
"""Key field is the full 2,592-byte ML-DSA-87 public key."""
KEY_ID_BYTES: Final = 32
ENVELOPE_HEADER_BYTES: Final = 11
"""magic (3) + version (1) + suite (1) + kind (1) + form (1) + tx length (4, big-endian)."""
MAX_ENVELOPE_BYTES: Final = (
    ENVELOPE_HEADER_BYTES + MAX_RAW_TX_BYTES + MLDSA87_PUBLIC_KEY_BYTES + MLDSA87_SIGNATURE_BYTES
)
"""Hard cap on envelope size: anything larger is rejected before parsing."""
ZERO_CLASSICAL_SIGNATURE_HASH: Final = b"\x00" * 32
"""The classical-signature-hash field of M' for PQC_ONLY transactions (DESIGN.md §3)."""

WNS_ARTIFACT_ADDRESS: Final = bytes.fromhex("70aee71d7888e864b9adf36e5033bfbd1b4f8a4f")
"""Default address of the weak-non-separability artifact (RFC 9955): the access-list entry
(address, [key id]) that a HYBRID account puts inside what its classical key signs.
= keccak256(b"chainplug-composite-v1/wns-artifact")[12:]; a registry deployment may use its own
address instead."""

# --- Operational ------------------------------------------------------------------------------

PQC_BACKEND_ENV: Final = "CHAINPLUG_PQC_BACKEND"
"""Environment variable selecting the PQC backend: ``cryptography``, ``liboqs`` or ``auto``."""
