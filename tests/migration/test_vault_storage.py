"""The migration engine over the encrypted vault (issue #4 item 3): the engine's keys are sealed at
rest, erasure removes the classical key's file the keystore's way, and the wrong credentials open nothing."""

from pathlib import Path

import pytest

from chainplug.errors import ChainplugError
from chainplug.keystore import Credentials, KdfPolicy, KemKey, Passphrase, Vault
from chainplug.migration import MigrationEngine, StaticReadiness
from chainplug.migration.keystore_adapter import VaultKeyStore
from chainplug.types import AccountState

POLICY = KdfPolicy.unsafe_for_testing(1000)  # explicit, test-only; production reads refuse it


def credentials(password: str = "vault password", seed: bytes = bytes(range(64))) -> Credentials:
    return Credentials(Passphrase(password, POLICY), KemKey.from_seed(seed))


def every_file_bytes(root: Path) -> bytes:
    return b"".join(p.read_bytes() for p in root.rglob("*") if p.is_file())


def test_full_migration_with_sealed_keys(tmp_path: Path) -> None:
    vault = Vault.create(tmp_path / "vault", credentials())
    store = tmp_path / "store"
    with MigrationEngine.open(store, create=True, keystore=VaultKeyStore(vault),
                              readiness=StaticReadiness({"v": True})) as engine:  # fmt: skip
        address = engine.create_account()
        secret = engine.load_classical_key(address).secret_bytes()
        assert secret not in every_file_bytes(tmp_path), "keys are sealed at rest"
        engine.advance(address, AccountState.HYBRID)
        seed = engine.load_pqc_key(address).seed_bytes()
        assert seed not in every_file_bytes(tmp_path)
        engine.advance(address, AccountState.FINALIZING)
        assert not any(".secp256k1." in p.name for p in (tmp_path / "vault").iterdir())
        engine.advance(address, AccountState.PQC_ONLY)
        assert engine.account(address).state is AccountState.PQC_ONLY
    # Reopen: recovery runs over the vault and the PQC key still opens.
    with MigrationEngine.open(store, keystore=VaultKeyStore(Vault.open(tmp_path / "vault", credentials()))) as engine:
        assert engine.load_pqc_key(address).seed_bytes() == seed


def test_rollback_erases_the_sealed_pqc_key(tmp_path: Path) -> None:
    vault = Vault.create(tmp_path / "vault", credentials())
    with MigrationEngine.open(tmp_path / "store", create=True, keystore=VaultKeyStore(vault)) as engine:
        address = engine.create_account()
        engine.advance(address, AccountState.HYBRID)
        engine.rollback(address)
        assert engine.account(address).state is AccountState.CLASSICAL
    assert not any(".ml-dsa-87." in p.name for p in (tmp_path / "vault").iterdir())


@pytest.mark.parametrize("wrong", ["password", "kem key"])
def test_wrong_credentials_open_nothing(tmp_path: Path, wrong: str) -> None:
    Vault.create(tmp_path / "vault", credentials())
    bad = credentials(password="nope") if wrong == "password" else credentials(seed=bytes(range(1, 65)))
    with pytest.raises(ChainplugError):
        Vault.open(tmp_path / "vault", bad)
