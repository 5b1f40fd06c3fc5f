#!/usr/bin/env python3
"""Build the pinned liboqs release into an install prefix, for chainplug's ``liboqs`` backend.

    python tools/build_liboqs.py --archive liboqs-0.16.0.tar.gz [--prefix DIR]

What it does, in order:

1. Checks the archive's SHA-256 against the pin below (liboqs 0.16.0, ``git archive`` of tag 0.16.0,
   commit 5a1a854b). Any other file is refused: nothing is built from unverified source.
2. Reuses the prefix when an earlier run of this script completed there (it writes a stamp file last,
   naming the archive's SHA-256 and the build options), so a second run takes well under a second.
3. Otherwise builds a minimal shared liboqs (ML-DSA-87 and ML-KEM-1024 only; AVX2 code paths chosen at
   run time, ``OQS_DIST_BUILD``) with cmake + ninja (or make), installs it into a staging directory
   beside the prefix and renames it into place, so the prefix is either absent or complete, and a
   library already in use by running processes is never overwritten in place. Concurrent runs for
   the same prefix serialise on a lock file.
4. Prints what to do next: ``pip install 'liboqs-python==0.16.0.1'`` and ``OQS_INSTALL_PATH=<prefix>``
   (``--print-prefix`` prints only the prefix, for scripts).

Needs cmake >= 3.5, ninja or make, and a C compiler; takes ~10-20 s on 2 cores. It never downloads
anything: get the archive from the liboqs 0.16.0 release (or this project's vendored copy).
"""

from __future__ import annotations

import argparse
import ctypes
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

LIBOQS_VERSION = "0.16.0"
ARCHIVE_NAME = f"liboqs-{LIBOQS_VERSION}.tar.gz"
ARCHIVE_SHA256 = "1b82e61efbe55b8ed98374d8b6f416e948b59154612153c71909b060e1368941"
LIBOQS_PYTHON = "0.16.0.1"
"""The liboqs-python release for this liboqs (its ctypes structures must match liboqs' major.minor)."""

CMAKE_OPTIONS = (
    "-DBUILD_SHARED_LIBS=ON",
    "-DOQS_BUILD_ONLY_LIB=ON",
    "-DOQS_MINIMAL_BUILD=SIG_ml_dsa_87;KEM_ml_kem_1024",
    "-DOQS_DIST_BUILD=ON",
    "-DCMAKE_BUILD_TYPE=Release",
)
STAMP = ".chainplug-liboqs-build.json"
REPO = Path(__file__).resolve().parent.parent
VENDOR_ENV = "CHAINPLUG_VENDOR_DIR"


class BuildError(Exception):
    """Something the operator must fix; the message says what."""


def default_archive() -> Path:
    """``$CHAINPLUG_VENDOR_DIR/liboqs-0.16.0.tar.gz``; the vendor directory defaults to ``../shared/vendor``
    next to the repository (where this project's CI machines keep it)."""
    vendor = os.environ.get(VENDOR_ENV) or str(REPO.parent / "shared" / "vendor")
    return Path(vendor) / ARCHIVE_NAME


def default_prefix() -> Path:
    """A per-user cache directory named by version and archive hash, outside any work tree."""
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "chainplug" / f"liboqs-{LIBOQS_VERSION}-{ARCHIVE_SHA256[:12]}"


def _say(message: str) -> None:
    sys.stderr.write(f"build_liboqs: {message}\n")
    sys.stderr.flush()


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_archive(archive: Path) -> None:
    if not archive.is_file():
        raise BuildError(
            f"{archive} not found: pass --archive PATH to the liboqs {LIBOQS_VERSION} source archive "
            f"(or set {VENDOR_ENV} to the directory holding {ARCHIVE_NAME})"
        )
    actual = sha256_of(archive)
    if actual != ARCHIVE_SHA256:
        raise BuildError(
            f"{archive} has SHA-256 {actual}, not the pinned {ARCHIVE_SHA256} of liboqs {LIBOQS_VERSION}; "
            "refusing to build it"
        )


def _stamp_data() -> dict[str, object]:
    return {"liboqs": LIBOQS_VERSION, "archive_sha256": ARCHIVE_SHA256, "cmake_options": list(CMAKE_OPTIONS)}


def completed(prefix: Path) -> bool:
    """True when an earlier run finished building this very release, with these options, into ``prefix``."""
    try:
        stamp = json.loads((prefix / STAMP).read_text())
    except (OSError, ValueError):
        return False
    return stamp == _stamp_data() and any((prefix / lib / "liboqs.so").exists() for lib in ("lib", "lib64"))


