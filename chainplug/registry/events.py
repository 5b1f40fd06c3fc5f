"""The verifiers' :class:`~chainplug.verify.Registry` built from the KeyRegistry's own events.

Every state change of the contract emits exactly one ``StateChanged(account, key_id, previous_state,
new_state, generation)`` (contracts/KeyRegistry.vy ``_move``), so the events of blocks 0..N *are* the
registry's state after block N: an account's entry is its last event at or before N (CLASSICAL with
no key if it has none; a rollback's event carries the empty key id).

:class:`ChainRegistry` asks the chain one ``eth_call`` per (sender, block) it judges. A validator
judges every sender of every block, so a fleet of them costs the chain they follow one EVM call per
sender, block and validator. :class:`EventRegistry` costs one ``eth_getLogs`` per stretch of new
blocks instead, whatever the number of senders, and answers every (sender, block) from memory.

:class:`RegistryLogs` fetches and keeps the raw logs; several views (validators of one process) can
share one, each folding the raw logs into its own history (its own decode, its own view).

Limits: blocks are assumed final once asked about (no reorganisation handling: the validator that
uses this follows heights, as the devnet's chain has no forks); a view may only be asked about a
block the chain has mined (a validator asks about the parent of a block it holds).
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

from ..crypto import keccak256
from ..errors import RegistryError
from ..rpc import RpcClient
from ..types import AccountState, Address, KeyId
from ..verify.registry import UNREGISTERED, PublicKeyBook, RegistryEntry

STATE_CHANGED_TOPIC: Final = keccak256(b"StateChanged(address,bytes32,uint8,uint8,uint64)")
"""topic 0 of the KeyRegistry's one event."""
MAX_LOG_SPAN: Final = 5_000
"""Most blocks one eth_getLogs call covers (the embedded chain allows 10,000; public providers less)."""

GetLogs = Callable[[dict[str, Any]], Sequence[Mapping[str, Any]]]
"""An ``eth_getLogs`` call: filter object in, log objects out (JSON hex, or web3's HexBytes and ints)."""


def _bytes(value: Any) -> bytes:
    if isinstance(value, str):
        return bytes.fromhex(value.removeprefix("0x").removeprefix("0X"))
    return bytes(value)


def _int(value: Any) -> int:
    return int(value, 16) if isinstance(value, str) else int(value)


class RegistryLogs:
    """The KeyRegistry's ``StateChanged`` logs of blocks 0..``fetched_to``, fetched in order and kept."""

    def __init__(self, get_logs: GetLogs, address: str | bytes, *, head: Callable[[], int] | None = None) -> None:
        self._get_logs = get_logs
        self.address = "0x" + _bytes(address).hex()
        self._head = head
        self._logs: list[Mapping[str, Any]] = []
        self._blocks: list[int] = []
        """Block number of each kept log (for bisecting)."""
        self.fetched_to = -1
        self.calls = 0
        """eth_getLogs calls made (for tests and metrics)."""
        self._lock = threading.Lock()

    @classmethod
    def over_rpc(cls, client: RpcClient, address: str | bytes) -> RegistryLogs:
        def get_logs(query: dict[str, Any]) -> Sequence[Mapping[str, Any]]:
            answer = client.call("eth_getLogs", query)
            if not isinstance(answer, list):
                raise RegistryError(f"eth_getLogs answered {type(answer).__name__}, not a list")
            return answer

        return cls(get_logs, address, head=lambda: _int(client.call("eth_blockNumber")))

    def head(self) -> int:
        if self._head is None:
            raise RegistryError("this registry view cannot resolve 'latest': give a block number")
        return self._head()

    def upto(self, block: int) -> Sequence[Mapping[str, Any]]:
        """Every log of blocks 0..``block`` (``block`` must be mined), fetching what is not kept yet."""
        with self._lock:
            while self.fetched_to < block:
                start = self.fetched_to + 1
                stop = min(block, start + MAX_LOG_SPAN - 1)
                query = {"fromBlock": hex(start), "toBlock": hex(stop), "address": self.address,
                         "topics": ["0x" + STATE_CHANGED_TOPIC.hex()]}  # fmt: skip
                self.calls += 1
                try:
                    fetched = sorted(
                        (log for log in self._get_logs(query) if not log.get("removed")),
                        key=lambda log: (_int(log["blockNumber"]), _int(log["logIndex"])),
                    )
                except (AttributeError, KeyError, TypeError, ValueError) as exc:
                    raise RegistryError(f"unreadable KeyRegistry logs from the chain: {exc!r}") from exc
                self._logs += fetched
                self._blocks += [_int(log["blockNumber"]) for log in fetched]
                self.fetched_to = stop
            return self._logs[: bisect.bisect_right(self._blocks, block)]


class EventRegistry(PublicKeyBook):
    """One verifier's registry view: the history of every account, folded from the registry's logs."""

    def __init__(self, logs: RegistryLogs, *, public_keys: Mapping[bytes, bytes] | None = None) -> None:
        self.logs = logs
        super().__init__(public_keys)
        self._history: dict[bytes, tuple[list[int], list[RegistryEntry]]] = {}
        """account → (blocks of its changes, its entry from each of them on)."""
        self._folded = 0
        """How many of ``logs``' logs this view has folded in."""
        self.synced_to = -1
        self._lock = threading.Lock()

    def entry(self, address: Address, block: int | None = None) -> RegistryEntry:
        number = self.logs.head() if block is None else block
        if number > self.synced_to:
            self._sync(number)
        found = self._history.get(bytes(address))
        if found is None:
            return UNREGISTERED
        index = bisect.bisect_right(found[0], number)
        return found[1][index - 1] if index else UNREGISTERED

    def _sync(self, block: int) -> None:
        logs = self.logs.upto(block)
        with self._lock:
            for log in logs[self._folded :]:
                self._fold(log)
            self._folded = max(self._folded, len(logs))
            self.synced_to = max(self.synced_to, block)

    def _fold(self, log: Mapping[str, Any]) -> None:
        try:
            topics = [_bytes(t) for t in log["topics"]]
            data = _bytes(log["data"])
            if topics[0] != STATE_CHANGED_TOPIC or len(topics) != 3 or len(data) != 96:
                raise ValueError("not a StateChanged log")
            account, key_id = topics[1][12:], topics[2]
            state = AccountState(int.from_bytes(data[32:64], "big"))
            number = _int(log["blockNumber"])
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            raise RegistryError(f"unreadable KeyRegistry log from the chain: {exc}") from exc
        entry = RegistryEntry(state, KeyId(key_id) if any(key_id) else None)
        blocks, entries = self._history.setdefault(account, ([], []))
        if blocks and blocks[-1] == number:
            entries[-1] = entry  # a later change in the same block: the block ends in it
        else:
            blocks.append(number)
            entries.append(entry)
