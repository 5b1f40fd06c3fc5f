"""Several validators in one process (``chainplug validator host``): the devnet's way to run a large
fleet on a small machine without giving up independent verification.

What the validators of a host share: the fetched bytes — one :class:`~.blockfeed.BlockFeed` (each block
fetched once) and one :class:`~chainplug.registry.events.RegistryLogs` (the registry's raw events) —
and one follower loop that polls the head once per interval. What each keeps to itself: its admission
hook (its own verifier and key cache), its registry view (folded by itself from the raw events), its
decode of every transaction and sidecar, its attestation log, and its HTTP service on its own port. No
verdict is shared: every validator decodes and verifies every transaction of every block itself.

Verification runs inline, in the follower's thread; a host's validators therefore share one core. The
devnet runs several hosts to use several cores (devnet/README.md "What runs where").
"""

from __future__ import annotations

import asyncio
import json
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from ..errors import ConfigError
from .admission import NodeVersion
from .blockfeed import BlockFeed
from .validator import Validator, ValidatorConfig, registry_logs
from .validator_service import ValidatorService


@dataclass(frozen=True, slots=True)
class Member:
    """One validator of a host: its configuration and where its service listens."""

    config: ValidatorConfig
    listen: str


def read_members(path: Path, *, common: dict[str, Any]) -> list[Member]:
    """The members file: a JSON list of ``{"name", "version", "state_dir", "listen"}`` (and optionally
    ``"start_height"``); ``common`` holds what every member shares (rpc_url, sidecar_urls, ...)."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path}: cannot read the members file: {exc}") from exc
    if not isinstance(document, list) or not document:
        raise ConfigError(f"{path}: expected a non-empty JSON list of validators")
    members, names = [], set()
    for index, item in enumerate(document):
        where = f"{path} [{index}]"
        if not isinstance(item, dict) or set(item) - {"name", "version", "state_dir", "listen", "start_height"}:
            raise ConfigError(f"{where}: expected an object with name, version, state_dir, listen (start_height)")
        name, version, state_dir, listen = (item.get(k) for k in ("name", "version", "state_dir", "listen"))
        if not all(isinstance(v, str) and v for v in (name, version, state_dir, listen)):
            raise ConfigError(f"{where}: name, version, state_dir and listen must be non-empty strings")
        if version not in NodeVersion.__members__.values():
            raise ConfigError(f"{where}: version must be legacy or upgraded")
        if name in names:
            raise ConfigError(f"{where}: validator {name} is listed twice")
        names.add(name)
        start = item.get("start_height", 1)
        if not isinstance(start, int) or isinstance(start, bool) or start < 0:
            raise ConfigError(f"{where}: start_height must be a block number")
        config = ValidatorConfig(name=str(name), version=NodeVersion(str(version)), state_dir=Path(str(state_dir)),
                                 start_height=start, **common)  # fmt: skip
        if config.version == NodeVersion.UPGRADED and not config.registry_address:
            raise ConfigError(f"{where}: an upgraded validator needs --registry")
        members.append(Member(config, str(listen)))
    return members


class ValidatorHost:
    """The validators of one process, driven by one follower loop."""

    def __init__(self, members: list[Member], *, poll_interval: float = 0.5) -> None:
        if not members:
            raise ConfigError("a validator host needs at least one validator")
        first = members[0].config
        upgraded = any(m.config.version == NodeVersion.UPGRADED for m in members)
        self.feed = BlockFeed(first.rpc_url, first.sidecar_urls, sidecars=upgraded)
        self.logs = registry_logs(first.rpc_url, first.registry_address) if upgraded else None
        self.members = members
        self.validators = [Validator(m.config, feed=self.feed, logs=self.logs, inline=True) for m in members]
        self.services = [ValidatorService(v, poll_interval=poll_interval, follow=False) for v in self.validators]
        self.poll_interval = poll_interval
        self._stopping = threading.Event()
        self._stepping = threading.Lock()

    def step(self) -> int:
        """Attest every block up to the head, block by block, each validator in turn; returns how many
        attestations were made. A validator whose check fails is reported on its own /health and left
        for the next step; the others go on."""
        with self._stepping:
            head = self.feed.head()
            failed: set[int] = set()
            made = 0
            while not self._stopping.is_set():
                behind = [i for i, v in enumerate(self.validators) if i not in failed and v.next_height <= head]
                if not behind:
                    break
                height = min(self.validators[i].next_height for i in behind)
                for i in behind:
                    validator, service = self.validators[i], self.services[i]
                    if validator.next_height != height:
                        continue
                    started = time.perf_counter()
                    try:
                        attestation = validator.check_block(height)
                        validator.log.append(attestation)
                    except Exception as exc:  # node down, RPC hiccup: report, retry next step
                        service.last_error = f"{type(exc).__name__}: {exc}"
                        sys.stderr.write(f"validator {validator.config.name}: {service.last_error}\n")
                        failed.add(i)
                        continue
                    service.last_error = None
                    service.record([attestation], time.perf_counter() - started)
                    made += 1
            return made

    async def follow(self) -> None:
        """Poll and attest until cancelled; on the way out, wait for a step in progress to end."""
        try:
            while True:
                try:
                    await asyncio.to_thread(self.step)
                except Exception as exc:  # the head poll failed: the chain is unreachable
                    for service in self.services:
                        service.last_error = f"{type(exc).__name__}: {exc}"
                    sys.stderr.write(f"validator host: {type(exc).__name__}: {exc}\n")
                    await asyncio.sleep(self.poll_interval * 4)
                await asyncio.sleep(self.poll_interval)
        finally:
            self._stopping.set()
            await asyncio.to_thread(self._stepping.acquire)  # the validators close only after it

    def apps(self) -> list[tuple[str, web.Application, str]]:
        """(name, application, listen address) of every validator's service."""
        return [(m.config.name, s.app(), m.listen) for m, s in zip(self.members, self.services, strict=True)]
