"""The on-disk formats: sealed key files and vault manifests (docs/keystore.md §2-§4).

Both are ``{"ciphertext": <hex>, "header": {...}}`` in canonical JSON (sorted keys, no whitespace,
lowercase hex, one trailing newline). The header is everything a reader needs before decrypting —
format and version, the password-KDF name and parameters, the ML-KEM-1024 ciphertext and key id,
the AEAD name and nonce, and (key files) the address, algorithm, public keys and generation. Its
canonical bytes are the AES-GCM associated data, so changing any header field makes decryption fail.

Decoding accepts exactly one spelling: the values are parsed, the file is rendered again, and the
bytes must be identical. Well-formed files take a direct path; anything else goes through the
field-by-field validator, which names the field at fault. Decoding checks structure only;
:mod:`.seal` does the cryptography.
"""

from __future__ import annotations

import binascii
import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from ..constants import (
    KEYSTORE_FORMAT,
    KEYSTORE_NONCE_BYTES,
    KEYSTORE_SALT_BYTES,
    KEYSTORE_TAG_BYTES,
    KEYSTORE_VERSION,
    MLDSA87_PUBLIC_KEY_BYTES,
    MLKEM1024_CIPHERTEXT_BYTES,
    VAULT_FORMAT,
    VAULT_VERSION,
)
from ..crypto import keccak256
from ..errors import MalformedKeyFile, Reason
from ..types import Address
from . import _codec as c

PBKDF2_NAME = "pbkdf2-hmac-sha3-256"
KEM_NAME = "ml-kem-1024"
CIPHER_NAME = "aes-256-gcm"
KEM_KEY_ID_BYTES = 32
"""A KEM key id is SHA3-256 of the 1,568-byte encapsulation key (FIPS 203's H(ek))."""
SECRET_BYTES = 32
"""Plaintext length for both algorithms: a secp256k1 scalar or an ML-DSA-87 seed xi."""
MAX_GENERATION = 2**32 - 1
MAX_ITERATIONS_FIELD = 2**32 - 1
"""Structural bound only; the accepted range is the reader's :class:`~.kdf.KdfPolicy`."""


class KeyAlgorithm(StrEnum):
    """Which private key a key file seals (``header.algorithm``)."""

    SECP256K1 = "secp256k1"
    MLDSA87 = "ml-dsa-87"

    @property
    def public_key_bytes(self) -> int:
        """Length of the public key: 64 (secp256k1 x || y) or 2,592 (ML-DSA-87)."""
        return 64 if self is KeyAlgorithm.SECP256K1 else MLDSA87_PUBLIC_KEY_BYTES


_ALGORITHMS = {a.value: a for a in KeyAlgorithm}


def address_of(classical_public_key: bytes) -> Address:
    """Ethereum address of a 64-byte secp256k1 public key."""
    return Address(keccak256(classical_public_key)[12:])


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise MalformedKeyFile(message)


@dataclass(frozen=True, slots=True)
class KdfParams:
    """``header.kdf``: how the password key is derived."""

    iterations: int
    """PBKDF2-HMAC-SHA3-256 iteration count."""
    salt: bytes
    """32-byte salt: random per single file; one per vault."""

    def __post_init__(self) -> None:
        _check(type(self.iterations) is int and 1 <= self.iterations <= MAX_ITERATIONS_FIELD, "bad kdf.iterations")
        _check(len(self.salt) == KEYSTORE_SALT_BYTES, "kdf.salt must be 32 bytes")

    def to_json(self) -> dict[str, Any]:
        return {"iterations": self.iterations, "name": PBKDF2_NAME, "salt": self.salt.hex()}


