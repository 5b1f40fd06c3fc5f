"""What a gateway knows of the node behind it: the head, and the KeyRegistry state at that head — read
once per block, not once per transaction, over one reused connection.

:class:`UpstreamView` is the verifiers' :class:`~chainplug.verify.Registry` for an upgraded gateway. The
verifiers are synchronous and judge a transaction for the block after the head; the view answers them
from a cache of registry entries valid *at the head it knows*, and an entry it does not hold raises
:class:`RegistryMiss` (not a verdict): the gateway then reads it (``eth_call`` at that head, one request
however many transactions are waiting for it) and judges again.

Why the cache never judges by stale state (docs/design.md §gateway):

* every judgement first makes sure the head it uses was read by a request started at most ``max_age``
  seconds (50 ms) before — one ``eth_blockNumber`` shared by every transaction arriving meanwhile;
* entries are valid at exactly one head; when the head moves from N to M, the registry's
  ``StateChanged`` events of blocks N+1..M (one ``eth_getLogs``) name every account whose entry changed
  — KeyRegistry emits one for every write of an entry — and those entries are dropped; the others are
  the same at M as at N. A head that goes back or jumps more than ``MAX_LOG_SPAN`` blocks drops them all;
* a read that completes after the head moved is not kept.

What remains is the race every gateway has: the node may seal a block between the gateway's check and
its own. The embedded chain judges every transaction again against the parent of the block it builds,
and the gateway relays its answer, so a client never sees a transaction admitted that the chain refused;
in front of a stock node, the upgraded validators judge every block (the window is one head age plus one
forward).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from ..crypto.keccak import keccak256
from ..errors import RegistryError
from ..registry.artifact import decode_entry, entry_call_data
from ..rpc import SERVER_ERROR, UPSTREAM_UNAVAILABLE, AsyncRpcClient, RpcCallError, RpcError
from ..types import Address, KeyId
from ..verify import UNREGISTERED, RegistryEntry

STATE_CHANGED_TOPIC = keccak256(b"StateChanged(address,bytes32,uint8,uint8,uint64)")
"""topic0 of KeyRegistry's StateChanged event; topic1 is the account (indexed)."""
HEAD_MAX_AGE = 0.05
"""Seconds a head reading may be old when a transaction is judged by it."""
MAX_LOG_SPAN = 1024
"""Largest head move followed through the registry's events; past it every entry is read again."""


class RegistryMiss(Exception):
    """The view holds no entry for ``address`` at its head: read it (:meth:`UpstreamView.load`) and judge
    again. Deliberately not a ChainplugError, so admission never turns it into a verdict."""

    def __init__(self, address: Address) -> None:
        super().__init__(f"no registry entry cached for 0x{bytes(address).hex()}")
        self.address = address


