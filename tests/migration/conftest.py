"""Fixtures for the migration tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from chainplug.migration.crashpoints import install


@pytest.fixture(autouse=True)
def no_crash_hook_left_behind() -> Iterator[None]:
    """No test may leak an installed crash hook into the next one."""
    yield
    install(None)


@pytest.fixture
def store(tmp_path: Path) -> Path:
    """Path of a store that does not exist yet."""
    return tmp_path / "store"