@dataclass(frozen=True, slots=True)
class SealParams:
    """``header.kdf``, ``header.kem`` and ``header.cipher``: how a document was sealed."""

    kdf: KdfParams
    """Password KDF and its parameters."""
    kem_key_id: bytes
    """SHA3-256 of the encapsulation key the ML-KEM ciphertext was made for."""
    kem_ciphertext: bytes
    """1,568-byte ML-KEM-1024 ciphertext; its shared secret is the second half of the HKDF input."""
    nonce: bytes
    """12-byte AES-GCM nonce, fresh per write."""

    def __post_init__(self) -> None:
        _check(len(self.kem_key_id) == KEM_KEY_ID_BYTES, "kem.key_id must be 32 bytes")
        _check(len(self.kem_ciphertext) == MLKEM1024_CIPHERTEXT_BYTES, "kem.ciphertext must be 1568 bytes")
        _check(len(self.nonce) == KEYSTORE_NONCE_BYTES, "cipher.nonce must be 12 bytes")

    def to_json(self) -> dict[str, Any]:
        return {
            "cipher": {"name": CIPHER_NAME, "nonce": self.nonce.hex()},
            "kdf": self.kdf.to_json(),
            "kem": {"ciphertext": self.kem_ciphertext.hex(), "key_id": self.kem_key_id.hex(), "name": KEM_NAME},
        }

    # The three entries as canonical JSON text, for the header renderers below.
    def _cipher(self) -> str:
        return f'"cipher":{{"name":"{CIPHER_NAME}","nonce":"{self.nonce.hex()}"}}'

    def _kdf_kem(self) -> str:
        kdf = f'"kdf":{{"iterations":{self.kdf.iterations},"name":"{PBKDF2_NAME}","salt":"{self.kdf.salt.hex()}"}}'
        kem = f'"kem":{{"ciphertext":"{self.kem_ciphertext.hex()}","key_id":"{self.kem_key_id.hex()}",'
        return f'{kdf},{kem}"name":"{KEM_NAME}"}}'

    @classmethod
    def _direct(cls, header: dict[str, Any]) -> SealParams:
        kdf, kem = header["kdf"], header["kem"]
        return cls(
            KdfParams(kdf["iterations"], bytes.fromhex(kdf["salt"])),
            bytes.fromhex(kem["key_id"]),
            bytes.fromhex(kem["ciphertext"]),
            bytes.fromhex(header["cipher"]["nonce"]),
        )

    @classmethod
    def _validate(cls, header: dict[str, Any]) -> None:
        """Field by field, naming the first problem."""
        cipher = c.fields(header["cipher"], frozenset({"name", "nonce"}), where="header.cipher")
        c.constant(cipher["name"], CIPHER_NAME, where="header.cipher.name")
        c.hex_bytes(cipher["nonce"], KEYSTORE_NONCE_BYTES, where="header.cipher.nonce")
        kdf = c.fields(header["kdf"], frozenset({"iterations", "name", "salt"}), where="header.kdf")
        c.constant(kdf["name"], PBKDF2_NAME, where="header.kdf.name")
        c.integer(kdf["iterations"], where="header.kdf.iterations", low=1, high=MAX_ITERATIONS_FIELD)
        c.hex_bytes(kdf["salt"], KEYSTORE_SALT_BYTES, where="header.kdf.salt")
        kem = c.fields(header["kem"], frozenset({"ciphertext", "key_id", "name"}), where="header.kem")
        c.constant(kem["name"], KEM_NAME, where="header.kem.name")
        c.hex_bytes(kem["key_id"], KEM_KEY_ID_BYTES, where="header.kem.key_id")
        c.hex_bytes(kem["ciphertext"], MLKEM1024_CIPHERTEXT_BYTES, where="header.kem.ciphertext")


