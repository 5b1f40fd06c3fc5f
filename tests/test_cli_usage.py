"""The command line's manners: no abbreviated options, passwords never as arguments, errors as JSON
under ``--json``, clear refusals (a vault-backed store opened without ``--vault``, a KEM key created
inside a vault, text given to ``inspect``, a service that cannot listen)."""

import argparse
import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from chainplug.cli.main import build_parser
from chainplug.keystore import KemKey

PASSWORD_NOTE = "passwords are never command-line arguments"


def run(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHAINPLUG_")}
    return subprocess.run([sys.executable, "-m", "chainplug.cli.main", *args], capture_output=True, text=True,
                          timeout=120, env=env, input=None if stdin is None else stdin.decode())  # fmt: skip


def parsers(parser: argparse.ArgumentParser) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    yield parser.prog, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                yield from parsers(child)


def test_no_parser_accepts_abbreviated_options() -> None:
    found = dict(parsers(build_parser()))
    assert len(found) > 25  # every command and subcommand
    assert [prog for prog, parser in found.items() if parser.allow_abbrev] == []
    out = run("keystore", "check", "DIR", "--password-f", "pw")  # once read as --password-file
    assert out.returncode == 2 and "unrecognized arguments: --password-f" in out.stderr


def test_verify_needs_its_policy_spelled_out() -> None:
    out = run("verify", "x")
    assert out.returncode == 2 and "--policy" in out.stderr and "required" in out.stderr
    assert "upgraded = what the sender's registered state requires" in " ".join(run("verify", "--help").stdout.split())


@pytest.mark.parametrize(
    "command",
    [
        ["keystore", "check", "DIR", "--password", "hunter2"],
        ["keystore", "check", "DIR", "--password=hunter2"],
        ["keystore", "rotate-password", "DIR", "--new-password", "hunter2"],
        ["account", "import", "V3", "--out", "F", "--v3-password", "hunter2"],
        ["migrate", "status", "--store", "S", "--password", "hunter2"],
        ["account", "create", "--store", "S", "--password", "hunter2"],
        ["signer", "serve", "--store", "S", "--rpc", "http://127.0.0.1:1", "--password", "hunter2"],
    ],
)
def test_a_password_argument_is_refused_with_the_reason(command: list[str]) -> None:
    out = run(*command)
    assert out.returncode == 2
    assert PASSWORD_NOTE in out.stderr and "-file FILE" in out.stderr and "-env VAR" in out.stderr
    assert "hunter2" not in out.stderr + out.stdout
    assert "ambiguous" not in out.stderr


def test_usage_and_file_errors_are_json_under_json(tmp_path: Path) -> None:
    usage = run("verify", "--json", "--policy", "bogus", "x")
    assert usage.returncode == 2 and usage.stderr == ""
    document = json.loads(usage.stdout)
    assert document["ok"] is False and document["error"] == "UsageError" and "bogus" in document["message"]
    missing = run("inspect", "--json", str(tmp_path / "nope"))
    assert missing.returncode == 2 and missing.stderr == ""
    assert json.loads(missing.stdout)["message"] == f"No such file or directory: {tmp_path / 'nope'}"
    password = run("keystore", "check", "DIR", "--json", "--password", "hunter2")
    assert PASSWORD_NOTE in json.loads(password.stdout)["message"] and "hunter2" not in password.stdout


def test_inspect_refuses_text_that_is_not_hex(tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("zebra: this is not a transaction\n")
    out = run("inspect", str(text))
    assert out.returncode == 2 and "is text but not hex" in out.stderr and "0x7a" not in out.stderr
    odd = run("inspect", "-", stdin=b"0xabc\n")
    assert odd.returncode == 2 and "odd number of digits" in odd.stderr


def test_hex_split_over_lines_is_still_hex() -> None:
    from chainplug import CompositeAccount

    account = CompositeAccount.from_keys(b"\x07" * 32, b"\x08" * 32)
    signed = account.sign_transaction(
        {"chainId": 5, "nonce": 1, "gas": 21000, "to": "0x" + "22" * 20, "maxFeePerGas": 100, "maxPriorityFeePerGas": 2}
    )
    digits = signed.envelope.hex()
    wrapped = "0x" + "\n".join(digits[i : i + 64] for i in range(0, len(digits), 64)) + "\n"
    out = run("inspect", "--json", "-", stdin=wrapped.encode())
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["envelope_bytes"] == len(signed.envelope)


def test_a_kem_key_inside_a_vault_or_store_is_refused_before_it_is_written(tmp_path: Path) -> None:
    (tmp_path / "vault").mkdir()
    (tmp_path / "vault" / "vault.json").write_text("{}")
    (tmp_path / "store" / "keys").mkdir(parents=True)
    (tmp_path / "store" / "migration.wal").write_bytes(b"")
    for target in (tmp_path / "vault" / "kem.key", tmp_path / "store" / "keys" / "kem.key"):
        out = run("keystore", "create-kem-key", "--out", str(target))
        assert out.returncode == 2 and "keep the KEM key apart" in out.stderr, out.stderr
        assert not target.exists()
    assert run("keystore", "create-kem-key", "--out", str(tmp_path / "kem.key")).returncode == 0


def test_a_vault_backed_store_without_vault_says_pass_vault(tmp_path: Path) -> None:
    (tmp_path / "secrets").mkdir()
    kem = tmp_path / "secrets" / "kem.json"
    KemKey.generate().save(kem)
    (tmp_path / "pw").write_text("a long vault password\n")
    store = ["--store", str(tmp_path / "store")]
    created = run("account", "create", *store, "--vault", str(tmp_path / "vault"), "--kem-key", str(kem),
                  "--password-file", str(tmp_path / "pw"), "--insecure-kdf-iterations", "1000")  # fmt: skip
    assert created.returncode == 0, created.stderr
    before = sorted((p.relative_to(tmp_path), p.read_bytes()) for p in (tmp_path / "store").rglob("*") if p.is_file())
    for command in (["migrate", "status"], ["migrate", "advance"], ["migrate", "recover"]):
        out = run(*command, *store)
        assert out.returncode == 2, (command, out.stderr)
        assert "this store's keys are in a vault — pass --vault DIR" in out.stderr
        assert "missing" not in out.stderr
    after = sorted((p.relative_to(tmp_path), p.read_bytes()) for p in (tmp_path / "store").rglob("*") if p.is_file())
    assert after == before  # refused before any recovery could touch the store


def test_chain_serve_checks_listen_before_printing_dev_keys() -> None:
    out = run("chain", "serve", "--listen", "nonsense")
    assert out.returncode == 2 and "--listen must be HOST:PORT" in out.stderr
    assert "key 0x" not in out.stdout and "private_key" not in out.stdout


def test_a_bind_error_is_one_clear_line_and_no_key_is_printed() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        out = run("chain", "serve", "--listen", f"127.0.0.1:{port}")
        as_json = run("chain", "serve", "--json", "--listen", f"127.0.0.1:{port}")
    assert out.returncode == 2
    assert out.stderr.strip().endswith(f"cannot listen on 127.0.0.1:{port}: address already in use"), out.stderr
    assert "key 0x" not in out.stdout
    document = json.loads(as_json.stdout)
    assert document["ok"] is False and "cannot listen" in document["message"] and "accounts" not in document


def test_help_imports_no_heavy_library() -> None:
    """``chainplug --help`` (and every command's parser) starts fast: building the parser imports none of
    the libraries the commands use (measured: aiohttp alone took 0.35 s of a 0.6 s ``--help``)."""
    heavy = ("aiohttp", "asyncio", "web3", "eth", "cryptography", "oqs", "coincurve", "vyper", "matplotlib")
    probe = (
        "import sys; from chainplug.cli.main import build_parser; build_parser().format_help(); "
        f"print(sorted({{m.split('.')[0] for m in sys.modules}} & set({heavy!r})))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.strip() == "[]", done.stdout
