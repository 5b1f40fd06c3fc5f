"""chainplug.registry — the on-chain KeyRegistry (contracts/KeyRegistry.vy) over web3.py.

May import crypto, envelope, verify and the root modules. Entry points:
:class:`KeyRegistryContract` (deploy / read / transition calls), :class:`ChainRegistry` (the
verifiers' Registry backed by the chain, cached per block), :class:`EventRegistry` (the same, folded
from the registry's events: one eth_getLogs per stretch of blocks), :func:`submit_transition` (a
composite-signed transition transaction, sent and confirmed).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .chain import ChainRegistry
    from .contract import KeyRegistryContract, OnChainEntry, Transition
    from .events import EventRegistry, RegistryLogs
    from .submit import sign_transition, submit_transition

_HOMES = {
    "ChainRegistry": "chain",
    "KeyRegistryContract": "contract",
    "OnChainEntry": "contract",
    "Transition": "contract",
    "EventRegistry": "events",
    "RegistryLogs": "events",
    "sign_transition": "submit",
    "submit_transition": "submit",
}
"""Where each public name lives. Imported on first use (PEP 562): most of the registry needs web3.py
(~0.5 s to import), which a process that only reads the registry's events or its artifact — the
chain, a validator — never loads."""


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{home}", __name__), name)
    globals()[name] = value
    return value


__all__ = [
    "ChainRegistry",
    "EventRegistry",
    "KeyRegistryContract",
    "OnChainEntry",
    "RegistryLogs",
    "Transition",
    "sign_transition",
    "submit_transition",
]
