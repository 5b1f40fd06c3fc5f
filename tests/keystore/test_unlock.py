"""The vault's bulk unlock loop (chainplug/keystore/_unlock.py) against the general path, one
``Vault.load`` per key: the same keys in the same order, and on any modified file the same error
with the same message — through ``unlock_all`` and ``open_and_unlock`` in one thread and in two."""

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chainplug.errors import (
    KeystoreError,
    MalformedKeyFile,
    RotationIncomplete,
    WeakKdfParameters,
    WrongPassphraseOrKey,
)
from chainplug.keystore import (
    Credentials,
    KdfPolicy,
    KeyAlgorithm,
    KeyToStore,
    Passphrase,
    SealedKeyFile,
    UnlockedKey,
    Vault,
    _codec,
)
from chainplug.keystore._unlock import BulkUnlock, key_names
from chainplug.keystore.seal import secret_of
from chainplug.keystore.vault import _KEY_NAME, NEXT_MANIFEST_NAME, KeyRef

from .conftest import OTHER_PASSWORD, TEST_ITERATIONS, classical_key, edit_randomly, make_credentials, pqc_key, snapshot

Unlock = Callable[[Path, Credentials], list[UnlockedKey]]
MODES: dict[str, Unlock] = {
    "unlock_all": lambda d, c: Vault.open(d, c).unlock_all(),
    "1-thread": lambda d, c: Vault.open_and_unlock(d, c, threads=1)[1],
    "2-threads": lambda d, c: Vault.open_and_unlock(d, c, threads=2)[1],
}


def _general(directory: Path, creds: Credentials) -> list[UnlockedKey]:
    vault = Vault.open(directory, creds)
    return [vault.load(ref) for ref in vault.inventory().keys]


def _outcome(unlock: Unlock, directory: Path) -> object:
    """What an unlock gives: (header, secret) per key in order, or the error's type and message."""
    try:
        keys = unlock(directory, make_credentials())
    except KeystoreError as exc:
        return type(exc), str(exc)
    return [(key.header, secret_of(key.private_key)) for key in keys]


@pytest.fixture(scope="module")
def vault_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two classical keys, an ML-DSA-87 key recording the account's key, one that does not."""
    vault = Vault.create(tmp_path_factory.mktemp("bulk") / "vault", make_credentials())
    a, b = classical_key(1), classical_key(2)
    vault.put(
        [
            KeyToStore(a),
            KeyToStore(b),
            KeyToStore(pqc_key(1), address=a.address, classical_public_key=a.public_key_bytes, generation=1),
            KeyToStore(pqc_key(2), address=b.address, generation=12),  # sorts after generation 3 below
            KeyToStore(pqc_key(3), address=b.address, generation=3),
        ]
    )
    return vault.directory


@pytest.fixture
def restored(vault_dir: Path) -> Iterator[Path]:
    before = snapshot(vault_dir)
    yield vault_dir
    for name, data in before.items():
        (vault_dir / name).write_bytes(data)


def test_every_mode_gives_what_one_load_per_key_gives(vault_dir: Path) -> None:
    expected = _outcome(_general, vault_dir)
    assert isinstance(expected, list) and len(expected) == 5
    # inventory order: address, then algorithm ("ml-dsa-87" < "secp256k1"), then generation as a number
    assert [h.generation for h, _ in expected if h.address == classical_key(2).address] == [3, 12, 0]
    for unlock in MODES.values():
        assert _outcome(unlock, vault_dir) == expected
        reader = make_credentials()
        unlock(vault_dir, reader)
        assert reader.passphrase.derivations == 1


def test_names_are_listed_in_inventory_order(vault_dir: Path) -> None:
    fd = os.open(vault_dir, os.O_RDONLY | os.O_DIRECTORY)
    try:
        names = key_names(fd, _KEY_NAME)
    finally:
        os.close(fd)
    assert names == [ref.file_name for ref in Vault.open(vault_dir, make_credentials()).inventory().keys]


@pytest.mark.one_backend
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_a_modified_key_file_gives_the_general_paths_error(vault_dir: Path, data: st.DataObject) -> None:
    """Random edits to one key file: every mode raises what ``Vault.load`` raises (same type, same
    message) or, if the edit is harmless to the general path, returns what it returns. Where the
    bulk parser takes a modified file, the general parser must read it identically."""
    names = sorted(n for n in os.listdir(vault_dir) if _KEY_NAME.fullmatch(n))
    path = vault_dir / data.draw(st.sampled_from(names))
    original = path.read_bytes()
    raw = bytearray(original)
    edit_randomly(data, raw)
    path.write_bytes(bytes(raw))
    try:
        before = snapshot(vault_dir)
        expected = _outcome(_general, vault_dir)
        for unlock in MODES.values():
            assert _outcome(unlock, vault_dir) == expected
        assert snapshot(vault_dir) == before
        _check_parser_agrees(vault_dir, path.name, bytes(raw))
    finally:
        path.write_bytes(original)


def _check_parser_agrees(directory: Path, name: str, raw: bytes, vault: Vault | None = None) -> bool:
    """If the bulk parser takes ``raw`` (the file ``name`` now holds), the general path must read it
    the same way. Returns whether it took it."""
    vault = vault or Vault.open(directory, make_credentials())
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fast: Any = BulkUnlock(fd, [name], vault.kdf, vault.credentials.kem_key)._prepare(name)
    finally:
        os.close(fd)
    if fast is not None:
        general = SealedKeyFile.decode(raw)
        assert (fast.header, fast.ciphertext, fast.associated_data) == (
            general.header,
            general.ciphertext,
            general.associated_data,
        )
        ref = KeyRef.from_file_name(name)
        assert ref is not None and vault.read(ref) == general  # the name and KDF checks pass too
    return fast is not None


