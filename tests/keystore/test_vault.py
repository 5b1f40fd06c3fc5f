"""Vaults: one PBKDF2 per unlock, strict membership, durable puts, erasure the keystore's way."""

import os
from pathlib import Path

import pytest

import chainplug.keystore
from chainplug import _fs
from chainplug.errors import (
    ConfigError,
    KeyExists,
    KeyNotFound,
    MalformedKeyFile,
    RotationIncomplete,
    WrongPassphraseOrKey,
)
from chainplug.keystore import Credentials, KeyAlgorithm, KeyRef, KeyToStore, Vault, create_key_file
from chainplug.keystore.vault import NEXT_MANIFEST_NAME

from .conftest import OTHER_KEM_SEED, OTHER_PASSWORD, classical_key, make_credentials, pqc_key, snapshot


def _hybrid_items(n: int) -> list[KeyToStore]:
    items = []
    for i in range(n):
        account = classical_key(i)
        items.append(KeyToStore(account))
        items.append(
            KeyToStore(pqc_key(i), address=account.address, classical_public_key=account.public_key_bytes, generation=1)
        )
    return items


@pytest.fixture
def vault(tmp_path: Path, creds: Credentials) -> Vault:
    vault = Vault.create(tmp_path / "vault", creds)
    vault.put(_hybrid_items(3))
    return vault


def test_unlock_all_runs_pbkdf2_once_for_many_keys(vault: Vault) -> None:
    reader = make_credentials()
    seen: list[tuple[int, int]] = []
    keys = Vault.open(vault.directory, reader).unlock_all(progress=lambda done, total: seen.append((done, total)))
    assert reader.passphrase.derivations == 1
    assert len(keys) == 6 and seen == [(i, 6) for i in range(1, 7)]
    by_ref = {(k.address, k.algorithm, k.generation): k for k in keys}
    for i in range(3):
        address = classical_key(i).address
        assert (
            by_ref[(address, KeyAlgorithm.SECP256K1, 0)].classical().secret_bytes() == classical_key(i).secret_bytes()
        )
        assert by_ref[(address, KeyAlgorithm.MLDSA87, 1)].pqc().seed_bytes() == pqc_key(i).seed_bytes()


def test_load_one_key_by_reference(vault: Vault) -> None:
    ref = KeyRef(classical_key(1).address, KeyAlgorithm.MLDSA87, 1)
    assert vault.load(ref).pqc().public_key_bytes == pqc_key(1).public_key_bytes
    with pytest.raises(KeyNotFound):
        vault.load(KeyRef(classical_key(1).address, KeyAlgorithm.MLDSA87, 2))


@pytest.mark.parametrize("which", ["password", "kem"])
def test_open_with_a_wrong_factor_fails_and_changes_nothing(vault: Vault, which: str) -> None:
    before = snapshot(vault.directory)
    wrong = (
        make_credentials(password=OTHER_PASSWORD) if which == "password" else make_credentials(kem_seed=OTHER_KEM_SEED)
    )
    with pytest.raises(WrongPassphraseOrKey):
        Vault.open(vault.directory, wrong)
    assert snapshot(vault.directory) == before


def test_a_file_from_another_vault_or_salt_is_refused(vault: Vault, tmp_path: Path, creds: Credentials) -> None:
    stray = tmp_path / "stray.json"
    create_key_file(stray, classical_key(7), creds)  # same factors, its own salt
    ref = KeyRef(classical_key(7).address, KeyAlgorithm.SECP256K1, 0)
    vault.path_for(ref).write_bytes(stray.read_bytes())
    with pytest.raises(MalformedKeyFile, match="foreign or stale"):
        vault.load(ref)
    with pytest.raises(MalformedKeyFile):
        vault.unlock_all()


def test_a_renamed_file_is_refused(vault: Vault) -> None:
    source = vault.path_for(KeyRef(classical_key(0).address, KeyAlgorithm.MLDSA87, 1))
    target = KeyRef(classical_key(0).address, KeyAlgorithm.MLDSA87, 5)  # a "newer generation"
    vault.path_for(target).write_bytes(source.read_bytes())
    with pytest.raises(MalformedKeyFile, match="renamed or moved"):
        vault.load(target)


