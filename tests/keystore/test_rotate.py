"""Password and KEM-key rotation: every key re-sealed, nothing changed on failure, resumable."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from chainplug import _fs
from chainplug.errors import ConfigError, MalformedKeyFile, RotationIncomplete, WrongPassphraseOrKey
from chainplug.keystore import (
    Credentials,
    KeyToStore,
    Vault,
    create_key_file,
    open_key,
    open_key_file,
    read_key_file,
    rotate_kem_key,
    rotate_password,
)
from chainplug.keystore.rotate import RESEAL_BATCH
from chainplug.keystore.vault import NEXT_MANIFEST_NAME

from .conftest import OTHER_KEM_SEED, OTHER_PASSWORD, classical_key, make_credentials, snapshot


class Crash(BaseException):
    """Stands in for SIGKILL in-process (test_crash.py does the real thing)."""


@pytest.fixture
def crash_at() -> Iterator[object]:
    def install(label: str, nth: int = 1) -> None:
        hits = [0]

        def hook(seen: str) -> bool:
            if seen == label:
                hits[0] += 1
            return seen == label and hits[0] == nth

        def die() -> None:
            raise Crash

        _fs.set_crash_hook(hook, die)

    yield install
    _fs.set_crash_hook(None)


@pytest.fixture
def vault_dir(tmp_path: Path, creds: Credentials) -> Path:
    vault = Vault.create(tmp_path / "vault", creds)
    vault.put([KeyToStore(classical_key(i)) for i in range(5)])
    return vault.directory


def _all_open_with(directory: Path, creds: Credentials) -> int:
    keys = Vault.open(directory, creds).unlock_all()
    assert sorted(k.classical().secret_bytes() for k in keys) == sorted(
        classical_key(i).secret_bytes() for i in range(5)
    )
    return len(keys)


def test_password_rotation_of_a_vault(vault_dir: Path, creds: Credentials) -> None:
    new = Credentials(make_credentials(password=OTHER_PASSWORD).passphrase, creds.kem_key)
    old_salt = Vault.open(vault_dir, make_credentials()).kdf.salt
    report = rotate_password(vault_dir, creds, new)
    assert (report.resealed, report.already_done, report.resumed) == (5, 0, False)
    assert _all_open_with(vault_dir, new) == 5
    assert Vault.open(vault_dir, new).kdf.salt != old_salt
    with pytest.raises(WrongPassphraseOrKey):
        Vault.open(vault_dir, make_credentials())
    assert not (vault_dir / NEXT_MANIFEST_NAME).exists()


def test_kem_key_rotation_of_a_vault(vault_dir: Path, creds: Credentials) -> None:
    new = make_credentials(kem_seed=OTHER_KEM_SEED)
    report = rotate_kem_key(vault_dir, creds, new)
    assert report.resealed == 5
    assert _all_open_with(vault_dir, new) == 5
    with pytest.raises(WrongPassphraseOrKey, match="KEM key"):
        Vault.open(vault_dir, make_credentials())


def test_a_wrong_old_password_changes_nothing(vault_dir: Path, creds: Credentials) -> None:
    before = snapshot(vault_dir)
    wrong = Credentials(make_credentials(password="nope").passphrase, creds.kem_key)
    with pytest.raises(WrongPassphraseOrKey):
        rotate_password(vault_dir, wrong, make_credentials(password=OTHER_PASSWORD))
    assert snapshot(vault_dir) == before


def test_one_bad_file_stops_the_rotation_before_any_write(vault_dir: Path, creds: Credentials) -> None:
    victim = sorted(vault_dir.glob("0x*.json"))[3]
    raw = bytearray(victim.read_bytes())
    raw[20] ^= 0x01
    victim.write_bytes(raw)
    before = snapshot(vault_dir)
    with pytest.raises((WrongPassphraseOrKey, MalformedKeyFile)):
        rotate_password(
            vault_dir, creds, Credentials(make_credentials(password=OTHER_PASSWORD).passphrase, creds.kem_key)
        )
    assert snapshot(vault_dir) == before


def test_rotation_parameters_are_checked(vault_dir: Path, creds: Credentials) -> None:
    with pytest.raises(ConfigError):
        rotate_password(vault_dir, creds, make_credentials(password=OTHER_PASSWORD, kem_seed=OTHER_KEM_SEED))
    with pytest.raises(ConfigError):
        rotate_kem_key(vault_dir, creds, make_credentials())


@pytest.mark.parametrize(
    ("label", "nth"),
    [
        ("keystore.rotate.next.rename", 1),
        ("keystore.rotate.reseal.rename", 3),
        ("keystore.rotate.reseal.dir_sync", 1),
        ("keystore.rotate.commit.rename", 1),
        ("keystore.rotate.cleanup.unlink", 1),
    ],
)
def test_an_interrupted_password_rotation_resumes(
    vault_dir: Path, creds: Credentials, crash_at: object, label: str, nth: int
) -> None:
    new = Credentials(make_credentials(password=OTHER_PASSWORD).passphrase, creds.kem_key)
    crash_at(label, nth)  # type: ignore[operator]
    with pytest.raises(Crash):
        rotate_password(vault_dir, creds, new)
    _fs.set_crash_hook(None)
    for path in vault_dir.glob("0x*.json"):  # every key opens with the old or the new password
        sealed = read_key_file(path)
        try:
            open_key(sealed, make_credentials()).destroy()
        except WrongPassphraseOrKey:
            open_key(sealed, Credentials(make_credentials(password=OTHER_PASSWORD).passphrase, creds.kem_key)).destroy()
    if label == "keystore.rotate.next.rename":  # died before the rotation began: nothing to resume
        assert _all_open_with(vault_dir, make_credentials()) == 5
    elif label.startswith("keystore.rotate.reseal"):
        with pytest.raises(RotationIncomplete):
            Vault.open(vault_dir, new)
    report = rotate_password(vault_dir, make_credentials(), new)
    assert report.resumed is (label != "keystore.rotate.next.rename")
    assert _all_open_with(vault_dir, make_credentials(password=OTHER_PASSWORD)) == 5
    assert not (vault_dir / NEXT_MANIFEST_NAME).exists()


def test_resuming_with_a_different_new_password_is_refused(
    vault_dir: Path, creds: Credentials, crash_at: object
) -> None:
    new = Credentials(make_credentials(password=OTHER_PASSWORD).passphrase, creds.kem_key)
    crash_at("keystore.rotate.reseal.rename", 2)  # type: ignore[operator]
    with pytest.raises(Crash):
        rotate_password(vault_dir, creds, new)
    _fs.set_crash_hook(None)
    with pytest.raises(WrongPassphraseOrKey):
        rotate_password(vault_dir, make_credentials(), make_credentials(password="a third one"))
    with pytest.raises(ConfigError, match="password rotation"):
        rotate_kem_key(vault_dir, make_credentials(), make_credentials(kem_seed=OTHER_KEM_SEED))


def test_an_interrupted_kem_rotation_resumes(vault_dir: Path, creds: Credentials, crash_at: object) -> None:
    new = make_credentials(kem_seed=OTHER_KEM_SEED)
    crash_at("keystore.rotate.reseal.rename", 2)  # type: ignore[operator]
    with pytest.raises(Crash):
        rotate_kem_key(vault_dir, creds, new)
    _fs.set_crash_hook(None)
    report = rotate_kem_key(vault_dir, make_credentials(), make_credentials(kem_seed=OTHER_KEM_SEED))
    assert report.resumed and report.resealed + report.already_done == 5
    assert _all_open_with(vault_dir, make_credentials(kem_seed=OTHER_KEM_SEED)) == 5


def test_a_pre_rotation_backup_is_refused_after_rotation(vault_dir: Path, creds: Credentials) -> None:
    path = sorted(vault_dir.glob("0x*.json"))[0]
    backup = path.read_bytes()
    rotate_password(vault_dir, creds, Credentials(make_credentials(password=OTHER_PASSWORD).passphrase, creds.kem_key))
    path.write_bytes(backup)  # restored from an old backup: opens with the old password only
    with pytest.raises(MalformedKeyFile, match="foreign or stale"):
        Vault.open(vault_dir, make_credentials(password=OTHER_PASSWORD)).unlock_all()


def test_large_vaults_reseal_in_batches(tmp_path: Path, creds: Credentials) -> None:
    vault = Vault.create(tmp_path / "big", creds)
    vault.put([KeyToStore(classical_key(i)) for i in range(RESEAL_BATCH + 3)])
    progress: list[tuple[int, int]] = []
    new = Credentials(make_credentials(password=OTHER_PASSWORD).passphrase, creds.kem_key)
    rotate_password(vault.directory, creds, new, progress=lambda d, t: progress.append((d, t)))
    assert progress[-1] == (2 * (RESEAL_BATCH + 3), 2 * (RESEAL_BATCH + 3))
    assert len(Vault.open(vault.directory, make_credentials(password=OTHER_PASSWORD)).unlock_all()) == RESEAL_BATCH + 3


def test_single_file_rotations(tmp_path: Path, creds: Credentials) -> None:
    path = tmp_path / "key.json"
    create_key_file(path, classical_key(), creds)
    new_password = Credentials(make_credentials(password=OTHER_PASSWORD).passphrase, creds.kem_key)
    assert rotate_password(path, creds, new_password).resealed == 1
    assert rotate_password(path, make_credentials(), new_password).already_done == 1  # re-run: verified, kept
    both_new = make_credentials(password=OTHER_PASSWORD, kem_seed=OTHER_KEM_SEED)
    assert rotate_kem_key(path, make_credentials(password=OTHER_PASSWORD), both_new).resealed == 1
    assert open_key_file(path, both_new).classical().secret_bytes() == classical_key().secret_bytes()
    before = snapshot(tmp_path)
    with pytest.raises(WrongPassphraseOrKey):
        rotate_password(path, make_credentials(), make_credentials(password="x"))
    assert snapshot(tmp_path) == before


def test_a_vault_opened_before_a_rotation_refuses_to_add_keys(vault_dir: Path, creds: Credentials) -> None:
    stale = Vault.open(vault_dir, make_credentials())
    rotate_password(vault_dir, creds, Credentials(make_credentials(password=OTHER_PASSWORD).passphrase, creds.kem_key))
    before = snapshot(vault_dir)
    with pytest.raises(RotationIncomplete, match="open it again"):
        stale.put([KeyToStore(classical_key(9))])
    assert snapshot(vault_dir) == before
