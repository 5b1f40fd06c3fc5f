"""The cryptographic core: both factors needed, the header bound, public keys re-derived."""

import hashlib
import hmac
import json
import os

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from chainplug.constants import KEYSTORE_HKDF_INFO, KEYSTORE_PBKDF2_MIN_ITERATIONS
from chainplug.errors import ConfigError, MalformedKeyFile, PublicKeyMismatch, WeakKdfParameters, WrongPassphraseOrKey
from chainplug.keystore import (
    Credentials,
    KdfParams,
    KdfPolicy,
    KeyAlgorithm,
    Passphrase,
    SealedKeyFile,
    _codec,
    open_key,
    reseal,
    seal_key,
)
from chainplug.keystore.seal import derive_kek, open_manifest, seal_manifest

from .conftest import OTHER_KEM_SEED, OTHER_PASSWORD, POLICY, TEST_ITERATIONS, classical_key, make_credentials, pqc_key

KDF = KdfParams(TEST_ITERATIONS, bytes(32))


def _classical_file(creds: Credentials, **kwargs: object) -> SealedKeyFile:
    return seal_key(classical_key(), credentials=creds, kdf=KDF, **kwargs)  # type: ignore[arg-type]


def _pqc_file(creds: Credentials) -> SealedKeyFile:
    account = classical_key()
    return seal_key(
        pqc_key(),
        credentials=creds,
        kdf=KDF,
        address=account.address,
        classical_public_key=account.public_key_bytes,
        generation=4,
    )


def test_classical_round_trip(creds: Credentials) -> None:
    sealed = _classical_file(creds)
    unlocked = open_key(sealed, creds)
    assert unlocked.algorithm is KeyAlgorithm.SECP256K1 and unlocked.generation == 0
    assert unlocked.classical().secret_bytes() == classical_key().secret_bytes()
    assert unlocked.address == classical_key().address
    with pytest.raises(TypeError):
        unlocked.pqc()


def test_pqc_round_trip_binds_the_account(creds: Credentials) -> None:
    sealed = _pqc_file(creds)
    unlocked = open_key(sealed, creds)
    assert unlocked.pqc().seed_bytes() == pqc_key().seed_bytes()
    assert unlocked.header.account_public_key == classical_key().public_key_bytes
    assert unlocked.generation == 4


def test_wrong_password_and_wrong_kem_key_raise_the_same_error(creds: Credentials) -> None:
    sealed = _classical_file(creds)
    with pytest.raises(WrongPassphraseOrKey, match="wrong password, wrong KEM key, or the file was modified"):
        open_key(sealed, make_credentials(password=OTHER_PASSWORD))
    with pytest.raises(WrongPassphraseOrKey, match="wrong KEM key"):
        open_key(sealed, make_credentials(kem_seed=OTHER_KEM_SEED))


def _reencoded(sealed: SealedKeyFile, edit: object) -> SealedKeyFile:
    """A validly formatted file with one header value changed (the attacker re-encodes it)."""
    doc = json.loads(sealed.encode())
    edit(doc["header"])  # type: ignore[operator]
    return SealedKeyFile.decode(_codec.canonical_file(doc))


@pytest.mark.parametrize(
    "edit",
    [
        pytest.param(lambda h: h.update(generation=h["generation"] + 1), id="generation"),
        pytest.param(lambda h: h["cipher"].update(nonce="00" * 12), id="nonce"),
        pytest.param(lambda h: h["kdf"].update(salt="11" * 32), id="salt"),
        pytest.param(lambda h: h["kdf"].update(iterations=TEST_ITERATIONS + 1), id="iterations-up"),
        pytest.param(lambda h: h["kem"].update(ciphertext="22" * 1568), id="kem-ciphertext"),
    ],
)
def test_any_header_change_fails_authentication(creds: Credentials, edit: object) -> None:
    with pytest.raises(WrongPassphraseOrKey):
        open_key(_reencoded(_classical_file(creds), edit), creds)


def test_swapping_kem_ciphertexts_between_files_fails(creds: Credentials) -> None:
    a, b = _classical_file(creds), _classical_file(creds)
    swapped = _reencoded(a, lambda h: h["kem"].update(ciphertext=b.seal.kem_ciphertext.hex()))
    with pytest.raises(WrongPassphraseOrKey):
        open_key(swapped, creds)


def test_address_and_public_key_swap_to_another_account_fails(creds: Credentials) -> None:
    other = classical_key(9)
    swapped = _reencoded(
        _classical_file(creds),
        lambda h: h.update(address="0x" + other.address.hex(), public_keys={"secp256k1": other.public_key_bytes.hex()}),
    )
    with pytest.raises(WrongPassphraseOrKey):
        open_key(swapped, creds)


def test_fewer_iterations_than_the_minimum_are_refused_not_obeyed(creds: Credentials) -> None:
    weak = _classical_file(creds)  # 1,000 iterations
    production = Credentials(Passphrase("correct hörse battery staple"), creds.kem_key)
    with pytest.raises(WeakKdfParameters) as info:
        open_key(weak, production)
    assert "1000" in str(info.value) and str(KEYSTORE_PBKDF2_MIN_ITERATIONS) in str(info.value)
    assert production.passphrase.derivations == 0  # refused before any PBKDF2 ran