def test_put_is_durable_group_committed_and_can_refuse_overwrite(vault: Vault) -> None:
    before = _fs.SYNC_STATS.snapshot()
    vault.put([KeyToStore(classical_key(i)) for i in range(10, 20)])
    syncs = _fs.SYNC_STATS.snapshot().since(before)
    assert syncs.total <= 3  # one group commit for ten files, not ten fsyncs
    with pytest.raises(KeyExists):
        vault.put([KeyToStore(classical_key(10))], overwrite=False)
    assert (
        oct(os.stat(vault.path_for(KeyRef(classical_key(10).address, KeyAlgorithm.SECP256K1))).st_mode & 0o777)
        == "0o600"
    )


def test_erase_wipes_the_file_and_leftover_copies(vault: Vault) -> None:
    ref = KeyRef(classical_key(2).address, KeyAlgorithm.SECP256K1, 0)
    path = vault.path_for(ref)
    leftover = vault.directory / f".{path.name}.999.0.tmp"
    leftover.write_bytes(path.read_bytes())
    assert leftover.name in vault.inventory().leftovers
    assert vault.erase([ref]) == 2
    assert not path.exists() and not leftover.exists()
    assert vault.erase([ref]) == 0  # idempotent
    with pytest.raises(KeyNotFound):
        vault.load(ref)
    assert len(vault.unlock_all()) == 5


def test_a_zeroed_file_reads_as_an_interrupted_erasure(vault: Vault) -> None:
    ref = KeyRef(classical_key(0).address, KeyAlgorithm.SECP256K1, 0)
    path = vault.path_for(ref)
    path.write_bytes(bytes(len(path.read_bytes())))
    with pytest.raises(KeyNotFound, match="interrupted erasure"):
        vault.load(ref)


def test_inventory_and_leftover_wiping(vault: Vault) -> None:
    (vault.directory / "notes.txt").write_text("hello")
    (vault.directory / ".vault.json.1.2.tmp").write_bytes(b"partial")
    inventory = vault.inventory()
    assert len(inventory.keys) == 6 and inventory.unrecognised == ("notes.txt",)
    assert vault.wipe_leftovers() == 1 and vault.inventory().leftovers == ()
    assert (vault.directory / "notes.txt").exists()


def test_an_unfinished_rotation_blocks_normal_use(vault: Vault, creds: Credentials) -> None:
    (vault.directory / NEXT_MANIFEST_NAME).write_bytes(b"{}")
    with pytest.raises(RotationIncomplete):
        Vault.open(vault.directory, creds)


def test_create_refuses_existing_or_non_empty_directories(vault: Vault, tmp_path: Path, creds: Credentials) -> None:
    with pytest.raises(KeyExists):
        Vault.create(vault.directory, creds)
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "something").write_text("x")
    with pytest.raises(KeyExists):
        Vault.create(busy, creds)
    with pytest.raises(KeyNotFound, match="not a vault"):
        Vault.open(tmp_path / "nowhere", creds)


def test_the_kem_key_may_not_live_with_the_keys(tmp_path: Path) -> None:
    directory = tmp_path / "vault"
    inside = make_credentials(path=directory / "kem.json")
    with pytest.raises(ConfigError, match="kept with the key files"):
        Vault.create(directory, inside)
    below = make_credentials(path=directory / "sub" / "kem.json")
    with pytest.raises(ConfigError):
        Vault.create(directory, below)
    apart = make_credentials(path=tmp_path / "secrets" / "kem.json")
    Vault.create(directory, apart)
    with pytest.raises(ConfigError):
        Vault.open(directory, inside)


def test_public_api() -> None:
    for name in chainplug.keystore.__all__:
        assert getattr(chainplug.keystore, name) is not None, name
    assert {"Vault", "Credentials", "Passphrase", "KemKey", "KdfPolicy", "decrypt_v3"} <= set(
        chainplug.keystore.__all__
    )
    assert all(label.startswith("keystore.") for label in chainplug.keystore.CRASH_POINTS)
