"""Limits that hold before any JSON is parsed, whatever a dependency has done to the interpreter.

Why: importing py-evm raises ``sys.getrecursionlimit()`` to 100,000, so ``json.loads`` of 100,000
nested ``[`` no longer raises RecursionError but overflows the C stack (SIGSEGV): one request could kill
a service. The nesting depth is therefore measured *before* parsing, without recursion and at C speed
(bytes.replace / translate / split, then itertools.accumulate over a signed byte array: linear in the
body). Numbers are bounded by the parse hooks (no quadratic int conversion, whatever
``sys.set_int_max_str_digits`` says; integers at most ``max_int_bits`` wide, no infinities), and string
lengths are bounded from the text (a quote-free run no longer than the limit) or, when the text cannot
rule it out, by a walk of the parsed document.
"""

from __future__ import annotations

import json
import math
from array import array
from dataclasses import dataclass
from itertools import accumulate
from typing import Any

from .protocol import INVALID_REQUEST, LIMIT_EXCEEDED, PARSE_ERROR, RpcError


@dataclass(frozen=True, slots=True)
class Limits:
    """What one server (or client, for answers) accepts. Every bound is checked before it costs much."""

    max_body_bytes: int = 1 << 20
    """Largest HTTP body; bigger ones are refused before they are read (Content-Length) or while reading."""
    max_depth: int = 32
    """Deepest nesting of arrays and objects (a batch of EIP-1559 calls with access lists needs ~7)."""
    max_batch: int = 100
    """Most request objects in one batch."""
    max_string: int = 1 << 20
    """Longest JSON string (characters), object keys included."""
    max_number_chars: int = 80
    """Longest JSON number literal (2**256 has 78 digits); longer ones are refused unparsed."""
    max_int_bits: int = 256
    """Widest JSON integer accepted (field widths are checked again, narrower, where fields are read)."""
    body_timeout: float = 10.0
    """Seconds to receive the whole body once the headers are in (a slow-loris body is cut off)."""


RESPONSE_LIMITS = Limits(max_body_bytes=64 << 20, max_depth=64, max_batch=10_000, max_string=64 << 20,
                         body_timeout=60.0)  # fmt: skip
"""What a chainplug client accepts in an answer (a hostile or broken node must not crash it either)."""

_STRUCTURE = b'"[]{}'
_NOT_STRUCTURE = bytes(c for c in range(256) if c not in _STRUCTURE)
_SIGNED = bytes.maketrans(b"[{]}", b"\x01\x01\xff\xff")


def nesting_depth_exceeds(body: bytes, limit: int) -> bool:
    """True if the JSON text ``body`` nests arrays/objects deeper than ``limit`` (linear, no recursion).

    Brackets inside strings do not count. Escapes are resolved first: escaped backslash pairs, then
    escaped quotes, are blanked left to right, which pairs them exactly as a JSON lexer does inside
    strings (outside strings a backslash is already a syntax error, where the parser stops before any
    deeper nesting). For input that is not valid JSON the answer may be "too deep" where a parser would
    have said "syntax error" further on; it is never "fine" for a prefix the parser would recurse into.
    """
    return _depth_exceeds(_unescaped(body), limit)


def _unescaped(body: bytes) -> bytes:
    """``body`` with escaped backslashes and escaped quotes blanked (same length): every remaining quote
    opens or closes a string."""
    return body.replace(b"\\\\", b"xx").replace(b'\\"', b"xx") if b"\\" in body else body


def _depth_exceeds(flat: bytes, limit: int) -> bool:
    text = flat.translate(None, _NOT_STRUCTURE)
    if text.count(b"[") + text.count(b"{") <= limit:
        return False  # fast path: not even the brackets inside strings could nest that deep
    # Two adjacent quotes are an empty string or the end of one string and the start of the next: dropping
    # them keeps every later quote's parity and every bracket on its side, and removes most quotes cheaply.
    text = text.replace(b'""', b"")
    outside = b"".join(text.split(b'"')[::2]) if b'"' in text else text
    if outside.count(b"[") + outside.count(b"{") <= limit:
        return False
    return max(accumulate(array("b", outside.translate(_SIGNED)))) > limit


