"""Finding the liboqs shared library liboqs-python would load, and checking it, without importing ``oqs``.

liboqs-python's ``import oqs`` (0.16: ``oqs/oqs.py``, ``_load_liboqs``) looks for the library itself and,
when it finds none, runs ``git clone`` + a cmake build of liboqs into ``$OQS_INSTALL_PATH`` (default
``~/_oqs``) and ``SystemExit``\\ s if that fails. Fetching crypto code at import time is never acceptable
here, so :func:`probe_liboqs` replays liboqs-python's search order (``find_library("liboqs")``,
``find_library("oqs")``, ``<prefix>/lib/liboqs.so``, ``<prefix>/lib64/liboqs.so`` with ``<prefix>`` =
``$OQS_INSTALL_PATH`` if set, else ``~/_oqs``), dlopens the very library ``oqs`` would load and checks its
version, symbols, algorithms and the installed liboqs-python; only then may
:class:`~chainplug.crypto._liboqs.LiboqsBackend` import ``oqs``.

Apart from the backend because ``auto`` backend selection (chainplug.crypto.pqc) asks only this question
— is there a usable liboqs? — and must never load the backend's ctypes bindings or ``oqs`` to answer it.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import importlib.metadata
import importlib.util
import os
import platform
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

MIN_LIBOQS_VERSION = (0, 14)
"""Oldest liboqs accepted: final FIPS 204 ML-DSA with context strings (0.12), ``OQS_KEM_keypair_derand``
(0.13) and a liboqs-python with ``generate_keypair_seed`` (0.14, whose version must match liboqs')."""

MLDSA_ALG = "ML-DSA-87"
MLKEM_ALG = "ML-KEM-1024"

_REQUIRED_SYMBOLS = (
    "OQS_version",
    "OQS_SIG_alg_is_enabled",
    "OQS_KEM_alg_is_enabled",
    "OQS_SIG_sign_with_ctx_str",
    "OQS_SIG_verify_with_ctx_str",
    "OQS_KEM_keypair_derand",
    "OQS_randombytes_custom_algorithm",
    "OQS_randombytes_switch_algorithm",
    "OQS_SIG_ml_dsa_87_sign_with_ctx_str",
    "OQS_SIG_ml_dsa_87_verify_with_ctx_str",
    "OQS_KEM_ml_kem_1024_decaps",
    "OQS_SIG_ml_dsa_87_keypair",
    "OQS_MEM_cleanse",
)


@dataclass(frozen=True)
class LiboqsProbe:
    """What :func:`probe_liboqs` found. ``problem`` is None exactly when the backend can load."""

    path: str | None
    """The library liboqs-python would load (a path or a soname), or None if none loads."""
    version: str | None
    """``OQS_version()`` of that library."""
    problem: str | None
    """Why the backend cannot be used, in words an operator can act on; None when usable."""

    @property
    def usable(self) -> bool:
        """True when :class:`LiboqsBackend` may import ``oqs`` and load."""
        return self.problem is None


def _version_tuple(text: str) -> tuple[int, ...]:
    """Leading numeric components: "0.14.0-rc1" -> (0, 14, 0); "0.16.0.1" -> (0, 16, 0)."""
    parts: list[int] = []
    for piece in text.split(".")[:3]:
        match = re.match(r"\d+", piece)
        if match is None:
            break
        parts.append(int(match.group()))
    return tuple(parts)


def _install_prefix() -> Path:
    """liboqs-python 0.16: ``$OQS_INSTALL_PATH`` when the variable is set at all, else ``~/_oqs``."""
    if "OQS_INSTALL_PATH" in os.environ:
        return Path(os.environ["OQS_INSTALL_PATH"])
    return Path.home() / "_oqs"


def _candidates(prefix: Path) -> list[str]:
    """liboqs-python 0.16 ``_load_shared_obj("oqs", [prefix/lib, prefix/lib64])``'s order, exactly."""
    paths: list[str] = []
    system = platform.system()
    if system == "Windows":  # liboqs-python maps both lib and lib64 to bin on Windows
        bindir = (prefix / "bin").absolute()
        paths += [str(bindir / "oqs.dll"), str(bindir / "liboqs.dll")]
    else:
        suffix = ".dylib" if system == "Darwin" else ".so"
        paths += [str((prefix / sub).absolute() / f"liboqs{suffix}") for sub in ("lib", "lib64")]
    for name in ("oqs", "liboqs"):  # each found one is inserted at the front, so "liboqs" ends first
        try:
            found = ctypes.util.find_library(name)
        except Exception:  # liboqs-python ignores every failure here too
            found = None
        if found:
            paths.insert(0, found)
    return paths


def _check_library(lib: ctypes.CDLL, where: str) -> tuple[str | None, str | None]:
    """(version, problem) for a loaded candidate."""
    missing = [sym for sym in _REQUIRED_SYMBOLS if not hasattr(lib, sym)]
    if "OQS_version" in missing:
        return None, f"{where} loads but is not liboqs (no OQS_version symbol)"
    version_fn = lib.OQS_version
    version_fn.restype = ctypes.c_char_p
    version_fn.argtypes = []
    raw = version_fn()
    version = raw.decode("ascii", "replace") if isinstance(raw, bytes) else "?"
    if _version_tuple(version) < MIN_LIBOQS_VERSION:
        wanted = ".".join(map(str, MIN_LIBOQS_VERSION))
        return version, (
            f"{where} is liboqs {version}; chainplug needs liboqs >= {wanted} (final FIPS 204/203, "
            "seed-based ML-KEM key generation)"
        )
    if missing:
        return version, f"{where} (liboqs {version}) lacks {', '.join(missing)}"
    for fn_name, alg in (("OQS_SIG_alg_is_enabled", MLDSA_ALG), ("OQS_KEM_alg_is_enabled", MLKEM_ALG)):
        fn = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_char_p)((fn_name, lib))
        if not fn(alg.encode()):
            return version, f"{where} (liboqs {version}) was built without {alg}"
    return version, None


