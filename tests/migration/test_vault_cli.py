"""`chainplug account create` / `migrate` with --vault: keys sealed at rest, wrong password exit 2."""

import json
import subprocess
import sys
from pathlib import Path

from chainplug.keystore import KemKey


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "chainplug.cli.main", *args], capture_output=True, text=True,
                          timeout=120)  # fmt: skip


def test_vault_backed_store_end_to_end(tmp_path: Path) -> None:
    (tmp_path / "secrets").mkdir()
    kem = tmp_path / "secrets" / "kem.json"
    KemKey.generate().save(kem)
    (tmp_path / "pw").write_text("a long vault password\n")
    (tmp_path / "bad").write_text("not the password\n")
    (tmp_path / "ready.json").write_text('{"validators": {"v1": true}}')
    creds = ["--vault", str(tmp_path / "vault"), "--kem-key", str(kem), "--insecure-kdf-iterations", "1000"]
    store = ["--store", str(tmp_path / "store")]
    created = run("account", "create", *store, *creds, "--password-file", str(tmp_path / "pw"), "--json")
    assert created.returncode == 0, created.stderr
    info = json.loads(created.stdout)
    assert info["keys_encrypted"] is True
    (address,) = info["created"]
    assert not (tmp_path / "store" / "keys" / f"{address}.classical.key").exists()
    advanced = run("migrate", "advance", *store, *creds, "--password-file", str(tmp_path / "pw"), "--to", "PQC_ONLY",
                   "--readiness", str(tmp_path / "ready.json"), "--json")  # fmt: skip
    assert advanced.returncode == 0, advanced.stderr
    assert json.loads(advanced.stdout)["state"] == "PQC_ONLY"
    before = sorted((p.name, p.read_bytes()) for p in (tmp_path / "vault").iterdir())
    wrong = run("migrate", "status", *store, *creds, "--password-file", str(tmp_path / "bad"))
    assert wrong.returncode == 2 and "Traceback" not in wrong.stderr
    assert sorted((p.name, p.read_bytes()) for p in (tmp_path / "vault").iterdir()) == before
