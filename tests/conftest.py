"""Fixtures shared across test packages.

PQC backends: tests that request ``pqc_backend`` (the crypto, envelope, verify and keystore packages,
through an autouse fixture in their conftest) run once per backend that loads on this machine, with
that backend made the process default (``CHAINPLUG_PQC_BACKEND``) for the test, so everything the test
calls or starts uses it. A test marked ``one_backend`` runs once, on the default backend (``auto``:
liboqs where it loads): for tests whose subject does not depend on the PQC backend.

``CHAINPLUG_TEST_REQUIRE_BACKENDS=liboqs`` (set by .ci/run when it has built liboqs) turns an unloadable
backend into a usage error instead of quietly testing fewer backends.
"""

from __future__ import annotations

import os
from functools import cache

import pytest

from chainplug.constants import PQC_BACKEND_ENV
from chainplug.crypto.pqc import BACKEND_NAMES, PQCBackend, get_backend
from chainplug.errors import BackendUnavailable
from tests.formal.tracecheck import ModelGraph, build_model_graph

REQUIRE_BACKENDS_ENV = "CHAINPLUG_TEST_REQUIRE_BACKENDS"


@cache
def backend_problem(name: str) -> str | None:
    """Why PQC backend ``name`` cannot load here, or None if it loads."""
    try:
        get_backend(name)
    except BackendUnavailable as exc:
        return str(exc)
    return None


def loadable_backends() -> list[str]:
    """The PQC backends that load here, the default one (what ``auto`` selects) first."""
    names = [name for name in BACKEND_NAMES if backend_problem(name) is None]
    default = get_backend().name
    return sorted(names, key=lambda name: name != default)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "one_backend: run once on the default PQC backend, not once per loadable backend"
    )
    required = [name.strip() for name in os.environ.get(REQUIRE_BACKENDS_ENV, "").split(",") if name.strip()]
    for name in required:
        if name not in BACKEND_NAMES:
            raise pytest.UsageError(f"{REQUIRE_BACKENDS_ENV} names unknown backend {name!r}")
        problem = backend_problem(name)
        if problem is not None:
            raise pytest.UsageError(f"{REQUIRE_BACKENDS_ENV} requires the {name} backend, which cannot load: {problem}")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "pqc_backend_name" in metafunc.fixturenames:
        names = loadable_backends()
        if metafunc.definition.get_closest_marker("one_backend") is not None:
            names = names[:1]
        metafunc.parametrize("pqc_backend_name", names, indirect=True, scope="session")


@pytest.fixture(scope="session")
def pqc_backend_name(request: pytest.FixtureRequest) -> str:
    """The PQC backend this test runs on (parametrised over the loadable ones)."""
    return str(request.param)


@pytest.fixture
def pqc_backend(pqc_backend_name: str, monkeypatch: pytest.MonkeyPatch) -> PQCBackend:
    """The backend of this run, also the process default for the test (and any process it starts)."""
    monkeypatch.setenv(PQC_BACKEND_ENV, pqc_backend_name)
    return get_backend(pqc_backend_name)


@pytest.fixture(scope="session")
def migration_model(tmp_path_factory: pytest.TempPathFactory) -> ModelGraph | str:
    """The state graph of docs/formal/Migration.tla (MigrationTrace.cfg) for trace validation, or the
    reason TLC cannot run here (the crash tests then check everything but the traces)."""
    return build_model_graph(tmp_path_factory.mktemp("tlc-trace"))
