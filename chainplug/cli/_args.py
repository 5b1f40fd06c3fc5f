"""Argument types shared by several command groups (addresses, account states)."""

from __future__ import annotations

import argparse

from ..errors import ConfigError
from ..types import AccountState, Address

STATE_NAMES = ", ".join(state.name for state in AccountState)


def parse_state(text: str) -> AccountState:
    """``hybrid``, ``PQC_ONLY``, ``pqc-only`` ... → AccountState (argparse type)."""
    name = text.strip().upper().replace("-", "_")
    if name not in AccountState.__members__:
        raise argparse.ArgumentTypeError(f"unknown state {text!r}; choose one of {STATE_NAMES}")
    return AccountState[name]


def parse_address(text: str) -> Address:
    """``0x`` + 40 hex digits → Address (argparse type)."""
    digits = text[2:] if text[:2] in ("0x", "0X") else text
    if len(digits) != 40 or any(c not in "0123456789abcdefABCDEF" for c in digits):
        raise argparse.ArgumentTypeError(f"{text!r} is not a 20-byte hex address")
    return Address(bytes.fromhex(digits))


def registry_address(text: str) -> Address:
    """A ``--registry`` value → Address; ConfigError (exit 2) naming the option otherwise."""
    try:
        return parse_address(text)
    except argparse.ArgumentTypeError:
        raise ConfigError(f"--registry must be a 0x-prefixed 20-byte address, got {text!r}") from None
