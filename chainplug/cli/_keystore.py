"""``chainplug keystore ...`` and ``chainplug account import|export-public`` (docs/keystore.md §9).

Secrets come from where :mod:`._credentials` says (never from an argument value). Every keystore
error exits 2.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError
from ._args import parse_address
from ._credentials import credential_options, credentials_from_args, kdf_policy, read_password, refuse_password_argument
from ._output import EXIT_OK, emit

if TYPE_CHECKING:
    from ..keystore import Credentials, UnlockedKey


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    keystore = sub.add_parser("keystore", help="encrypted key files and vaults (password + ML-KEM key)")
    actions = keystore.add_subparsers(dest="action", metavar="ACTION")
    actions.required = True
    creds = credential_options()

    kem = actions.add_parser("create-kem-key", parents=[common], help="create an ML-KEM-1024 decapsulation key file")
    kem.add_argument("--out", type=Path, required=True, help="new file (keep it away from the key files)")
    kem.set_defaults(handler=_create_kem_key)

    init = actions.add_parser("init", parents=[common, creds], help="create an empty vault directory")
    init.add_argument("vault", type=Path, help="new or empty directory")
    init.set_defaults(handler=_init)

    check = actions.add_parser("check", parents=[common, creds], help="unlock every key of a vault or key file")
    check.add_argument("path", type=Path, help="vault directory or key file")
    check.set_defaults(handler=_check)

    password = actions.add_parser("rotate-password", parents=[common, creds], help="re-seal under a new password")
    password.add_argument("path", type=Path, help="vault directory or key file")
    password.add_argument("--new-password-file", type=Path, help="file holding the new password ('-' = stdin)")
    password.add_argument("--new-password-env", metavar="VAR", help="environment variable holding the new password")
    refuse_password_argument(password, "--new-password", "--new-password-file", "--new-password-env")
    password.set_defaults(handler=_rotate_password)

    kem_rotate = actions.add_parser("rotate-kem-key", parents=[common, creds], help="re-seal to a new KEM key")
    kem_rotate.add_argument("path", type=Path, help="vault directory or key file")
    kem_rotate.add_argument("--new-kem-key", type=Path, required=True, help="the new KEM key file (create-kem-key)")
    kem_rotate.set_defaults(handler=_rotate_kem_key)

    account = _group(sub, "account", summary="manage the accounts of a key store")
    imp = account.add_parser("import", parents=[common, creds], help="import an Ethereum V3 keystore (CLASSICAL)")
    imp.add_argument("v3_file", type=Path, help="V3 keystore JSON (as eth-account or geth write it)")
    where = imp.add_mutually_exclusive_group(required=True)
    where.add_argument("--keystore", type=Path, metavar="DIR", help="vault to add the key to")
    where.add_argument("--out", type=Path, metavar="FILE", help="write a single key file instead")
    imp.add_argument("--v3-password-file", type=Path, help="file holding the V3 password ('-' = stdin)")
    imp.add_argument("--v3-password-env", metavar="VAR", help="environment variable holding the V3 password")
    refuse_password_argument(imp, "--v3-password", "--v3-password-file", "--v3-password-env")
    imp.set_defaults(handler=_import)

    export = account.add_parser("export-public", parents=[common, creds], help="print an account's public keys")
    export.add_argument("file", type=Path, nargs="?", help="a single key file (or use --keystore)")
    export.add_argument("--keystore", type=Path, metavar="DIR", help="vault directory")
    export.add_argument("--address", help="only this account (with --keystore)")
    export.add_argument("--unverified", action="store_true", help="read headers without decrypting (no password)")
    export.set_defaults(handler=_export_public)


def _group(sub: Any, name: str, *, summary: str) -> Any:
    """The subcommand action of command group ``name``, created unless another module already did
    (``account create`` lives in _account.py; ``import`` and ``export-public`` live here)."""
    parser = sub.choices.get(name)
    if parser is None:
        parser = sub.add_parser(name, help=summary)
        actions = parser.add_subparsers(dest="action", metavar="ACTION")
        actions.required = True
        return actions
    return next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))


def _progress(label: str) -> Callable[[int, int], None] | None:
    """A progress bar on stderr when it is a terminal (redrawn at most 10 times a second)."""
    if not sys.stderr.isatty():
        return None
    last = [0.0]

    def show(done: int, total: int) -> None:
        now = time.monotonic()
        if done < total and now - last[0] < 0.1:
            return
        last[0] = now
        filled = 30 * done // max(total, 1)
        sys.stderr.write(f"\r{label} [{'#' * filled}{'.' * (30 - filled)}] {done}/{total}")
        if done == total:
            sys.stderr.write("\n")
        sys.stderr.flush()

    return show


# --- handlers ----------------------------------------------------------------------------------


def _refuse_beside_key_files(out: Path) -> None:
    """A KEM key inside a vault or a migration store adds nothing for a thief of that directory, and
    every later use would refuse it (``check_kept_apart``): refuse it now, before it is written."""
    for directory in (out.absolute().parent, *out.absolute().parent.parents):
        for marker, what in (("vault.json", "a keystore vault"), ("migration.wal", "a migration store")):
            if (directory / marker).is_file():
                raise ConfigError(
                    f"{out} would be inside {what} ({directory}): keep the KEM key apart from the key files "
                    "(another device or a secret store), or the password alone protects the keys"
                )


def _create_kem_key(args: argparse.Namespace) -> int:
    from ..keystore import KemKey

    _refuse_beside_key_files(args.out)
    key = KemKey.generate()
    key.save(args.out)
    data = {"ok": True, "kem_key": str(args.out), "key_id": key.key_id.hex()}
    text = f"KEM key {key.key_id.hex()[:16]}… written to {args.out} (mode 0600); keep it apart from the key files"
    emit(data, text, as_json=args.json)
    return EXIT_OK


def _init(args: argparse.Namespace) -> int:
    from ..keystore import Vault

    vault = Vault.create(args.vault, credentials_from_args(args, confirm=True))
    kdf = vault.kdf
    data = {
        "ok": True,
        "vault": str(args.vault),
        "iterations": kdf.iterations,
        "kem_key_id": vault.manifest.seal.kem_key_id.hex(),
    }
    emit(data, f"vault created at {args.vault} (PBKDF2-HMAC-SHA3-256, {kdf.iterations} iterations)", as_json=args.json)
    return EXIT_OK


def _unlock(path: Path, credentials: Credentials, label: str) -> list[UnlockedKey]:
    from ..keystore import Vault, open_key_file

    if path.is_dir():
        return Vault.open_and_unlock(path, credentials, progress=_progress(label))[1]
    return [open_key_file(path, credentials)]


def _check(args: argparse.Namespace) -> int:
    keys = _unlock(args.path, credentials_from_args(args), "unlocking")
    try:
        accounts = sorted({f"0x{key.address.hex()}" for key in keys})
        data = {"ok": True, "keys": len(keys), "accounts": len(accounts)}
        emit(data, f"{len(keys)} keys of {len(accounts)} accounts open and match their public keys", as_json=args.json)
    finally:
        for key in keys:
            key.destroy()
    return EXIT_OK


def _rotate_password(args: argparse.Namespace) -> int:
    from ..keystore import Credentials, Passphrase, rotate_password

    old = credentials_from_args(args)
    new_password = read_password(args.new_password_file, args.new_password_env, prompt="New password", confirm=True)
    new = Credentials(Passphrase(new_password, kdf_policy(args)), old.kem_key)
    report = rotate_password(args.path, old, new, progress=_progress("re-sealing"))
    return _rotated(args, report.resealed, report.already_done, report.resumed, "password")


def _rotate_kem_key(args: argparse.Namespace) -> int:
    from ..keystore import Credentials, KemKey, rotate_kem_key

    old = credentials_from_args(args)
    new = Credentials(old.passphrase, KemKey.load(args.new_kem_key))
    report = rotate_kem_key(args.path, old, new, progress=_progress("re-sealing"))
    return _rotated(args, report.resealed, report.already_done, report.resumed, "KEM key")


def _rotated(args: argparse.Namespace, resealed: int, already: int, resumed: bool, what: str) -> int:
    data = {"ok": True, "path": str(args.path), "resealed": resealed, "already_done": already, "resumed": resumed}
    text = f"{what} rotated: {resealed} files re-sealed" + (f", {already} already done" if already else "")
    emit(data, text, as_json=args.json)
    return EXIT_OK


def _import(args: argparse.Namespace) -> int:
    from ..keystore import KeyToStore, Vault, create_key_file, decrypt_v3

    raw = args.v3_file.read_bytes()
    v3_password = read_password(args.v3_password_file, args.v3_password_env, prompt="V3 keystore password")
    key = decrypt_v3(raw, bytearray(v3_password.encode("utf-8")))
    try:
        credentials = credentials_from_args(args, confirm=args.out is not None)
        if args.keystore is not None:
            (ref,) = Vault.open(args.keystore, credentials).put([KeyToStore(key)], overwrite=False)
            written = args.keystore / ref.file_name
        else:
            create_key_file(args.out, key, credentials)
            written = args.out
        address = f"0x{key.address.hex()}"
    finally:
        key.destroy()
    data = {"ok": True, "address": address, "file": str(written), "state": "CLASSICAL"}
    emit(data, f"imported {address} as a CLASSICAL account into {written}", as_json=args.json)
    return EXIT_OK


def _export_public(args: argparse.Namespace) -> int:
    from ..crypto import mldsa87_key_id
    from ..keystore import KeyAlgorithm, Vault, open_key_file, read_key_file
    from ..keystore.vault import inventory

    if (args.file is None) == (args.keystore is None):
        raise ConfigError("give a key file or --keystore DIR")
    if args.file is not None:
        refs, paths = [], [args.file]
    else:
        wanted = parse_address(args.address) if args.address else None
        refs = [ref for ref in inventory(args.keystore).keys if wanted is None or ref.address == wanted]
        paths = [args.keystore / ref.file_name for ref in refs]
    if args.unverified:
        headers = [read_key_file(path).header for path in paths]
    else:
        credentials = credentials_from_args(args)
        if args.keystore is not None:
            vault = Vault.open(args.keystore, credentials)
            unlocked = [vault.load(ref) for ref in refs]
        else:
            unlocked = [open_key_file(args.file, credentials)]
        headers = [key.header for key in unlocked]
        for key in unlocked:
            key.destroy()
    keys: list[dict[str, Any]] = []
    for header in headers:
        entry: dict[str, Any] = {
            "address": f"0x{header.address.hex()}",
            "algorithm": header.algorithm.value,
            "generation": header.generation,
            "public_key": header.public_key.hex(),
        }
        if header.algorithm is KeyAlgorithm.MLDSA87:
            entry["key_id"] = mldsa87_key_id(header.public_key).hex()
        if header.account_public_key is not None:
            entry["secp256k1_public_key"] = header.account_public_key.hex()
        keys.append(entry)
    data = {"ok": True, "verified": not args.unverified, "keys": keys}
    text = "\n".join(f"{k['address']}  {k['algorithm']}  g{k['generation']}  {k['public_key'][:32]}…" for k in keys)
    emit(data, text + ("\n(unverified: headers were not authenticated)" if args.unverified else ""), as_json=args.json)
    return EXIT_OK
