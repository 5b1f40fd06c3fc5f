"""Key-file and manifest formats: one canonical encoding, strict decoding, clear reasons."""

import json
import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chainplug.errors import MalformedKeyFile, Reason
from chainplug.keystore import KdfParams, KeyAlgorithm, KeyFileHeader, SealedKeyFile, SealParams, VaultManifest, _codec
from chainplug.keystore.format import _decode_canonical_key_file

from .conftest import classical_key, edit_randomly, pqc_key


def _seal_params(iterations: int = 600_000) -> SealParams:
    return SealParams(KdfParams(iterations, os.urandom(32)), os.urandom(32), os.urandom(1568), os.urandom(12))


def _sealed(algorithm: KeyAlgorithm = KeyAlgorithm.SECP256K1, *, with_classical: bool = True) -> SealedKeyFile:
    account = classical_key()
    if algorithm is KeyAlgorithm.SECP256K1:
        header = KeyFileHeader(account.address, algorithm, 0, account.public_key_bytes, None, _seal_params())
    else:
        classical = account.public_key_bytes if with_classical else None
        header = KeyFileHeader(account.address, algorithm, 3, pqc_key().public_key_bytes, classical, _seal_params())
    return SealedKeyFile(header, os.urandom(48))


def _mutated(raw: bytes, edit: object) -> bytes:
    doc = json.loads(raw)
    edit(doc)  # type: ignore[operator]
    return _codec.canonical_file(doc)


@given(
    generation=st.integers(0, 2**32 - 1),
    iterations=st.integers(1, 2**32 - 1),
    algorithm=st.sampled_from(list(KeyAlgorithm)),
    with_classical=st.booleans(),
)
def test_direct_rendering_equals_sorted_compact_json(
    generation: int, iterations: int, algorithm: KeyAlgorithm, with_classical: bool
) -> None:
    account = classical_key()
    public = account.public_key_bytes if algorithm is KeyAlgorithm.SECP256K1 else os.urandom(2592)
    classical = account.public_key_bytes if with_classical and algorithm is KeyAlgorithm.MLDSA87 else None
    header = KeyFileHeader(account.address, algorithm, generation, public, classical, _seal_params(iterations))
    assert header.canonical() == _codec.canonical(header.to_json())
    sealed = SealedKeyFile(header, os.urandom(48))
    assert sealed.encode() == _codec.canonical_file({"ciphertext": sealed.ciphertext.hex(), "header": header.to_json()})
    assert SealedKeyFile.decode(sealed.encode()) == sealed
    manifest = VaultManifest(_seal_params(iterations), os.urandom(16))
    assert manifest.associated_data == _codec.canonical(manifest.header_json())
    assert VaultManifest.decode(manifest.encode()) == manifest


@pytest.mark.parametrize(
    ("algorithm", "with_classical"),
    [(KeyAlgorithm.SECP256K1, False), (KeyAlgorithm.MLDSA87, True), (KeyAlgorithm.MLDSA87, False)],
)
def test_round_trip_is_byte_exact(algorithm: KeyAlgorithm, with_classical: bool) -> None:
    sealed = _sealed(algorithm, with_classical=with_classical)
    raw = sealed.encode()
    assert raw.endswith(b"}\n") and raw.isascii()
    assert SealedKeyFile.decode(raw).encode() == raw


def test_reformatted_json_is_refused_as_non_canonical() -> None:
    raw = _sealed().encode()
    for variant in (
        json.dumps(json.loads(raw), indent=2, sort_keys=True).encode() + b"\n",  # pretty-printed
        raw.rstrip(b"\n"),  # no trailing newline
        raw + b"\n",  # extra newline
        raw.replace(b'"header":', b'"header": '),  # one space
        b" " + raw,  # leading whitespace
    ):
        with pytest.raises(MalformedKeyFile) as info:
            SealedKeyFile.decode(variant)
        assert info.value.reason in (Reason.NON_CANONICAL, Reason.MALFORMED)


def test_uppercase_hex_is_refused_with_the_field_named() -> None:
    raw = _sealed().encode()
    doc = json.loads(raw)
    doc["header"]["kdf"]["salt"] = doc["header"]["kdf"]["salt"].upper()
    with pytest.raises(MalformedKeyFile, match=r"header\.kdf\.salt"):
        SealedKeyFile.decode(_codec.canonical_file(doc))


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d["header"].update(extra=1), "unknown fields"),
        (lambda d: d["header"].pop("generation"), "missing fields"),
        (lambda d: d.update(comment="x"), "unknown fields"),
        (lambda d: d["header"].update(generation=True), "generation"),
        (lambda d: d["header"].update(generation=-1), "generation"),
        (lambda d: d["header"].update(generation=2**32), "generation"),
        (lambda d: d["header"]["kdf"].update(iterations="600000"), "iterations"),
        (lambda d: d["header"]["kdf"].update(name="argon2id"), "kdf.name"),
        (lambda d: d["header"]["kem"].update(name="ml-kem-768"), "kem.name"),
        (lambda d: d["header"]["cipher"].update(name="chacha20-poly1305"), "cipher.name"),
        (lambda d: d["header"]["cipher"].update(nonce="00" * 16), "nonce"),
        (lambda d: d["header"]["kem"].update(ciphertext="00" * 1567), "kem.ciphertext"),
        (lambda d: d["header"].update(algorithm="ed25519"), "algorithm"),
        (lambda d: d["header"].update(address="0x" + "00" * 20), "address"),
        (lambda d: d["header"].update(address="00" * 21), "address"),
        (lambda d: d["header"]["public_keys"].update({"ml-dsa-87": "00" * 2592}), "unknown fields"),
        (lambda d: d.update(ciphertext="00" * 47), "ciphertext"),
    ],
)
def test_structural_errors_name_the_field(edit: object, message: str) -> None:
    with pytest.raises(MalformedKeyFile, match=message):
        SealedKeyFile.decode(_mutated(_sealed().encode(), edit))


