"""Every single flipped byte of a real key file, of a vault key file and of a vault manifest is
refused with a keystore error, through the real open path (read from disk, parse, KEM, HKDF, GCM,
public-key check) — and the refused open writes nothing. The password key is derived once and
cached by the Passphrase, so the walk stays fast without skipping any step of opening."""

import os
from pathlib import Path

import pytest

from chainplug.cli.main import main
from chainplug.errors import KeystoreError
from chainplug.keystore import KeyToStore, Vault, create_key_file, open_key_file
from chainplug.keystore.vault import MANIFEST_NAME

from .conftest import TEST_ITERATIONS, classical_key, make_credentials, pqc_key, snapshot

MASKS = (0x01, 0x20, 0x80)
"""0x01 turns a hex digit into another valid digit (the AEAD must catch it), 0x20 flips letter
case (the canonical form must catch it), 0x80 leaves ASCII."""


def _walk(path: Path, attempt: object) -> dict[str, int]:
    """Flip each byte of ``path`` with each mask, call ``attempt()``; every attempt must raise a
    KeystoreError and leave the directory exactly as the test left it. Returns error counts."""
    original = path.read_bytes()
    others = {k: v for k, v in snapshot(path.parent).items() if k != path.name}
    outcomes: dict[str, int] = {}
    accepted: list[tuple[int, int]] = []
    fd = os.open(path, os.O_RDWR)  # flip in place: one pwrite per attempt, no truncate/rewrite
    try:
        for index in range(len(original)):
            for mask in MASKS:
                os.pwrite(fd, bytes([original[index] ^ mask]), index)
                try:
                    attempt()  # type: ignore[operator]
                except KeystoreError as exc:
                    outcomes[type(exc).__name__] = outcomes.get(type(exc).__name__, 0) + 1
                else:
                    accepted.append((index, mask))
                after = os.pread(fd, len(original) + 1, 0)
                assert after[index] == original[index] ^ mask and len(after) == len(original), f"rewritten at {index}"
            os.pwrite(fd, original[index : index + 1], index)
    finally:
        os.close(fd)
        path.write_bytes(original)
    assert not accepted, f"flipped bytes were accepted at (index, mask) {accepted[:10]}"
    assert {k: v for k, v in snapshot(path.parent).items() if k != path.name} == others
    assert sum(outcomes.values()) == len(original) * len(MASKS)
    return outcomes


def test_every_flipped_byte_of_a_single_key_file_is_refused(tmp_path: Path) -> None:
    creds = make_credentials()
    path = tmp_path / "key.json"
    create_key_file(path, classical_key(), creds)
    open_key_file(path, creds).destroy()  # the intact file opens
    outcomes = _walk(path, lambda: open_key_file(path, creds))
    # Both defences are exercised: structure/canonical form, and authenticated decryption.
    assert outcomes.get("MalformedKeyFile", 0) > 0 and outcomes.get("WrongPassphraseOrKey", 0) > 0
    assert creds.passphrase.derivations < 100  # cached: only flipped salts/iterations derive again


@pytest.mark.one_backend
def test_every_flipped_byte_of_a_vault_key_file_and_manifest_is_refused(tmp_path: Path) -> None:
    creds = make_credentials()
    vault = Vault.create(tmp_path / "vault", creds)
    account = classical_key()
    item = KeyToStore(pqc_key(), address=account.address, classical_public_key=account.public_key_bytes, generation=2)
    (ref,) = vault.put([item])
    outcomes = _walk(vault.path_for(ref), lambda: vault.load(ref))
    assert outcomes.get("WrongPassphraseOrKey", 0) > 0
    _walk(vault.directory / MANIFEST_NAME, lambda: Vault.open(vault.directory, creds))


def _tree(root: Path) -> dict[str, bytes]:
    return {k: v for k, v in snapshot(root).items() if not k.endswith("vault.lock")}


@pytest.mark.one_backend
def test_cli_exits_2_on_flipped_bytes_wrong_password_and_wrong_kem_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "pw").write_text("correct hörse battery staple\n")
    (secrets / "wrong").write_text("not it\n")
    kem, other_kem = secrets / "kem.json", secrets / "kem2.json"
    creds = make_credentials()
    creds.kem_key.save(kem)
    make_credentials(kem_seed=bytes(64)).kem_key.save(other_kem)
    data = tmp_path / "data"
    data.mkdir()
    path = data / "key.json"
    create_key_file(path, classical_key(), creds)
    base = ["keystore", "check", str(path), "--insecure-kdf-iterations", str(TEST_ITERATIONS)]
    ok = [*base, "--kem-key", str(kem), "--password-file", str(secrets / "pw")]
    assert main(ok) == 0
    before = _tree(tmp_path)

    assert main([*base, "--kem-key", str(kem), "--password-file", str(secrets / "wrong")]) == 2
    assert main([*base, "--kem-key", str(other_kem), "--password-file", str(secrets / "pw")]) == 2
    assert main([*base[:3], "--kem-key", str(kem), "--password-file", str(secrets / "pw")]) == 2  # weak KDF
    assert _tree(tmp_path) == before

    original = path.read_bytes()
    for index in range(0, len(original), 37):
        mutated = bytearray(original)
        mutated[index] ^= 0x01
        path.write_bytes(mutated)
        assert main(ok) == 2, f"byte {index}"
    path.write_bytes(original)
    assert _tree(tmp_path) == before
    err = capsys.readouterr().err
    assert "WrongPassphraseOrKey (wrong-password-or-key)" in err and "MalformedKeyFile" in err
    assert "Traceback" not in err