@pytest.mark.parametrize("algorithm", ["secp256k1", "ml-dsa-87"])
def test_the_bulk_parser_takes_a_flipped_byte_only_where_the_general_one_reads_the_same(
    restored: Path, algorithm: str
) -> None:
    """Every byte, every mask: what the bulk parser accepts, the general path reads identically
    (header, ciphertext, associated data, and the name and KDF checks). Everything else it leaves to
    the general path — above all a changed salt, iteration count, key id or name, which it compares
    rather than parses."""
    vault = Vault.open(restored, make_credentials())
    ref = next(r for r in vault.inventory().keys if r.algorithm == algorithm)
    path = vault.path_for(ref)
    original = path.read_bytes()
    accepted = 0
    fd = os.open(path, os.O_WRONLY)
    try:
        for index in range(len(original)):
            for mask in (0x01, 0x20, 0x80):
                flipped = original[:index] + bytes([original[index] ^ mask]) + original[index + 1 :]
                os.pwrite(fd, flipped[index : index + 1], index)
                accepted += _check_parser_agrees(restored, path.name, flipped, vault)
            os.pwrite(fd, original[index : index + 1], index)
    finally:
        os.close(fd)
    assert accepted > 0  # e.g. a hex digit turned into another one: left to AES-GCM


def test_a_header_whose_public_key_is_of_the_other_algorithm_is_left_to_the_general_path(restored: Path) -> None:
    vault = Vault.open(restored, make_credentials())
    ref = next(r for r in vault.inventory().keys if r.algorithm == "secp256k1")
    doc = json.loads(vault.path_for(ref).read_bytes())
    doc["header"]["algorithm"] = "ml-dsa-87"  # public_keys still holds only the secp256k1 key
    raw = _codec.canonical_file(doc)
    name = KeyRef(ref.address, KeyAlgorithm.MLDSA87, 0).file_name  # the name agrees with the header
    (restored / name).write_bytes(raw)
    try:
        assert not _check_parser_agrees(restored, name, raw, vault)
        with pytest.raises(MalformedKeyFile, match="public_keys"):
            SealedKeyFile.decode(raw)
        assert _error(vault.unlock_all) == _error(lambda: _general(restored, make_credentials()))
    finally:
        (restored / name).unlink()


def _error(attempt: Callable[[], object]) -> tuple[type, str]:
    try:
        attempt()
    except KeystoreError as exc:
        return type(exc), str(exc)
    raise AssertionError("a modified key file was accepted")


@pytest.mark.one_backend
def test_every_flipped_byte_of_a_classical_key_file_gives_the_general_paths_error(restored: Path) -> None:
    """test_bitflip.py walks a vault file through ``Vault.load``; this walks one through the bulk
    loop (one mask per byte, in turn, to keep it quick: the random edits above cover the rest)."""
    vault = Vault.open(restored, make_credentials())
    ref = next(r for r in vault.inventory().keys if r.algorithm == "secp256k1")
    original = vault.path_for(ref).read_bytes()
    masks = (0x01, 0x20, 0x80)
    fd = os.open(vault.path_for(ref), os.O_WRONLY)
    try:
        for index in range(len(original)):
            mask = masks[index % len(masks)]
            os.pwrite(fd, bytes([original[index] ^ mask]), index)
            assert _error(vault.unlock_all) == _error(lambda: vault.load(ref)), (index, mask)
            os.pwrite(fd, original[index : index + 1], index)
    finally:
        os.close(fd)


@pytest.mark.parametrize("mode", MODES)
def test_a_wrong_password_is_reported_before_any_bad_key_file(restored: Path, mode: str) -> None:
    name = sorted(n for n in os.listdir(restored) if _KEY_NAME.fullmatch(n))[2]
    (restored / name).write_bytes(b"{}\n")
    with pytest.raises(MalformedKeyFile):
        MODES[mode](restored, make_credentials())
    with pytest.raises(WrongPassphraseOrKey, match="cannot open vault"):
        MODES[mode](restored, make_credentials(password=OTHER_PASSWORD))


def test_a_weak_vault_is_refused_before_pbkdf2_and_an_unfinished_rotation_first(restored: Path) -> None:
    strict = Credentials(Passphrase("x", KdfPolicy.unsafe_for_testing(TEST_ITERATIONS + 1)), make_credentials().kem_key)
    for threads in (1, 2):
        with pytest.raises(WeakKdfParameters):
            Vault.open_and_unlock(restored, strict, threads=threads)
    assert strict.passphrase.derivations == 0
    (restored / NEXT_MANIFEST_NAME).write_bytes(b"{}")
    for threads in (1, 2):
        with pytest.raises(RotationIncomplete):
            Vault.open_and_unlock(restored, make_credentials(), threads=threads)
    (restored / NEXT_MANIFEST_NAME).unlink()


def _recorder(seen: list[tuple[int, int]]) -> Callable[[int, int], None]:
    return lambda done, total: seen.append((done, total))


def test_progress_and_thread_counts(vault_dir: Path) -> None:
    for threads in (None, 1, 2, 8):
        seen: list[tuple[int, int]] = []
        _, keys = Vault.open_and_unlock(vault_dir, make_credentials(), threads=threads, progress=_recorder(seen))
        assert len(keys) == 5 and seen == [(i, 5) for i in range(1, 6)]
    with pytest.raises(ValueError, match="at least 1"):
        Vault.open_and_unlock(vault_dir, make_credentials(), threads=0)
