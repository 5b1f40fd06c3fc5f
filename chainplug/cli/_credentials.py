"""Where secrets come from on the command line: passwords and the ML-KEM key file.

Passwords come from a file (``--password-file``, ``-`` for stdin), an environment variable named by
``--password-env``, or a terminal prompt — never from an argument value: other users of the machine
can read arguments in the process list, and shells keep them in their history. ``--password VALUE``
is refused with that explanation rather than parsed. The KEM key comes from ``--kem-key`` or
``$CHAINPLUG_KEM_KEY``; there is no default path.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..constants import KEM_KEY_ENV
from ..errors import ConfigError

if TYPE_CHECKING:
    from ..keystore import Credentials, KdfPolicy, KemKey


class _PasswordIsNeverAnArgument(argparse.Action):
    """``--password VALUE``: refused with the reason, and the value is never echoed."""

    def __init__(self, option_strings: Sequence[str], dest: str, instead: str = "", **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs="?", help=argparse.SUPPRESS, **kwargs)
        self.instead = instead

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, *_: Any) -> None:
        raise argparse.ArgumentError(
            self,
            "passwords are never command-line arguments (other users see them in the process list, shells keep "
            f"them in their history): use {self.instead}, or answer the prompt on a terminal",
        )


def refuse_password_argument(parser: argparse.ArgumentParser, option: str, file_option: str, env_option: str) -> None:
    """Make ``option VALUE`` an error that says where passwords come from instead."""
    parser.add_argument(
        option, action=_PasswordIsNeverAnArgument, instead=f"{file_option} FILE ('-' = stdin), {env_option} VAR"
    )


def credential_options() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--kem-key", type=Path, help=f"the KEM key file (default: ${KEM_KEY_ENV}; no default path)")
    parser.add_argument("--password-file", type=Path, help="file holding the password ('-' = stdin)")
    parser.add_argument("--password-env", metavar="VAR", help="environment variable holding the password")
    parser.add_argument(
        "--insecure-kdf-iterations",
        type=int,
        metavar="N",
        help="TESTS ONLY: write and accept files with just N PBKDF2 iterations",
    )
    refuse_password_argument(parser, "--password", "--password-file", "--password-env")
    return parser


def read_password(file: Path | None, env: str | None, *, prompt: str, confirm: bool = False) -> str:
    if file is not None and env is not None:
        raise ConfigError("give a password file or a password variable, not both")
    if file is not None:
        raw = sys.stdin.buffer.read() if str(file) == "-" else file.read_bytes()
        raw = raw[:-2] if raw.endswith(b"\r\n") else raw[:-1] if raw.endswith(b"\n") else raw
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise ConfigError(f"the password in {file} is not UTF-8") from None
    if env is not None:
        value = os.environ.get(env)
        if value is None:
            raise ConfigError(f"environment variable {env} is not set")
        return value
    if not sys.stdin.isatty():
        raise ConfigError("no password: use a --...password-file or --...password-env option, or run on a terminal")
    value = getpass.getpass(f"{prompt}: ")
    if confirm and getpass.getpass(f"{prompt} (again): ") != value:
        raise ConfigError("the two passwords differ")
    return value


def kdf_policy(args: argparse.Namespace) -> KdfPolicy:
    from ..keystore import KdfPolicy

    if args.insecure_kdf_iterations is None:
        return KdfPolicy()
    if not getattr(args, "warned", False):
        sys.stderr.write("chainplug: WARNING: --insecure-kdf-iterations is for tests; keys are weakly protected\n")
        args.warned = True
    return KdfPolicy.unsafe_for_testing(args.insecure_kdf_iterations)


def load_kem_key(path: Path | None) -> KemKey:
    from ..keystore import KemKey

    if path is None:
        env = os.environ.get(KEM_KEY_ENV)
        if not env:
            raise ConfigError(f"no KEM key: give --kem-key PATH or set {KEM_KEY_ENV} (there is no default location)")
        path = Path(env)
    return KemKey.load(path)


def credentials_from_args(args: argparse.Namespace, *, confirm: bool = False) -> Credentials:
    from ..keystore import Credentials, Passphrase

    kem_key = load_kem_key(args.kem_key)
    password = read_password(args.password_file, args.password_env, prompt="Keystore password", confirm=confirm)
    return Credentials(Passphrase(password, kdf_policy(args)), kem_key)
