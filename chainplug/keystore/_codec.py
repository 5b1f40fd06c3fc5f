"""Strict, canonical JSON for the keystore's files (docs/keystore.md §canonical form).

Every chainplug keystore file has exactly one encoding: keys sorted, no insignificant whitespace,
ASCII only, lowercase hex, one trailing newline — what :func:`canonical` produces. A reader parses
the bytes, checks every field, re-encodes, and refuses the file unless the bytes are identical, so
no change to a file (a flipped byte, re-indentation, a duplicate key) goes unnoticed. The header
bytes of that encoding are the AEAD's associated data.

Errors are :class:`MalformedKeyFile` naming the field, never its value.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, NoReturn

from ..errors import MalformedKeyFile, Reason

MAX_FILE_BYTES = 64 * 1024
"""Largest keystore file read; an ML-DSA-87 key file is about 9 KiB."""

JsonObject = dict[str, Any]


def _refuse_constant(name: str) -> NoReturn:
    raise MalformedKeyFile(f"JSON constant {name} is not allowed")


def _refuse_float(text: str) -> NoReturn:
    raise MalformedKeyFile("JSON numbers must be integers")


def _unique_keys(pairs: list[tuple[str, Any]]) -> JsonObject:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise MalformedKeyFile("duplicate key in JSON object")
    return obj


# Built once: json.loads with hooks would build a new decoder per call.
_PLAIN = json.JSONDecoder(parse_float=_refuse_float, parse_constant=_refuse_constant)
_STRICT = json.JSONDecoder(parse_float=_refuse_float, parse_constant=_refuse_constant, object_pairs_hook=_unique_keys)


def parse_json(raw: bytes, *, what: str, unique_keys: bool = True) -> JsonObject:
    """Parse ASCII JSON with no floats, NaN or Infinity (and, unless ``unique_keys`` is off, no
    duplicate keys); the top level must be an object."""
    if len(raw) > MAX_FILE_BYTES:
        raise MalformedKeyFile(f"{what} is larger than {MAX_FILE_BYTES} bytes", reason=Reason.OVERSIZED)
    try:
        value = (_STRICT if unique_keys else _PLAIN).decode(raw.decode("ascii"))
    except (UnicodeDecodeError, ValueError) as exc:
        if isinstance(exc, MalformedKeyFile):
            raise
        # NOTE: no ``from exc``: a decode error quotes the offending input, which may be secret
        # (a V3 file or a KEM key file); the position is enough to find it.
        position = getattr(exc, "pos", getattr(exc, "start", "?"))
        raise MalformedKeyFile(f"{what} is not ASCII JSON (error at byte {position})") from None
    if not isinstance(value, dict):
        raise MalformedKeyFile(f"{what} must be a JSON object")
    return value


def canonical(value: JsonObject) -> bytes:
    """The one encoding: sorted keys, no whitespace, ASCII (no trailing newline)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("ascii")


def canonical_file(value: JsonObject) -> bytes:
    """File bytes: :func:`canonical` plus one newline."""
    return canonical(value) + b"\n"


def read_limited(path: str | Path, *, what: str) -> bytes:
    """Read a whole file, refusing more than :data:`MAX_FILE_BYTES`."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        raw = os.read(fd, MAX_FILE_BYTES + 1)
        # until end of file (an empty read) or past the limit; a key file takes one more read
        while len(raw) <= MAX_FILE_BYTES and (more := os.read(fd, MAX_FILE_BYTES + 1 - len(raw))):
            raw += more
    finally:
        os.close(fd)
    if len(raw) > MAX_FILE_BYTES:
        raise MalformedKeyFile(f"{what} {path} is larger than {MAX_FILE_BYTES} bytes", reason=Reason.OVERSIZED)
    return raw


# --- field accessors: each names the field on failure, never the value -------------------------


def fields(value: Any, expected: frozenset[str], *, where: str, optional: frozenset[str] = frozenset()) -> JsonObject:
    """``value`` as an object with exactly the ``expected`` keys (plus any of ``optional``)."""
    if not isinstance(value, dict):
        raise MalformedKeyFile(f"{where} must be a JSON object")
    keys = value.keys()
    if not expected <= keys or not keys <= expected | optional:
        missing = sorted(expected - keys)
        extra = sorted(keys - expected - optional)
        raise MalformedKeyFile(f"{where}: missing fields {missing}, unknown fields {extra}")
    return value


def text(value: Any, *, where: str) -> str:
    if not isinstance(value, str):
        raise MalformedKeyFile(f"{where} must be a string")
    return value


def constant(value: Any, expected: str, *, where: str, reason: Reason = Reason.UNSUPPORTED_SUITE) -> None:
    """A string field that must have one exact value (an algorithm name)."""
    if value != expected:
        raise MalformedKeyFile(f"{where} must be {expected!r}", reason=reason)


def integer(value: Any, *, where: str, low: int, high: int) -> int:
    # bool is an int subclass in Python; JSON true must not pass as 1
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise MalformedKeyFile(f"{where} must be an integer in [{low}, {high}]")
    return value


def hex_bytes(value: Any, length: int, *, where: str, prefix: str = "") -> bytes:
    """Lowercase hex (after ``prefix``) of exactly ``length`` bytes."""
    if not isinstance(value, str) or len(value) != len(prefix) + 2 * length or not value.startswith(prefix):
        raise MalformedKeyFile(f"{where} must be {prefix}{length} bytes of lowercase hex")
    digits = value[len(prefix) :] if prefix else value
    try:
        data = bytes.fromhex(digits)
    except ValueError:
        data = b""
    # fromhex also accepts upper case and spaces; the round trip admits exactly one spelling
    if len(data) != length or data.hex() != digits:
        raise MalformedKeyFile(f"{where} must be {prefix}{length} bytes of lowercase hex")
    return data


def choice(value: Any, options: dict[str, Any], *, where: str) -> Any:
    """Map a string field onto one of ``options``."""
    if not isinstance(value, str) or value not in options:
        raise MalformedKeyFile(f"{where} must be one of {sorted(options)}", reason=Reason.UNSUPPORTED_SUITE)
    return options[value]
