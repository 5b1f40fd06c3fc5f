"""The migration engine's private keys in an encrypted vault (chainplug.keystore, docs/keystore.md).

:class:`VaultKeyStore` implements the engine's :class:`PrivateKeyStore` port over an opened
:class:`~chainplug.keystore.Vault`: both factors (password and ML-KEM-1024 key) were checked when
the vault was opened, PBKDF2 ran once, and each key costs one decapsulation + HKDF + AES-GCM open.
Erasure removes the classical key's file the keystore's way (overwrite, sync, unlink, directory
sync). Crash-point labels are the engine's, so crash tests cover this storage too.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ..crypto import MLDSA87SigningKey, Secp256k1PrivateKey
from ..errors import KeyMaterialError, KeystoreError
from ..keystore import Credentials, KeyAlgorithm, KeyRef, KeyToStore, UnlockedKey, Vault
from ..types import Address
from .keystore_port import KeyInventory, PrivateKeyStore


class VaultKeyStore(PrivateKeyStore):
    """Classical and ML-DSA-87 keys of a migration store, sealed in one vault."""

    def __init__(self, vault: Vault) -> None:
        self.vault = vault

    def _load(self, ref: KeyRef) -> UnlockedKey:
        try:
            return self.vault.load(ref)
        except KeystoreError as exc:
            raise KeyMaterialError(f"{self.vault.path_for(ref)}: {exc}") from exc

    def put_classical(self, keys: Sequence[Secp256k1PrivateKey]) -> None:
        self.vault.put([KeyToStore(key) for key in keys], label="keys.classical.put")

    def load_classical(self, address: Address) -> Secp256k1PrivateKey:
        key = self._load(KeyRef(address, KeyAlgorithm.SECP256K1, 0)).classical()
        if key.address != address:  # the vault checked the header; this checks the file's place
            key.destroy()
            raise KeyMaterialError(f"0x{address.hex()}: the classical key file holds another account's key")
        return key

    def erase_classical(self, addresses: Sequence[Address]) -> int:
        refs = [KeyRef(address, KeyAlgorithm.SECP256K1, 0) for address in addresses]
        return self.vault.erase(refs, label="keys.classical.wipe")

    def put_pqc(self, items: Sequence[tuple[Address, int, MLDSA87SigningKey]]) -> None:
        stored = [KeyToStore(key, address=address, generation=generation) for address, generation, key in items]
        self.vault.put(stored, label="keys.pqc.put")

    def load_pqc(self, address: Address, generation: int) -> MLDSA87SigningKey:
        return self._load(KeyRef(address, KeyAlgorithm.MLDSA87, generation)).pqc()

    def erase_pqc(self, items: Sequence[tuple[Address, int]]) -> int:
        refs = [KeyRef(address, KeyAlgorithm.MLDSA87, generation) for address, generation in items]
        return self.vault.erase(refs, label="keys.pqc.wipe")

    def inventory(self) -> KeyInventory:
        found = self.vault.inventory()
        classical = frozenset(r.address for r in found.keys if r.algorithm is KeyAlgorithm.SECP256K1)
        pqc = frozenset((r.address, r.generation) for r in found.keys if r.algorithm is KeyAlgorithm.MLDSA87)
        return KeyInventory(classical, pqc, len(found.leftovers), found.unrecognised)

    def wipe_leftovers(self) -> int:
        return self.vault.wipe_leftovers(label="keys.leftover.wipe")


def open_or_create_vault(directory: Path, credentials: Credentials) -> Vault:
    """Open the vault at ``directory`` (both factors checked, PBKDF2 once), creating it if absent."""
    if (directory / "vault.json").exists():
        return Vault.open(directory, credentials)
    return Vault.create(directory, credentials)
