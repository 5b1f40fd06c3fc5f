"""Measure what erasure leaves in process memory (docs/migration.md §8).

    python -m tests.migration.memscan          # from the repository root; prints the table

A child process runs the real engine on a store whose classical key the parent knows. The parent
reads the child's whole address space through ``/proc/<pid>/mem`` (never the child itself, so the
search creates no copies of the secret in the memory being searched) at three moments:

1. ``loaded``: the child holds a live handle (``engine.load_classical_key``) and has signed with it;
2. ``erased``: the child advanced the account to FINALIZING — Erasure-Before-WAL ran, the engine
   destroyed every handle — and then ran ``gc.collect()``;
3. ``churned``: the child then allocated and freed ~64 MiB of small Python objects, the way a busy
   process reuses freed memory.

It looks for four encodings of the 32-byte secret: raw big-endian bytes (our bytearray, Python
``bytes`` copies, coincurve's ``.secret``), byte-reversed (libsecp256k1's scalar limbs are stored
little-endian), lower-case hex, and the 30-bit digits of a CPython ``int`` (``int.from_bytes``).
"""

from __future__ import annotations

import gc
import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

ENCODINGS = ("raw", "reversed", "hex", "pyint")


def needles(secret: bytes) -> dict[str, bytes]:
    """The byte patterns an in-memory copy of ``secret`` would show."""
    value = int.from_bytes(secret, "big")
    digits = []
    while value:
        digits.append(value & ((1 << 30) - 1))
        value >>= 30
    return {
        "raw": secret,
        "reversed": secret[::-1],
        "hex": secret.hex().encode(),
        "pyint": b"".join(d.to_bytes(4, sys.byteorder) for d in digits),
    }


def scan_process(pid: int, patterns: dict[str, bytes]) -> dict[str, Counter[str]]:
    """Count occurrences of each pattern in every readable mapping of ``pid``, by mapping name."""
    found: dict[str, Counter[str]] = {name: Counter() for name in patterns}
    maps = Path(f"/proc/{pid}/maps").read_text().splitlines()
    fd = os.open(f"/proc/{pid}/mem", os.O_RDONLY)
    try:
        for line in maps:
            fields = line.split(maxsplit=5)
            start, end = (int(x, 16) for x in fields[0].split("-"))
            name = fields[5] if len(fields) > 5 else "[anonymous]"
            if "r" not in fields[1] or name in ("[vvar]", "[vsyscall]"):
                continue
            try:
                data = os.pread(fd, end - start, start)
            except OSError:
                continue
            region = Path(name).name if name.startswith("/") else name
            for key, pattern in patterns.items():
                hits = len(re.findall(re.escape(pattern), data))
                if hits:
                    found[key][region] += hits
    finally:
        os.close(fd)
    return found


def _child(store: str, source: str, keep_copy: bool) -> None:
    """Run in the child: get the key in (``source``: an address to load from the store, or the path
    of a raw 32-byte secret to import), sign, erase, churn, pausing for the parent after each. With
    ``keep_copy`` the caller keeps ``secret_bytes()`` — a copy the engine cannot reach."""
    from chainplug.crypto import Secp256k1PrivateKey
    from chainplug.migration import MigrationEngine, StaticReadiness
    from chainplug.types import AccountState, Address

    with MigrationEngine.open(store, readiness=StaticReadiness({"v": True}), create=True) as engine:
        if source.startswith("file:"):
            imported = Secp256k1PrivateKey(Path(source[5:]).read_bytes())
            address = engine.create_account(imported)
            imported.destroy()
            del imported
            engine.advance(address)
        else:
            address = Address(bytes.fromhex(source))
        key = engine.load_classical_key(address)
        key.sign_digest(b"\x07" * 32)
        kept = key.secret_bytes() if keep_copy else None
        del key
        print("loaded", flush=True)
        sys.stdin.readline()
        engine.advance(address, AccountState.FINALIZING)
        gc.collect()
        print("erased", flush=True)
        sys.stdin.readline()
        churn = [bytes(48) + i.to_bytes(8, "big") for i in range(600_000)]
        del churn
        gc.collect()
        print("churned", flush=True)
        sys.stdin.readline()
        del kept


def measure(workdir: Path, *, imported: bool = False, keep_copy: bool = False) -> dict[str, dict[str, Counter[str]]]:
    """Run the three-moment measurement; returns moment -> encoding -> mapping -> hits.

    ``imported=False``: the key is in the store already and the child only loads it.
    ``imported=True``: the child reads the raw secret from a file, creates the account (writing the
    key file) and begins HYBRID itself — the path of ``account create`` plus ``advance``.
    ``keep_copy=True``: the caller keeps a ``bytes`` copy of the secret (the negative control).
    """
    from tests.migration._migration_support import REPO_ROOT, known_key, known_secret, open_engine

    store = workdir / "store"
    secret = known_secret(4242, int(imported))
    if imported:
        source_file = workdir / "secret.bin"
        source_file.write_bytes(secret)
        source = f"file:{source_file}"
    else:
        with open_engine(store, create=True) as engine:
            address = engine.create_account(known_key(4242, 0))
            engine.advance(address)
        source = address.hex()
    patterns = needles(secret)
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.migration.memscan", "--child", str(store), source, str(int(keep_copy))],
        cwd=REPO_ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdin is not None and child.stdout is not None
    results = {}
    try:
        for moment in ("loaded", "erased", "churned"):
            line = child.stdout.readline().strip()
            if line != moment:
                raise RuntimeError(f"child said {line!r}, expected {moment!r}")
            results[moment] = scan_process(child.pid, patterns)
            child.stdin.write("\n")
            child.stdin.flush()
    finally:
        child.stdin.close()
        child.wait(timeout=60)
    return results


def table(results: dict[str, dict[str, Counter[str]]]) -> str:
    """A Markdown table of the measurement."""
    lines = ["| moment | " + " | ".join(ENCODINGS) + " |", "|---" * (len(ENCODINGS) + 1) + "|"]
    for moment, found in results.items():
        cells = []
        for encoding in ENCODINGS:
            hits = found[encoding]
            where = ", ".join(f"{region} {n}" for region, n in sorted(hits.items()))
            cells.append(f"{sum(hits.values())} ({where})" if hits else "0")
        lines.append(f"| {moment} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        _child(sys.argv[2], sys.argv[3], sys.argv[4] == "1")
    else:
        import tempfile

        runs = {
            "key loaded from the store": {},
            "key imported, stored and migrated by the same process": {"imported": True},
            "control: the caller keeps its own bytes copy": {"keep_copy": True},
        }
        for title, options in runs.items():
            with tempfile.TemporaryDirectory() as tmp:
                print(f"{title}\n{table(measure(Path(tmp), **options))}\n")