class UpstreamView:
    """The head of the node behind ``client`` and the registry at ``registry_address`` as of that head."""

    def __init__(
        self,
        client: AsyncRpcClient,
        registry_address: bytes | None,
        *,
        max_age: float = HEAD_MAX_AGE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.registry = bytes(registry_address) if registry_address else None
        self.max_age = max_age
        self._clock = clock
        self.head: int | None = None
        """The head block number the entries are valid at (None before the first reading)."""
        self._read_at = float("-inf")
        """When the request that read ``head`` started."""
        self._entries: dict[bytes, RegistryEntry] = {}
        self._public_keys: dict[bytes, bytes] = {}
        self._head_request: asyncio.Future[int] | None = None
        self._loads: dict[tuple[int, bytes], asyncio.Future[None]] = {}
        self.head_reads = 0
        self.entry_reads = 0
        """Requests made (for metrics and tests)."""

    # --- the verifiers' Registry ----------------------------------------------------------------------

    def entry(self, address: Address, block: int | None = None) -> RegistryEntry:
        if self.registry is None:
            return UNREGISTERED
        if self.head is None or (block is not None and block != self.head):
            raise RegistryMiss(address)
        cached = self._entries.get(bytes(address))
        if cached is None:
            raise RegistryMiss(address)
        return cached

    def public_key(self, key_id: KeyId) -> bytes | None:
        return self._public_keys.get(bytes(key_id))

    # --- reading the node -----------------------------------------------------------------------------

    async def refresh(self) -> int:
        """The head, read by a request started at most ``max_age`` seconds ago (one request for every
        caller that asks meanwhile)."""
        if self.head is not None and self._clock() - self._read_at <= self.max_age:
            return self.head
        if self._head_request is None:
            self._head_request = asyncio.ensure_future(self._read_head())
        request = self._head_request
        try:
            return await asyncio.shield(request)
        finally:
            if request.done() and self._head_request is request:
                self._head_request = None

    async def _read_head(self) -> int:
        started = self._clock()
        number = int(await self._call("eth_blockNumber"), 16)
        await self._advance(number)
        self._read_at = max(self._read_at, started)
        return number

    async def _advance(self, number: int) -> None:
        old = self.head
        if old is not None and number == old:
            return
        changed: set[bytes] | None = None  # None: everything may have changed
        if old is not None and old < number <= old + MAX_LOG_SPAN and self.registry is not None:
            logs = await self._call("eth_getLogs", {"address": "0x" + self.registry.hex(), "topics": [
                "0x" + STATE_CHANGED_TOPIC.hex()], "fromBlock": hex(old + 1), "toBlock": hex(number)})  # fmt: skip
            if not isinstance(logs, list):
                raise RpcError(UPSTREAM_UNAVAILABLE, "upstream node answered eth_getLogs with something else")
            changed = {_topic_account(log) for log in logs}
        if self.head != old:  # another reading advanced meanwhile; it has done this work
            return
        if changed is None:
            self._entries.clear()
        else:
            for account in changed:
                self._entries.pop(account, None)
        self.head = number

    async def load(self, address: Address) -> None:
        """Read ``address``'s entry at the current head (one request per head and address)."""
        head = self.head
        if head is None:
            await self.refresh()
            return
        key = (head, bytes(address))
        pending = self._loads.get(key)
        if pending is None:
            pending = self._loads[key] = asyncio.ensure_future(self._load(head, bytes(address)))
            pending.add_done_callback(lambda _: self._loads.pop(key, None))
        await asyncio.shield(pending)

    async def _load(self, head: int, address: bytes) -> None:
        assert self.registry is not None
        registry = "0x" + self.registry.hex()
        call = {"to": registry, "data": "0x" + entry_call_data(Address(address)).hex()}
        output = await self._call("eth_call", call, hex(head))
        self.entry_reads += 1
        data = _hex(output)
        if not data and _hex(await self._call("eth_getCode", registry, hex(head))) == b"":
            entry = UNREGISTERED  # not deployed yet at this head: nobody is registered
        else:
            try:
                entry = decode_entry(data, self.registry)
            except RegistryError as exc:
                raise RpcError(SERVER_ERROR, str(exc)) from exc
        if self.head == head:  # still the head it was read at
            self._entries[address] = entry

    async def _call(self, method: str, *params: Any) -> Any:
        if method == "eth_blockNumber":
            self.head_reads += 1
        try:
            return await self.client.call(method, *params)
        except RpcCallError as exc:
            raise RpcError(UPSTREAM_UNAVAILABLE, f"upstream node unavailable: {exc.message}") from exc


def _topic_account(log: Any) -> bytes:
    try:
        topic = log["topics"][1]
        return bytes.fromhex(topic[2:])[-20:]
    except (KeyError, IndexError, TypeError, ValueError):
        raise RpcError(UPSTREAM_UNAVAILABLE, "upstream node answered eth_getLogs with a malformed log") from None


def _hex(value: Any) -> bytes:
    if not isinstance(value, str) or not value.startswith("0x"):
        raise RpcError(UPSTREAM_UNAVAILABLE, "upstream node answered with something other than hex data")
    try:
        return bytes.fromhex(value[2:])
    except ValueError:
        raise RpcError(UPSTREAM_UNAVAILABLE, "upstream node answered with malformed hex") from None
