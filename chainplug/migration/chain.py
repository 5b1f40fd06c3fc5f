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
from collections.abc import Sequence

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

    def on_hybrid_many(self, accounts: Sequence[tuple[Address, bytes, int]]) -> None:
        """:meth:`on_hybrid` for many (address, PQC public key, generation), all done on return. The
        default does them one by one; a hook on a chain sends them all before waiting for any."""
        for address, public_key, generation in accounts:
            self.on_hybrid(address, public_key, generation)

    def on_finalizing_many(self, accounts: Sequence[tuple[Address, int]]) -> None:
        """:meth:`on_finalizing` for many (address, generation), all done on return (as above)."""
        for address, generation in accounts:
            self.on_finalizing(address, generation)


class NoChainHook(ChainHook):
    """The default: touches no chain (the signer service uses chainplug.registry's RegistryChainHook)."""

    def on_hybrid(self, address: Address, pqc_public_key: bytes, generation: int) -> None:
        return None

    def on_finalizing(self, address: Address, generation: int) -> None:
        return None

    def on_rollback(self, address: Address, generation: int) -> None:
        return None
