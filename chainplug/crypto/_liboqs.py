"""Second PQC backend: liboqs through liboqs-python, only when a usable liboqs shared library is loadable.

Three things make this module more careful than a thin wrapper:

* **No silent download.** ``import oqs`` git-clones and builds liboqs when it finds no library, so it is
  imported only after :func:`~chainplug.crypto._liboqs_probe.probe_liboqs` found the very library ``oqs``
  will load and checked it (chainplug.crypto._liboqs_probe, which ``auto`` backend selection asks alone).
* **Seed-form ML-DSA keys.** liboqs (through 0.16) has no seed-based ML-DSA key generation: there is
  no ``OQS_SIG_keypair_derand`` (liboqs PR #2230 was closed, #2476 is open without consensus), and
  liboqs-python's ``Signature`` has no seed method. FIPS 204 Algorithm 1 is "xi <- 32 random bytes;
  return ML-DSA.KeyGen_internal(xi)", and liboqs' ``OQS_SIG_keypair`` draws xi with exactly one
  32-byte ``OQS_randombytes`` call. :meth:`LiboqsBackend.mldsa87_from_seed` serves the stored seed to
  that one call through ``OQS_randombytes_custom_algorithm`` (only to the calling thread; every other
  request gets ``os.urandom``) and then *checks* that liboqs used it: the public key and the expanded
  secret key start with rho, the secret key continues with K and tr, and all three are recomputed here
  from xi with SHAKE-256 (FIPS 204 Alg. 6 line 1, Alg. 22 and Alg. 24). Any mismatch raises
  :class:`~chainplug.errors.BackendUnavailable`; nothing is faked.
* **Final standards only.** Loading runs a known-answer self-test (key generation from the first
  ML-DSA-87 and ML-KEM-1024 vectors of ``tests/vectors/acvp/``) and a sign/verify and
  encapsulate/decapsulate pairwise test, so a pre-standard ("ipd") build is refused.

ML-KEM-1024 seed key generation is ``OQS_KEM_keypair_derand`` (liboqs >= 0.13; liboqs-python >= 0.14
``KeyEncapsulation.generate_keypair_seed``), seed = d || z as in FIPS 203 ``KeyGen_internal``.

**Direct calls.** ML-DSA-87 key generation, signing and verification and ML-KEM-1024 decapsulation
call liboqs' own ``OQS_SIG_ml_dsa_87_*`` / ``OQS_KEM_ml_kem_1024_decaps`` functions through ctypes
prototypes (:class:`_Native`), passing the caller's ``bytes`` without copying them; liboqs-python's
methods copy every input into a fresh ctypes buffer first (~7 KB per verification) and allocate an
``OQS_SIG`` object per key. An ML-DSA-87 secret key lives in a ctypes buffer of this module, wiped
with ``OQS_MEM_cleanse`` on :meth:`destroy`. liboqs-python loads the library, and its
``KeyEncapsulation`` owns ML-KEM keys (seeded key generation, ``OQS_MEM_cleanse`` and free).

What this backend cannot wipe: liboqs-python copies secret keys into ctypes buffers that
``Signature.free``/``KeyEncapsulation.free`` cleanse with ``OQS_MEM_cleanse`` on :meth:`destroy`, but
``bytes`` copies made by Python on the way are beyond reach (see ``chainplug.crypto.zeroize``).
"""

from __future__ import annotations

import ctypes
import hashlib
import importlib
import importlib.metadata
import logging
import os
import sys
import threading
from collections.abc import Callable
from typing import Any

from ..constants import (
    MLDSA87_PUBLIC_KEY_BYTES,
    MLDSA87_SEED_BYTES,
    MLDSA87_SIGNATURE_BYTES,
    MLDSA_MAX_CONTEXT_BYTES,
    MLKEM1024_CIPHERTEXT_BYTES,
    MLKEM1024_ENCAPSULATION_KEY_BYTES,
    MLKEM1024_SEED_BYTES,
    MLKEM1024_SHARED_SECRET_BYTES,
)
from ..errors import BackendUnavailable, CryptoError, InvalidKey, InvalidSignature
from ._liboqs_probe import MLDSA_ALG, MLKEM_ALG, probe_liboqs
from .pqc import (
    MLDSA87SigningKey,
    MLDSA87VerifyingKey,
    MLKEM1024DecapsulationKey,
    PQCBackend,
    check_context,
    check_mldsa87_public_key,
)
from .zeroize import zeroize

