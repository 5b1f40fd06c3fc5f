"""Uniform command output: human text or ``--json``; errors mapped to exit codes."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, NoReturn

from ..errors import ChainplugError, ConfigError, Reason, VerificationError

EXIT_OK = 0
EXIT_REJECTED = 1
EXIT_USAGE = 2


class UsageError(ConfigError):
    """The command line itself is wrong (unknown option, missing argument, bad value); exit 2."""

    default_reason = Reason.BAD_USAGE

    def __init__(self, message: str, parser: argparse.ArgumentParser) -> None:
        super().__init__(message)
        self.parser = parser


class Parser(argparse.ArgumentParser):
    """Every chainplug parser (subcommand parsers inherit the class): options are never abbreviated
    (``--pass`` must not quietly mean ``--password-file``), and a usage error is raised as
    :class:`UsageError`, so that ``--json`` prints it as JSON like every other error."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["allow_abbrev"] = False
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        raise UsageError(message, self)


def emit(data: dict[str, Any], text: str, *, as_json: bool) -> None:
    """Print ``data`` as one JSON document, or ``text`` for people."""
    if as_json:
        sys.stdout.write(json.dumps(data, indent=2, sort_keys=True) + "\n")
    else:
        sys.stdout.write(text.rstrip("\n") + "\n")
    sys.stdout.flush()


def exit_code_for(error: ChainplugError) -> int:
    """1 for a rejected (well-formed) input, 2 for malformed input, bad configuration or usage."""
    return EXIT_REJECTED if isinstance(error, VerificationError) else EXIT_USAGE


def report_error(error: ChainplugError, *, as_json: bool) -> int:
    """Print an error (stdout for --json, stderr otherwise) and return its exit code."""
    code = exit_code_for(error)
    if as_json:
        payload = {"ok": False, **error.to_json()}
        sys.stdout.write(json.dumps(payload, indent=2, sort_keys=True) + "\n")
    elif isinstance(error, UsageError):  # as argparse prints it: the usage line, then the problem
        error.parser.print_usage(sys.stderr)
        sys.stderr.write(f"{error.parser.prog}: error: {error}\n")
    else:
        sys.stderr.write(f"chainplug: {type(error).__name__} ({error.reason.value}): {error}\n")
    return code
