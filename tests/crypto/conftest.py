"""Shared fixtures for the crypto-layer tests: known-answer vectors and backends (skipping, with the
reason printed, any backend that cannot load on this machine)."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from chainplug.crypto.pqc import BACKEND_NAMES, PQCBackend, get_backend
from chainplug.errors import BackendUnavailable

VECTORS = Path(__file__).resolve().parent.parent / "vectors" / "acvp"


@cache
def load_vectors(filename: str) -> dict[str, Any]:
    """One vector file of tests/vectors/acvp/ with every hex field decoded to bytes."""
    doc: dict[str, Any] = json.loads((VECTORS / filename).read_text(encoding="ascii"))
    doc["vectors"] = [
        {key: (value if key == "count" else bytes.fromhex(value)) for key, value in vector.items()}
        for vector in doc["vectors"]
    ]
    return doc


def mldsa_vectors() -> list[dict[str, Any]]:
    return list(load_vectors("mldsa87_det_pure_kat.json")["vectors"])


def mlkem_vectors() -> list[dict[str, Any]]:
    return list(load_vectors("mlkem1024_kat.json")["vectors"])


def skip_reason(name: str) -> str | None:
    """Why backend ``name`` is not usable here, or None if it loads."""
    try:
        get_backend(name)
    except BackendUnavailable as exc:
        if name == "liboqs":
            from chainplug.crypto._liboqs_probe import probe_liboqs

            problem = probe_liboqs().problem or str(exc)
            return f"liboqs shared library not loadable on this machine: {problem}"
        return f"{name} backend not loadable on this machine: {exc}"
    return None


def require_backend(name: str) -> PQCBackend:
    reason = skip_reason(name)
    if reason is not None:
        print(reason)
        pytest.skip(reason)
    return get_backend(name)


def _backend_params() -> list[Any]:
    params = []
    for name in BACKEND_NAMES:
        reason = skip_reason(name)
        marks = [pytest.mark.skip(reason=reason)] if reason else []
        params.append(pytest.param(name, marks=marks, id=name))
    return params


@pytest.fixture(params=_backend_params())
def backend(request: pytest.FixtureRequest) -> PQCBackend:
    """Every PQC backend chainplug knows; unavailable ones are skipped with the reason (one folded
    line per file in the -ra summary)."""
    return require_backend(request.param)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "mldsa_kat" in metafunc.fixturenames:
        vectors = mldsa_vectors()
        metafunc.parametrize("mldsa_kat", vectors, ids=[f"count{v['count']}" for v in vectors])
    if "mlkem_kat" in metafunc.fixturenames:
        vectors = mlkem_vectors()
        metafunc.parametrize("mlkem_kat", vectors, ids=[f"count{v['count']}" for v in vectors])


@pytest.fixture(scope="session")
def kat_mldsa() -> list[dict[str, Any]]:
    """All extracted ML-DSA-87 vectors (bytes fields)."""
    return mldsa_vectors()


@pytest.fixture(scope="session")
def kat_mlkem() -> list[dict[str, Any]]:
    """All extracted ML-KEM-1024 vectors (bytes fields)."""
    return mlkem_vectors()


@pytest.fixture
def backend_pair() -> tuple[PQCBackend, PQCBackend]:
    """Two different loadable backends, for cross-checks; skipped (with reasons) when fewer load."""
    loaded = [name for name in BACKEND_NAMES if skip_reason(name) is None]
    if len(loaded) < 2:
        reasons = "; ".join(r for r in (skip_reason(n) for n in BACKEND_NAMES) if r)
        print(reasons)
        pytest.skip(f"cross-backend check needs two backends, only {loaded} load here ({reasons})")
    return get_backend(loaded[0]), get_backend(loaded[1])