# FIPS 204 ML-DSA-87 parameters needed to check a seed-derived key (Table 1), and its expanded
# secret key size (Table 2), which liboqs must agree with (checked at load).
_MLDSA87_K = 8
_MLDSA87_L = 7
_MLDSA87_SECRET_KEY_BYTES = 4896

# Power-on known answers: count = 0 of cryptography-vectors 50.0.2 kat_MLDSA_87_det_pure.rsp and
# kat_MLKEM_1024.rsp (tests/vectors/acvp/), as seed -> sha256(public key).
_SELFTEST_MLDSA87_XI = bytes.fromhex("f696484048ec21f96cf50a56d0759c448f3779752f0383d37449690694cf7a68")
_SELFTEST_MLDSA87_PK_SHA256 = "b509c4ebd6b5fa67009c73cc7cebe55a3f38486a24acfbf9d91dd04f63e660b5"
_SELFTEST_MLKEM1024_DZ = bytes.fromhex(
    "6dbbc4375136df3b07f7c70e639e223e177e7fd53b161b3f4d57791794f12624"
    "f696484048ec21f96cf50a56d0759c448f3779752f0383d37449690694cf7a68"
)
_SELFTEST_MLKEM1024_EK_SHA256 = "b6dff88f25fef3b0bbee12f9c5fe8174c6df6f300e0d975419cef692759d6906"


# --- deterministic ML-DSA key generation through liboqs' RNG hook ------------------------------

_RANDOMBYTES_FN = ctypes.CFUNCTYPE(None, ctypes.POINTER(ctypes.c_uint8), ctypes.c_size_t)


class _SeedInjector:
    """Serves one seed to the first ``OQS_randombytes`` request made by one thread.

    Installed process-wide with ``OQS_randombytes_custom_algorithm`` only for the duration of one
    ``OQS_SIG_keypair`` call (serialised by :attr:`lock`); requests from any other thread, and any
    further request, get ``os.urandom``. Afterwards liboqs' own RNG is restored (OpenSSL if liboqs was
    built with it, else the system RNG). Applications that installed their own liboqs RNG lose it.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self._owner: int | None = None
        self._seed: bytearray | None = None
        self.requests: list[int] = []
        self.callback = _RANDOMBYTES_FN(self._fill)  # kept alive as long as the module

    def _fill(self, buf: Any, n: int) -> None:
        # liboqs cannot see a Python exception and would go on with an unfilled buffer. So on any
        # error (even a KeyboardInterrupt landing here) fill from os.urandom once more, and if that
        # fails too end the process, as liboqs' own system RNG does (exit) when getrandom fails. A
        # seed request answered that way yields a key that fails the check in _mldsa87_keygen.
        try:
            seed = self._seed
            if threading.get_ident() == self._owner and seed is not None:
                self.requests.append(n)
                if len(self.requests) == 1 and n == len(seed):
                    ctypes.memmove(buf, (ctypes.c_char * n).from_buffer(seed), n)
                    return
            ctypes.memmove(buf, os.urandom(n), n)
        except BaseException:
            try:
                ctypes.memmove(buf, os.urandom(n), n)
            except BaseException:
                os.abort()

    def arm(self, seed: bytearray) -> None:
        self._owner = threading.get_ident()
        self._seed = seed
        self.requests = []

    def disarm(self) -> None:
        self._seed = None
        self._owner = None


_INJECTOR = _SeedInjector()


def _rng_functions(native: Any) -> tuple[Callable[[Any], None], Callable[[bytes], int]]:
    """(OQS_randombytes_custom_algorithm, OQS_randombytes_switch_algorithm) of the loaded liboqs, as
    private foreign-function objects (liboqs-python's own attributes keep their argtypes)."""
    set_proto = ctypes.CFUNCTYPE(None, _RANDOMBYTES_FN)
    switch_proto = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_char_p)
    return (
        set_proto(("OQS_randombytes_custom_algorithm", native)),
        switch_proto(("OQS_randombytes_switch_algorithm", native)),
    )


