"""SIGKILL at every labelled crash point of create, rotate and erase (real kills, forked children).

Each scenario is first run once with a recording hook to list the crash points it passes
(:func:`chainplug._fs.set_crash_hook`, the mechanism ``CHAINPLUG_CRASH_AT`` uses); then, for every
(label, n-th hit), a forked child runs it again from the same starting state and SIGKILLs itself
just before that step. The parent then checks the invariant: every key is old-and-openable or
new-and-openable (or, for a key being created or erased, cleanly absent) — never neither — and
that running the operation again finishes the job.
"""

import contextlib
import os
import shutil
import signal
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from chainplug import _fs
from chainplug.errors import KeyNotFound, WrongPassphraseOrKey
from chainplug.keystore import (
    CRASH_POINTS,
    Credentials,
    KemKey,
    KeyAlgorithm,
    KeyRef,
    KeyToStore,
    Vault,
    create_key_file,
    open_key,
    open_key_file,
    read_key_file,
    rotate_kem_key,
    rotate_password,
)

from .conftest import OTHER_KEM_SEED, OTHER_PASSWORD, classical_key, make_credentials, pqc_key

pytestmark = pytest.mark.one_backend  # the write protocol under crashes, not the KEM: once is enough

Operation = Callable[[Path], object]


def _trace(operation: Operation, work: Path) -> list[tuple[str, int]]:
    """Run once without crashing; return every (label, n) the operation passes."""
    seen: Counter[str] = Counter()
    hits: list[tuple[str, int]] = []

    def record(label: str) -> bool:
        seen[label] += 1
        hits.append((label, seen[label]))
        return False

    _fs.set_crash_hook(record)
    try:
        operation(work)
    finally:
        _fs.set_crash_hook(None)
    return hits


def _killed_at(operation: Operation, work: Path, label: str, nth: int) -> None:
    """Fork; the child runs ``operation`` and SIGKILLs itself before the nth hit of ``label``."""
    pid = os.fork()
    if pid == 0:  # child: never returns into pytest
        code = 0
        try:
            count = [0]

            def hook(seen: str) -> bool:
                count[0] += seen == label
                return seen == label and count[0] == nth

            _fs.set_crash_hook(hook)  # default action: SIGKILL this process
            operation(work)
        except BaseException:
            code = 3
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL, f"{label}#{nth}: not killed ({status})"


def _crash_everywhere(
    tmp_path: Path, prepare: Callable[[Path], None], operation: Operation, check: Callable[[Path], None]
) -> list[str]:
    template = tmp_path / "template"
    template.mkdir()
    prepare(template)
    shutil.copytree(template, tmp_path / "trace")
    points = _trace(operation, tmp_path / "trace")
    assert points, "the operation passed no crash point"
    for index, (label, nth) in enumerate(points):
        assert label in CRASH_POINTS, f"{label} is not listed in chainplug.keystore.CRASH_POINTS"
        work = tmp_path / f"case{index}"
        shutil.copytree(template, work)
        _killed_at(operation, work, label, nth)
        check(work)
        shutil.rmtree(work)
    return sorted({label for label, _ in points})


def _opens(path: Path, *candidates: Credentials) -> bool:
    sealed = read_key_file(path)
    for creds in candidates:
        try:
            open_key(sealed, creds).destroy()
        except WrongPassphraseOrKey:
            continue
        return True
    return False


OLD = make_credentials()
NEW_PASSWORD = Credentials(make_credentials(password=OTHER_PASSWORD).passphrase, OLD.kem_key)
NEW_KEM = make_credentials(kem_seed=OTHER_KEM_SEED)


def _vault_with(directory: Path, count: int) -> None:
    vault = Vault.create(directory / "vault", make_credentials())
    account = classical_key(0)
    items = [KeyToStore(classical_key(i)) for i in range(count)]
    items.append(
        KeyToStore(pqc_key(), address=account.address, classical_public_key=account.public_key_bytes, generation=1)
    )
    vault.put(items)


def _refs(count: int) -> list[KeyRef]:
    refs = [KeyRef(classical_key(i).address, KeyAlgorithm.SECP256K1, 0) for i in range(count)]
    return [*refs, KeyRef(classical_key(0).address, KeyAlgorithm.MLDSA87, 1)]


def test_crash_while_creating_a_vault_and_its_keys(tmp_path: Path) -> None:
    def check(work: Path) -> None:
        directory = work / "vault"
        try:
            vault = Vault.open(directory, make_credentials())
        except KeyNotFound:  # died before the manifest existed: start again from scratch
            vault = Vault.create(directory, make_credentials())
        for ref in vault.inventory().keys:  # any key file present is complete and opens
            vault.load(ref).destroy()
        vault.wipe_leftovers()
        _vault_put_rest(vault)

    labels = _crash_everywhere(tmp_path, lambda _: None, lambda work: _vault_with(work, 2), check)
    assert "keystore.vault.create.mkdir" in labels and "keystore.put.torn" in labels


