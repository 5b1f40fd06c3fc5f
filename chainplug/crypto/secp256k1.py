"""secp256k1 in Ethereum's recoverable form (r, s, y_parity), over libsecp256k1 via coincurve.

Raw primitive: application code should sign and verify through envelopes (chainplug.envelope),
not call these directly.
"""

from __future__ import annotations

from dataclasses import dataclass

import coincurve

from ..constants import CLASSICAL_SIGNATURE_BYTES, SECP256K1_HALF_N, SECP256K1_N, SECP256K1_SECRET_BYTES
from ..errors import InvalidKey, InvalidSignature, Reason
from ..types import Address, Hash32
from .keccak import _keccak_256, keccak256
from .zeroize import zeroize

try:  # libsecp256k1 through coincurve's own cffi binding, without coincurve's per-call wrappers
    from coincurve._libsecp256k1 import ffi as _ffi
    from coincurve._libsecp256k1 import lib as _lib
    from coincurve.context import GLOBAL_CONTEXT as _GLOBAL_CONTEXT

    _CTX: object = _GLOBAL_CONTEXT.ctx
    _EC_UNCOMPRESSED: int = _lib.SECP256K1_EC_UNCOMPRESSED
    _FAST_RECOVER = True
except (ImportError, AttributeError):  # pragma: no cover - other coincurve layouts use the public API
    _FAST_RECOVER = False


@dataclass(frozen=True, slots=True)
class RecoverableSignature:
    """An Ethereum ECDSA signature. Constructed only with 0 < r < n, 0 < s <= n/2, y_parity in {0,1}."""

    r: int
    """x coordinate of the nonce point, mod n."""
    s: int
    """Low-s value (EIP-2)."""
    y_parity: int
    """Parity of the nonce point's y coordinate: 0 or 1."""

    def __post_init__(self) -> None:
        if any(type(value) is not int for value in (self.r, self.s, self.y_parity)):
            raise InvalidSignature("classical signature fields must be integers")
        if not 0 < self.r < SECP256K1_N:
            raise InvalidSignature("classical signature r is out of range")
        if not 0 < self.s < SECP256K1_N:
            raise InvalidSignature("classical signature s is out of range")
        if self.s > SECP256K1_HALF_N:
            raise InvalidSignature("classical signature has high s (EIP-2)", reason=Reason.HIGH_S)
        if self.y_parity not in (0, 1):
            raise InvalidSignature("classical signature y_parity must be 0 or 1")

    def to_bytes(self) -> bytes:
        """Canonical 65 bytes: r (32, big-endian) || s (32, big-endian) || y_parity (1)."""
        # One conversion instead of three plus two joins (r, s < 2**256 and y_parity <= 1 hold).
        return ((self.r << 264) | (self.s << 8) | self.y_parity).to_bytes(65, "big")

    @classmethod
    def from_bytes(cls, data: bytes) -> RecoverableSignature:
        """Parse the canonical 65-byte form."""
        if len(data) != CLASSICAL_SIGNATURE_BYTES:
            raise InvalidSignature("classical signature must be 65 bytes")
        return cls(int.from_bytes(data[:32], "big"), int.from_bytes(data[32:64], "big"), data[64])


_SIGNATURE_SETTERS = tuple(RecoverableSignature.__dict__[name].__set__ for name in ("r", "s", "y_parity"))


def _checked_signature(r: int, s: int, y_parity: int) -> RecoverableSignature:
    """A RecoverableSignature for values the caller has already range-checked exactly as the
    constructor does (ints, 0 < r < n, 0 < s <= n/2, y_parity in {0, 1}): the strict transaction
    decoder, which must not pay for the same checks twice. Same class, same frozen instance."""
    signature: RecoverableSignature = object.__new__(RecoverableSignature)
    set_r, set_s, set_y = _SIGNATURE_SETTERS
    set_r(signature, r)
    set_s(signature, s)
    set_y(signature, y_parity)
    return signature


def public_key_to_address(public_key_64: bytes) -> Address:
    """Ethereum address of an uncompressed public key given as x || y (64 bytes)."""
    return Address(keccak256(public_key_64)[12:])


_UNRECOVERABLE = "classical signature does not recover to a public key"


def _recover_compact(digest: bytes, compact: bytes) -> bytes:
    """The 64-byte public key (x || y) for a 65-byte compact signature r || s || recid."""
    # Straight on libsecp256k1 (coincurve's binding) for well-typed input: the same three library
    # calls coincurve.PublicKey.from_signature_and_message + format make, without its wrapper
    # objects. Anything unusual (wrong types or lengths) takes coincurve's public, checked path.
    if _FAST_RECOVER and type(digest) is bytes and len(digest) == 32 and type(compact) is bytes and len(compact) == 65:
        recid = compact[64]
        if recid <= 3:
            new = _ffi.new
            parsed = new("secp256k1_ecdsa_recoverable_signature *")
            if not _lib.secp256k1_ecdsa_recoverable_signature_parse_compact(_CTX, parsed, compact, recid):
                raise InvalidSignature(_UNRECOVERABLE) from ValueError("Failed to parse recoverable signature.")
            point = new("secp256k1_pubkey *")
            if not _lib.secp256k1_ecdsa_recover(_CTX, point, parsed, digest):
                raise InvalidSignature(_UNRECOVERABLE) from ValueError("failed to recover ECDSA public key")
            out = new("unsigned char[65]")
            _lib.secp256k1_ec_pubkey_serialize(_CTX, out, new("size_t *", 65), point, _EC_UNCOMPRESSED)
            public: bytes = _ffi.buffer(out)[1:]
            return public
    try:
        pub = coincurve.PublicKey.from_signature_and_message(compact, digest, hasher=None)
    except Exception as exc:  # coincurve raises a bare Exception for unrecoverable signatures
        raise InvalidSignature(_UNRECOVERABLE) from exc
    return bytes(pub.format(compressed=False)[1:])


