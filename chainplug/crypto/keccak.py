"""keccak256 (the pre-FIPS-202 padding Ethereum uses), via a C implementation."""

from __future__ import annotations

from typing import Any

from ..types import Hash32

__all__ = ["_keccak_256", "keccak256"]

try:  # safe-pysha3 (pulled in by eth-hash[pysha3]): ~1.5 µs per call for short inputs
    from sha3 import keccak_256 as _keccak_256

    def keccak256(data: bytes) -> Hash32:
        """keccak256 of ``data``."""
        digest: Hash32 = _keccak_256(data).digest()  # the NewType call is skipped: hot path
        return digest

except ImportError:  # pragma: no cover - fallback when the C extension is unavailable
    from Crypto.Hash import keccak as _keccak

    def _keccak_256(data: bytes) -> Any:
        """An object whose ``digest()`` is keccak256 of ``data`` (what hot paths call inline)."""
        return _keccak.new(data=data, digest_bits=256)

    def keccak256(data: bytes) -> Hash32:
        """keccak256 of ``data``."""
        return Hash32(_keccak.new(data=data, digest_bits=256).digest())
