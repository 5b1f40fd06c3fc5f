"""``chainplug chain serve`` as a user runs it: usage errors exit 2 before anything starts."""

from __future__ import annotations

import subprocess
import sys

import pytest


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "chainplug.cli.main", "chain", *args], capture_output=True, text=True, timeout=60
    )


def test_help_names_the_options() -> None:
    result = run("serve", "--help")
    assert result.returncode == 0
    for option in ("--listen", "--chain-id", "--accounts", "--activation-block", "--block-time", "--registry",
                   "--deploy-registry", "--json", "TEST ONLY"):  # fmt: skip
        assert option in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--registry", "0x1234"), "--registry must be"),
        (("--block-time", "0"), "--block-time must be positive"),
        (("--accounts", "0"), "must be positive"),
    ],
)
def test_bad_arguments_exit_2(args: tuple[str, ...], message: str) -> None:
    result = run("serve", "--listen", "127.0.0.1:0", *args)
    assert result.returncode == 2
    assert message in result.stderr


def test_registry_options_are_exclusive() -> None:
    result = run("serve", "--registry", "0x" + "11" * 20, "--deploy-registry")
    assert result.returncode == 2 and "not allowed with" in result.stderr
