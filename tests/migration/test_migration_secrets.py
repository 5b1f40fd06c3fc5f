"""Private key bytes never appear in the log, log messages, errors, tracebacks or CLI output.

Every secret a run touches (classical secrets, ML-DSA-87 seeds) is searched for — raw, lower- and
upper-case hex — in everything the engine produces other than the key files themselves.
"""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import sys
import traceback
from pathlib import Path

import pytest

from chainplug.errors import ChainplugError, ClassicalKeyRetired, GateRejected, KeyMaterialError
from chainplug.migration import FleetGate, PlainFileKeyStore, StaticReadiness
from chainplug.types import AccountState
from tests.migration._migration_support import known_key, known_secret, open_engine, scan_for_secrets, snapshot


def error_texts(name: str, error: BaseException) -> list[tuple[str, str]]:
    texts = [
        (f"{name}: str", str(error)),
        (f"{name}: repr", repr(error)),
        (f"{name}: traceback", "".join(traceback.format_exception(error))),
    ]
    if isinstance(error, ChainplugError):
        texts.append((f"{name}: json", json.dumps(error.to_json())))
    return texts


def test_scanner_finds_a_secret_where_there_is_one(tmp_path: Path) -> None:
    store = tmp_path / "store"
    with open_engine(store, create=True) as engine:
        engine.create_account(known_key(9, 0))
    key_file = next((store / "keys").iterdir())
    found = scan_for_secrets(
        [("key file", key_file.read_bytes()), ("hex", known_secret(9, 0).hex().upper())], [known_secret(9, 0)]
    )
    assert found == ["key file", "hex"]


def test_engine_outputs_hold_no_key_material(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    store = tmp_path / "store"
    secrets = [known_secret(9, i) for i in range(5)]
    blobs: list[tuple[str, bytes | str]] = []
    with open_engine(store, create=True) as engine:
        a0, a1, a2, a3, a4 = engine.create_accounts([known_key(9, i) for i in range(5)])
        engine.advance(a0)
        pqc = engine.load_pqc_key(a0)
        secrets.append(pqc.seed_bytes())
        classical = engine.load_classical_key(a1)
        blobs += [("account repr", repr(engine.account(a0))), ("pqc repr", repr(pqc)), ("key repr", repr(classical))]

        broken = store / "keys" / f"0x{a2.hex()}.classical.key"
        broken.write_bytes(broken.read_bytes()[:-2] + b"\xff\xff")
        with pytest.raises(KeyMaterialError) as caught:
            engine.advance(a2)
        blobs += error_texts("corrupt key", caught.value)
        shutil.copy(store / "keys" / f"0x{a4.hex()}.classical.key", store / "keys" / f"0x{a3.hex()}.classical.key")
        with pytest.raises(KeyMaterialError) as caught:
            engine.load_classical_key(a3)
        blobs += error_texts("someone else's key", caught.value)

        engine.advance(a0, AccountState.FINALIZING)
        with pytest.raises(ClassicalKeyRetired) as caught:
            engine.load_classical_key(a0)
        blobs += error_texts("retired", caught.value)
        engine.readiness = StaticReadiness({"legacy-7": False})
        engine.advance(a1)
        with pytest.raises(GateRejected) as caught:
            engine.advance(a1)
        blobs += error_texts("gate", caught.value)
        engine.advance(a4)
        engine.rollback(a4)
        engine.gate = FleetGate(force=True)
        engine.batch(AccountState.PQC_ONLY)
    log = bytearray((store / "migration.wal").read_bytes())
    log[100] ^= 0x10  # a corrupt record in the middle
    (store / "migration.wal").write_bytes(log)
    with pytest.raises(ChainplugError, match="corrupt") as caught:
        open_engine(store)
    blobs += error_texts("log", caught.value)
    blobs += [(f"log record {r.name}", r.getMessage()) for r in caplog.records] + [("caplog", caplog.text)]
    blobs += [(f"store file {name}", data) for name, data in snapshot(store).items() if not name.startswith("keys/")]
    assert scan_for_secrets(blobs, secrets) == []
    assert any("log record" in name for name, _ in blobs) and any("traceback" in name for name, _ in blobs)


def test_cli_outputs_hold_no_key_material(tmp_path: Path) -> None:
    store = tmp_path / "store"
    fleet = tmp_path / "fleet.json"
    fleet.write_text('{"validators": {"v1": true, "v2": false}}')

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "chainplug.cli.main", *args], capture_output=True, text=True, timeout=120
        )

    outputs = [cli("account", "create", "--store", str(store), "--count", "3")]
    keystore = PlainFileKeyStore(store / "keys")
    addresses = sorted(a.hex() for a in keystore.inventory().classical)
    secrets = [keystore.load_classical(bytes.fromhex(a)).secret_bytes() for a in addresses]  # type: ignore[arg-type]
    for json_flag in ([], ["--json"]):
        outputs += [
            cli("migrate", "status", "--store", str(store), *json_flag),
            cli("migrate", "advance", "--store", str(store), "--address", addresses[0], *json_flag),
            cli(
                "migrate",
                "advance",
                "--store",
                str(store),
                "--address",
                addresses[0],
                "--to",
                "pqc_only",
                "--readiness",
                str(fleet),
                *json_flag,
            ),
            cli("migrate", "rollback", "--store", str(store), "--address", addresses[1], *json_flag),
            cli("migrate", "recover", "--store", str(store), *json_flag),
        ]
    outputs.append(
        cli(
            "migrate",
            "batch",
            "--store",
            str(store),
            "--to",
            "PQC_ONLY",
            "--readiness",
            str(fleet),
            "--force",
            "--progress",
        )
    )
    secrets.append(keystore.load_pqc(bytes.fromhex(addresses[0]), 0).seed_bytes())  # type: ignore[arg-type]
    assert {o.returncode for o in outputs} == {0, 1}  # the gate rejection and the rollback refusal happened
    blobs = [
        (f"{' '.join(o.args[3:6])} {stream}", text)
        for o in outputs
        for stream, text in (("stdout", o.stdout), ("stderr", o.stderr))
    ]
    assert scan_for_secrets(blobs, secrets) == []
