"""chainplug.registry — the on-chain KeyRegistry (contracts/KeyRegistry.vy) over web3.py.

May import crypto, envelope, verify and the root modules. Entry points:
:class:`KeyRegistryContract` (deploy / read / transition calls), :class:`ChainRegistry` (the
verifiers' Registry backed by the chain, cached per block), :class:`EventRegistry` (the same, folded
from the registry's events: one eth_getLogs per stretch of blocks), :func:`submit_transition` (a
composite-signed transition transaction, sent and confirmed).
"""

from .chain import ChainRegistry
from .contract import KeyRegistryContract, OnChainEntry, Transition
from .events import EventRegistry, RegistryLogs
from .submit import sign_transition, submit_transition

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
