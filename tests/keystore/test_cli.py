"""``chainplug keystore ...`` and ``chainplug account import|export-public`` as a user runs them."""

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from eth_account import Account

from chainplug.cli import _keystore

from .conftest import TEST_ITERATIONS, snapshot

LOW = ["--insecure-kdf-iterations", str(TEST_ITERATIONS)]
V3_SECRET = "0x" + "42" * 32


def run(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("CHAINPLUG_")}
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "chainplug.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=full_env,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
    )


@pytest.fixture
def site(tmp_path: Path) -> Path:
    """secrets/ (password files, KEM keys) apart from data/ (key files)."""
    (tmp_path / "secrets").mkdir()
    (tmp_path / "data").mkdir()
    (tmp_path / "secrets" / "pw").write_text("first password\n")
    (tmp_path / "secrets" / "pw2").write_text("second password\r\n")
    (tmp_path / "secrets" / "v3pw").write_text("v3 pass")
    v3 = Account.encrypt(V3_SECRET, "v3 pass", kdf="scrypt", iterations=2**4)
    (tmp_path / "data" / "v3.json").write_text(json.dumps(v3))
    return tmp_path


def test_full_flow(site: Path) -> None:
    s, d = site / "secrets", site / "data"
    out = run("keystore", "create-kem-key", "--out", str(s / "kem.json"), "--json")
    assert out.returncode == 0, out.stderr
    key_id = json.loads(out.stdout)["key_id"]
    assert "seed" not in out.stdout
    env = {"CHAINPLUG_KEM_KEY": str(s / "kem.json"), "VAULT_PW": "first password"}

    out = run("keystore", "init", str(d / "vault"), "--password-env", "VAULT_PW", *LOW, "--json", env=env)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["kem_key_id"] == key_id
    assert "--insecure-kdf-iterations is for tests" in out.stderr

    out = run("account", "import", str(d / "v3.json"), "--keystore", str(d / "vault"), "--password-env", "VAULT_PW",
              "--v3-password-file", str(s / "v3pw"), *LOW, "--json", env=env)  # fmt: skip
    assert out.returncode == 0, out.stderr
    imported = json.loads(out.stdout)
    address = Account.from_key(V3_SECRET).address.lower()
    assert imported["address"] == address and imported["state"] == "CLASSICAL"

    out = run("account", "export-public", "--keystore", str(d / "vault"), "--address", address,
              "--password-file", str(s / "pw"), *LOW, "--json", env=env)  # fmt: skip
    assert out.returncode == 0, out.stderr
    (entry,) = json.loads(out.stdout)["keys"]
    assert entry["address"] == address and entry["algorithm"] == "secp256k1"
    assert json.loads(out.stdout)["verified"] is True

    out = run("keystore", "rotate-password", str(d / "vault"), "--password-file", str(s / "pw"),
              "--new-password-file", str(s / "pw2"), *LOW, "--json", env=env)  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["resealed"] == 1
    assert run("keystore", "create-kem-key", "--out", str(s / "kem2.json")).returncode == 0
    out = run("keystore", "rotate-kem-key", str(d / "vault"), "--password-file", str(s / "pw2"),
              "--new-kem-key", str(s / "kem2.json"), *LOW, env=env)  # fmt: skip
    assert out.returncode == 0, out.stderr
    out = run("keystore", "check", str(d / "vault"), "--password-file", str(s / "pw2"),
              "--kem-key", str(s / "kem2.json"), *LOW, "--json")  # fmt: skip
    assert out.returncode == 0 and json.loads(out.stdout)["keys"] == 1


def test_single_file_import_and_unverified_export(site: Path) -> None:
    s, d = site / "secrets", site / "data"
    assert run("keystore", "create-kem-key", "--out", str(s / "kem.json")).returncode == 0
    out = run("account", "import", str(d / "v3.json"), "--out", str(d / "key.json"), "--kem-key", str(s / "kem.json"),
              "--password-file", str(s / "pw"), "--v3-password-file", str(s / "v3pw"), *LOW)  # fmt: skip
    assert out.returncode == 0, out.stderr
    out = run("account", "export-public", str(d / "key.json"), "--unverified", "--json")
    assert out.returncode == 0 and json.loads(out.stdout)["verified"] is False


@pytest.mark.one_backend
def test_errors_exit_2_and_change_nothing(site: Path) -> None:
    s, d = site / "secrets", site / "data"
    assert run("keystore", "create-kem-key", "--out", str(s / "kem.json")).returncode == 0
    kem = ["--kem-key", str(s / "kem.json")]
    assert run("keystore", "init", str(d / "vault"), *kem, "--password-file", str(s / "pw"), *LOW).returncode == 0
    before = snapshot(site)
    cases = [
        ("keystore", "check", str(d / "vault"), *kem, "--password-file", str(s / "pw2"), *LOW),  # wrong password
        ("keystore", "rotate-password", str(d / "vault"), *kem, "--password-file", str(s / "v3pw"),
         "--new-password-file", str(s / "pw2"), *LOW),  # wrong old password
        ("keystore", "check", str(d / "vault"), *kem, "--password-file", str(s / "pw")),  # weak KDF for production
        ("keystore", "check", str(d / "vault"), "--password-file", str(s / "pw"), *LOW),  # no KEM key anywhere
        ("keystore", "check", str(d / "vault"), *kem, *LOW),  # no password source, no terminal
        ("keystore", "check", str(d / "vault"), *kem, "--password-env", "UNSET_VARIABLE", *LOW),
        ("keystore", "create-kem-key", "--out", str(s / "kem.json")),  # never overwrites
        ("account", "import", str(d / "v3.json"), "--keystore", str(d / "vault"), *kem,
         "--password-file", str(s / "pw"), "--v3-password-file", str(s / "pw"), *LOW),  # wrong V3 password
    ]  # fmt: skip
    for args in cases:
        out = run(*args)
        assert out.returncode == 2, (args, out.stdout, out.stderr)
        assert "Traceback" not in out.stderr and out.stderr.startswith(("chainplug: ", "chainplug: WARNING"))
    assert snapshot(site) == before


@pytest.mark.one_backend
def test_kem_key_next_to_the_key_files_is_refused(site: Path) -> None:
    d = site / "data"
    assert run("keystore", "create-kem-key", "--out", str(d / "kem.json")).returncode == 0
    out = run("keystore", "init", str(d / "vault"), "--kem-key", str(d / "vault" / "kem.json"), "--password-file",
              str(site / "secrets" / "pw"), *LOW)  # fmt: skip
    assert out.returncode == 2


@pytest.mark.one_backend
def test_a_password_is_never_taken_as_an_argument_value(site: Path) -> None:
    out = run("keystore", "check", str(site / "data"), "--password", "hunter2")
    assert out.returncode == 2
    for command in (["keystore", "check"], ["keystore", "rotate-password"], ["account", "import"]):
        text = run(*command, "--help").stdout
        assert "--password-file" in text and "--password " not in text


def test_account_group_is_shared_with_account_create() -> None:
    text = run("account", "--help").stdout
    assert "import" in text and "export-public" in text


def test_progress_bar_draws_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    show = _keystore._progress("unlocking")
    assert show is not None
    for done in range(1, 1001):
        show(done, 1000)
    assert terminal.getvalue().endswith("] 1000/1000\n")
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    assert _keystore._progress("unlocking") is None