def test_unsupported_version_and_format_are_reported_as_such() -> None:
    raw = _sealed().encode()
    with pytest.raises(MalformedKeyFile) as info:
        SealedKeyFile.decode(_mutated(raw, lambda d: d["header"].update(version=2, newfield=1)))
    assert info.value.reason is Reason.UNSUPPORTED_VERSION
    with pytest.raises(MalformedKeyFile, match="not a chainplug-keystore"):
        SealedKeyFile.decode(_mutated(raw, lambda d: d["header"].update(format="chainplug-vault")))
    with pytest.raises(MalformedKeyFile, match="not a chainplug-vault"):
        VaultManifest.decode(raw)


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"[]",
        b"\x00" * 10,
        b'{"ciphertext": 1.5, "header": {}}',
        b'{"ciphertext": NaN}',
        '{"ciphertext": "\u00e9"}'.encode(),
        b"{" * 100_000,
    ],
)
def test_garbage_is_refused_without_crashing(raw: bytes) -> None:
    with pytest.raises(MalformedKeyFile):
        SealedKeyFile.decode(raw)


def test_duplicate_keys_are_refused() -> None:
    raw = _sealed().encode()
    duplicated = raw.replace(b'{"ciphertext":', b'{"ciphertext":"00","ciphertext":', 1)
    with pytest.raises(MalformedKeyFile):
        SealedKeyFile.decode(duplicated)
    with pytest.raises(MalformedKeyFile, match="duplicate"):
        _codec.parse_json(duplicated, what="test")


def test_header_address_must_be_that_of_the_recorded_secp256k1_key() -> None:
    raw = _sealed(KeyAlgorithm.MLDSA87).encode()
    other = classical_key(1).public_key_bytes.hex()
    with pytest.raises(MalformedKeyFile, match="address"):
        SealedKeyFile.decode(_mutated(raw, lambda d: d["header"]["public_keys"].update(secp256k1=other)))


def test_a_secp256k1_file_cannot_record_a_second_public_key() -> None:
    account = classical_key()
    with pytest.raises(MalformedKeyFile):
        KeyFileHeader(
            account.address,
            KeyAlgorithm.SECP256K1,
            0,
            account.public_key_bytes,
            account.public_key_bytes,
            _seal_params(),
        )


@pytest.mark.parametrize(
    ("algorithm", "with_classical"),
    [(KeyAlgorithm.SECP256K1, False), (KeyAlgorithm.MLDSA87, True), (KeyAlgorithm.MLDSA87, False)],
)
def test_fast_decoding_takes_the_canonical_header_bytes_as_associated_data(
    algorithm: KeyAlgorithm, with_classical: bool
) -> None:
    sealed = _sealed(algorithm, with_classical=with_classical)
    fast = _decode_canonical_key_file(sealed.encode())
    assert fast is not None and fast == sealed
    assert fast.associated_data == sealed.header.canonical() == _codec.canonical(sealed.header.to_json())
    assert fast.encode() == sealed.encode()


@given(data=st.data(), algorithm=st.sampled_from(list(KeyAlgorithm)))
def test_fast_decoding_accepts_only_canonical_bytes(data: st.DataObject, algorithm: KeyAlgorithm) -> None:
    """Any edit (byte flip, upper-case hex, insertion, deletion) that the fast path accepts must
    still be the exact canonical encoding of what it returns; everything else goes to the general
    path, which decides as before."""
    raw = bytearray(_sealed(algorithm).encode())
    edit_randomly(data, raw)
    fast = _decode_canonical_key_file(bytes(raw))
    if fast is not None:
        assert fast.encode() == bytes(raw)
        assert fast.associated_data == fast.header.canonical()
        assert SealedKeyFile.decode(bytes(raw)) == fast


@pytest.mark.parametrize(
    "edit",
    [
        lambda d: d["header"].update(generation=2**32),
        lambda d: d["header"]["kdf"].update(iterations=2**32),
        lambda d: d["header"]["kdf"].update(iterations=0),
        lambda d: d["header"].update(address="0x" + "ab" * 20),
        lambda d: d["header"]["cipher"].update(nonce="AB" * 12),
    ],
)
def test_fast_decoding_leaves_out_of_range_files_to_the_general_path(edit: object) -> None:
    raw = _mutated(_sealed().encode(), edit)
    assert _decode_canonical_key_file(raw) is None
    with pytest.raises(MalformedKeyFile):
        SealedKeyFile.decode(raw)
