"""KEM key files: private mode, never overwritten, checked on load, kept apart from the keys."""

import json
import os
import stat
from pathlib import Path

import pytest

from chainplug.errors import ConfigError, KeyExists, MalformedKeyFile
from chainplug.keystore import KemKey, _codec, check_kept_apart
from chainplug.keystore.kem import kem_key_id

from .conftest import KEM_SEED


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    key = KemKey.from_seed(KEM_SEED)
    path = tmp_path / "kem.json"
    key.save(path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    loaded = KemKey.load(path)
    assert loaded.key_id == key.key_id == kem_key_id(key.encapsulation_key_bytes)
    assert loaded.path == path
    assert KEM_SEED.hex() not in repr(loaded)
    with pytest.raises(KeyExists):
        KemKey.generate().save(path)
    assert KemKey.load(path).key_id == key.key_id


def test_generated_keys_differ() -> None:
    assert KemKey.generate().key_id != KemKey.generate().key_id


@pytest.mark.parametrize(
    "edit",
    [
        lambda d: d.update(key_id="00" * 32),  # seed and id disagree
        lambda d: d.update(seed=d["seed"][:-2]),
        lambda d: d.update(algorithm="ml-kem-768"),
        lambda d: d.update(version=2),
        lambda d: d.update(extra=True),
    ],
)
def test_bad_kem_key_files_are_refused(tmp_path: Path, edit: object) -> None:
    path = tmp_path / "kem.json"
    document = json.loads(KemKey.from_seed(KEM_SEED).encode())
    edit(document)  # type: ignore[operator]
    path.write_bytes(_codec.canonical_file(document))
    with pytest.raises(MalformedKeyFile):
        KemKey.load(path)


def test_non_canonical_kem_key_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "kem.json"
    path.write_text(json.dumps(json.loads(KemKey.from_seed(KEM_SEED).encode()), indent=1))
    with pytest.raises(MalformedKeyFile):
        KemKey.load(path)


def test_a_readable_kem_key_file_is_loaded_with_a_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "kem.json"
    KemKey.from_seed(KEM_SEED).save(path)
    path.chmod(0o644)
    KemKey.load(path)
    assert "accessible to other users" in caplog.text


def test_kept_apart(tmp_path: Path) -> None:
    key = KemKey.from_seed(KEM_SEED)
    check_kept_apart(key, tmp_path)  # in memory only: nothing to check
    key.path = tmp_path / "keys" / "kem.json"
    with pytest.raises(ConfigError):
        check_kept_apart(key, tmp_path / "keys")
    with pytest.raises(ConfigError):
        check_kept_apart(key, tmp_path)
    check_kept_apart(key, tmp_path / "other")
