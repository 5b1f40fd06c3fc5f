"""Ethereum V3 import: eth-account is the oracle; bounds on what an untrusted file may ask for."""

import json
from typing import Any

import Crypto.Protocol.KDF
import pytest
from eth_account import Account

from chainplug.errors import MalformedKeyFile, PublicKeyMismatch, Reason, WeakKdfParameters, WrongPassphraseOrKey
from chainplug.keystore import decrypt_v3, ethv3

SECRET = bytes.fromhex("a1" * 32)


def _v3(kdf: str = "scrypt", **kwargs: Any) -> dict[str, Any]:
    iterations = 2**4 if kdf == "scrypt" else 1000
    return Account.encrypt("0x" + SECRET.hex(), "v3 password", kdf=kdf, iterations=iterations, **kwargs)  # type: ignore[no-any-return]


@pytest.mark.parametrize("kdf", ["scrypt", "pbkdf2"])
def test_imports_what_eth_account_writes(kdf: str) -> None:
    document = _v3(kdf)
    key = decrypt_v3(json.dumps(document).encode(), b"v3 password")
    assert key.secret_bytes() == SECRET == bytes(Account.decrypt(document, "v3 password"))
    assert key.address.hex() == document["address"].lower()


def test_capitalised_crypto_and_missing_address_are_accepted() -> None:
    document = _v3()
    document["Crypto"] = document.pop("crypto")
    del document["address"]
    assert decrypt_v3(json.dumps(document).encode(), b"v3 password").secret_bytes() == SECRET


def test_wrong_password_is_refused() -> None:
    with pytest.raises(WrongPassphraseOrKey, match="V3"):
        decrypt_v3(json.dumps(_v3()).encode(), b"not it")


def test_a_key_that_does_not_match_the_recorded_address_is_refused() -> None:
    document = _v3()
    document["address"] = "11" * 20
    with pytest.raises(PublicKeyMismatch, match="address"):
        decrypt_v3(json.dumps(document).encode(), b"v3 password")


@pytest.mark.parametrize("field", ["ciphertext", "mac"])
def test_tampering_fails_the_mac(field: str) -> None:
    document = _v3()
    value = document["crypto"][field]
    document["crypto"][field] = ("0" if value[0] != "0" else "1") + value[1:]
    with pytest.raises(WrongPassphraseOrKey):
        decrypt_v3(json.dumps(document).encode(), b"v3 password")


@pytest.mark.parametrize(
    ("edit", "error"),
    [
        (lambda c: c["kdfparams"].update(n=2**30), WeakKdfParameters),  # 128 GiB of scrypt memory
        (lambda c: c["kdfparams"].update(n=3000), WeakKdfParameters),  # not a power of two
        (lambda c: c["kdfparams"].update(p=1000), MalformedKeyFile),
        (lambda c: c["kdfparams"].update(dklen=16), MalformedKeyFile),
        (lambda c: c.update(kdf="argon2"), MalformedKeyFile),
        (lambda c: c.update(cipher="aes-128-cbc"), MalformedKeyFile),
        (lambda c: c["cipherparams"].update(iv="00"), MalformedKeyFile),
    ],
)
def test_unsafe_or_unknown_parameters_are_refused_before_any_work(
    edit: Any, error: type, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_kdf(*args: object, **kwargs: object) -> None:
        raise AssertionError("the KDF ran on parameters that should have been refused")

    monkeypatch.setattr(Crypto.Protocol.KDF, "scrypt", no_kdf)
    monkeypatch.setattr(ethv3, "PBKDF2HMAC", no_kdf)
    document = _v3()
    edit(document["crypto"])
    with pytest.raises(error):
        decrypt_v3(json.dumps(document).encode(), b"v3 password")


def test_pbkdf2_bounds() -> None:
    document = _v3("pbkdf2")
    document["crypto"]["kdfparams"]["c"] = 10**9
    with pytest.raises(MalformedKeyFile):
        decrypt_v3(json.dumps(document).encode(), b"v3 password")
    document["crypto"]["kdfparams"].update(c=1000, prf="hmac-sha512")
    with pytest.raises(MalformedKeyFile):
        decrypt_v3(json.dumps(document).encode(), b"v3 password")


def test_other_versions_and_garbage() -> None:
    document = _v3()
    document["version"] = 4
    with pytest.raises(MalformedKeyFile) as info:
        decrypt_v3(json.dumps(document).encode(), b"v3 password")
    assert info.value.reason is Reason.UNSUPPORTED_VERSION
    for raw in (b"", b"[]", b"{}", b'{"version": 3}', bytes(range(256))):
        with pytest.raises(MalformedKeyFile):
            decrypt_v3(raw, b"v3 password")
