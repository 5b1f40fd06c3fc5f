"""Fixtures shared across test packages."""

from __future__ import annotations

import pytest

from tests.formal.tracecheck import ModelGraph, build_model_graph


@pytest.fixture(scope="session")
def migration_model(tmp_path_factory: pytest.TempPathFactory) -> ModelGraph | str:
    """The state graph of docs/formal/Migration.tla (MigrationTrace.cfg) for trace validation, or the
    reason TLC cannot run here (the crash tests then check everything but the traces)."""
    return build_model_graph(tmp_path_factory.mktemp("tlc-trace"))
