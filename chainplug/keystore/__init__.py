"""chainplug.keystore — dual-compromise encrypted key files (docs/keystore.md).

Owns: sealing secp256k1 and ML-DSA-87 private keys with AES-256-GCM under
HKDF-SHA3-256(PBKDF2-HMAC-SHA3-256(password) || ML-KEM-1024 shared secret), the whole header as
associated data; single key files; vaults (many keys, one PBKDF2 per unlock); password and KEM-key
rotation; import of Ethereum V3 keystores. Imports only chainplug.crypto and the root modules
(constants, errors, types, _fs); chainplug.migration builds its key storage on this layer.

Entry points: :class:`Credentials` (a :class:`Passphrase` plus a :class:`KemKey`),
:class:`Vault` (``create``/``open``/``open_and_unlock``, ``put``/``load``/``unlock_all``/``erase``),
:func:`create_key_file`/:func:`open_key_file` for single files, :func:`rotate_password`,
:func:`rotate_kem_key`, :func:`decrypt_v3`.
"""

from .crashpoints import CRASH_POINTS
from .ethv3 import decrypt_v3
from .format import KdfParams, KeyAlgorithm, KeyFileHeader, SealedKeyFile, SealParams, VaultManifest
from .kdf import KdfPolicy, Passphrase
from .kem import KemKey, check_kept_apart, kem_key_id
from .keyfile import (
    create_key_file,
    open_key_file,
    read_key_file,
    rotate_key_file_kem_key,
    rotate_key_file_password,
    write_key_file,
)
from .rotate import RotationReport, rotate_kem_key, rotate_password
from .seal import Credentials, UnlockedKey, open_key, reseal, seal_key
from .vault import KeyRef, KeyToStore, Vault, VaultInventory

__all__ = [
    "CRASH_POINTS",
    "Credentials",
    "KdfParams",
    "KdfPolicy",
    "KemKey",
    "KeyAlgorithm",
    "KeyFileHeader",
    "KeyRef",
    "KeyToStore",
    "Passphrase",
    "RotationReport",
    "SealParams",
    "SealedKeyFile",
    "UnlockedKey",
    "Vault",
    "VaultInventory",
    "VaultManifest",
    "check_kept_apart",
    "create_key_file",
    "decrypt_v3",
    "kem_key_id",
    "open_key",
    "open_key_file",
    "read_key_file",
    "reseal",
    "rotate_kem_key",
    "rotate_key_file_kem_key",
    "rotate_key_file_password",
    "rotate_password",
    "seal_key",
    "write_key_file",
]