@dataclass(frozen=True, slots=True)
class KeyFileHeader:
    """The authenticated header of a key file (docs/keystore.md §2)."""

    address: Address
    """The account (20 bytes): keccak256 of its secp256k1 public key, last 20 bytes."""
    algorithm: KeyAlgorithm
    """Which private key is sealed."""
    generation: int
    """Set by the writer (the migration engine's key generation); kept by rotations. A reader that
    knows a later generation refuses an older file (rollback of a restored backup)."""
    public_key: bytes
    """Public key of the sealed private key; re-derived and compared on every unlock."""
    classical_public_key: bytes | None
    """For an ML-DSA-87 file: the account's secp256k1 public key, when the writer knew it (binds the
    PQC key to the account and backs the classical public key up). ``None`` for secp256k1 files."""
    seal: SealParams
    """KDF, KEM and cipher parameters."""

    def __post_init__(self) -> None:
        _check(len(self.address) == 20, "address must be 20 bytes")
        _check(type(self.generation) is int and 0 <= self.generation <= MAX_GENERATION, "bad generation")
        _check(len(self.public_key) == self.algorithm.public_key_bytes, f"bad {self.algorithm} public key length")
        if self.algorithm is KeyAlgorithm.SECP256K1:
            _check(self.classical_public_key is None, "a secp256k1 key file records its public key once")
        account_key = self.account_public_key
        if account_key is not None:
            _check(len(account_key) == 64, "secp256k1 public key must be 64 bytes")
            _check(address_of(account_key) == self.address, "header address is not that of its secp256k1 key")

    @property
    def account_public_key(self) -> bytes | None:
        """The account's secp256k1 public key, if this file records it."""
        return self.public_key if self.algorithm is KeyAlgorithm.SECP256K1 else self.classical_public_key

    def to_json(self) -> dict[str, Any]:
        public_keys = {self.algorithm.value: self.public_key.hex()}
        if self.classical_public_key is not None:
            public_keys[KeyAlgorithm.SECP256K1.value] = self.classical_public_key.hex()
        return {
            "address": "0x" + self.address.hex(),
            "algorithm": self.algorithm.value,
            "format": KEYSTORE_FORMAT,
            "generation": self.generation,
            "public_keys": public_keys,
            "version": KEYSTORE_VERSION,
            **self.seal.to_json(),
        }

    def canonical(self) -> bytes:
        """Canonical JSON of :meth:`to_json`, rendered directly: every value is hex, a decimal
        integer or a fixed name, so nothing needs escaping. The tests check it equals
        ``json.dumps(to_json(), sort_keys=True, separators=(",", ":"))``."""
        seal = self.seal
        keys = f'"{self.algorithm.value}":"{self.public_key.hex()}"'
        if self.classical_public_key is not None:  # "ml-dsa-87" sorts before "secp256k1"
            keys += f',"{KeyAlgorithm.SECP256K1.value}":"{self.classical_public_key.hex()}"'
        return (
            f'{{"address":"0x{self.address.hex()}","algorithm":"{self.algorithm.value}",{seal._cipher()},'
            f'"format":"{KEYSTORE_FORMAT}","generation":{self.generation},{seal._kdf_kem()},'
            f'"public_keys":{{{keys}}},"version":{KEYSTORE_VERSION}}}'
        ).encode("ascii")

    @classmethod
    def _direct(cls, header: dict[str, Any]) -> KeyFileHeader:
        algorithm = _ALGORITHMS[header["algorithm"]]
        keys = header["public_keys"]
        classical = keys.get(KeyAlgorithm.SECP256K1.value) if algorithm is KeyAlgorithm.MLDSA87 else None
        return cls(
            Address(bytes.fromhex(header["address"][2:])),
            algorithm,
            header["generation"],
            bytes.fromhex(keys[algorithm.value]),
            None if classical is None else bytes.fromhex(classical),
            SealParams._direct(header),
        )

    @classmethod
    def _validate(cls, header: dict[str, Any]) -> None:
        c.fields(header, _KEY_HEADER_FIELDS, where="header")
        c.hex_bytes(header["address"], 20, where="header.address", prefix="0x")
        algorithm: KeyAlgorithm = c.choice(header["algorithm"], _ALGORITHMS, where="header.algorithm")
        c.integer(header["generation"], where="header.generation", low=0, high=MAX_GENERATION)
        optional = frozenset({KeyAlgorithm.SECP256K1.value}) if algorithm is KeyAlgorithm.MLDSA87 else frozenset()
        keys = c.fields(
            header["public_keys"], frozenset({algorithm.value}), where="header.public_keys", optional=optional
        )
        for name, value in keys.items():
            c.hex_bytes(value, _ALGORITHMS[name].public_key_bytes, where=f"header.public_keys.{name}")
        SealParams._validate(header)


_KEY_HEADER_FIELDS = frozenset(
    {"address", "algorithm", "cipher", "format", "generation", "kdf", "kem", "public_keys", "version"}
)
_VAULT_HEADER_FIELDS = frozenset({"cipher", "format", "kdf", "kem", "version"})
_TOP_FIELDS = frozenset({"ciphertext", "header"})
_DIRECT_ERRORS = (LookupError, TypeError, ValueError, AttributeError)
"""What the direct path raises on a file that is not well formed (then the validator explains)."""


def _versioned(top: Any, fmt: str, version: int, *, what: str) -> dict[str, Any]:
    """Check the top level, then format and version, so a future version says so."""
    c.fields(top, _TOP_FIELDS, where=what)
    header = top["header"]
    if not isinstance(header, dict) or header.get("format") != fmt:
        raise MalformedKeyFile(f"not a {fmt} {what} (header.format)")
    if header.get("version") != version:
        raise MalformedKeyFile(
            f"unsupported {what} version (this build reads {version})", reason=Reason.UNSUPPORTED_VERSION
        )
    return header


def _non_canonical(what: str) -> MalformedKeyFile:
    return MalformedKeyFile(f"{what} is not in canonical form (re-formatted or modified)", reason=Reason.NON_CANONICAL)


