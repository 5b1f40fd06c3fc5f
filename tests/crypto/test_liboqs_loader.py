"""The liboqs backend's loader and glue.

* Loader: it finds the library liboqs-python would load without importing ``oqs`` (whose import
  git-clones and builds liboqs when it finds none), and refuses unusable libraries with a reason.
* Glue: LiboqsBackend's own logic (seed injection and its check, error mapping, self-tests, wiping)
  run against a stand-in ``oqs`` module built on dilithium-py / kyber-py. This is NOT a test of liboqs:
  test_pqc_backends.py does that wherever a real liboqs loads.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import importlib.util
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

import chainplug.crypto._liboqs as liboqs_mod
import chainplug.crypto._liboqs_probe as liboqs_probe
from chainplug.crypto.pqc import get_backend, liboqs_loadable
from chainplug.errors import BackendUnavailable, InvalidKey, InvalidSignature

SYSTEM_LIBOQS = ctypes.util.find_library("oqs") or ctypes.util.find_library("liboqs")


@pytest.fixture
def isolated_prefix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """OQS_INSTALL_PATH -> an empty temporary prefix (only meaningful without a system liboqs)."""
    if SYSTEM_LIBOQS:
        pytest.skip(f"a system liboqs ({SYSTEM_LIBOQS}) is found first; prefix tests would not isolate")
    monkeypatch.setenv("OQS_INSTALL_PATH", str(tmp_path))
    return tmp_path


# --- loader -------------------------------------------------------------------------------------


def test_probing_and_failing_to_load_never_imports_oqs(isolated_prefix: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    probe = liboqs_probe.probe_liboqs()
    assert not probe.usable  # an empty prefix, even where a real liboqs is installed elsewhere
    monkeypatch.delitem(sys.modules, "oqs", raising=False)

    def no_subprocess(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"a subprocess was started: {args!r}")

    monkeypatch.setattr(subprocess, "call", no_subprocess)
    monkeypatch.setattr(os, "system", no_subprocess)
    assert liboqs_probe.find_liboqs() is None
    assert not liboqs_loadable()
    with pytest.raises(BackendUnavailable) as excinfo:
        liboqs_mod.LiboqsBackend()
    assert probe.problem is not None and probe.problem in str(excinfo.value)
    assert "oqs" not in sys.modules


def test_oqs_install_path_is_searched_like_liboqs_python(isolated_prefix: Path) -> None:
    probe = liboqs_probe.probe_liboqs()
    assert probe.path is None and not probe.usable
    assert str(isolated_prefix / "lib" / "liboqs.so") in (probe.problem or "")
    assert str(isolated_prefix / "lib64" / "liboqs.so") in (probe.problem or "")
    assert str(Path.home() / "_oqs") not in (probe.problem or "")  # OQS_INSTALL_PATH replaces ~/_oqs


def test_default_prefix_is_home_oqs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if SYSTEM_LIBOQS:
        pytest.skip(f"a system liboqs ({SYSTEM_LIBOQS}) is found first")
    monkeypatch.delenv("OQS_INSTALL_PATH", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert str(tmp_path / "_oqs" / "lib" / "liboqs.so") in (liboqs_probe.probe_liboqs().problem or "")


def test_an_unloadable_file_is_skipped(isolated_prefix: Path) -> None:
    (isolated_prefix / "lib").mkdir()
    (isolated_prefix / "lib" / "liboqs.so").write_bytes(b"not an ELF file")
    probe = liboqs_probe.probe_liboqs()
    assert probe.path is None
    assert "no liboqs shared library found" in (probe.problem or "")


def test_a_loadable_library_that_is_not_liboqs_is_refused(isolated_prefix: Path) -> None:
    import _json  # any real shared object will do

    (isolated_prefix / "lib").mkdir()
    target = isolated_prefix / "lib" / "liboqs.so"
    shutil.copyfile(_json.__file__, target)
    probe = liboqs_probe.probe_liboqs()
    assert probe.path == str(target)
    assert "is not liboqs" in (probe.problem or "")
    assert liboqs_probe.find_liboqs() is None
    assert not liboqs_loadable()
    assert get_backend("auto").name == "cryptography"  # auto falls back instead of failing


FAKE_LIBOQS_C = r"""
#include <string.h>
const char *OQS_version(void) { return VERSION; }
int OQS_SIG_alg_is_enabled(const char *n) { return WITH_MLDSA && strcmp(n, "ML-DSA-87") == 0; }
int OQS_KEM_alg_is_enabled(const char *n) { return strcmp(n, "ML-KEM-1024") == 0; }
void OQS_SIG_sign_with_ctx_str(void) {}
void OQS_SIG_verify_with_ctx_str(void) {}
#if WITH_DERAND
void OQS_KEM_keypair_derand(void) {}
#endif
void OQS_randombytes_custom_algorithm(void) {}
void OQS_randombytes_switch_algorithm(void) {}
void OQS_SIG_ml_dsa_87_sign_with_ctx_str(void) {}
void OQS_SIG_ml_dsa_87_verify_with_ctx_str(void) {}
void OQS_KEM_ml_kem_1024_decaps(void) {}
void OQS_SIG_ml_dsa_87_keypair(void) {}
void OQS_MEM_cleanse(void) {}
"""


def _build_fake_liboqs(prefix: Path, version: str, *, mldsa: bool = True, derand: bool = True) -> Path:
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        pytest.skip("no C compiler to build a stand-in liboqs.so")
    source = prefix / "fake_liboqs.c"
    source.write_text(FAKE_LIBOQS_C)
    (prefix / "lib").mkdir(exist_ok=True)
    target = prefix / "lib" / "liboqs.so"
    subprocess.run(
        [
            compiler,
            "-shared",
            "-fPIC",
            f'-DVERSION="{version}"',
            f"-DWITH_MLDSA={int(mldsa)}",
            f"-DWITH_DERAND={int(derand)}",
            "-o",
            str(target),
            str(source),
        ],
        check=True,
        capture_output=True,
    )
    return target


@pytest.mark.parametrize(
    ("version", "mldsa", "derand", "expected"),
    [
        ("0.10.1", True, True, "chainplug needs liboqs >= 0.14"),
        ("0.13.0", True, True, "chainplug needs liboqs >= 0.14"),
        ("0.16.0", False, True, "built without ML-DSA-87"),
        ("0.16.0", True, False, "lacks OQS_KEM_keypair_derand"),
        ("0.16.0", True, True, None),  # the library is fine: what is left is liboqs-python
    ],
)
def test_library_checks(isolated_prefix: Path, version: str, mldsa: bool, derand: bool, expected: str | None) -> None:
    target = _build_fake_liboqs(isolated_prefix, version, mldsa=mldsa, derand=derand)
    probe = liboqs_probe.probe_liboqs()  # never imports oqs (the stand-in would crash it)
    assert probe.path == str(target)
    assert probe.version == version
    if expected is not None:
        assert probe.problem is not None and expected in probe.problem
        assert liboqs_probe.find_liboqs() is None
    elif importlib.util.find_spec("oqs") is None:  # the library passes; the binding check finds no oqs
        assert probe.problem is not None and "liboqs-python" in probe.problem
        assert liboqs_probe.find_liboqs() is None
    else:  # liboqs-python 0.16 is installed: the probe accepts the library (LiboqsBackend's self-test would not)
        assert probe.problem is None and liboqs_probe.find_liboqs() == str(target)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("0.14.0", (0, 14, 0)), ("0.16.0.1", (0, 16, 0)), ("0.14.0-rc1", (0, 14, 0)), ("1.2", (1, 2)), ("x", ())],
)
def test_version_parsing(text: str, expected: tuple[int, ...]) -> None:
    assert liboqs_probe._version_tuple(text) == expected


# --- the seed injector --------------------------------------------------------------------------


def _draw(injector: Any, n: int) -> bytes:
    buf = ctypes.create_string_buffer(n)
    injector.callback(ctypes.cast(buf, ctypes.POINTER(ctypes.c_uint8)), n)
    return buf.raw


def test_seed_goes_only_to_the_first_request_of_the_arming_thread() -> None:
    injector = liboqs_mod._SeedInjector()
    seed = bytearray(b"\x5a" * 32)
    seen_elsewhere: list[bytes] = []
    injector.arm(seed)
    try:
        worker = threading.Thread(target=lambda: seen_elsewhere.append(_draw(injector, 32)))
        worker.start()
        worker.join()
        first, second = _draw(injector, 32), _draw(injector, 32)
    finally:
        injector.disarm()
    assert first == bytes(seed)
    assert second != bytes(seed)
    assert seen_elsewhere[0] != bytes(seed)
    assert injector.requests == [32, 32]  # only the arming thread's requests are recorded
    assert _draw(injector, 32) != bytes(seed)  # disarmed: plain os.urandom


def test_a_wrong_sized_first_request_does_not_get_the_seed() -> None:
    injector = liboqs_mod._SeedInjector()
    injector.arm(bytearray(b"\x11" * 32))
    try:
        assert _draw(injector, 64)[:32] != b"\x11" * 32
        assert _draw(injector, 32) != b"\x11" * 32  # not the first request any more
    finally:
        injector.disarm()
    assert injector.requests == [64, 32]


# --- glue, against a stand-in oqs module ----------------------------------------------------------

dilithium_ml_dsa = pytest.importorskip("dilithium_py.ml_dsa")
kyber_ml_kem = pytest.importorskip("kyber_py.ml_kem")
ML_DSA_87 = dilithium_ml_dsa.ML_DSA_87
ML_KEM_1024 = kyber_ml_kem.ML_KEM_1024


class FakeRng:
    def __init__(self, restorable: tuple[bytes, ...] = (b"system",)) -> None:
        self.callback: Any = None
        self.switches: list[bytes] = []
        self.restorable = restorable

    def set_custom(self, callback: Any) -> None:
        self.callback = callback

    def switch(self, name: bytes) -> int:
        self.switches.append(name)
        if name in self.restorable:
            self.callback = None
            return 0
        return -1

    def draw(self, n: int) -> bytes:
        if self.callback is None:
            return os.urandom(n)
        buf = ctypes.create_string_buffer(n)
        self.callback(ctypes.cast(buf, ctypes.POINTER(ctypes.c_uint8)), n)
        return buf.raw


def make_fake_oqs(*, kem_seed_swap: bool = False) -> Any:
    """What the backend takes from liboqs-python: the library handle, the enabled mechanisms, the
    ML-DSA-87 sizes and the ML-KEM key lifecycle; ML-DSA-87 and decapsulation go through FakeNative,
    as the backend calls liboqs' functions directly for those."""

    class Signature:
        length_public_key, length_secret_key, length_signature = 2592, 4896, 4627

        def __init__(self, alg: str) -> None:
            assert alg == "ML-DSA-87"

        def free(self) -> None:
            pass

    class KeyEncapsulation:
        def __init__(self, alg: str) -> None:
            assert alg == "ML-KEM-1024"
            self.secret_key: bytes | None = None
            self.freed = False

        def generate_keypair_seed(self, seed: bytes) -> bytes:
            if len(seed) != 64:
                raise ValueError("seed length")
            if kem_seed_swap:
                seed = seed[32:] + seed[:32]
            ek, self.secret_key = ML_KEM_1024.key_derive(seed)
            return bytes(ek)

        def encap_secret(self, public_key: bytes) -> tuple[bytes, bytes]:
            try:
                shared, ciphertext = ML_KEM_1024.encaps(public_key)
            except ValueError as exc:
                raise RuntimeError("Can not encapsulate secret") from exc
            return bytes(ciphertext), bytes(shared)

        def free(self) -> None:
            self.freed = True
            self.secret_key = None

    class FakeOqs:
        pass

    fake: Any = FakeOqs()
    fake.Signature = Signature
    fake.KeyEncapsulation = KeyEncapsulation
    fake.native = lambda: object()
    fake.get_enabled_sig_mechanisms = lambda: ("ML-DSA-44", "ML-DSA-87")
    fake.get_enabled_kem_mechanisms = lambda: ("ML-KEM-768", "ML-KEM-1024")
    return fake


