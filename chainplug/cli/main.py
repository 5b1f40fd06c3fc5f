"""Entry point of the ``chainplug`` command."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence

from ..errors import ChainplugError, StorageFailed
from ._output import EXIT_USAGE, Parser, UsageError, report_error

# One module per command group; each defines register(subparsers, common).
COMMAND_MODULES: tuple[str, ...] = (
    "_envelope_cmds",
    "_demo",
    "_node",
    "_account",
    "_migrate",
    "_bench",
    "_chain",
    "_keystore",
    "_signer",
    "_devnet",
)

Handler = Callable[[argparse.Namespace], int]


class _VersionAction(argparse.Action):
    """``--version``: the package version and the PQC backend this process would run on (which loads it:
    for ``auto`` that is the only way to know). Exit 2 if the selected backend cannot load."""

    def __init__(self, option_strings: Sequence[str], dest: str, help: str | None = None) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, help=help)

    def __call__(self, parser: argparse.ArgumentParser, *args: object) -> None:
        from .. import __version__
        from ..crypto import get_backend

        try:
            backend = get_backend()
        except ChainplugError as exc:
            parser.exit(EXIT_USAGE, f"chainplug {__version__}\nPQC backend: none can run ({exc})\n")
        sys.stdout.write(f"chainplug {__version__}\nPQC backend: {backend.name} ({backend.description})\n")
        parser.exit(0)


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser (cheap: no heavy imports happen here)."""
    parser = Parser(
        prog="chainplug",
        description=(
            "Move Ethereum-style keys from secp256k1 to ML-DSA-87 with zero downtime: composite "
            "envelopes, verifiers, key migration. Exit codes: 0 ok, 1 rejected, 2 bad input or usage."
        ),
    )
    parser.add_argument(
        "--version", action=_VersionAction, help="print chainplug's version and the PQC backend that runs, then exit"
    )
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", help="print machine-readable JSON")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMAND_MODULES:
        module = importlib.import_module(f"{__package__}.{name}")
        module.register(sub, common)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns the process exit code."""
    words = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    try:
        args = parser.parse_args(words)
    except UsageError as exc:
        return report_error(exc, as_json="--json" in words)
    handler: Handler = args.handler
    as_json = bool(getattr(args, "json", False))
    try:
        return handler(args)
    except ChainplugError as exc:
        return report_error(exc, as_json=as_json)
    except KeyboardInterrupt:
        sys.stderr.write("chainplug: interrupted\n")
        return 130
    except OSError as exc:
        # A file that cannot be read or written (a missing path, a full disk): say which, not a traceback.
        where = f": {exc.filename}" if exc.filename else ""
        return report_error(StorageFailed(f"{exc.strerror or exc}{where}"), as_json=as_json)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
