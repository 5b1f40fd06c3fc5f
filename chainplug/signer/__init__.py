"""chainplug.signer — wallet signing backends: web3.py middleware (and, next, the HTTP signer service).

May import every layer below it (crypto, envelope, verify, keystore, migration, registry).
Entry points: :class:`CompositeSigningMiddleware` and :class:`EnvelopeStore`.
"""

from .middleware import SEND_ENVELOPE, CompositeSigningMiddleware, EnvelopeStore

__all__ = ["SEND_ENVELOPE", "CompositeSigningMiddleware", "EnvelopeStore"]