@dataclass(frozen=True, slots=True)
class SealedKeyFile:
    """A key file as stored: header plus AES-256-GCM ciphertext of the 32-byte secret."""

    header: KeyFileHeader
    """The authenticated, unencrypted header."""
    ciphertext: bytes
    """AES-256-GCM output: 32 bytes of secret then the 16-byte tag."""
    associated_data: bytes = field(init=False, repr=False, compare=False)
    """Canonical JSON of the header: the AEAD's associated data (derived, not stored)."""

    def __post_init__(self) -> None:
        _check(len(self.ciphertext) == SECRET_BYTES + KEYSTORE_TAG_BYTES, "key file ciphertext must be 48 bytes")
        object.__setattr__(self, "associated_data", self.header.canonical())

    @classmethod
    def _with_associated_data(cls, header: KeyFileHeader, ciphertext: bytes, associated_data: bytes) -> SealedKeyFile:
        """Build without rendering the header: ``associated_data`` must be ``header.canonical()``
        (the caller has proved it: :func:`_decode_canonical_key_file`)."""
        sealed = object.__new__(cls)
        object.__setattr__(sealed, "header", header)
        object.__setattr__(sealed, "ciphertext", ciphertext)
        object.__setattr__(sealed, "associated_data", associated_data)
        return sealed

    @property
    def seal(self) -> SealParams:
        return self.header.seal

    def encode(self) -> bytes:
        """The canonical file bytes."""
        return b'{"ciphertext":"' + self.ciphertext.hex().encode() + b'","header":' + self.associated_data + b"}\n"

    @classmethod
    def decode(cls, raw: bytes) -> SealedKeyFile:
        """Strictly parse canonical key-file bytes (structure only: nothing is decrypted)."""
        sealed = _decode_canonical_key_file(raw)
        if sealed is not None:
            return sealed
        # Not the canonical layout (or out of range): the general path explains why, naming the field.
        # Duplicate keys need no hook: they cannot survive the canonical comparison.
        top = c.parse_json(raw, what="key file", unique_keys=False)
        header = _versioned(top, KEYSTORE_FORMAT, KEYSTORE_VERSION, what="key file")
        try:
            sealed = cls(KeyFileHeader._direct(header), bytes.fromhex(top["ciphertext"]))
        except _DIRECT_ERRORS:
            sealed = None
        if sealed is None or raw != sealed.encode():
            KeyFileHeader._validate(header)  # raises, naming the field, if the structure is wrong
            c.hex_bytes(top["ciphertext"], SECRET_BYTES + KEYSTORE_TAG_BYTES, where="ciphertext")
            if sealed is None:  # e.g. an address that does not match its public key
                KeyFileHeader._direct(header)
            raise _non_canonical("key file")
        return sealed


def _hex(n: int) -> bytes:
    """A group of exactly ``n`` hex digits. The regex only locates it (any byte matches ``.``):
    ``binascii.unhexlify`` then refuses a non-hex digit, and the whole-file lower-case test an
    upper-case one, which is cheaper than a character class over 3 KB."""
    return b"(.{%d})" % (2 * n)


def _lit(text: str) -> bytes:
    return re.escape(text.encode("ascii"))


_INTEGER = rb"(0|[1-9][0-9]{0,9})"
_CANONICAL_KEY_FILE = re.compile(
    _lit('{"ciphertext":"')
    + _hex(SECRET_BYTES + KEYSTORE_TAG_BYTES)
    + b'","header":('
    + _lit('{"address":"0x')
    + _hex(20)
    + _lit('","algorithm":"')
    + b"("
    + _lit(KeyAlgorithm.SECP256K1.value)
    + b"|"
    + _lit(KeyAlgorithm.MLDSA87.value)
    + b")"
    + _lit(f'","cipher":{{"name":"{CIPHER_NAME}","nonce":"')
    + _hex(KEYSTORE_NONCE_BYTES)
    + _lit(f'"}},"format":"{KEYSTORE_FORMAT}","generation":')
    + _INTEGER
    + _lit(',"kdf":{"iterations":')
    + _INTEGER
    + _lit(f',"name":"{PBKDF2_NAME}","salt":"')
    + _hex(KEYSTORE_SALT_BYTES)
    + _lit('"},"kem":{"ciphertext":"')
    + _hex(MLKEM1024_CIPHERTEXT_BYTES)
    + _lit('","key_id":"')
    + _hex(KEM_KEY_ID_BYTES)
    + _lit(f'","name":"{KEM_NAME}"}},"public_keys":{{"')
    + b"(?:"
    + _lit(f'{KeyAlgorithm.SECP256K1.value}":"')
    + _hex(64)
    + b"|"
    + _lit(f'{KeyAlgorithm.MLDSA87.value}":"')
    + _hex(MLDSA87_PUBLIC_KEY_BYTES)
    + b"(?:"
    + _lit(f'","{KeyAlgorithm.SECP256K1.value}":"')
    + _hex(64)
    + b")?)"
    + _lit(f'"}},"version":{KEYSTORE_VERSION}}}')
    + b")"
    + _lit("}\n"),
    re.DOTALL,
)
"""Exactly the bytes :meth:`SealedKeyFile.encode` produces, with each hex field located by length."""


