"""tools/build_liboqs.py: builds only the pinned, checksummed liboqs, and reuses a completed build.

The build itself runs in .ci/run (about 10-20 s); these tests cover what must never happen (building
unverified source) and the cache decision, without compiling anything.
"""

from __future__ import annotations

import importlib.util
import io
import json
import tarfile
from pathlib import Path
from types import ModuleType

import pytest

TOOL = Path(__file__).resolve().parent.parent / "tools" / "build_liboqs.py"


@pytest.fixture(scope="module")
def tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location("build_liboqs", TOOL)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _fake_archive(path: Path) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        data = b"project(liboqs)\n"
        info = tarfile.TarInfo("liboqs-0.16.0/CMakeLists.txt")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return path


def test_an_archive_with_another_checksum_is_refused_before_anything_is_built(
    tool: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    archive = _fake_archive(tmp_path / "liboqs-0.16.0.tar.gz")
    prefix = tmp_path / "cache" / "liboqs"
    assert tool.main(["--archive", str(archive), "--prefix", str(prefix)]) == 2
    err = capsys.readouterr().err
    assert "refusing to build it" in err and tool.ARCHIVE_SHA256 in err
    assert not prefix.exists() and not (tmp_path / "cache").exists()


def test_a_missing_archive_says_where_it_looked(
    tool: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(tool.VENDOR_ENV, str(tmp_path / "no-vendor"))
    assert tool.main(["--prefix", str(tmp_path / "prefix")]) == 2
    err = capsys.readouterr().err
    assert str(tmp_path / "no-vendor" / "liboqs-0.16.0.tar.gz") in err and "--archive" in err


def test_only_a_stamp_of_this_release_and_these_options_counts_as_a_completed_build(
    tool: ModuleType, tmp_path: Path
) -> None:
    prefix = tmp_path / "prefix"
    (prefix / "lib").mkdir(parents=True)
    assert not tool.completed(prefix)  # no stamp: an interrupted or foreign install
    (prefix / tool.STAMP).write_text(json.dumps(tool._stamp_data()))
    assert not tool.completed(prefix)  # stamp but no library
    (prefix / "lib" / "liboqs.so").write_bytes(b"")
    assert tool.completed(prefix)
    other = {**tool._stamp_data(), "cmake_options": ["-DOQS_DIST_BUILD=OFF"]}
    (prefix / tool.STAMP).write_text(json.dumps(other))
    assert not tool.completed(prefix)


def test_a_completed_build_is_reused_without_building(
    tool: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    archive = tool.default_archive()
    if not archive.is_file():
        pytest.skip(f"the pinned liboqs archive is not here ({archive}; set {tool.VENDOR_ENV})")
    prefix = tmp_path / "prefix"
    (prefix / "lib").mkdir(parents=True)
    (prefix / "lib" / "liboqs.so").write_bytes(b"")
    (prefix / tool.STAMP).write_text(json.dumps(tool._stamp_data()))
    monkeypatch.setenv("PATH", str(tmp_path / "empty-path"))  # no cmake: a build attempt would fail
    assert tool.ensure(archive, prefix, 1) is False