class FakeNative:
    """Stand-in for liboqs_mod._Native: the same calls, on dilithium-py / kyber-py. Key generation
    draws xi through the (fake) liboqs RNG, as OQS_SIG_ml_dsa_87_keypair does, unless told to
    ignore it (a library that cannot be seeded)."""

    def __init__(self, rng: FakeRng, honour_rng: bool = True) -> None:
        self.rng, self.honour_rng = rng, honour_rng
        self.cleansed: list[Any] = []

    def mldsa87_keypair(self) -> tuple[bytes, Any]:
        xi = self.rng.draw(32) if self.honour_rng else os.urandom(32)
        public, secret = ML_DSA_87.key_derive(xi)
        return bytes(public), ctypes.create_string_buffer(bytes(secret), len(secret))

    def cleanse(self, buffer: Any) -> None:
        ctypes.memset(buffer, 0, ctypes.sizeof(buffer))
        self.cleansed.append(buffer)

    def mldsa87_verify(self, message: bytes, signature: bytes, context: bytes, public_key: bytes) -> bool:
        assert all(type(x) is bytes for x in (message, signature, context, public_key))  # what ctypes needs
        try:
            return bool(ML_DSA_87.verify(public_key, message, signature, ctx=context))
        except Exception:
            return False

    def mldsa87_sign(self, secret_key: Any, message: bytes, context: bytes) -> bytes:
        assert secret_key is not None
        return bytes(ML_DSA_87.sign(secret_key.raw, message, ctx=context))

    def mlkem1024_decaps(self, secret_key: bytes, ciphertext: bytes) -> bytes:
        assert secret_key is not None
        return bytes(ML_KEM_1024.decaps(secret_key, ciphertext))


