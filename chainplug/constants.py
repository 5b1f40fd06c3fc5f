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
"""Fixed ASCII prefix of the message representative M' (docs/design.md, "The envelope binding")."""
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
"""The classical-signature-hash field of M' for PQC_ONLY transactions (docs/design.md, "The envelope binding")."""

WNS_ARTIFACT_ADDRESS: Final = bytes.fromhex("70aee71d7888e864b9adf36e5033bfbd1b4f8a4f")
"""Default address of the weak-non-separability artifact (RFC 9955): the access-list entry
(address, [key id]) that a HYBRID account puts inside what its classical key signs.
= keccak256(b"chainplug-composite-v1/wns-artifact")[12:]; a registry deployment may use its own
address instead."""

# --- Operational ------------------------------------------------------------------------------

PQC_BACKEND_ENV: Final = "CHAINPLUG_PQC_BACKEND"
"""Environment variable selecting the PQC backend: ``cryptography``, ``liboqs`` or ``auto``."""

# --- Keystore (docs/keystore.md) --------------------------------------------------------------

KEYSTORE_FORMAT: Final = "chainplug-keystore"
"""``header.format`` of a sealed key file (docs/keystore.md §key file)."""
KEYSTORE_VERSION: Final = 1
"""``header.version`` of a sealed key file; it fixes every algorithm below."""
VAULT_FORMAT: Final = "chainplug-vault"
"""``header.format`` of a vault manifest (``vault.json``, docs/keystore.md §vault)."""
VAULT_VERSION: Final = 1
KEM_KEY_FORMAT: Final = "chainplug-kem-key"
"""``format`` of an ML-KEM-1024 decapsulation-key file (docs/keystore.md §KEM key file)."""
KEM_KEY_VERSION: Final = 1
KEYSTORE_HKDF_INFO: Final = b"chainplug-keystore-v1/kek"
"""HKDF-SHA3-256 info prefix; the info is this || SHA3-256(associated data), so the key-encryption
key is bound to the whole header (anchors §17 "Keystore")."""
KEYSTORE_PBKDF2_ITERATIONS: Final = 600_000
"""PBKDF2-HMAC-SHA3-256 iterations for new files: OWASP's 2023 figure for PBKDF2-HMAC-SHA256.
One SHA3-256 HMAC iteration costs an attacker more than one SHA-256 iteration, so this is at least
as strong; measured 0.66 s on the reference machine (docs/keystore.md §password KDF)."""
KEYSTORE_PBKDF2_MIN_ITERATIONS: Final = 210_000
"""Files asking for fewer iterations are refused on read (OWASP's PBKDF2-HMAC-SHA512 figure: a
Keccak-f[1600] permutation costs an attacker about what a SHA-512 compression does)."""
KEYSTORE_PBKDF2_MAX_ITERATIONS: Final = 10_000_000
"""Files asking for more are refused too: an untrusted file must not make us spin for minutes."""
KEYSTORE_SALT_BYTES: Final = 32
"""PBKDF2 salt, bytes: random per single file, shared by the keys of one vault."""
KEYSTORE_KEY_BYTES: Final = 32
"""PBKDF2 output and AES-256-GCM key, bytes."""
KEYSTORE_NONCE_BYTES: Final = 12
"""AES-GCM nonce, bytes: fresh from the OS CSPRNG on every write (96 bits, NIST SP 800-38D)."""
KEYSTORE_TAG_BYTES: Final = 16
"""AES-GCM tag, bytes (full length, never truncated)."""
KEM_KEY_ENV: Final = "CHAINPLUG_KEM_KEY"
"""Environment variable naming the KEM decapsulation-key file. There is no default path."""
ETH_V3_MAX_SCRYPT_MEMORY_BYTES: Final = 1 << 30
"""Largest scrypt memory (128 * n * r bytes) an imported Ethereum V3 keystore may ask for."""
ETH_V3_MAX_SCRYPT_P: Final = 16
"""Largest scrypt parallelism an imported V3 keystore may ask for."""
ETH_V3_MAX_PBKDF2_ITERATIONS: Final = 10_000_000
"""Largest PBKDF2 iteration count an imported V3 keystore may ask for."""

# --- PQC-only transaction (docs/pqc-transaction.md) -------------------------------------------

TX_TYPE_PQC_ONLY: Final = 0x50
"""EIP-2718 type byte of the PQC-only transaction (ASCII "P"). Not used by Ethereum (0x00-0x04 are taken;
EIP-7932's draft wrapper used 0x07) nor, as far as we know, by the major rollups (Arbitrum 0x64-0x6a,
zkSync 0x71, OP Stack deposits 0x7e)."""
PQC_TX_AUTH_BYTE_GAS: Final = 16
"""Intrinsic gas per byte of ML-DSA-87 public key and signature carried by a PQC-only transaction:
the EIP-2028 non-zero calldata rate, which is also EIP-7932's GAS_PER_ADDITIONAL_VERIFICATION_BYTE."""
PQC_TX_VERIFY_GAS: Final = 21_000
"""Intrinsic gas for one ML-DSA-87 verification: 7 x the 3,000 gas of the ecrecover precompile,
from the measured ratio (OpenSSL ML-DSA-87 verify ~420 us vs libsecp256k1 recovery ~62 us)."""
PQC_TX_AUTH_GAS: Final = PQC_TX_AUTH_BYTE_GAS * (MLDSA87_PUBLIC_KEY_BYTES + MLDSA87_SIGNATURE_BYTES) + PQC_TX_VERIFY_GAS
"""Surcharge a PQC-only transaction pays on top of EIP-1559 intrinsic gas: 136,504."""
