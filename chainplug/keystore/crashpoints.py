"""Every crash-point label the keystore's durable writes pass to :mod:`chainplug._fs`.

``_fs`` asks its crash hook about ``"<site>.<step>"`` before each step of an atomic write, a wipe or
a directory creation. The keystore names its sites here; ``chainplug.migration.crashpoints`` (the
hook that ``CHAINPLUG_CRASH_AT`` installs) can include :data:`CRASH_POINTS` in its list. The crash
tests in ``tests/keystore/test_crash.py`` SIGKILL a subprocess at each one.
"""

from __future__ import annotations

from typing import Final

ATOMIC_WRITE_STEPS: Final = ("tmp_write", "torn", "tmp_sync", "rename", "dir_sync")
WIPE_STEPS: Final = ("overwrite", "sync", "unlink", "dir_sync")
MKDIR_STEPS: Final = ("mkdir", "dir_sync")

WRITE_SITES: Final = (
    "keystore.kem.create",  # a new KEM key file
    "keystore.vault.create",  # a new vault's manifest (and its directory: MKDIR_STEPS)
    "keystore.file.create",  # a new single key file
    "keystore.file.rotate",  # a single key file re-sealed
    "keystore.put",  # key files added to a vault
    "keystore.rotate.next",  # a vault rotation's target manifest
    "keystore.rotate.reseal",  # a batch of re-sealed vault key files
    "keystore.rotate.commit",  # vault.json replaced by the target manifest
)
WIPE_SITES: Final = (
    "keystore.erase",  # key files (and their leftover temp copies) erased from a vault
    "keystore.leftover.wipe",  # temp files of interrupted writes
    "keystore.rotate.cleanup",  # vault.next.json after a committed rotation
)

CRASH_POINTS: Final[tuple[str, ...]] = (
    *(f"keystore.vault.create.{step}" for step in MKDIR_STEPS),
    *(f"{site}.{step}" for site in WRITE_SITES for step in ATOMIC_WRITE_STEPS),
    *(f"{site}.{step}" for site in WIPE_SITES for step in WIPE_STEPS),
)
