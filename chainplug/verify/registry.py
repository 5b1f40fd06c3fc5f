"""What an upgraded verifier asks the network: "which state is this sender in, and which key?"

:class:`Registry` is the interface; :class:`InMemoryRegistry` is the offline implementation (tests,
``--registry-file``). The on-chain implementation lives in chainplug.registry.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from ..crypto.pqc import mldsa87_key_id
from ..errors import ConfigError
from ..types import AccountState, Address, KeyId


@dataclass(frozen=True, slots=True)
class RegistryEntry:
    """A sender's registered migration state."""

    state: AccountState
    """CLASSICAL for an account that never registered."""
    key_id: KeyId | None
    """The committed ML-DSA-87 key id (None while CLASSICAL)."""


UNREGISTERED = RegistryEntry(AccountState.CLASSICAL, None)


class Registry(Protocol):
    """Read side of the key registry, as verifiers need it."""

    def entry(self, address: Address, block: int | None = None) -> RegistryEntry:
        """The sender's entry as of ``block`` (None = latest)."""
        ...

    def public_key(self, key_id: KeyId) -> bytes | None:
        """The ML-DSA-87 public key for a key id, if this registry knows it (for key-id envelopes)."""
        ...


class PublicKeyBook:
    """ML-DSA-87 public keys by key id, as a registry learns them (from full-key envelopes, a registry
    file), so that key-id envelopes can be checked. Every registry implementation keeps one."""

    def __init__(self, public_keys: Mapping[bytes, bytes] | None = None) -> None:
        self._public_keys: dict[bytes, bytes] = dict(public_keys or {})

    def add_public_key(self, key_id: KeyId, public_key: bytes) -> None:
        """Remember a public key (e.g. from a full-key envelope) so key-id envelopes can be checked."""
        if mldsa87_key_id(public_key) != key_id:
            raise ConfigError("public key does not hash to the key id")
        self._public_keys[bytes(key_id)] = bytes(public_key)

    def public_key(self, key_id: KeyId) -> bytes | None:
        return self._public_keys.get(bytes(key_id))


class InMemoryRegistry(PublicKeyBook):
    """A registry held in memory, with per-block history so ``entry(addr, block)`` is exact."""

    def __init__(self) -> None:
        super().__init__()
        self._history: dict[bytes, list[tuple[int, RegistryEntry]]] = {}

    def set(
        self,
        address: bytes,
        state: AccountState,
        key_id: bytes | None = None,
        *,
        public_key: bytes | None = None,
        from_block: int = 0,
    ) -> None:
        """Record ``state`` (and key) for ``address`` from ``from_block`` on."""
        if len(address) != 20:
            raise ConfigError("registry address must be 20 bytes")
        if public_key is not None:
            derived = mldsa87_key_id(public_key)
            if key_id is not None and derived != key_id:
                raise ConfigError("public key does not match the key id")
            key_id = derived
            self._public_keys[derived] = bytes(public_key)
        if state != AccountState.CLASSICAL and (key_id is None or len(key_id) != 32):
            raise ConfigError("a registered state needs a 32-byte key id")
        history = self._history.setdefault(bytes(address), [])
        history.append((from_block, RegistryEntry(state, KeyId(bytes(key_id)) if key_id else None)))
        history.sort(key=lambda item: item[0])

    def entry(self, address: Address, block: int | None = None) -> RegistryEntry:
        found = UNREGISTERED
        for start, entry in self._history.get(bytes(address), ()):
            if block is not None and start > block:
                break
            found = entry
        return found

    # --- the --registry-file format (docs/envelope-v1.md §registry file) ----------------------

    def to_json(self) -> dict[str, Any]:
        accounts: dict[str, list[dict[str, Any]]] = {}
        for address, history in self._history.items():
            rows = []
            for start, entry in history:
                row: dict[str, Any] = {"state": entry.state.name, "from_block": start}
                if entry.key_id is not None:
                    row["key_id"] = "0x" + entry.key_id.hex()
                    public = self._public_keys.get(entry.key_id)
                    if public is not None:
                        row["public_key"] = "0x" + public.hex()
                rows.append(row)
            accounts["0x" + address.hex()] = rows
        return {"accounts": accounts}

    @classmethod
    def from_json(cls, document: Any) -> InMemoryRegistry:
        """Parse the registry-file JSON. Raises ConfigError with the offending account."""
        registry = cls()
        if not isinstance(document, dict) or not isinstance(document.get("accounts"), dict):
            raise ConfigError('registry file must be {"accounts": {address: [entries]}}')
        for address_hex, rows in document["accounts"].items():
            try:
                address = _hex(address_hex, 20)
                for row in rows if isinstance(rows, list) else [rows]:
                    state = AccountState[row["state"]]
                    key_id = _hex(row["key_id"], 32) if row.get("key_id") else None
                    public = _hex(row["public_key"], None) if row.get("public_key") else None
                    registry.set(address, state, key_id, public_key=public, from_block=int(row.get("from_block", 0)))
            except (KeyError, TypeError, ValueError) as exc:
                raise ConfigError(f"registry entry for {address_hex} is invalid: {exc}") from exc
        return registry

    @classmethod
    def load(cls, path: str | Path) -> InMemoryRegistry:
        """Read a registry file."""
        try:
            document = json.loads(Path(path).read_text())
        except json.JSONDecodeError as exc:
            raise ConfigError(f"registry file {path} is not valid JSON: {exc.msg}") from exc
        return cls.from_json(document)


def _hex(text: str, length: int | None) -> bytes:
    if not isinstance(text, str) or not text.startswith("0x"):
        raise ValueError(f"expected 0x-prefixed hex, got {text!r:.20}")
    value = bytes.fromhex(text[2:])
    if length is not None and len(value) != length:
        raise ValueError(f"expected {length} bytes, got {len(value)}")
    return value
