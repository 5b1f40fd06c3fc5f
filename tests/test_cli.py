"""The ``chainplug`` command as a user runs it: real subprocesses, exit codes, --json."""

import ctypes.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from chainplug import CompositeAccount, __version__
from chainplug.constants import PQC_BACKEND_ENV
from chainplug.crypto import get_backend
from chainplug.types import AccountState
from chainplug.verify import InMemoryRegistry


def run(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "chainplug.cli.main", *args], input=stdin, capture_output=True, timeout=120
    )


@pytest.fixture(scope="module")
def signed_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("cli")
    account = CompositeAccount.from_keys(b"\x07" * 32, b"\x08" * 32)
    signed = account.sign_transaction(
        {"chainId": 5, "nonce": 1, "gas": 21000, "to": "0x" + "22" * 20, "maxFeePerGas": 100, "maxPriorityFeePerGas": 2}
    )
    registry = InMemoryRegistry()
    registry.set(account.address_bytes, AccountState.HYBRID, account.key_id)
    files = {
        "envelope": tmp / "tx.env",
        "raw": tmp / "tx.raw",
        "hex": tmp / "tx.hex",
        "registry": tmp / "registry.json",
        "garbage": tmp / "garbage.bin",
    }
    files["envelope"].write_bytes(signed.envelope)
    files["raw"].write_bytes(signed.raw_transaction)
    files["hex"].write_text("0x" + signed.envelope.hex() + "\n")
    files["registry"].write_text(json.dumps(registry.to_json()))
    files["garbage"].write_bytes(signed.envelope[:-1])
    return files


def test_version_names_the_pqc_backend_that_runs() -> None:
    out = run("--version")
    assert out.returncode == 0, out.stderr
    backend = get_backend()
    assert out.stdout.decode() == f"chainplug {__version__}\nPQC backend: {backend.name} ({backend.description})\n"


def test_version_says_when_the_configured_backend_cannot_run(tmp_path: Path) -> None:
    env = {**os.environ, PQC_BACKEND_ENV: "liboqs", "OQS_INSTALL_PATH": str(tmp_path)}  # an empty prefix
    if ctypes.util.find_library("oqs") or ctypes.util.find_library("liboqs"):
        pytest.skip("a system liboqs is found whatever OQS_INSTALL_PATH says")
    out = subprocess.run([sys.executable, "-m", "chainplug.cli.main", "--version"], capture_output=True, env=env)
    assert out.returncode == 2
    assert b"PQC backend: none can run (liboqs backend unavailable" in out.stderr
    assert str(tmp_path).encode() in out.stderr  # where it looked


def test_help_lists_every_command() -> None:
    out = run("--help")
    assert out.returncode == 0
    for command in ("verify", "inspect", "demo"):
        assert command.encode() in out.stdout


def test_verify_upgraded_accepts_envelope_json(signed_files: dict[str, Path]) -> None:
    out = run("verify", "--policy", "upgraded", "--registry-file", str(signed_files["registry"]), "--json",
              str(signed_files["envelope"]))  # fmt: skip
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["ok"] is True and result["pqc"] == "valid" and result["sender_state"] == "HYBRID"


def test_verify_reads_hex_from_stdin(signed_files: dict[str, Path]) -> None:
    out = run("verify", "--policy", "strict", "-", stdin=signed_files["hex"].read_bytes())
    assert out.returncode == 0, out.stderr


def test_stripped_transaction_exit_1_upgraded_exit_0_legacy(signed_files: dict[str, Path]) -> None:
    rejected = run("verify", "--policy", "upgraded", "--registry-file", str(signed_files["registry"]), "--json",
                   str(signed_files["raw"]))  # fmt: skip
    assert rejected.returncode == 1
    assert json.loads(rejected.stdout)["reason"] == "pqc-required"
    legacy = run("verify", "--policy", "legacy", str(signed_files["raw"]))
    assert legacy.returncode == 0


def test_wrong_chain_is_rejected_with_exit_1(signed_files: dict[str, Path]) -> None:
    out = run("verify", "--policy", "legacy", "--chain-id", "1", "--json", str(signed_files["envelope"]))
    assert out.returncode == 1
    assert json.loads(out.stdout)["reason"] == "wrong-chain"


def test_malformed_input_exit_2_without_traceback(signed_files: dict[str, Path]) -> None:
    out = run("verify", "--policy", "legacy", str(signed_files["garbage"]))
    assert out.returncode == 2
    assert b"Traceback" not in out.stderr
    assert b"MalformedEnvelope" in out.stderr


def test_missing_file_and_bad_usage_exit_2(tmp_path: Path) -> None:
    assert run("verify", "--policy", "legacy", str(tmp_path / "nope")).returncode == 2
    assert run("verify", "--policy", "bogus", "x").returncode == 2
    assert run("verify", "--policy", "upgraded", "--registry-file", str(tmp_path / "missing.json"), "x").returncode == 2


def test_bad_registry_file_exit_2(signed_files: dict[str, Path], tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"accounts": {"0x12": [{"state": "HYBRID"}]}}')
    out = run("verify", "--policy", "upgraded", "--registry-file", str(bad), "--json", str(signed_files["envelope"]))
    assert out.returncode == 2
    assert json.loads(out.stdout)["error"] == "ConfigError"


def test_inspect_shows_fields(signed_files: dict[str, Path]) -> None:
    out = run("inspect", "--json", str(signed_files["envelope"]))
    assert out.returncode == 0
    info = json.loads(out.stdout)
    assert info["kind"] == "envelope" and info["key_form"] == "full-key" and info["chain_id"] == 5
    assert info["envelope_bytes"] == signed_files["envelope"].stat().st_size
    raw = json.loads(run("inspect", "--json", str(signed_files["raw"])).stdout)
    assert raw["kind"] == "raw-transaction" and raw["tx_hash"] == info["tx_hash"]


def test_demo_runs_end_to_end() -> None:
    out = run("demo", "--json")
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["ok"] is True
    assert all(report["checks"].values()) and len(report["checks"]) == 5
    assert report["stripped_verdict"] == "pqc-required"
    assert report["pqc_backend"] == get_backend().name  # the subprocess selects as this one does
