"""chainplug.signer — wallet signing: the HTTP signer service (``chainplug signer serve``,
:mod:`chainplug.signer.service`) and web3.py middleware for a process that holds its own keys.

May import every layer below it (crypto, envelope, verify, keystore, migration, registry).
Entry points: :class:`CompositeSigningMiddleware` and :class:`EnvelopeStore` (imported on first use:
the middleware needs web3.py, ~1 s to import, which the signer service does not).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .middleware import SEND_ENVELOPE, CompositeSigningMiddleware, EnvelopeStore

__all__ = ["SEND_ENVELOPE", "CompositeSigningMiddleware", "EnvelopeStore"]


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from . import middleware

    value = getattr(middleware, name)
    globals()[name] = value
    return value