def test_absurd_iteration_counts_are_refused_too(creds: Credentials) -> None:
    huge = _reencoded(_classical_file(creds), lambda h: h["kdf"].update(iterations=2**32 - 1))
    reader = make_credentials()
    with pytest.raises(WeakKdfParameters):
        open_key(huge, reader)
    assert reader.passphrase.derivations == 0


def test_policy_cannot_be_weakened_without_saying_so() -> None:
    with pytest.raises(ConfigError):
        KdfPolicy(iterations=1000, min_iterations=1000)
    with pytest.raises(ConfigError):
        KdfPolicy(iterations=300_000, min_iterations=400_000)
    assert KdfPolicy().min_iterations == KEYSTORE_PBKDF2_MIN_ITERATIONS


def test_each_write_has_a_fresh_nonce_and_kem_ciphertext(creds: Credentials) -> None:
    files = [_classical_file(creds) for _ in range(5)]
    assert len({f.seal.nonce for f in files}) == 5
    assert len({f.seal.kem_ciphertext for f in files}) == 5
    assert len({f.ciphertext for f in files}) == 5


def test_reseal_keeps_identity_and_changes_everything_random(creds: Credentials) -> None:
    sealed = _pqc_file(creds)
    new = make_credentials(password=OTHER_PASSWORD)
    again = reseal(open_key(sealed, creds), credentials=new, kdf=KdfParams(TEST_ITERATIONS, os.urandom(32)))
    assert (again.header.address, again.header.generation, again.header.public_key) == (
        sealed.header.address,
        sealed.header.generation,
        sealed.header.public_key,
    )
    assert again.header.classical_public_key == sealed.header.classical_public_key
    assert again.seal.nonce != sealed.seal.nonce
    assert open_key(again, new).pqc().seed_bytes() == pqc_key().seed_bytes()


def test_a_sealed_key_that_does_not_match_its_header_is_refused(creds: Credentials) -> None:
    """Written by someone holding both factors, but the header names another key: refused."""
    sealed = _classical_file(creds)
    other = classical_key(5)
    forged_header = type(sealed.header)(
        other.address, KeyAlgorithm.SECP256K1, 0, other.public_key_bytes, None, sealed.seal
    )
    placeholder = SealedKeyFile(forged_header, bytes(48))
    ss = creds.kem_key.decapsulate(sealed.seal.kem_ciphertext)
    kek = derive_kek(creds.passphrase.key_for(KDF), ss, placeholder.associated_data)
    ciphertext = AESGCM(bytes(kek)).encrypt(
        sealed.seal.nonce, classical_key().secret_bytes(), placeholder.associated_data
    )
    with pytest.raises(PublicKeyMismatch):
        open_key(SealedKeyFile(forged_header, ciphertext), creds)


def test_an_ml_dsa_key_needs_an_address(creds: Credentials) -> None:
    with pytest.raises(MalformedKeyFile):
        seal_key(pqc_key(), credentials=creds, kdf=KDF)
    with pytest.raises(PublicKeyMismatch):
        seal_key(classical_key(), credentials=creds, kdf=KDF, address=classical_key(1).address)


def test_kek_is_hkdf_sha3_256_over_both_secrets_bound_to_the_header() -> None:
    """Known-answer check against RFC 5869 written out over hmac."""
    password_key, shared, ad = os.urandom(32), os.urandom(32), b'{"header":1}'
    prk = hmac.digest(bytes(32), password_key + shared, "sha3_256")
    info = KEYSTORE_HKDF_INFO + hashlib.sha3_256(ad).digest()
    expected = hmac.digest(prk, info + b"\x01", "sha3_256")
    assert bytes(derive_kek(password_key, shared, ad)) == expected
    assert bytes(derive_kek(password_key, shared, ad + b" ")) != expected


def test_passphrase_derives_once_per_salt_and_is_wiped() -> None:
    phrase = Passphrase("pw", POLICY)
    a, b = KdfParams(TEST_ITERATIONS, bytes(32)), KdfParams(TEST_ITERATIONS, bytes([1]) * 32)
    first = bytes(phrase.key_for(a))
    assert bytes(phrase.key_for(a)) == first and phrase.derivations == 1
    assert bytes(phrase.key_for(b)) != first and phrase.derivations == 2
    assert hashlib.pbkdf2_hmac("sha3_256", b"pw", bytes(32), TEST_ITERATIONS) == first
    cached = phrase.key_for(a)
    phrase.destroy()
    assert cached == bytearray(32)
    with pytest.raises(ConfigError):
        phrase.key_for(a)
    assert "pw" not in repr(phrase)


def test_passwords_are_nfkc_normalized_and_never_empty() -> None:
    composed, decomposed = Passphrase("caf\u00e9", POLICY), Passphrase("cafe\u0301", POLICY)
    assert bytes(composed.key_for(KDF)) == bytes(decomposed.key_for(KDF))
    with pytest.raises(ConfigError):
        Passphrase("", POLICY)


def test_manifest_checks_both_factors(creds: Credentials) -> None:
    manifest = seal_manifest(KDF, creds)
    open_manifest(manifest, creds)
    with pytest.raises(WrongPassphraseOrKey):
        open_manifest(manifest, make_credentials(password=OTHER_PASSWORD))
    with pytest.raises(WrongPassphraseOrKey):
        open_manifest(manifest, make_credentials(kem_seed=OTHER_KEM_SEED))