class _Native:
    """The calls on chainplug's hot paths, as ctypes prototypes of liboqs' algorithm-specific functions.

    Inputs go to C as pointers into the callers' ``bytes`` (no copy); secret keys are the ctypes buffers
    liboqs-python allocated for the key (and cleanses when it is freed). ctypes releases the GIL for
    the duration of each call.
    """

    def __init__(self, lib: Any) -> None:
        buf, size = ctypes.c_char_p, ctypes.c_size_t
        self._verify = ctypes.CFUNCTYPE(ctypes.c_int, buf, size, buf, size, buf, size, buf)(
            ("OQS_SIG_ml_dsa_87_verify_with_ctx_str", lib)
        )
        self._sign = ctypes.CFUNCTYPE(ctypes.c_int, buf, ctypes.POINTER(size), buf, size, buf, size, buf)(
            ("OQS_SIG_ml_dsa_87_sign_with_ctx_str", lib)
        )
        self._decaps = ctypes.CFUNCTYPE(ctypes.c_int, buf, buf, buf)(("OQS_KEM_ml_kem_1024_decaps", lib))
        self._keypair = ctypes.CFUNCTYPE(ctypes.c_int, buf, buf)(("OQS_SIG_ml_dsa_87_keypair", lib))
        self._cleanse = ctypes.CFUNCTYPE(None, buf, size)(("OQS_MEM_cleanse", lib))

    def mldsa87_keypair(self) -> tuple[bytes, Any]:
        """(public key, secret-key buffer) from OQS_SIG_ml_dsa_87_keypair, which draws xi through
        ``OQS_randombytes`` (see :class:`_SeedInjector`)."""
        public = ctypes.create_string_buffer(MLDSA87_PUBLIC_KEY_BYTES)
        secret = ctypes.create_string_buffer(_MLDSA87_SECRET_KEY_BYTES)
        if self._keypair(public, secret) != 0:
            self._cleanse(secret, _MLDSA87_SECRET_KEY_BYTES)
            raise CryptoError("liboqs ML-DSA-87 key generation failed")
        return public.raw, secret

    def cleanse(self, buffer: Any) -> None:
        """OQS_MEM_cleanse over a whole ctypes buffer (not optimised away by the compiler)."""
        self._cleanse(buffer, ctypes.sizeof(buffer))

    def mldsa87_verify(self, message: bytes, signature: bytes, context: bytes, public_key: bytes) -> bool:
        """OQS_SIG_ml_dsa_87_verify_with_ctx_str == OQS_SUCCESS (public key length checked by the caller)."""
        status = self._verify(message, len(message), signature, len(signature), context, len(context), public_key)
        return bool(status == 0)

    def mldsa87_sign(self, secret_key: Any, message: bytes, context: bytes) -> bytes:
        out = ctypes.create_string_buffer(MLDSA87_SIGNATURE_BYTES)
        length = ctypes.c_size_t(MLDSA87_SIGNATURE_BYTES)
        if self._sign(out, ctypes.byref(length), message, len(message), context, len(context), secret_key) != 0:
            raise CryptoError("liboqs ML-DSA-87 signing failed")
        if length.value != MLDSA87_SIGNATURE_BYTES:
            raise CryptoError("liboqs returned an ML-DSA-87 signature of the wrong length")
        return out.raw

    def mlkem1024_decaps(self, secret_key: Any, ciphertext: bytes) -> bytes:
        out = ctypes.create_string_buffer(MLKEM1024_SHARED_SECRET_BYTES)
        if self._decaps(out, ciphertext, secret_key) != 0:
            raise InvalidKey("liboqs ML-KEM-1024 decapsulation failed")
        return out.raw


def _bind_native(lib: Any) -> Any:
    """:class:`_Native` for the loaded liboqs (a separate function so tests can bind a stand-in)."""
    return _Native(lib)


def _as_bytes(data: bytes) -> bytes:
    """ctypes passes only ``bytes`` by pointer; callers may hand in a bytearray or memoryview."""
    return data if type(data) is bytes else bytes(data)


