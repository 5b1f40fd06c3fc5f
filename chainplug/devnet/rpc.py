"""The devnet's calls to its processes (chain, gateway, signer, validators): the shared JSON-RPC client
(:mod:`chainplug.rpc`) with the devnet's error type.

Errors keep the server's code, message and data, so the report can say *who* refused *what* and
why (e.g. ``-32003 transaction rejected … {"reason": "pqc-required"}``).
"""

from __future__ import annotations

from typing import Any, ClassVar

from ..errors import ChainplugError, Reason
from ..rpc import RpcCallError, RpcClient
from ..rpc import get_json as _get_json


class DevnetError(ChainplugError, RuntimeError):
    """The devnet could not start or drive a process (the message says which and why)."""

    default_reason = Reason.BAD_CONFIG


class RpcFailure(RpcCallError, DevnetError):
    """A JSON-RPC error answer, or no answer at all (``code`` None: unreachable)."""

    default_reason = Reason.BAD_CONFIG


class JsonRpc(RpcClient):
    """JSON-RPC 2.0 over HTTP, thread-safe (one session per thread), optional bearer token."""

    error_type: ClassVar[type[RpcCallError]] = RpcFailure


def get_json(url: str, *, timeout: float = 5.0) -> Any:
    """GET a JSON document (``/health``, ``/attestations``); raises RpcFailure when unreachable."""
    try:
        return _get_json(url, timeout=timeout)
    except RpcCallError as exc:
        raise RpcFailure(url, "GET", None, exc.message, exc.data) from exc


def quantity(value: Any) -> int:
    """A JSON-RPC quantity ("0x1a") or a plain integer, as an int."""
    return int(value, 16) if isinstance(value, str) else int(value)