def _vault_put_rest(vault: Vault) -> None:
    present = set(vault.inventory().keys)
    account = classical_key(0)
    todo = [KeyToStore(classical_key(i)) for i in range(2) if _refs(2)[i] not in present]
    if _refs(2)[2] not in present:
        todo.append(
            KeyToStore(pqc_key(), address=account.address, classical_public_key=account.public_key_bytes, generation=1)
        )
    vault.put(todo)
    assert len(vault.unlock_all()) == 3


def test_crash_while_adding_keys_keeps_the_existing_ones(tmp_path: Path) -> None:
    def operation(work: Path) -> None:
        Vault.open(work / "vault", make_credentials()).put([KeyToStore(classical_key(i)) for i in (5, 6)])

    def check(work: Path) -> None:
        vault = Vault.open(work / "vault", make_credentials())
        refs = set(vault.inventory().keys)
        assert set(_refs(1)) <= refs  # the keys that were there are still there and open
        for ref in refs:
            vault.load(ref).destroy()

    _crash_everywhere(tmp_path, lambda work: _vault_with(work, 1), operation, check)


def test_crash_while_creating_a_single_key_file_or_kem_key(tmp_path: Path) -> None:
    def operation(work: Path) -> None:
        KemKey.from_seed(OTHER_KEM_SEED).save(work / "kem.json")
        create_key_file(work / "key.json", classical_key(), make_credentials())

    def check(work: Path) -> None:
        if (work / "kem.json").exists():
            assert KemKey.load(work / "kem.json").key_id == NEW_KEM.kem_key.key_id
        if (work / "key.json").exists():
            assert (
                open_key_file(work / "key.json", make_credentials()).classical().secret_bytes()
                == classical_key().secret_bytes()
            )

    labels = _crash_everywhere(tmp_path, lambda _: None, operation, check)
    assert {"keystore.kem.create.rename", "keystore.file.create.tmp_sync"} <= set(labels)


@pytest.mark.parametrize("kind", ["password", "kem-key"])
def test_crash_while_rotating_a_vault(tmp_path: Path, kind: str) -> None:
    new = NEW_PASSWORD if kind == "password" else NEW_KEM
    rotate = rotate_password if kind == "password" else rotate_kem_key

    def operation(work: Path) -> None:
        rotate(work / "vault", make_credentials(), new)

    def check(work: Path) -> None:
        directory = work / "vault"
        for path in directory.glob("0x*.json"):
            assert _opens(path, make_credentials(), new), f"{path.name} opens with neither the old nor the new factors"
        rotate(directory, make_credentials(), new)  # running it again finishes the rotation
        keys = Vault.open(directory, new).unlock_all()
        assert len(keys) == 3 and not (directory / "vault.next.json").exists()
        assert Vault.open(directory, new).inventory().leftovers == ()  # no stale sealed copies left

    labels = _crash_everywhere(tmp_path, lambda work: _vault_with(work, 2), operation, check)
    assert {"keystore.rotate.next.rename", "keystore.rotate.reseal.rename", "keystore.rotate.commit.rename"} <= set(
        labels
    )
    assert "keystore.rotate.cleanup.unlink" in labels


def test_crash_while_rotating_a_single_file(tmp_path: Path) -> None:
    def prepare(work: Path) -> None:
        create_key_file(work / "key.json", pqc_key(), make_credentials(), address=classical_key().address)

    def check(work: Path) -> None:
        assert _opens(work / "key.json", make_credentials(), NEW_PASSWORD)
        rotate_password(work / "key.json", make_credentials(), NEW_PASSWORD)
        assert _opens(work / "key.json", NEW_PASSWORD)

    _crash_everywhere(
        tmp_path, prepare, lambda work: rotate_password(work / "key.json", make_credentials(), NEW_PASSWORD), check
    )


def test_crash_while_erasing_leaves_the_key_intact_or_destroyed(tmp_path: Path) -> None:
    victim = _refs(2)[1]

    def prepare(work: Path) -> None:
        _vault_with(work, 2)
        path = work / "vault" / victim.file_name
        (path.parent / f".{path.name}.1.0.tmp").write_bytes(path.read_bytes())  # a leftover copy

    def check(work: Path) -> None:
        vault = Vault.open(work / "vault", make_credentials())
        # still intact — or gone, or zeroed by the interrupted wipe: destroyed either way
        with contextlib.suppress(KeyNotFound):
            vault.load(victim).destroy()
        for ref in _refs(2):
            if ref != victim:
                vault.load(ref).destroy()
        vault.erase([victim])  # idempotent: finishes the job
        assert not any(
            name.startswith((victim.file_name, f".{victim.file_name}")) for name in os.listdir(work / "vault")
        )

    labels = _crash_everywhere(
        tmp_path, prepare, lambda work: Vault.open(work / "vault", make_credentials()).erase([victim]), check
    )
    assert set(labels) == {f"keystore.erase.{step}" for step in ("overwrite", "sync", "unlink", "dir_sync")}
