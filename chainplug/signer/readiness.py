"""Fleet readiness read from validators' ``/health`` endpoints (the fleet gate's live source)."""

from __future__ import annotations

from collections.abc import Sequence

from ..errors import ConfigError
from ..migration import ReadinessSource, ValidatorReadiness
from ..rpc import RpcCallError, get_json


class HttpReadiness(ReadinessSource):
    """Asks each validator URL for ``/health`` and counts it upgraded iff it says ``"version": "upgraded"``.

    An unreachable validator counts as *not* ready: the gate must never open on missing evidence.
    """

    def __init__(self, urls: Sequence[str], *, timeout: float = 5.0) -> None:
        if not urls:
            raise ConfigError("readiness needs at least one validator URL")
        self.urls = tuple(url.rstrip("/") for url in urls)
        self.timeout = timeout

    def validators(self) -> Sequence[ValidatorReadiness]:
        found = []
        for url in self.urls:
            try:
                # Bounded like every answer chainplug reads: a broken validator cannot crash the signer.
                body = get_json(url + "/health", timeout=self.timeout)
                name = str(body.get("validator") or url)
                found.append(ValidatorReadiness(name, body.get("version") == "upgraded"))
            except (RpcCallError, AttributeError):
                found.append(ValidatorReadiness(f"{url} (unreachable)", False))
        return found

    def describe(self) -> str:
        return f"/health of {len(self.urls)} validator(s)"
