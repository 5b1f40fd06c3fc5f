"""No password or key material in logs, error messages, reprs or tracebacks.

Runs failing and succeeding operations through the API and the CLI with every logger at DEBUG,
collects everything a person or a log shipper could see — log records, stdout, stderr, every
exception's full formatted traceback (causes and contexts included) and the reprs of the objects
involved — and searches it for each secret in the encodings it might leak in.
"""

import hashlib
import json
import logging
import traceback
from pathlib import Path

import pytest
from eth_account import Account

from chainplug.cli.main import main
from chainplug.errors import ChainplugError
from chainplug.keystore import (
    Credentials,
    KdfParams,
    KeyToStore,
    Vault,
    create_key_file,
    decrypt_v3,
    open_key_file,
    rotate_password,
)

from .conftest import KEM_SEED, OTHER_PASSWORD, PASSWORD, TEST_ITERATIONS, classical_key, make_credentials, pqc_key

V3_PASSWORD = "v3-séçret-pässword"


def _needles(vault: Vault) -> dict[str, str]:
    classical, pqc = classical_key().secret_bytes(), pqc_key().seed_bytes()
    password_key = hashlib.pbkdf2_hmac("sha3_256", PASSWORD.encode(), vault.kdf.salt, vault.kdf.iterations)
    needles = {}
    for name, value in {
        "classical": classical,
        "pqc seed": pqc,
        "kem seed": KEM_SEED,
        "password key": password_key,
        "password": PASSWORD.encode(),
        "other password": OTHER_PASSWORD.encode(),
        "v3 password": V3_PASSWORD.encode(),
    }.items():
        needles[f"{name} (hex)"] = value.hex()
        needles[f"{name} (repr)"] = repr(value)[2:-1][:24]
    for name, text in {"password": PASSWORD, "other password": OTHER_PASSWORD, "v3 password": V3_PASSWORD}.items():
        needles[f"{name} (text)"] = text
    return needles


def test_nothing_secret_is_logged_printed_or_traced(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG)
    seen: list[str] = []

    def attempt(action: object) -> None:
        try:
            action()  # type: ignore[operator]
        except ChainplugError as exc:
            seen.append("".join(traceback.format_exception(exc)))
            seen.append(repr(exc) + str(exc.to_json()))

    secrets = tmp_path / "secrets"
    secrets.mkdir()
    kem_path = secrets / "kem.json"
    creds = make_credentials(path=kem_path)
    creds.kem_key.save(kem_path)
    vault = Vault.create(tmp_path / "vault", creds)
    account = classical_key()
    vault.put([KeyToStore(account), KeyToStore(pqc_key(), address=account.address, generation=1)])
    files = tmp_path / "files"
    files.mkdir()
    single = files / "single.json"
    create_key_file(single, classical_key(), creds)
    wrong = make_credentials(password=OTHER_PASSWORD)

    # API: failures of every kind, then successes, with the objects' reprs
    attempt(lambda: Vault.open(vault.directory, wrong))
    attempt(lambda: open_key_file(single, wrong))
    attempt(lambda: open_key_file(single, make_credentials(kem_seed=bytes(64))))
    tampered = bytearray(single.read_bytes())
    tampered[10] ^= 1
    (files / "tampered.json").write_bytes(tampered)
    attempt(lambda: open_key_file(files / "tampered.json", creds))
    attempt(lambda: rotate_password(vault.directory, wrong, make_credentials(password="x")))
    v3 = Account.encrypt("0x" + classical_key().secret_bytes().hex(), V3_PASSWORD, kdf="pbkdf2", iterations=1000)
    attempt(lambda: decrypt_v3(json.dumps(v3).encode(), b"wrong"))
    v3_bad_address = {**v3, "address": "22" * 20}
    attempt(lambda: decrypt_v3(json.dumps(v3_bad_address).encode(), V3_PASSWORD.encode()))
    attempt(lambda: decrypt_v3(V3_PASSWORD.encode() + b"\xff{", b"x"))  # garbage that is itself a secret
    keys = Vault.open(vault.directory, make_credentials()).unlock_all()
    seen += [repr(keys), repr(creds), repr(creds.kem_key), repr(creds.passphrase), repr(vault.kdf), repr(KdfParams)]
    seen.append(repr(keys[0].private_key))

    # CLI: the same through main(), capturing stdout and stderr
    (secrets / "pw").write_text(PASSWORD + "\n")
    (secrets / "wrong").write_text(OTHER_PASSWORD + "\n")
    (secrets / "v3pw").write_text(V3_PASSWORD)
    (tmp_path / "v3.json").write_text(json.dumps(v3))
    low = ["--insecure-kdf-iterations", str(TEST_ITERATIONS), "--kem-key", str(kem_path)]
    for argv in (
        ["keystore", "check", str(vault.directory), "--password-file", str(secrets / "wrong"), *low],
        ["keystore", "check", str(files / "tampered.json"), "--password-file", str(secrets / "pw"), *low],
        ["keystore", "check", str(vault.directory), "--password-file", str(secrets / "pw"), *low, "--json"],
        ["account", "import", str(tmp_path / "v3.json"), "--out", str(files / "imp.json"),
         "--password-file", str(secrets / "pw"), "--v3-password-file", str(secrets / "wrong"), *low],
        ["account", "import", str(tmp_path / "v3.json"), "--out", str(files / "imp.json"),
         "--password-file", str(secrets / "pw"), "--v3-password-file", str(secrets / "v3pw"), *low, "--json"],
        ["account", "export-public", "--keystore", str(vault.directory), "--password-file", str(secrets / "pw"), *low],
        ["keystore", "create-kem-key", "--out", str(secrets / "kem2.json"), "--json"],
    ):  # fmt: skip
        main(argv)
    captured = capsys.readouterr()
    seen += [captured.out, captured.err, caplog.text]

    haystack = "\n".join(seen)
    for error in ("WrongPassphraseOrKey", "PublicKeyMismatch", "MalformedKeyFile"):
        assert error in haystack  # the failures did happen
    leaks = [name for name, needle in _needles(vault).items() if needle in haystack]
    assert not leaks, f"secret material visible: {leaks}"
    new_kem = json.loads((secrets / "kem2.json").read_text())["seed"]
    assert new_kem not in haystack


def test_credentials_repr_hides_the_password() -> None:
    creds: Credentials = make_credentials()
    assert PASSWORD not in repr(creds) and KEM_SEED.hex() not in repr(creds)
