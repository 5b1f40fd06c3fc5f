"""The vault's bulk unlock loop (docs/keystore.md §4 and §11).

:meth:`Vault.unlock_all <chainplug.keystore.vault.Vault.unlock_all>` and :meth:`Vault.open_and_unlock
<chainplug.keystore.vault.Vault.open_and_unlock>` open thousands of key files that share one salt,
one iteration count and one KEM key. Per key this loop does exactly what :meth:`Vault.load` does —
canonical form, the header names this file, the vault's KDF parameters, the KEM key id, ML-KEM
decapsulation, HKDF, AES-GCM, rebuilding the key and comparing its public key — with the per-key
Python work cut down: the file is read relative to a directory descriptor, the canonical layout
is matched once (``format._CANONICAL_KEY_FILE``) and compared with the file name, the vault's
salt and the KEM key id as bytes, and the password key, the HKDF input and the output buffers are
shared across keys.

Anything this loop does not take — a file that is not the vault's own canonical file, a failed
decryption, a key that does not match its header — goes to the general path (``fallback``, i.e.
:meth:`Vault.load`), which raises what a one-key load raises, with the same message. The loop
never raises a keystore error of its own.

:meth:`BulkUnlock.prepare_during` overlaps the two halves of the work: the password-independent
part of each key (read, parse, SHA3-256 of the header, ML-KEM decapsulation) runs in the calling
thread while PBKDF2 runs in another one (OpenSSL releases the GIL while it derives). Nothing is
decrypted before the manifest has confirmed both factors. Splitting the per-key work itself over
two threads gains nothing: ML-KEM decapsulation, HKDF and AES-GCM hold the GIL.
"""

from __future__ import annotations

import binascii
import hashlib
import hmac
import os
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from ..constants import KEYSTORE_HKDF_INFO, KEYSTORE_KEY_BYTES
from ..crypto import Secp256k1PrivateKey, get_backend, keccak256
from ..errors import CryptoError
from .format import (
    _ALGORITHMS,
    _CANONICAL_KEY_FILE,
    MAX_GENERATION,
    SECRET_BYTES,
    KdfParams,
    KeyAlgorithm,
    KeyFileHeader,
    SealParams,
)
from .kem import KemKey
from .seal import PrivateKey, UnlockedKey

Fallback = Callable[[str], UnlockedKey]
"""Open one key file (by name) the general way: :meth:`Vault.load`."""

_READ_FLAGS = os.O_RDONLY | os.O_CLOEXEC
_READ_LIMIT = 16 * 1024
"""A canonical key file is ~3.5 KB (secp256k1) or ~8.7 KB (ML-DSA-87); a larger one goes to the
general path, which applies the real limit."""
_ZEROS = bytes(KEYSTORE_KEY_BYTES)
_SHA3_256 = hashes.SHA3_256()


@dataclass(slots=True)
class _Prepared:
    """One key file, parsed and checked, before decryption."""

    header: KeyFileHeader
    ciphertext: bytes
    associated_data: bytes
    info: bytes
    """HKDF info: KEYSTORE_HKDF_INFO || SHA3-256(associated data)."""
    shared_secret: bytes | None = None
    """Filled in by :meth:`BulkUnlock.prepare_during` (the decapsulation, done ahead)."""


