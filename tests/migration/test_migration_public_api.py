"""The public surface of chainplug.migration (STYLE.md habit 13)."""

from __future__ import annotations

import chainplug.migration as migration
from chainplug import errors


def test_exports_are_curated_and_importable() -> None:
    assert len(set(migration.__all__)) == len(migration.__all__)
    for name in migration.__all__:
        assert getattr(migration, name) is not None, name
    for entry_point in (
        "MigrationEngine",
        "read_status",
        "FleetGate",
        "StaticReadiness",
        "PrivateKeyStore",
        "ChainHook",
        "NoChainHook",
        "CRASH_POINTS",
        "TRANSITIONS",
        "apply",
    ):
        assert entry_point in migration.__all__


def test_migration_errors_sit_in_the_one_tree() -> None:
    assert issubclass(errors.MigrationError, errors.ChainplugError)
    for rejected in (errors.IllegalTransition, errors.GateRejected, errors.ClassicalKeyRetired):
        assert issubclass(rejected, errors.MigrationRejected)
    assert issubclass(errors.UnknownAccount, LookupError)
    for not_a_refusal in (errors.WalCorrupt, errors.StoreLocked):  # exit 2 from every command, not a refusal
        assert issubclass(not_a_refusal, errors.MigrationError)
        assert not issubclass(not_a_refusal, errors.MigrationRejected)
    assert errors.GateRejected("x", not_ready=("v1", "v2")).to_json()["not_ready"] == "v1,v2"