def _tools() -> tuple[str, list[str]]:
    """(cmake, generator arguments): ninja when present, else make."""
    cmake = shutil.which("cmake")
    if cmake is None:
        raise BuildError("cmake not found on PATH (install cmake >= 3.5)")
    if shutil.which("ninja"):
        return cmake, ["-GNinja"]
    if shutil.which("make"):
        return cmake, ["-GUnix Makefiles"]
    raise BuildError("neither ninja nor make found on PATH")


def _run(command: list[str], log: Path, env: dict[str, str] | None = None) -> None:
    with log.open("ab") as out:
        out.write(("\n$ " + " ".join(command) + "\n").encode())
        out.flush()
        result = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT, env=env, check=False)
    if result.returncode != 0:
        tail = log.read_text(errors="replace").splitlines()[-25:]
        raise BuildError(f"{command[0]} failed (exit {result.returncode}); end of {log}:\n" + "\n".join(tail))


def _check_library(prefix: Path) -> None:
    """The installed library loads and reports the pinned version."""
    lib = next(p for p in (prefix / "lib" / "liboqs.so", prefix / "lib64" / "liboqs.so") if p.exists())
    oqs = ctypes.CDLL(str(lib))
    oqs.OQS_version.restype = ctypes.c_char_p
    version = oqs.OQS_version().decode()
    if version != LIBOQS_VERSION:
        raise BuildError(f"the built library reports liboqs {version}, expected {LIBOQS_VERSION}")


def build(archive: Path, prefix: Path, jobs: int) -> None:
    """Extract, configure, compile and install into ``prefix`` (absent or incomplete beforehand)."""
    cmake, generator = _tools()
    parent = prefix.parent
    stage = Path(tempfile.mkdtemp(prefix=f".{prefix.name}-build-", dir=parent))
    log = parent / f"{prefix.name}.build.log"
    log.write_bytes(b"")
    try:
        _say(f"extracting {archive.name}")
        with tarfile.open(archive) as tar:
            tar.extractall(stage / "src", filter="data")
        source = stage / "src" / f"liboqs-{LIBOQS_VERSION}"
        _say(f"building liboqs {LIBOQS_VERSION} (log: {log})")
        _run([cmake, "-S", str(source), "-B", str(stage / "build"), *generator, *CMAKE_OPTIONS,
              f"-DCMAKE_INSTALL_PREFIX={prefix}"], log)  # fmt: skip
        _run([cmake, "--build", str(stage / "build"), "--parallel", str(jobs)], log)
        # Install under DESTDIR (the paths recorded in liboqs' cmake and pkg-config files stay ``prefix``).
        _run([cmake, "--install", str(stage / "build")], log, env={**os.environ, "DESTDIR": str(stage / "root")})
        installed = stage / "root" / prefix.relative_to(prefix.anchor)
        (installed / STAMP).write_text(json.dumps(_stamp_data(), indent=2) + "\n")
        _check_library(installed)
        if prefix.exists():  # an incomplete or different earlier build: move it aside, then drop it
            stale = Path(tempfile.mkdtemp(prefix=f".{prefix.name}-stale-", dir=parent))
            prefix.rename(stale / "old")
        os.rename(installed, prefix)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
        for stale_dir in parent.glob(f".{prefix.name}-stale-*"):
            shutil.rmtree(stale_dir, ignore_errors=True)


def ensure(archive: Path, prefix: Path, jobs: int) -> bool:
    """Verify ``archive``; build into ``prefix`` unless already done. True if it built."""
    verify_archive(archive)
    prefix = prefix.absolute()
    prefix.parent.mkdir(parents=True, exist_ok=True)
    with open(prefix.parent / f".{prefix.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another run for this prefix finishes first; then it is reused
        if completed(prefix):
            _say(f"reusing {prefix} (liboqs {LIBOQS_VERSION}, built from the pinned archive)")
            return False
        build(archive, prefix, jobs)
        _say(f"installed liboqs {LIBOQS_VERSION} into {prefix}")
        return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--archive", type=Path, default=None,
                        help=f"the liboqs {LIBOQS_VERSION} source archive (default: {default_archive()})")  # fmt: skip
    parser.add_argument("--prefix", type=Path, default=None, help=f"install prefix (default: {default_prefix()})")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="parallel compile jobs")
    parser.add_argument("--print-prefix", action="store_true", help="print only the install prefix on stdout")
    args = parser.parse_args(argv)
    prefix = args.prefix or default_prefix()
    try:
        ensure(args.archive or default_archive(), prefix, max(1, args.jobs))
    except BuildError as exc:
        _say(str(exc))
        return 2
    if args.print_prefix:
        print(prefix.absolute())
    else:
        print(f"liboqs {LIBOQS_VERSION} is in {prefix.absolute()}. To use it:\n"
              f"    pip install 'liboqs-python=={LIBOQS_PYTHON}'\n"
              f"    export OQS_INSTALL_PATH={prefix.absolute()}\n"
              "then `chainplug --version` names the liboqs backend.")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