class BulkUnlock:
    """The per-vault state of one bulk unlock: names to open, and what is already prepared."""

    def __init__(self, dir_fd: int, names: Sequence[str], kdf: KdfParams, kem_key: KemKey) -> None:
        self._dir_fd = dir_fd
        self.names = names
        self._kdf = kdf
        self._kem_key = kem_key
        self._salt = kdf.salt.hex().encode("ascii")
        self._iterations = str(kdf.iterations).encode("ascii")
        self._key_id = kem_key.key_id.hex().encode("ascii")
        self._prepared: list[_Prepared | None] = []
        """Index i holds key i prepared ahead, or None where the general path must decide."""

    # --- password-independent work --------------------------------------------------------

    def _read(self, name: str) -> bytes | None:
        try:
            fd = os.open(name, _READ_FLAGS, dir_fd=self._dir_fd)
        except OSError:
            return None
        try:
            raw = os.read(fd, _READ_LIMIT)
            if len(raw) >= _READ_LIMIT or os.read(fd, 1):
                return None
        finally:
            os.close(fd)
        return raw

    def _prepare(self, name: str) -> _Prepared | None:
        """Read and parse one key file; None unless it is this vault's canonical file for ``name``."""
        raw = self._read(name)
        if raw is None:
            return None
        m = _CANONICAL_KEY_FILE.fullmatch(raw)
        # no upper-case letter anywhere: lower-case hex (the fixed text has no capitals)
        if m is None or raw.lower() != raw:
            return None
        ct, ad, address, algorithm, nonce, generation, iterations, salt, kem_ct, key_id, k1, pqc, classical = m.groups()
        # the header names this file (name and groups are both canonical: equal bytes = equal fields),
        # carries this vault's KDF parameters and is sealed to this KEM key
        if (
            b"0x%s.%s.g%s.json" % (address, algorithm, generation) != name.encode("ascii")
            or salt != self._salt
            or iterations != self._iterations
            or key_id != self._key_id
        ):
            return None
        kind = _ALGORITHMS[algorithm.decode("ascii")]
        if (kind is KeyAlgorithm.SECP256K1) is (k1 is None):  # its public key is the other algorithm's
            return None
        try:
            header = _header(address, kind, int(generation), k1 or pqc, classical, self._kdf, self._kem_key.key_id)
            header_seal = header.seal
            _set(header_seal, "kem_ciphertext", _unhex(kem_ct))
            _set(header_seal, "nonce", _unhex(nonce))
            ciphertext = _unhex(ct)
        except binascii.Error:  # not hex
            return None
        account_key = k1 or classical
        if account_key is not None and keccak256(_unhex(account_key))[12:] != header.address:
            return None
        return _Prepared(header, ciphertext, ad, KEYSTORE_HKDF_INFO + hashlib.sha3_256(ad).digest())

    def prepare_during(self, check_factors: Callable[[], None]) -> None:
        """Run ``check_factors`` (PBKDF2 and the manifest: OpenSSL releases the GIL while it
        derives) in a second thread and, until it returns, prepare keys here in order,
        decapsulation included; then re-raise what it raised. Preparing stops at the first file
        the general path must decide: keys after it are not needed if that one fails."""
        failed: list[BaseException] = []
        done = threading.Event()

        def run() -> None:
            try:
                check_factors()
            except BaseException as exc:  # re-raised in the calling thread
                failed.append(exc)
            finally:
                done.set()

        worker = threading.Thread(target=run, name="chainplug-vault-pbkdf2", daemon=True)
        worker.start()
        try:
            self._prepare_until(done.is_set)
        finally:
            worker.join()
        if failed:
            self._prepared.clear()  # the decapsulations done ahead are not needed
            raise failed[0]

    def _prepare_until(self, stop: Callable[[], bool]) -> None:
        decapsulate = self._kem_key.decapsulate
        prepared = self._prepared
        for name in self.names[len(prepared) :]:
            if stop():
                return
            entry = self._prepare(name)
            prepared.append(entry)
            if entry is None:
                return
            entry.shared_secret = decapsulate(entry.header.seal.kem_ciphertext)

    # --- with the password key ------------------------------------------------------------

    def finish(
        self, password_key: bytearray, fallback: Fallback, progress: Callable[[int, int], None] | None
    ) -> list[UnlockedKey]:
        """Open every key (in ``names`` order). All or nothing: on a failure the keys opened so
        far are destroyed and the general path's error is raised."""
        names, prepared, total = self.names, self._prepared, len(self.names)
        decapsulate = self._kem_key.decapsulate
        ikm = bytearray(password_key)
        ikm += _ZEROS  # password key || shared secret: one buffer, the second half rewritten per key
        kek = bytearray(KEYSTORE_KEY_BYTES)
        secret = bytearray(SECRET_BYTES)
        unlocked: list[UnlockedKey] = []
        try:
            for i, name in enumerate(names):
                entry = prepared[i] if i < len(prepared) else self._prepare(name)
                key = None
                if entry is not None:
                    shared = entry.shared_secret or decapsulate(entry.header.seal.kem_ciphertext)
                    entry.shared_secret = None
                    ikm[KEYSTORE_KEY_BYTES:] = shared
                    HKDF(_SHA3_256, KEYSTORE_KEY_BYTES, None, entry.info).derive_into(ikm, kek)
                    ikm[KEYSTORE_KEY_BYTES:] = _ZEROS
                    key = _open(entry, kek, secret)
                if entry is None or key is None:
                    unlocked.append(fallback(name))  # raises what Vault.load raises for this key
                else:
                    unlocked.append(UnlockedKey(entry.header, key))
                if progress is not None:
                    progress(i + 1, total)
        except BaseException:
            for done in unlocked:
                done.destroy()
            raise
        finally:
            ikm[:] = bytes(len(ikm))
            kek[:] = _ZEROS
            secret[:] = _ZEROS
            prepared.clear()
        return unlocked