class _TooLong(ValueError):
    pass


def _bounded(limits: Limits) -> tuple[Any, Any]:
    """json.loads hooks: numbers are refused before conversion if too long, after it if too wide."""

    def parse_int(text: str) -> int:
        if len(text) > limits.max_number_chars:
            raise _TooLong
        number = int(text)
        if number.bit_length() > limits.max_int_bits:
            raise _TooLong
        return number

    def parse_float(text: str) -> float:
        if len(text) > limits.max_number_chars:
            raise _TooLong
        number = float(text)
        if not math.isfinite(number):
            raise _TooLong
        return number

    return parse_int, parse_float


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def loads_limited(body: bytes, limits: Limits) -> Any:
    """Parse a JSON body under ``limits`` or raise :class:`RpcError` (PARSE_ERROR / LIMIT_EXCEEDED)."""
    if len(body) > limits.max_body_bytes:
        raise RpcError(LIMIT_EXCEEDED, f"body larger than {limits.max_body_bytes} bytes", reason="body-too-large")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise RpcError(PARSE_ERROR, "body is not UTF-8 text") from None
    flat = _unescaped(body)
    if _depth_exceeds(flat, limits.max_depth):
        raise RpcError(LIMIT_EXCEEDED, f"JSON nested deeper than {limits.max_depth} levels", reason="too-deep")
    parse_int, parse_float = _bounded(limits)
    try:
        document = json.loads(text, parse_int=parse_int, parse_float=parse_float, parse_constant=_refuse_constant)
    except _TooLong:
        raise RpcError(LIMIT_EXCEEDED, f"a number is longer than {limits.max_number_chars} characters or wider "
                       f"than {limits.max_int_bits} bits", reason="number-too-large") from None  # fmt: skip
    except RecursionError:  # cannot happen after the depth check; kept as a second line
        raise RpcError(LIMIT_EXCEEDED, "JSON nested too deeply", reason="too-deep") from None
    except ValueError as exc:  # JSONDecodeError and the other ways json refuses a text
        raise RpcError(PARSE_ERROR, f"parse error: {exc}") from None
    # A string's characters are at most the bytes between its quotes, so only a body with a longer run
    # free of quotes can hold a string that is too long; only then are the strings walked.
    if len(flat) > limits.max_string and _longest_run(flat) > limits.max_string:
        check_strings(document, limits)
    return document


def _longest_run(flat: bytes) -> int:
    """The longest stretch of ``flat`` without a quote (linear; a regex for "a run longer than N" backtracks
    at every start position: quadratic on a large body of long strings just under the limit)."""
    return max(map(len, flat.split(b'"')))


def check_strings(document: Any, limits: Limits) -> None:
    """Bound every string's length (object keys too) in a parsed document (iterative, no recursion)."""
    pending = [document]
    while pending:
        item = pending.pop()
        if type(item) is str:
            if len(item) > limits.max_string:
                raise RpcError(LIMIT_EXCEEDED, f"a string is longer than {limits.max_string} characters",
                               reason="string-too-long")  # fmt: skip
        elif type(item) is list:
            pending.extend(item)
        elif type(item) is dict:
            pending.extend(item.keys())
            pending.extend(item.values())


def check_batch(document: Any, limits: Limits) -> None:
    """A batch must hold 1..max_batch requests."""
    if isinstance(document, list) and not 0 < len(document) <= limits.max_batch:
        if not document:
            raise RpcError(INVALID_REQUEST, "empty batch")
        raise RpcError(LIMIT_EXCEEDED, f"batch larger than {limits.max_batch} requests", reason="batch-too-large")