def _check_python_binding(version: str, where: str) -> str | None:
    """Problem with the ``oqs`` package that would bind ``where``, or None. Never imports ``oqs``."""
    try:
        spec = importlib.util.find_spec("oqs")
    except (ImportError, ValueError):  # e.g. a half-initialised sys.modules["oqs"]
        spec = None
    if spec is None or spec.origin is None:
        return (
            f"liboqs {version} found at {where}, but liboqs-python (import name oqs) is not installed: "
            "pip install 'chainplug[oqs]'"
        )
    try:
        dist = importlib.metadata.distribution("liboqs-python")
    except importlib.metadata.PackageNotFoundError:
        return (
            f"the installed 'oqs' module ({spec.origin}) does not come from liboqs-python; other "
            "distributions use the same import name (e.g. liboqs-pwr, pqcow-liboqs) and are not supported"
        )
    owned = [dist.locate_file(f) for f in (dist.files or []) if str(f).replace("\\", "/") == "oqs/oqs.py"]
    here = Path(spec.origin).resolve().parent
    if not any(Path(str(p)).resolve().parent == here for p in owned):
        return (
            f"the importable 'oqs' module ({spec.origin}) is not the one installed by liboqs-python "
            f"{dist.version}; another distribution shadows it"
        )
    py_version = _version_tuple(dist.version)
    if py_version[:2] != _version_tuple(version)[:2]:
        return (
            f"liboqs-python {dist.version} does not match liboqs {version} at {where}: its ctypes "
            "structures are only valid for the same major.minor release"
        )
    return None


@lru_cache(maxsize=8)
def _probe(prefix: str) -> LiboqsProbe:
    candidates = _candidates(Path(prefix))
    for candidate in candidates:
        try:
            lib = ctypes.CDLL(candidate)
        except OSError:
            continue
        version, problem = _check_library(lib, candidate)
        if problem is None and version is not None:
            problem = _check_python_binding(version, candidate)
        # liboqs-python loads the first candidate that opens, usable or not: so do we.
        return LiboqsProbe(candidate, version, problem)
    return LiboqsProbe(
        None,
        None,
        "no liboqs shared library found (the system loader knows no 'oqs' or 'liboqs' that loads, "
        + "and neither does "
        + ", ".join(candidates)
        + "; set OQS_INSTALL_PATH to the install prefix of liboqs >= "
        + ".".join(map(str, MIN_LIBOQS_VERSION))
        + ", or use CHAINPLUG_PQC_BACKEND=cryptography)",
    )


def probe_liboqs() -> LiboqsProbe:
    """Find the liboqs library liboqs-python would load and say whether it is usable. Never imports
    ``oqs``. Cached per install prefix (``$OQS_INSTALL_PATH`` / ``~/_oqs``)."""
    return _probe(str(_install_prefix()))


def find_liboqs() -> str | None:
    """Path or soname of a loadable *and usable* liboqs shared library, or None. Never imports ``oqs``.

    Usable means: liboqs >= 0.14 with ML-DSA-87, ML-KEM-1024 and the functions chainplug calls, plus a
    matching liboqs-python installed. ``auto`` backend selection relies on this, so an unusable
    library makes ``auto`` fall back to the ``cryptography`` backend instead of failing.
    """
    probe = probe_liboqs()
    return probe.path if probe.usable else None
