"""secp256k1 in Ethereum's recoverable form, checked against stock Ethereum code (eth-account, and
eth-keys' pure-Python backend, which shares no code with libsecp256k1/coincurve)."""

from __future__ import annotations

import os

import coincurve
import pytest
from eth_account import Account
from eth_keys import KeyAPI
from hypothesis import given, settings
from hypothesis import strategies as st

from chainplug.constants import SECP256K1_HALF_N, SECP256K1_N
from chainplug.crypto import RecoverableSignature, Secp256k1PrivateKey, keccak256, recover_address
from chainplug.crypto.secp256k1 import public_key_to_address, recover_public_key
from chainplug.errors import InvalidKey, InvalidSignature, Reason
from chainplug.types import Hash32

NATIVE = KeyAPI("eth_keys.backends.NativeECCBackend")  # pure Python: an independent oracle
P = 2**256 - 2**32 - 977  # the secp256k1 field prime

secrets = st.integers(min_value=1, max_value=SECP256K1_N - 1).map(lambda k: k.to_bytes(32, "big"))
digests = st.binary(min_size=32, max_size=32).map(Hash32)


# --- RecoverableSignature validation ------------------------------------------------------------


def test_high_s_is_rejected_with_reason() -> None:
    for s in (SECP256K1_HALF_N + 1, SECP256K1_N - 1):
        with pytest.raises(InvalidSignature) as excinfo:
            RecoverableSignature(r=1, s=s, y_parity=0)
        assert excinfo.value.reason is Reason.HIGH_S
    RecoverableSignature(r=1, s=SECP256K1_HALF_N, y_parity=1)  # the boundary itself is low-s


@pytest.mark.parametrize(
    ("r", "s", "y_parity"),
    [
        (0, 1, 0),
        (1, 0, 0),
        (SECP256K1_N, 1, 0),
        (SECP256K1_N + 1, 1, 0),
        (2**256 - 1, 1, 0),
        (1, SECP256K1_N, 0),
        (1, 2**256 - 1, 0),
        (-1, 1, 0),
        (1, -1, 0),
        (1, 1, 2),
        (1, 1, -1),
        (1, 1, 27),
        (1, 1, 28),
    ],
)
def test_out_of_range_components_are_rejected(r: int, s: int, y_parity: int) -> None:
    with pytest.raises(InvalidSignature) as excinfo:
        RecoverableSignature(r=r, s=s, y_parity=y_parity)
    assert excinfo.value.reason in (Reason.INVALID_SIGNATURE, Reason.HIGH_S)
    if s <= SECP256K1_HALF_N:
        assert excinfo.value.reason is Reason.INVALID_SIGNATURE


@settings(max_examples=50, deadline=None)
@given(
    r=st.integers(min_value=1, max_value=SECP256K1_N - 1),
    s=st.integers(min_value=1, max_value=SECP256K1_HALF_N),
    y_parity=st.integers(min_value=0, max_value=1),
)
def test_to_bytes_from_bytes_round_trip(r: int, s: int, y_parity: int) -> None:
    signature = RecoverableSignature(r, s, y_parity)
    raw = signature.to_bytes()
    assert len(raw) == 65
    assert raw == r.to_bytes(32, "big") + s.to_bytes(32, "big") + bytes([y_parity])
    assert RecoverableSignature.from_bytes(raw) == signature


def test_from_bytes_rejects_wrong_length_and_bad_content() -> None:
    good = RecoverableSignature(5, 7, 1).to_bytes()
    for bad in (b"", good[:-1], good + b"\x00", good[:64]):
        with pytest.raises(InvalidSignature):
            RecoverableSignature.from_bytes(bad)
    with pytest.raises(InvalidSignature) as excinfo:
        RecoverableSignature.from_bytes(good[:32] + (SECP256K1_N - 7).to_bytes(32, "big") + b"\x01")
    assert excinfo.value.reason is Reason.HIGH_S
    with pytest.raises(InvalidSignature):
        RecoverableSignature.from_bytes(good[:64] + b"\x1b")  # v = 27 is not a y parity


# --- keys, signing and recovery against stock code ---------------------------------------------


@settings(max_examples=25, deadline=None)
@given(secret=secrets, digest=digests)
def test_sign_recover_and_address_match_stock_code(secret: bytes, digest: Hash32) -> None:
    key = Secp256k1PrivateKey(secret)
    stock = Account.from_key(secret)
    assert key.address == bytes.fromhex(stock.address[2:])
    native_key = NATIVE.PrivateKey(secret)
    assert key.public_key_bytes == native_key.public_key.to_bytes()
    assert key.address == native_key.public_key.to_canonical_address()

    signature = key.sign_digest(digest)
    assert signature.s <= SECP256K1_HALF_N
    assert recover_address(digest, signature) == key.address
    assert recover_public_key(digest, signature) == key.public_key_bytes
    # stock recovery (eth-account wants v = 27 + y_parity)
    vrs = (27 + signature.y_parity, signature.r, signature.s)
    assert Account._recover_hash(digest, vrs=vrs) == stock.address
    # RFC 6979 + low-s: the independent pure-Python signer produces the very same signature
    native_sig = NATIVE.ecdsa_sign(digest, native_key)
    assert (native_sig.r, native_sig.s, native_sig.v) == (signature.r, signature.s, signature.y_parity)
    stock_sig = Account.unsafe_sign_hash(digest, secret)
    assert (stock_sig.r, stock_sig.s, stock_sig.v) == (signature.r, signature.s, 27 + signature.y_parity)