def _import_oqs() -> Any:
    """``import oqs``, only ever called once :func:`probe_liboqs` found a usable library.

    liboqs-python 0.16 logs an INFO line ("liboqs-python faulthandler is disabled") at import through a
    handler it attaches to *stdout*, which would corrupt command output such as ``--json``. Its logger is
    silenced for the import and that handler removed; its warnings still reach stderr through logging's
    last-resort handler.
    """
    logger = logging.getLogger("oqs.oqs")
    was_disabled = logger.disabled
    logger.disabled = True
    try:
        oqs = importlib.import_module("oqs")
    finally:
        logger.disabled = was_disabled
    for handler in list(logger.handlers):
        if isinstance(handler, logging.StreamHandler) and handler.stream in (sys.stdout, sys.__stdout__):
            logger.removeHandler(handler)
    return oqs


def _expected_mldsa87_prefix(seed: bytes | bytearray) -> tuple[bytes, bytes]:
    """(rho, K) = the parts of H(xi || k || l, 128) that pkEncode/skEncode store verbatim."""
    expanded = hashlib.shake_256(bytes(seed) + bytes((_MLDSA87_K, _MLDSA87_L))).digest(128)
    return expanded[:32], expanded[96:128]


# --- keys ------------------------------------------------------------------------------------


class _SigningKey(MLDSA87SigningKey):
    backend_name = "liboqs"

    def __init__(self, backend: LiboqsBackend, seed: bytes | bytearray) -> None:
        if len(seed) != MLDSA87_SEED_BYTES:
            raise InvalidKey("ML-DSA-87 seed must be 32 bytes")
        self._seed = bytearray(seed)
        self._native = backend._native
        self._secret: Any = None
        self._public, self._secret = backend._mldsa87_keygen(self._seed)

    @property
    def public_key_bytes(self) -> bytes:
        return self._public

    def _live(self) -> Any:
        if self._secret is None:
            raise InvalidKey("ML-DSA-87 key has been destroyed")
        return self._secret

    def seed_bytes(self) -> bytes:
        self._live()
        return bytes(self._seed)

    def _sign(self, message: bytes, context: bytes) -> bytes:
        signature: bytes = self._native.mldsa87_sign(self._live(), _as_bytes(message), _as_bytes(context))
        return signature

    def destroy(self) -> None:
        zeroize(self._seed)
        secret, self._secret = self._secret, None
        if secret is not None:
            self._native.cleanse(secret)  # the expanded secret key


class _VerifyingKey(MLDSA87VerifyingKey):
    __slots__ = ("_native", "_raw")

    def __init__(self, native: Any, public_key: bytes) -> None:
        check_mldsa87_public_key(public_key)
        self._raw = bytes(public_key)
        self._native = native

    @property
    def public_key_bytes(self) -> bytes:
        return self._raw

    def verify(self, signature: bytes, message: bytes, context: bytes) -> None:
        # The base class's checks, in its order, without its three layers of calls (hot path).
        if len(context) > MLDSA_MAX_CONTEXT_BYTES:
            check_context(context)  # raises
        if len(signature) != MLDSA87_SIGNATURE_BYTES or not self._native.mldsa87_verify(
            _as_bytes(message), _as_bytes(signature), _as_bytes(context), self._raw
        ):
            raise InvalidSignature("ML-DSA-87 signature does not verify")

    def _verify(self, signature: bytes, message: bytes, context: bytes) -> bool:
        valid: bool = self._native.mldsa87_verify(
            _as_bytes(message), _as_bytes(signature), _as_bytes(context), self._raw
        )
        return valid


