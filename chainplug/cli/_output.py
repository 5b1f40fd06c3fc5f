"""Uniform command output: human text or ``--json``; errors mapped to exit codes."""

from __future__ import annotations

import json
import sys
from typing import Any

from ..errors import ChainplugError, VerificationError

EXIT_OK = 0
EXIT_REJECTED = 1
EXIT_USAGE = 2


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
    else:
        sys.stderr.write(f"chainplug: {type(error).__name__} ({error.reason.value}): {error}\n")
    return code
