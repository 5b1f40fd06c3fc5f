"""The committed KeyRegistry build artifact, and the compile step that must reproduce it."""

from __future__ import annotations

import hashlib
import json
from functools import cache
from pathlib import Path
from typing import Any

from ..crypto.keccak import keccak256
from ..errors import RegistryError
from ..types import AccountState, Address, KeyId
from ..verify.registry import RegistryEntry

ENTRY_SELECTOR = keccak256(b"entry(address)")[:4]
"""KeyRegistry.entry(address) -> (uint8 state, bytes32 key_id, uint64 generation, uint256 updated_at)."""


def entry_call_data(account: Address) -> bytes:
    """The call data of ``KeyRegistry.entry(account)`` (selector + the ABI-padded address)."""
    return ENTRY_SELECTOR + bytes(12) + bytes(account)


def decode_entry(output: bytes, registry: bytes) -> RegistryEntry:
    """The (state, key id) of a KeyRegistry.entry answer; RegistryError for anything else (a contract at
    ``registry`` that is not a KeyRegistry). The chain's rules and the gateway read entries this way
    without web3 on their hot paths."""
    if len(output) != 128:
        raise RegistryError(f"contract at 0x{bytes(registry).hex()} does not answer KeyRegistry.entry(address)")
    value = int.from_bytes(output[:32], "big")
    try:
        state = AccountState(value)
    except ValueError:
        raise RegistryError(f"KeyRegistry returned an unknown state {value}") from None
    key_id = output[32:64]
    return RegistryEntry(state, KeyId(bytes(key_id)) if any(key_id) else None)


ARTIFACT_PATH = Path(__file__).with_name("KeyRegistry.json")
"""Package copy of contracts/KeyRegistry.json (the two are checked equal by the tests)."""


@cache
def load_artifact() -> dict[str, Any]:
    """ABI, bytecode, compiler version and source hash of the committed build."""
    artifact: dict[str, Any] = json.loads(ARTIFACT_PATH.read_text())
    return artifact


def compile_artifact(source: str) -> dict[str, Any]:
    """Compile the contract source with the installed ``vyper`` (a development dependency)."""
    import vyper

    output = vyper.compile_code(source, output_formats=["abi", "bytecode"])
    return {
        "contract": "KeyRegistry",
        "compiler": f"vyper {vyper.__version__}",
        "source_sha256": hashlib.sha256(source.encode()).hexdigest(),
        "abi": output["abi"],
        "bytecode": output["bytecode"],
    }
