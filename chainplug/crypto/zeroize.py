"""Best-effort wiping of secret buffers.

Python cannot promise that no copy of a secret survives: ``bytes`` objects are immutable and may be
copied by the interpreter or by C libraries (OpenSSL, libsecp256k1) into memory we do not control.
What we *can* do is keep our own copies in ``bytearray``s and overwrite them when a key is
destroyed; docs/migration.md states exactly what that covers.
"""

from __future__ import annotations


def zeroize(buf: bytearray | memoryview) -> None:
    """Overwrite ``buf`` in place with zeros."""
    view = memoryview(buf).cast("B")
    view[:] = bytes(len(view))
