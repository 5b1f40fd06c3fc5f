"""The --registry-file JSON format (docs/envelope-v1.md §registry file): round trip and bad input."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from chainplug.errors import ConfigError, Reason
from chainplug.types import AccountState
from chainplug.verify import UNREGISTERED, InMemoryRegistry


def test_round_trip_keeps_history_and_keys(alice, bob, tmp_path: Path) -> None:
    registry = InMemoryRegistry()
    registry.set(alice.address_bytes, AccountState.HYBRID, public_key=alice.pqc_public_key, from_block=5)
    registry.set(alice.address_bytes, AccountState.FINALIZING, alice.key_id, from_block=50)
    registry.set(bob.address_bytes, AccountState.HYBRID, bob.key_id)  # commitment only, no public key
    document = registry.to_json()
    rows = document["accounts"]["0x" + alice.address_bytes.hex()]
    assert rows[0] == {
        "state": "HYBRID",
        "from_block": 5,
        "key_id": "0x" + alice.key_id.hex(),
        "public_key": "0x" + alice.pqc_public_key.hex(),
    }
    assert "public_key" not in document["accounts"]["0x" + bob.address_bytes.hex()][0]

    path = tmp_path / "registry.json"
    path.write_text(json.dumps(document))
    loaded = InMemoryRegistry.load(path)
    assert loaded.to_json() == document
    for block in (None, 0, 4, 5, 49, 50, 10**9):
        assert loaded.entry(alice.address_bytes, block) == registry.entry(alice.address_bytes, block)
    assert loaded.entry(alice.address_bytes, 4) == UNREGISTERED
    assert loaded.public_key(alice.key_id) == alice.pqc_public_key
    assert loaded.public_key(bob.key_id) is None


ADDRESS = "0x" + "11" * 20


@pytest.mark.parametrize(
    "document",
    [
        [],
        {"accounts": []},
        {"accounts": {ADDRESS: [{"state": "HYBRID"}]}},  # a registered state needs a key id
        {"accounts": {ADDRESS: [{"state": "SOMETHING", "key_id": "0x" + "00" * 32}]}},
        {"accounts": {ADDRESS: [{"state": "HYBRID", "key_id": "00" * 32}]}},  # no 0x
        {"accounts": {ADDRESS: [{"state": "HYBRID", "key_id": "0x" + "00" * 31}]}},
        {"accounts": {"0x1234": [{"state": "CLASSICAL"}]}},
        {"accounts": {ADDRESS: [{"state": "HYBRID", "public_key": "0x" + "00" * 100}]}},
        {"accounts": {ADDRESS: [{"state": "CLASSICAL", "from_block": "soon"}]}},
        {"accounts": {ADDRESS: ["HYBRID"]}},
    ],
)
def test_bad_registry_documents_are_config_errors(document: Any) -> None:
    with pytest.raises(ConfigError) as info:
        InMemoryRegistry.from_json(document)
    assert info.value.reason is Reason.BAD_CONFIG


def test_public_key_must_match_key_id(alice, bob) -> None:
    document = {
        "accounts": {
            "0x" + alice.address_bytes.hex(): [
                {"state": "HYBRID", "key_id": "0x" + alice.key_id.hex(), "public_key": "0x" + bob.pqc_public_key.hex()}
            ]
        }
    }
    with pytest.raises(ConfigError):
        InMemoryRegistry.from_json(document)


def test_not_json_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "registry.json"
    path.write_text("{not json")
    with pytest.raises(ConfigError):
        InMemoryRegistry.load(path)
