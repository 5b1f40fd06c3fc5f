"""The signer's key guard: signatures share the keys, a migration step has them alone.

Its own module because it is the one rule that keeps a step (which may destroy key handles) from
running under a signature, apart from how requests reach the signer (chainplug.signer.service).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class KeyGuard:
    """Signatures share the keys; a migration step (which may destroy key handles) has them alone.

    A step waits for the signatures under way to finish and holds new ones back until it is done
    (writer preference, so a steady stream of signatures cannot starve a step).
    """

    def __init__(self) -> None:
        self._condition = asyncio.Condition()
        self._signing = 0
        self._stepping = False
        self._steps_waiting = 0

    @asynccontextmanager
    async def signing(self) -> AsyncIterator[None]:
        async with self._condition:
            await self._condition.wait_for(lambda: not self._stepping and not self._steps_waiting)
            self._signing += 1
        try:
            yield
        finally:
            async with self._condition:
                self._signing -= 1
                self._condition.notify_all()

    @asynccontextmanager
    async def step(self) -> AsyncIterator[None]:
        async with self._condition:
            self._steps_waiting += 1
            try:
                await self._condition.wait_for(lambda: not self._stepping and not self._signing)
            finally:
                self._steps_waiting -= 1
            self._stepping = True
        try:
            yield
        finally:
            async with self._condition:
                self._stepping = False
                self._condition.notify_all()