def key_names(dir_fd: int, pattern: re.Pattern[str]) -> list[str]:
    """The names in a directory that ``pattern`` (a vault's key-file names) matches, in
    :class:`~.vault.KeyRef` order — what :func:`~.vault.inventory` lists as keys — without
    building the refs. Group 3, the generation, must fit in 32 bits."""
    found = []
    for name in os.listdir(dir_fd):
        match = pattern.fullmatch(name)
        if match is not None and (generation := int(match[3])) <= MAX_GENERATION:
            found.append((match[1], match[2], generation, name))
    found.sort()
    return [entry[3] for entry in found]


_new = object.__new__
_set = object.__setattr__
_unhex = binascii.unhexlify


def _header(
    address: bytes,
    kind: KeyAlgorithm,
    generation: int,
    public_key: bytes,
    classical: bytes | None,
    kdf: KdfParams,
    key_id: bytes,
) -> KeyFileHeader:
    """A :class:`KeyFileHeader` built from a match of the canonical layout without running its
    constructor: the layout fixes every length, :meth:`BulkUnlock._prepare` compared the rest
    (name, KDF, key id, algorithm of the public key) and checks the address of the secp256k1 key
    after this. The nonce and KEM ciphertext are set by the caller."""
    seal = _new(SealParams)
    _set(seal, "kdf", kdf)
    _set(seal, "kem_key_id", key_id)
    header = _new(KeyFileHeader)
    _set(header, "address", _unhex(address))
    _set(header, "algorithm", kind)
    _set(header, "generation", generation)
    _set(header, "public_key", _unhex(public_key))
    _set(header, "classical_public_key", None if classical is None else _unhex(classical))
    _set(header, "seal", seal)
    return header


def _open(entry: _Prepared, kek: bytearray, secret: bytearray) -> PrivateKey | None:
    """Decrypt into ``secret``, rebuild the key and compare its public key; None on any failure
    (the caller then asks the general path, which says what failed)."""
    header = entry.header
    try:
        AESGCM(kek).decrypt_into(header.seal.nonce, entry.ciphertext, entry.associated_data, secret)
    except InvalidTag:
        secret[:] = _ZEROS
        return None
    finally:
        kek[:] = _ZEROS
    try:
        if header.algorithm is KeyAlgorithm.SECP256K1:
            key: PrivateKey = Secp256k1PrivateKey(secret)
        else:
            key = get_backend().mldsa87_from_seed(bytes(secret))
    except CryptoError:
        return None
    finally:
        secret[:] = _ZEROS
    if not hmac.compare_digest(key.public_key_bytes, header.public_key):
        key.destroy()
        return None
    return key
