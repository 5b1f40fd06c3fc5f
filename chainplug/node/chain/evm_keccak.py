"""Which keccak implementation py-evm hashes with, chosen for the whole process.

eth-hash (py-evm's keccak) picks pycryptodome first when both it and safe-pysha3 are installed
(chainplug installs pycryptodome for scrypt); its per-call overhead makes hashing a third of py-evm's
time for a block of transfers. Its own module because it is a process-wide switch of a dependency, not
part of the chain: ``chainplug chain serve`` turns it on at start and the benchmark compares both.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

FAST_KECCAK = "pysha3"
"""eth-hash's C backend (safe-pysha3, declared through eth-hash[pysha3])."""


def use_fast_keccak() -> str | None:
    """Make py-evm hash with safe-pysha3 in this whole process; the name of the backend, None if it is not
    installed. eth-hash picks pycryptodome first when both are installed (chainplug installs pycryptodome
    for scrypt): its per-call overhead makes hashing a third of py-evm's time for a block of transfers.
    ``chainplug chain serve`` calls this at start."""
    try:
        _select_keccak(FAST_KECCAK)
    except ImportError:
        return None
    return FAST_KECCAK


@contextmanager
def py_evm_keccak(name: str) -> Iterator[None]:
    """py-evm hashes with eth-hash backend ``name`` for the duration (the benchmark compares them)."""
    from eth_hash.auto import keccak

    before = keccak.hasher, keccak.preimage
    _select_keccak(name)
    try:
        yield
    finally:
        keccak.hasher, keccak.preimage = before


def _select_keccak(name: str) -> None:
    from eth_hash.auto import keccak
    from eth_hash.utils import load_backend

    backend = load_backend(name)
    # Keccak256 calls self.hasher / self.preimage (replaced this way after its own first call too).
    keccak.hasher, keccak.preimage = backend.keccak256, backend.preimage
