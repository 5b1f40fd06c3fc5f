"""The audit log's hash chain verifies, and detects an edited, removed or reordered line."""

from pathlib import Path

import pytest

from chainplug.signer.audit import AuditLog, AuditLogError, verify_audit_log


def write(path: Path, n: int) -> None:
    log = AuditLog(path)
    for i in range(n):
        log.record("sign", address="0x" + "ab" * 20, tx_hash="0x" + f"{i:064x}", state="HYBRID")
    log.close()


def test_chain_verifies_and_continues_across_reopen(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    write(path, 3)
    write(path, 2)
    last = verify_audit_log(path)
    assert last["seq"] == 4 and len(path.read_text().splitlines()) == 5


@pytest.mark.parametrize("tamper", ["edit", "delete", "swap", "append-forged"])
def test_tampering_is_detected_with_the_line(tmp_path: Path, tamper: str) -> None:
    path = tmp_path / "audit.jsonl"
    write(path, 4)
    lines = path.read_text().splitlines(keepends=True)
    if tamper == "edit":
        lines[1] = lines[1].replace('"HYBRID"', '"PQC_ONLY"')
    elif tamper == "delete":
        del lines[2]
    elif tamper == "swap":
        lines[1], lines[2] = lines[2], lines[1]
    else:
        lines.append(lines[-1].replace('"seq":3', '"seq":4'))
    path.write_text("".join(lines))
    with pytest.raises(AuditLogError, match="line"):
        verify_audit_log(path)


def test_secret_looking_fields_are_refused(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.jsonl")
    for name in ("secret_key", "password", "mldsa_seed", "private_key"):
        with pytest.raises(ValueError):
            log.record("sign", **{name: "x"})
    log.close()