class _DecapsulationKey(MLKEM1024DecapsulationKey):
    def __init__(self, oqs: Any, native: Any, seed: bytes | bytearray) -> None:
        if len(seed) != MLKEM1024_SEED_BYTES:
            raise InvalidKey("ML-KEM-1024 seed must be 64 bytes")
        self._seed = bytearray(seed)
        self._native = native
        kem = oqs.KeyEncapsulation(MLKEM_ALG)
        try:
            ek = kem.generate_keypair_seed(bytes(self._seed))
        except (RuntimeError, ValueError) as exc:
            kem.free()
            raise InvalidKey("liboqs could not derive an ML-KEM-1024 key from this seed") from exc
        if not isinstance(ek, bytes) or len(ek) != MLKEM1024_ENCAPSULATION_KEY_BYTES:
            kem.free()
            raise BackendUnavailable("liboqs returned an ML-KEM-1024 encapsulation key of the wrong length")
        self._kem: Any = kem
        self._ek = ek

    @property
    def encapsulation_key_bytes(self) -> bytes:
        return self._ek

    def _live(self) -> Any:
        if self._kem is None:
            raise InvalidKey("ML-KEM-1024 key has been destroyed")
        return self._kem

    def seed_bytes(self) -> bytes:
        self._live()
        return bytes(self._seed)

    def _decapsulate(self, ciphertext: bytes) -> bytes:
        shared: bytes = self._native.mlkem1024_decaps(self._live().secret_key, _as_bytes(ciphertext))
        return shared

    def destroy(self) -> None:
        """Wipe the seed and the expanded decapsulation key (OQS_MEM_cleanse) and free the handle."""
        zeroize(self._seed)
        kem, self._kem = self._kem, None
        if kem is not None:
            kem.free()


# --- the backend -----------------------------------------------------------------------------