def _decode_canonical_key_file(raw: bytes) -> SealedKeyFile | None:
    """The fast path of :meth:`SealedKeyFile.decode`: ``raw`` parsed as the one canonical layout, or
    ``None`` if it is not exactly that (the general path then decides and explains).

    A match is canonical by construction: every byte outside the groups is the fixed text
    :meth:`KeyFileHeader.canonical` writes, each group has its exact length, hex groups must decode
    (``unhexlify``) and be lower case (``raw.lower() == raw``: the fixed text has no capitals), and
    integers have no sign, leading zero or fraction. So the header's bytes in the file *are* its
    canonical encoding, and they are used as the associated data without rendering them again.
    ``tests/keystore/test_format.py`` checks this path against the general one."""
    if len(raw) > c.MAX_FILE_BYTES:
        return None
    m = _CANONICAL_KEY_FILE.fullmatch(raw)
    if m is None or raw.lower() != raw:
        return None
    ct, ad, address, algorithm, nonce, generation, iterations, salt, kem_ct, key_id, k1, pqc, classical = m.groups()
    unhex = binascii.unhexlify
    try:
        seal = SealParams(KdfParams(int(iterations), unhex(salt)), unhex(key_id), unhex(kem_ct), unhex(nonce))
        header = KeyFileHeader(
            Address(unhex(address)),
            _ALGORITHMS[algorithm.decode("ascii")],
            int(generation),
            unhex(k1 if pqc is None else pqc),
            None if classical is None else unhex(classical),
            seal,
        )
        ciphertext = unhex(ct)
    except (binascii.Error, MalformedKeyFile):
        return None
    return SealedKeyFile._with_associated_data(header, ciphertext, ad)


@dataclass(frozen=True, slots=True)
class VaultManifest:
    """``vault.json``: the vault's shared KDF parameters, sealed like a key file around an empty
    plaintext, so opening it checks password and KEM key before any key is touched."""

    seal: SealParams
    """Shared KDF salt and iterations of every key in the vault, plus the manifest's own KEM/nonce."""
    ciphertext: bytes
    """The 16-byte AES-GCM tag over an empty plaintext."""
    associated_data: bytes = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        _check(len(self.ciphertext) == KEYSTORE_TAG_BYTES, "vault manifest ciphertext must be 16 bytes")
        seal = self.seal
        header = f'{{{seal._cipher()},"format":"{VAULT_FORMAT}",{seal._kdf_kem()},"version":{VAULT_VERSION}}}'
        object.__setattr__(self, "associated_data", header.encode("ascii"))

    def header_json(self) -> dict[str, Any]:
        """The header as a JSON object (what :attr:`associated_data` encodes)."""
        return {"format": VAULT_FORMAT, "version": VAULT_VERSION, **self.seal.to_json()}

    def encode(self) -> bytes:
        return b'{"ciphertext":"' + self.ciphertext.hex().encode() + b'","header":' + self.associated_data + b"}\n"

    @classmethod
    def decode(cls, raw: bytes) -> VaultManifest:
        top = c.parse_json(raw, what="vault manifest", unique_keys=False)
        header = _versioned(top, VAULT_FORMAT, VAULT_VERSION, what="vault manifest")
        try:
            manifest = cls(SealParams._direct(header), bytes.fromhex(top["ciphertext"]))
        except _DIRECT_ERRORS:
            manifest = None
        if manifest is None or raw != manifest.encode():
            c.fields(header, _VAULT_HEADER_FIELDS, where="header")
            SealParams._validate(header)
            c.hex_bytes(top["ciphertext"], KEYSTORE_TAG_BYTES, where="ciphertext")
            raise _non_canonical("vault manifest")
        return manifest