def _public_key_of(secret: bytes) -> bytes:
    """The 64-byte public key (x || y) of a secret already checked to be in [1, n-1]."""
    # Two libsecp256k1 calls (create, serialise) as coincurve.PublicKey.from_valid_secret + format
    # make them, without its wrapper objects: vault unlock and migration rebuild a key per file.
    if _FAST_RECOVER and type(secret) is bytes and len(secret) == SECP256K1_SECRET_BYTES:
        new = _ffi.new
        point = new("secp256k1_pubkey *")
        if not _lib.secp256k1_ec_pubkey_create(_CTX, point, secret):
            raise InvalidKey("secp256k1 secret is out of range")
        out = new("unsigned char[65]")
        _lib.secp256k1_ec_pubkey_serialize(_CTX, out, new("size_t *", 65), point, _EC_UNCOMPRESSED)
        public: bytes = _ffi.buffer(out)[1:]
        return public
    return bytes(coincurve.PublicKey.from_valid_secret(secret).format(compressed=False)[1:])


def recover_public_key(digest: Hash32, signature: RecoverableSignature) -> bytes:
    """Recover the signer's 64-byte public key (x || y). Raises :class:`InvalidSignature`."""
    # libsecp256k1 wants the 65-byte compact form with recid last; low-s was enforced by the
    # RecoverableSignature constructor, so malleated signatures never reach this point.
    return _recover_compact(digest, signature.to_bytes())


def recover_address(digest: Hash32, signature: RecoverableSignature) -> Address:
    """Recover the signer's address from a digest and a low-s signature."""
    return Address(keccak256(_recover_compact(digest, signature.to_bytes()))[12:])


def _recover_address_compact(digest: Hash32, compact: bytes) -> Address:
    """:func:`recover_address` for ``signature.to_bytes()`` of a :class:`RecoverableSignature`
    (so low-s already holds): verifiers serialise the signature once, for recovery and for M'."""
    address: Address = _keccak_256(_recover_compact(digest, compact)).digest()[12:]  # keccak256(), inline
    return address


class Secp256k1PrivateKey:
    """A secp256k1 signing key. Holds its secret in a bytearray so :meth:`destroy` can wipe it.

    # NOTE: libsecp256k1 (through coincurve) keeps its own copy of the secret while a handle exists;
    # destroy() drops that handle, but cannot wipe memory inside the C library or interpreter. The
    # handle is made only when the key first signs: loading a key to check it (keystore unlock, the
    # signer's health check) derives the public key alone, which is also ~2x cheaper.
    """

    __slots__ = ("_address", "_handle", "_live", "_public_key", "_secret")

    def __init__(self, secret: bytes | bytearray) -> None:
        if len(secret) != SECP256K1_SECRET_BYTES:
            raise InvalidKey("secp256k1 secret must be 32 bytes")
        value = int.from_bytes(secret, "big")
        if not 0 < value < SECP256K1_N:
            raise InvalidKey("secp256k1 secret is out of range")
        self._secret = bytearray(secret)
        self._handle: coincurve.PrivateKey | None = None
        self._live = True
        self._public_key = _public_key_of(bytes(self._secret))
        self._address: Address | None = None

    @classmethod
    def generate(cls) -> Secp256k1PrivateKey:
        """A fresh key from the OS CSPRNG, read straight into a wipeable buffer."""
        secret = bytearray(SECP256K1_SECRET_BYTES)
        try:
            while True:  # rejection sampling: P(out of range) ~ 2**-128
                with open("/dev/urandom", "rb", buffering=0) as source:
                    source.readinto(secret)
                if 0 < int.from_bytes(secret, "big") < SECP256K1_N:
                    return cls(secret)
        finally:
            zeroize(secret)

    @property
    def public_key_bytes(self) -> bytes:
        """Uncompressed public key x || y, 64 bytes."""
        return self._public_key

    @property
    def address(self) -> Address:
        """The Ethereum address of this key (computed once: every composite signature needs it)."""
        address = self._address
        if address is None:
            address = self._address = public_key_to_address(self._public_key)
        return address

    def secret_bytes(self) -> bytes:
        """The 32-byte secret. Dangerous: only for sealing into a keystore."""
        self._require_live()
        return bytes(self._secret)

    def sign_digest(self, digest: Hash32) -> RecoverableSignature:
        """Sign a 32-byte digest (RFC 6979 deterministic nonce, low-s as libsecp256k1 produces)."""
        handle = self._require_live()
        if len(digest) != 32:
            raise InvalidKey("digest must be 32 bytes")
        raw = handle.sign_recoverable(digest, hasher=None)
        return RecoverableSignature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:64], "big"), raw[64])

    def destroy(self) -> None:
        """Wipe our copy of the secret and drop the library handle. The key is unusable afterwards."""
        zeroize(self._secret)
        self._handle = None
        self._live = False

    @property
    def destroyed(self) -> bool:
        """True once :meth:`destroy` has run."""
        return not self._live

    def _require_live(self) -> coincurve.PrivateKey:
        if not self._live:
            raise InvalidKey("secp256k1 key has been destroyed")
        if self._handle is None:
            self._handle = coincurve.PrivateKey(bytes(self._secret))
        return self._handle

    def __repr__(self) -> str:  # never show the secret
        return f"Secp256k1PrivateKey(address=0x{self.address.hex()})"