class LiboqsBackend(PQCBackend):
    """ML-DSA-87 / ML-KEM-1024 from liboqs via liboqs-python.

    Raises :class:`BackendUnavailable` when no usable liboqs is loadable (see :func:`probe_liboqs`),
    when ``oqs`` binds a different library than the one probed, or when the load-time known-answer
    and pairwise self-tests fail.
    """

    name = "liboqs"

    def __init__(self) -> None:
        probe = probe_liboqs()
        if not probe.usable:
            raise BackendUnavailable(f"liboqs backend unavailable: {probe.problem}")
        try:
            oqs: Any = _import_oqs()  # safe now: the library it will load exists
        except (Exception, SystemExit) as exc:  # oqs raises SystemExit when it cannot load
            raise BackendUnavailable(f"importing liboqs-python failed: {exc!r}") from exc
        loaded = str(oqs.oqs_version())
        if loaded != probe.version:
            raise BackendUnavailable(
                f"liboqs-python loaded liboqs {loaded}, not the liboqs {probe.version} checked at {probe.path}"
            )
        self._setup(oqs)
        self._description = (
            f"liboqs {loaded} ({probe.path}) via liboqs-python {importlib.metadata.version('liboqs-python')}"
        )

    @property
    def description(self) -> str:
        return getattr(self, "_description", "liboqs")

    def _setup(self, oqs: Any) -> None:
        """Bind to an imported ``oqs`` module and run the self-tests (split out for testing)."""
        self._oqs = oqs
        if not hasattr(getattr(oqs, "KeyEncapsulation", None), "generate_keypair_seed"):
            raise BackendUnavailable("liboqs-python is too old: oqs.KeyEncapsulation.generate_keypair_seed is missing")
        if MLDSA_ALG not in oqs.get_enabled_sig_mechanisms():
            raise BackendUnavailable(f"liboqs was built without {MLDSA_ALG}")
        if MLKEM_ALG not in oqs.get_enabled_kem_mechanisms():
            raise BackendUnavailable(f"liboqs was built without {MLKEM_ALG}")
        self._set_rng, self._switch_rng = _rng_functions(oqs.native())
        self._native = _bind_native(oqs.native())
        sizes = oqs.Signature(MLDSA_ALG)
        try:
            expected = (MLDSA87_PUBLIC_KEY_BYTES, _MLDSA87_SECRET_KEY_BYTES, MLDSA87_SIGNATURE_BYTES)
            if (sizes.length_public_key, sizes.length_secret_key, sizes.length_signature) != expected:
                raise BackendUnavailable("liboqs' ML-DSA-87 key or signature sizes differ from FIPS 204's")
        finally:
            sizes.free()
        self._rng_names: tuple[bytes, ...] = (b"OpenSSL", b"system")
        self._encapsulator = oqs.KeyEncapsulation(MLKEM_ALG)  # likewise for encapsulation
        self._self_test()

    def _self_test(self) -> None:
        key = self.mldsa87_from_seed(_SELFTEST_MLDSA87_XI)
        try:
            if hashlib.sha256(key.public_key_bytes).hexdigest() != _SELFTEST_MLDSA87_PK_SHA256:
                raise BackendUnavailable("liboqs ML-DSA-87 key generation does not match the FIPS 204 known answer")
            message, context = b"chainplug liboqs self-test", b"chainplug"
            signature = key.sign(message, context)
            verifier = self.mldsa87_public_key(key.public_key_bytes)
            verifier.verify(signature, message, context)
            try:
                verifier.verify(signature, message, b"")
            except InvalidSignature:
                pass
            else:
                raise BackendUnavailable("liboqs ML-DSA-87 ignores the context string")
        except InvalidSignature as exc:
            raise BackendUnavailable("liboqs ML-DSA-87 pairwise self-test failed") from exc
        finally:
            key.destroy()
        kem_key = _DecapsulationKey(self._oqs, self._native, _SELFTEST_MLKEM1024_DZ)
        try:
            if hashlib.sha256(kem_key.encapsulation_key_bytes).hexdigest() != _SELFTEST_MLKEM1024_EK_SHA256:
                raise BackendUnavailable("liboqs ML-KEM-1024 key generation does not match the FIPS 203 known answer")
            shared, ciphertext = self.mlkem1024_encapsulate(kem_key.encapsulation_key_bytes)
            if kem_key.decapsulate(ciphertext) != shared:
                raise BackendUnavailable("liboqs ML-KEM-1024 pairwise self-test failed")
        finally:
            kem_key.destroy()

    def _restore_rng(self) -> None:
        for algorithm in self._rng_names:
            if self._switch_rng(algorithm) == 0:
                self._rng_names = (algorithm,)  # the one this build has: try it alone from now on
                return
        # Neither is available: our callback stays installed, disarmed, serving os.urandom.

    def _mldsa87_keygen(self, seed: bytearray) -> tuple[bytes, Any]:
        """OQS_SIG_ml_dsa_87_keypair with xi = ``seed`` (see the module docstring), checked against xi:
        (public key, secret-key buffer)."""
        with _INJECTOR.lock:
            _INJECTOR.arm(seed)
            self._set_rng(_INJECTOR.callback)
            try:
                public, secret = self._native.mldsa87_keypair()
            finally:
                _INJECTOR.disarm()
                self._restore_rng()
            requests = list(_INJECTOR.requests)
        rho, k_seed = _expected_mldsa87_prefix(seed)
        consistent = (
            bool(requests)
            and requests[0] == MLDSA87_SEED_BYTES
            and isinstance(public, bytes)
            and len(public) == MLDSA87_PUBLIC_KEY_BYTES
            and public[:32] == rho
            and secret[:32] == rho
            and secret[32:64] == k_seed
            and secret[64:128] == hashlib.shake_256(public).digest(64)
        )
        if not consistent:
            self._native.cleanse(secret)
            raise BackendUnavailable(
                "this liboqs build did not derive the ML-DSA-87 key from the injected seed "
                f"(randombytes requests: {requests}); seed-form keys are not possible with it"
            )
        return public, secret

    def mldsa87_from_seed(self, seed: bytes) -> MLDSA87SigningKey:
        return _SigningKey(self, seed)

    def mldsa87_public_key(self, public_key: bytes) -> MLDSA87VerifyingKey:
        return _VerifyingKey(self._native, public_key)

    def mlkem1024_from_seed(self, seed: bytes) -> MLKEM1024DecapsulationKey:
        return _DecapsulationKey(self._oqs, self._native, seed)

    def _encapsulate(self, encapsulation_key: bytes) -> tuple[bytes, bytes]:
        try:
            ciphertext, shared = self._encapsulator.encap_secret(encapsulation_key)
        except RuntimeError as exc:  # FIPS 203 §7.2 input check failed (or any other liboqs error)
            raise InvalidKey("not a valid ML-KEM-1024 encapsulation key") from exc
        if len(ciphertext) != MLKEM1024_CIPHERTEXT_BYTES or len(shared) != MLKEM1024_SHARED_SECRET_BYTES:
            raise CryptoError("liboqs returned an ML-KEM-1024 ciphertext or secret of the wrong length")
        return bytes(shared), bytes(ciphertext)
