"""Batch migration CLASSICAL -> HYBRID against the primitives it must run, and group commit against one
commit per key.

Floor per key: one bare ML-DSA-87 key generation on the PQC backend in use plus writing a 32-byte key
file (no fsync: the batch's group commit is what keeps syncs off the per-key path). Each round times
the floor and a batch over a fresh copy of the same classical store back to back; the figure is the
median of per-round ratios (target <= 1.3 x, issue #18). Syncs are counted through chainplug._fs.
"""

from __future__ import annotations

import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from .harness import Op

TARGET_RATIO = 1.3
TARGET_SYNCS_PER_KEY = 0.01


def keygen_floor(directory: Path, keys: int, keygen: Op) -> float:
    """Seconds for ``keys`` x (bare ML-DSA-87 key generation + writing a 32-byte key file)."""
    directory.mkdir()
    started = time.perf_counter()
    for index in range(keys):
        keygen()
        (directory / f"{index}.key").write_bytes(b"\x00" * 32)
    return time.perf_counter() - started


def migration_figures(keygen: Op, *, keys: int, rounds: int, backend: str = "", say: Any = None) -> dict[str, Any]:
    from .. import _fs
    from ..crypto import Secp256k1PrivateKey
    from ..migration import MigrationEngine
    from ..types import AccountState

    work = Path(tempfile.mkdtemp(prefix="chainplug-bench-migration-"))
    try:
        if say:
            say(f"migration: {keys} accounts")
        with MigrationEngine.open(work / "template", create=True) as engine:
            addresses = engine.create_accounts([Secp256k1PrivateKey.generate() for _ in range(keys)])

        def migrate(name: str, batch_size: int) -> tuple[float, int]:
            store = work / name
            shutil.copytree(work / "template", store)
            with MigrationEngine.open(store) as engine:
                before = _fs.SYNC_STATS.snapshot()
                started = time.perf_counter()
                engine.batch(AccountState.HYBRID, batch_size=batch_size, addresses=addresses)
                elapsed = time.perf_counter() - started
                syncs = _fs.SYNC_STATS.since(before).total
            shutil.rmtree(store, ignore_errors=True)
            return elapsed, syncs

        floors: list[float] = []
        batches: list[tuple[float, int]] = []
        for round_index in range(rounds):
            if say:
                say(f"migration: {keys} accounts, round {round_index + 1}/{rounds}")
            floors.append(keygen_floor(work / f"floor-{round_index}", keys, keygen))
            shutil.rmtree(work / f"floor-{round_index}", ignore_errors=True)
            batches.append(migrate(f"batch-{round_index}", keys))
        per_key_s, per_key_syncs = migrate("per-key", 1)
        ratios = [b / f for (b, _), f in zip(batches, floors, strict=True)]
        batch_s = statistics.median(b for b, _ in batches)
        return {
            "backend": backend,
            "keys": keys,
            "rounds": rounds,
            "batch": {"keys_per_s": keys / batch_s, "syncs_per_key": batches[0][1] / keys},
            "per_key": {"keys_per_s": keys / per_key_s, "syncs_per_key": per_key_syncs / keys},
            "primitives_per_key_us": statistics.median(floors) / keys * 1e6,
            "ratio_to_primitives": statistics.median(ratios),
            "ratios": ratios,
            "target_ratio": TARGET_RATIO,
            "target_syncs_per_key": TARGET_SYNCS_PER_KEY,
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)
