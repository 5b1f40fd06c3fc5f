"""The on-chain side of a transition: an interface the engine calls, with a no-op default.

Registering the ML-DSA-87 key commitment (at HYBRID), announcing finalization (at FINALIZING) and
the composite-signed rollback belong to the key registry: chainplug.registry's
:class:`~chainplug.registry.hook.RegistryChainHook` does them on the KeyRegistry contract. The engine
calls the hook *before* it commits the transition's record, and again from recovery when it
completes a transition whose record is missing, so implementations must be idempotent.

:class:`NoChainHook` does nothing. With it (an engine used offline, tests), HYBRID and FINALIZING are
local engine states only: nothing is registered or announced on any chain.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

from ..types import Address


class ChainHook(ABC):
    """Called by the engine at the on-chain steps of a transition. Must be idempotent."""

    @abstractmethod
    def on_hybrid(self, address: Address, pqc_public_key: bytes, generation: int) -> None:
        """Register the account's ML-DSA-87 key commitment (CLASSICAL → HYBRID)."""

    @abstractmethod
    def on_finalizing(self, address: Address, generation: int) -> None:
        """Announce that classical-only signatures from the account are no longer acceptable."""

    @abstractmethod
    def on_rollback(self, address: Address, generation: int) -> None:
        """Withdraw the PQC key commitment (HYBRID → CLASSICAL; ``generation`` is the new one)."""


class NoChainHook(ChainHook):
    """The default: touches no chain (the signer service uses chainplug.registry's RegistryChainHook)."""

    def on_hybrid(self, address: Address, pqc_public_key: bytes, generation: int) -> None:
        return None

    def on_finalizing(self, address: Address, generation: int) -> None:
        return None

    def on_rollback(self, address: Address, generation: int) -> None:
        return None
