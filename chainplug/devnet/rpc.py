"""A small JSON-RPC / HTTP client for the devnet's own calls (chain, gateway, signer, validators).

Errors keep the server's code, message and data, so the report can say *who* refused *what* and
why (e.g. ``-32003 transaction rejected … {"reason": "pqc-required"}``).
"""

from __future__ import annotations

import itertools
import threading
from typing import Any

import requests

from ..errors import ChainplugError, Reason


class DevnetError(ChainplugError, RuntimeError):
    """The devnet could not start or drive a process (the message says which and why)."""

    default_reason = Reason.BAD_CONFIG


class RpcFailure(DevnetError):
    """A JSON-RPC error answer, or no answer at all (``code`` None: unreachable)."""

    default_reason = Reason.BAD_CONFIG

    def __init__(self, url: str, method: str, code: int | None, message: str, data: Any = None) -> None:
        super().__init__(f"{method} at {url}: {message}")
        self.url = url
        self.method = method
        self.code = code
        self.message = message
        self.data = data

    @property
    def unreachable(self) -> bool:
        return self.code is None

    @property
    def rejection_reason(self) -> str:
        """The machine-readable reason the server gave, else its message."""
        if isinstance(self.data, dict):
            for key in ("reason", "error"):
                if isinstance(self.data.get(key), str):
                    return str(self.data[key])
        return self.message


class JsonRpc:
    """JSON-RPC 2.0 over HTTP, thread-safe (one session per thread), optional bearer token."""

    def __init__(self, url: str, *, token: str | None = None, timeout: float = 60.0) -> None:
        self.url = url
        self.timeout = timeout
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._ids = itertools.count(1)
        self._local = threading.local()

    def _session(self) -> requests.Session:
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            self._local.session = session
        return session

    def call(self, method: str, *params: Any, timeout: float | None = None) -> Any:
        body: Any = {"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": list(params)}
        try:
            response = self._session().post(self.url, json=body, headers=self._headers, timeout=timeout or self.timeout)
            answer = response.json()
        except (requests.RequestException, ValueError) as exc:
            raise RpcFailure(self.url, method, None, f"unreachable ({type(exc).__name__})") from exc
        if not isinstance(answer, dict):
            raise RpcFailure(self.url, method, None, "answer is not a JSON-RPC object")
        if "error" in answer:
            error = answer["error"] if isinstance(answer["error"], dict) else {}
            raise RpcFailure(self.url, method, error.get("code"), str(error.get("message")), error.get("data"))
        return answer.get("result")


def get_json(url: str, *, timeout: float = 5.0) -> Any:
    """GET a JSON document (``/health``, ``/attestations``); raises RpcFailure when unreachable."""
    try:
        return requests.get(url, timeout=timeout).json()
    except (requests.RequestException, ValueError) as exc:
        raise RpcFailure(url, "GET", None, f"unreachable ({type(exc).__name__})") from exc


def quantity(value: Any) -> int:
    """A JSON-RPC quantity ("0x1a") or a plain integer, as an int."""
    return int(value, 16) if isinstance(value, str) else int(value)
