"""The pre-parse limits: the nesting-depth check agrees with a real parser, is linear, and holds after
py-evm has raised the recursion limit (the crash it prevents is shown in a child process)."""

from __future__ import annotations

import json
import resource
import signal
import subprocess
import sys
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chainplug.rpc import LIMIT_EXCEEDED, PARSE_ERROR, Limits, RpcError, loads_limited, nesting_depth_exceeds

SCALARS = (
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.text('[]{}"\\ax,:\n\u00e9\U0001f600', max_size=8)
)
json_values = st.recursive(
    SCALARS,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text('[]{}"\\k', max_size=4), children),
    max_leaves=40,
)


def depth(value: Any) -> int:
    if isinstance(value, list):
        return 1 + max((depth(item) for item in value), default=0)
    if isinstance(value, dict):
        return 1 + max((depth(item) for item in value.values()), default=0)
    return 0


@settings(max_examples=300, deadline=None)
@given(json_values, st.integers(0, 12), st.booleans())
def test_depth_check_agrees_with_the_parser_on_valid_json(value: Any, limit: int, ascii_only: bool) -> None:
    body = json.dumps(value, ensure_ascii=ascii_only).encode()
    assert nesting_depth_exceeds(body, limit) == (depth(value) > limit)


@settings(max_examples=300, deadline=None)
@given(json_values, st.integers(0, 12), st.binary(max_size=6), st.integers(0, 1000))
def test_whatever_parses_was_measured_right(value: Any, limit: int, junk: bytes, where: int) -> None:
    """Cut or spliced text: if the parser still accepts it, the check measured its real depth."""
    text = json.dumps(value).encode()
    body = text[: where % (len(text) + 1)] + junk + text[where % (len(text) + 1) :]
    try:
        parsed = json.loads(body)
    except (ValueError, RecursionError):
        return
    assert nesting_depth_exceeds(body, limit) == (depth(parsed) > limit)


@pytest.mark.parametrize(
    ("body", "too_deep"),
    [
        (b"[" * 40 + b'"' + b"]" * 40, True),  # brackets before an unterminated string count
        (rb'["\\"' + b"[" * 40, True),  # escaped backslash, then a real closing quote: the brackets count
        (rb'["\"' + b"[" * 40 + b'"]', False),  # escaped quote: the brackets are inside the string
        (rb'["\\\"' + b"[" * 40 + b'"]', False),  # escaped backslash, escaped quote: still inside
        (b'["a", "' + b"{" * 40 + b'", "' + b"[" * 40 + b'"]', False),  # brackets in strings never count
        (b"[" * 40 + rb"\\", True),
    ],
)
def test_escapes_and_unterminated_strings(body: bytes, too_deep: bool) -> None:
    assert nesting_depth_exceeds(body, 32) is too_deep


def test_a_deep_prefix_is_refused_whatever_follows() -> None:
    for tail in (b"", b"\\", b'"', b"}" * 50, b"\x00garbage", b'"\\"'):
        assert nesting_depth_exceeds(b"[" * 33 + tail, 32)
        assert not nesting_depth_exceeds(b"[" * 32 + tail, 32)


def test_refusals_are_rpc_errors_with_reasons() -> None:
    limits = Limits(max_body_bytes=1000, max_depth=4, max_string=10, max_number_chars=20, max_int_bits=64)
    cases = {
        b"x" * 1001: "body-too-large",
        b"[[[[[1]]]]]": "too-deep",
        b'["' + b"a" * 11 + b'"]': "string-too-long",
        b'{"' + b"k" * 11 + b'": 1}': "string-too-long",
        b"[" + b"1" * 21 + b"]": "number-too-large",
        b"[1e400]": "number-too-large",
        b"[18446744073709551616]": "number-too-large",
        b"[NaN]": "parse-error",
        b"[1,": "parse-error",
        b"\xff\xfe[\x00]\x00": "parse-error",
    }
    for body, reason in cases.items():
        with pytest.raises(RpcError) as refused:
            loads_limited(body, limits)
        assert refused.value.to_json()["data"]["reason"] == reason, body
        assert refused.value.code in (LIMIT_EXCEEDED, PARSE_ERROR)
    assert loads_limited(b'[[[["ok", 18446744073709551615]]]]', limits) == [[[["ok", 2**64 - 1]]]]
    # String lengths are bounded from the text when it can rule them out, else by a walk: escapes included.
    wide = Limits(max_string=1000)
    for value in ('a"' * 600, "\\" * 1001, "é" * 1001, "\u0000" * 1001, {"k" * 1001: 1}):
        with pytest.raises(RpcError) as long_string:
            loads_limited(json.dumps([value]).encode(), wide)
        assert long_string.value.reason == "string-too-long"
    assert loads_limited(json.dumps(["x" * 1000, 1, "y" * 1000]).encode(), wide)[0] == "x" * 1000


def test_huge_digit_strings_are_refused_unparsed_whatever_the_interpreter_allows() -> None:
    """With int_max_str_digits lifted (a dependency may do it), a million digits would cost seconds."""
    before = sys.get_int_max_str_digits()
    sys.set_int_max_str_digits(0)
    try:
        with pytest.raises(RpcError) as refused:
            loads_limited(b"[" + b"9" * 1_000_000 + b"]", Limits(max_body_bytes=2_000_000))
        assert refused.value.reason == "number-too-large"
    finally:
        sys.set_int_max_str_digits(before)


CHILD = """
import sys, json
import eth  # py-evm raises the recursion limit to 100,000
from chainplug.rpc import Limits, RpcError, loads_limited
assert sys.getrecursionlimit() >= 100_000, sys.getrecursionlimit()
body = b"[" * 100_000 + b"]" * 100_000
try:
    loads_limited(body, Limits())
except RpcError as exc:
    print(exc.reason)
if sys.argv[1] == "raw":
    json.loads(body)
"""


def test_the_nesting_bomb_that_crashed_the_chain_is_refused_after_py_evm_import() -> None:
    guarded = subprocess.run([sys.executable, "-c", CHILD, "guarded"], capture_output=True, text=True, timeout=120)
    assert guarded.returncode == 0 and guarded.stdout.strip() == "too-deep", guarded.stderr
    stack, _ = resource.getrlimit(resource.RLIMIT_STACK)
    if stack != resource.RLIM_INFINITY and stack <= 16 << 20:
        # Without the check the same body kills the interpreter: why the check runs before parsing.
        raw = subprocess.run([sys.executable, "-c", CHILD, "raw"], capture_output=True, text=True, timeout=120)
        assert raw.returncode == -signal.SIGSEGV and raw.stdout.strip() == "too-deep"