def test_recovery_with_altered_signature_does_not_give_the_signer() -> None:
    key = Secp256k1PrivateKey(os.urandom(31) + b"\x01")
    digest = Hash32(keccak256(b"transfer"))
    signature = key.sign_digest(digest)
    flipped_parity = RecoverableSignature(signature.r, signature.s, 1 - signature.y_parity)
    assert recover_address(digest, flipped_parity) != key.address
    other_digest = Hash32(keccak256(b"transfer!"))
    assert recover_address(other_digest, signature) != key.address
    smaller_s = RecoverableSignature(signature.r, signature.s - 1 or 2, signature.y_parity)
    assert recover_address(digest, smaller_s) != key.address


def test_recovery_of_an_r_that_is_no_curve_point_raises() -> None:
    # r is an x coordinate: pick one with r^3 + 7 a non-residue mod p, so no point has it
    r = next(x for x in range(1, 1000) if pow((x**3 + 7) % P, (P - 1) // 2, P) == P - 1)
    with pytest.raises(InvalidSignature):
        recover_public_key(Hash32(b"\x11" * 32), RecoverableSignature(r, 1, 0))


def test_public_key_to_address_is_keccak_of_xy() -> None:
    key = Secp256k1PrivateKey(b"\x01" * 32)
    assert public_key_to_address(key.public_key_bytes) == keccak256(key.public_key_bytes)[12:]
    assert key.address.hex() == "1a642f0e3c3af545e7acbd38b07251b3990914f1"  # = eth-keys / eth-account


@pytest.mark.parametrize(
    "secret",
    [b"", b"\x01" * 31, b"\x01" * 33, bytes(32), SECP256K1_N.to_bytes(32, "big"), b"\xff" * 32],
)
def test_invalid_secrets_are_rejected(secret: bytes) -> None:
    with pytest.raises(InvalidKey):
        Secp256k1PrivateKey(secret)


def test_sign_digest_requires_32_bytes() -> None:
    key = Secp256k1PrivateKey.generate()
    for bad in (b"", b"\x00" * 31, b"\x00" * 33):
        with pytest.raises(InvalidKey):
            key.sign_digest(Hash32(bad))


def test_generate_gives_distinct_working_keys() -> None:
    a, b = Secp256k1PrivateKey.generate(), Secp256k1PrivateKey.generate()
    assert a.address != b.address
    digest = Hash32(os.urandom(32))
    assert recover_address(digest, a.sign_digest(digest)) == a.address


# --- destruction and hygiene ---------------------------------------------------------------------


def test_destroy_wipes_the_secret_and_makes_the_key_unusable() -> None:
    secret = os.urandom(31) + b"\x07"
    key = Secp256k1PrivateKey(bytearray(secret))
    address = key.address
    internal = key._secret  # the bytearray destroy() must wipe
    assert bytes(internal) == secret
    assert not key.destroyed
    key.destroy()
    assert key.destroyed
    assert internal == bytearray(32)
    assert key._secret is internal  # wiped in place, not replaced
    with pytest.raises(InvalidKey):
        key.sign_digest(Hash32(b"\x00" * 32))
    with pytest.raises(InvalidKey):
        key.secret_bytes()
    assert key.address == address  # public information remains
    key.destroy()  # idempotent


def test_the_callers_buffer_is_copied_not_aliased() -> None:
    buf = bytearray(os.urandom(31) + b"\x09")
    key = Secp256k1PrivateKey(buf)
    buf[:] = bytes(32)
    assert key.secret_bytes() != bytes(32)


def test_repr_never_shows_the_secret() -> None:
    secret = os.urandom(31) + b"\x05"
    key = Secp256k1PrivateKey(secret)
    for text in (repr(key), str(key)):
        assert secret.hex() not in text.lower()
        assert secret.hex()[:16] not in text.lower()
        assert key.address.hex() in text
    key.destroy()
    assert secret.hex() not in repr(key)
    assert not hasattr(key, "__dict__")  # __slots__: no accidental attribute holding a copy


# --- the direct libsecp256k1 recovery path vs coincurve's public API ----------------------------


@settings(max_examples=150, deadline=None)
@given(digest=digests, compact=st.binary(min_size=65, max_size=65), valid=st.booleans(), secret=secrets)
def test_direct_recovery_agrees_with_coincurves_public_path(
    digest: Hash32, compact: bytes, valid: bool, secret: bytes
) -> None:
    """Recovery calls libsecp256k1 through coincurve's private cffi module (a hot path). Where that
    module is missing the public ``coincurve.PublicKey`` path is used; both must give the same key,
    or both the same error, for valid signatures and arbitrary 65-byte junk alike."""
    from chainplug.crypto import secp256k1

    if valid:
        compact = Secp256k1PrivateKey(secret).sign_digest(digest).to_bytes()

    def outcome() -> bytes | str:
        try:
            return secp256k1._recover_compact(digest, compact)
        except InvalidSignature as exc:
            return f"{type(exc).__name__}: {exc}"

    assert secp256k1._FAST_RECOVER, "coincurve's cffi module is expected on this platform"
    direct = outcome()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(secp256k1, "_FAST_RECOVER", False)
        public = outcome()
    assert direct == public
    if valid:
        assert direct == Secp256k1PrivateKey(secret).public_key_bytes


@settings(max_examples=100, deadline=None)
@given(secret=secrets)
def test_direct_public_key_derivation_agrees_with_coincurves_public_path(secret: bytes) -> None:
    """Key construction derives the public key through coincurve's private cffi module too."""
    from chainplug.crypto import secp256k1

    assert secp256k1._FAST_RECOVER, "coincurve's cffi module is expected on this platform"
    expected = coincurve.PublicKey.from_valid_secret(secret).format(compressed=False)[1:]
    assert secp256k1._public_key_of(secret) == expected == Secp256k1PrivateKey(secret).public_key_bytes
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(secp256k1, "_FAST_RECOVER", False)
        assert secp256k1._public_key_of(secret) == expected