def glue_backend(
    monkeypatch: pytest.MonkeyPatch, rng: FakeRng, *, honour_rng: bool = True, kem_seed_swap: bool = False
) -> Any:
    monkeypatch.setattr(liboqs_mod, "_rng_functions", lambda native: (rng.set_custom, rng.switch))
    monkeypatch.setattr(liboqs_mod, "_bind_native", lambda native: FakeNative(rng, honour_rng))
    backend = liboqs_mod.LiboqsBackend.__new__(liboqs_mod.LiboqsBackend)
    backend._setup(make_fake_oqs(kem_seed_swap=kem_seed_swap))  # runs the known-answer and pairwise self-tests
    return backend


def test_glue_end_to_end(
    monkeypatch: pytest.MonkeyPatch, kat_mldsa: list[dict[str, Any]], kat_mlkem: list[dict[str, Any]]
) -> None:
    rng = FakeRng(restorable=(b"system",))
    backend = glue_backend(monkeypatch, rng)
    assert rng.callback is None  # liboqs' RNG restored after every keygen
    assert rng.switches[:2] == [b"OpenSSL", b"system"]  # OpenSSL first, system as fallback

    vector = kat_mldsa[1]
    key = backend.mldsa87_from_seed(vector["xi"])
    assert key.public_key_bytes == vector["pk"]
    assert key.backend_name == "liboqs"
    verifier = backend.mldsa87_public_key(vector["pk"])
    verifier.verify(vector["sig"], vector["msg"], vector["ctx"])
    verifier.verify(bytearray(vector["sig"]), memoryview(vector["msg"]), bytearray(vector["ctx"]))
    with pytest.raises(InvalidSignature):
        verifier.verify(vector["sig"], vector["msg"], b"")
    with pytest.raises(InvalidSignature):
        verifier.verify(vector["sig"][:-1], vector["msg"], vector["ctx"])
    signature = key.sign(b"hello", b"ctx")
    verifier.verify(signature, b"hello", b"ctx")
    with pytest.raises(InvalidKey):
        key.sign(b"hello", bytes(256))

    kem_vector = kat_mlkem[2]
    kem_key = backend.mlkem1024_from_seed(kem_vector["d"] + kem_vector["z"])
    assert kem_key.encapsulation_key_bytes == kem_vector["pk"]
    assert kem_key.decapsulate(kem_vector["ct"]) == kem_vector["ss"]
    assert kem_key.decapsulate(kem_vector["ct_n"]) == kem_vector["ss_n"]
    shared, ciphertext = backend.mlkem1024_encapsulate(kem_key.encapsulation_key_bytes)
    assert kem_key.decapsulate(ciphertext) == shared
    with pytest.raises(InvalidKey):
        backend.mlkem1024_encapsulate(b"\xff" * 1568)
    with pytest.raises(InvalidKey):
        backend.mlkem1024_from_seed(bytes(63))

    secret = key._secret  # type: ignore[attr-defined]
    key.destroy()
    assert secret.raw == bytes(len(secret)) and key._seed == bytearray(32)  # type: ignore[attr-defined]
    assert secret in backend._native.cleansed
    with pytest.raises(InvalidKey):
        key.sign(b"m", b"")
    kem_handle = kem_key._kem  # type: ignore[attr-defined]
    kem_key.destroy()  # type: ignore[attr-defined]
    assert kem_handle.freed and kem_key._seed == bytearray(64)  # type: ignore[attr-defined]
    with pytest.raises(InvalidKey):
        kem_key.decapsulate(kem_vector["ct"])


def test_glue_refuses_a_library_that_ignores_the_injected_seed(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(BackendUnavailable, match="did not derive the ML-DSA-87 key from the injected seed"):
        glue_backend(monkeypatch, FakeRng(), honour_rng=False)


def test_glue_refuses_a_kem_that_misses_the_known_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(BackendUnavailable, match="ML-KEM-1024 key generation does not match"):
        glue_backend(monkeypatch, FakeRng(), kem_seed_swap=True)


def test_glue_keeps_working_when_no_named_rng_can_be_restored(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = FakeRng(restorable=())
    backend = glue_backend(monkeypatch, rng)
    # our callback stays installed but disarmed: liboqs randomness is os.urandom, never the seed
    assert rng.callback is liboqs_mod._INJECTOR.callback
    seed = b"\x33" * 32
    backend.mldsa87_from_seed(seed)
    assert rng.draw(32) != seed
