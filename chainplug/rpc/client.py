"""One JSON-RPC client, sync (requests) and async (aiohttp), for every call chainplug makes to a node,
a gateway, a signer or a validator.

Both reuse their connections (a requests.Session per thread; one aiohttp ClientSession per client),
send batches, bound the answer like a server bounds a request (size, nesting depth, numbers: a broken
or hostile node cannot crash the caller), and turn every failure into :class:`RpcCallError`, which keeps
the server's code, message and data so a caller can say *who* refused *what* and why.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Sequence
from typing import Any, ClassVar

import aiohttp
import requests

from ..errors import ChainplugError, Reason
from .limits import RESPONSE_LIMITS, Limits, loads_limited
from .protocol import METHOD_NOT_FOUND, UPSTREAM_UNAVAILABLE, RpcError

Call = tuple[str, Sequence[Any]]
"""(method, params) of one call in a batch."""


class RpcCallError(ChainplugError):
    """A JSON-RPC error answer, or no usable answer at all (``code`` None: unreachable or unreadable)."""

    default_reason = Reason.BAD_CONFIG

    def __init__(self, url: str, method: str, code: int | None, message: str, data: Any = None) -> None:
        super().__init__(f"{method} at {url}: {message}" + (f" {data}" if data not in (None, {}) else ""))
        self.url = url
        self.method = method
        self.code = code
        self.message = message
        self.data = data

    @property
    def unreachable(self) -> bool:
        return self.code is None

    @property
    def method_not_found(self) -> bool:
        return self.code == METHOD_NOT_FOUND

    @property
    def rejection_reason(self) -> str:
        """The machine-readable reason the server gave, else its message."""
        if isinstance(self.data, dict):
            for key in ("reason", "error"):
                if isinstance(self.data.get(key), str):
                    return str(self.data[key])
        return self.message


def _document(method: str, params: Sequence[Any], ident: int) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": ident, "method": method, "params": list(params)}


class _Base:
    error_type: ClassVar[type[RpcCallError]] = RpcCallError
    """Raised for every failure (a subclass may name its own, e.g. the devnet's RpcFailure)."""

    def __init__(self, url: str, *, token: str | None, timeout: float, limits: Limits) -> None:
        self.url = url
        self.timeout = timeout
        self.limits = limits
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._ids = itertools.count(1)

    def _fail(self, method: str, code: int | None, message: str, data: Any = None) -> RpcCallError:
        return self.error_type(self.url, method, code, message, data)

    def _parse(self, body: bytes, method: str) -> Any:
        try:
            return loads_limited(body, self.limits)
        except RpcError as exc:
            raise self._fail(method, None, f"unreadable answer ({exc.message})", {"reason": exc.reason}) from None

    def _result(self, answer: Any, method: str) -> Any:
        if not isinstance(answer, dict):
            raise self._fail(method, None, "answer is not a JSON-RPC object")
        if "error" in answer:
            error = answer["error"] if isinstance(answer["error"], dict) else {}
            code = error.get("code")
            raise self._fail(method, code if isinstance(code, int) else -1, str(error.get("message")),
                             error.get("data"))  # fmt: skip
        return answer.get("result")

    def _batch_results(self, answers: Any, calls: Sequence[Call], ids: list[int]) -> list[Any]:
        if not isinstance(answers, list):
            if isinstance(answers, dict) and "error" in answers:  # the whole batch was refused
                self._result(answers, "batch")
            raise self._fail("batch", None, "batch answer is not a JSON array")
        by_id = {answer.get("id"): answer for answer in answers if isinstance(answer, dict)}
        results: list[Any] = []
        for ident, (method, _) in zip(ids, calls, strict=True):
            try:
                results.append(self._result(by_id.get(ident), method))
            except RpcCallError as exc:
                results.append(exc)
        return results


class RpcClient(_Base):
    """Synchronous JSON-RPC 2.0 over HTTP; thread-safe (one connection-reusing session per thread)."""

    def __init__(self, url: str, *, token: str | None = None, timeout: float = 60.0,
                 limits: Limits = RESPONSE_LIMITS) -> None:  # fmt: skip
        super().__init__(url, token=token, timeout=timeout, limits=limits)
        self._local = threading.local()

    def _session(self) -> requests.Session:
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            self._local.session = session
        return session

    def post(self, document: Any, *, method: str = "request", timeout: float | None = None) -> Any:
        """POST one JSON document; the parsed answer (any JSON value). Raises ``error_type`` if unreachable."""
        try:
            with self._session().post(self.url, json=document, headers=self._headers, stream=True,
                                      timeout=timeout or self.timeout) as response:  # fmt: skip
                body = response.raw.read(self.limits.max_body_bytes + 1, decode_content=True)
        except (requests.RequestException, OSError, ValueError) as exc:
            raise self._fail(method, None, f"unreachable ({type(exc).__name__})") from exc
        return self._parse(body, method)

    def call(self, method: str, *params: Any, timeout: float | None = None) -> Any:
        """The result of one call, or ``error_type`` with the server's code, message and data."""
        answer = self.post(_document(method, params, next(self._ids)), method=method, timeout=timeout)
        return self._result(answer, method)

    def batch(self, calls: Sequence[Call], *, timeout: float | None = None) -> list[Any]:
        """One HTTP request for many calls: each result, or the RpcCallError of that call, in order."""
        if not calls:
            return []
        ids = [next(self._ids) for _ in calls]
        documents = [_document(method, params, ident) for (method, params), ident in zip(calls, ids, strict=True)]
        return self._batch_results(self.post(documents, method="batch", timeout=timeout), calls, ids)

    def close(self) -> None:
        """Close this thread's session (others close when their threads end)."""
        session = getattr(self._local, "session", None)
        if session is not None:
            session.close()
            self._local.session = None


def get_json(url: str, *, timeout: float = 5.0, limits: Limits = RESPONSE_LIMITS) -> Any:
    """GET a JSON document (a service's ``/health``, ``/attestations``), bounded like an answer.
    Raises :class:`RpcCallError` (code None) if unreachable or unreadable."""
    try:
        with requests.get(url, timeout=timeout, stream=True) as response:
            body = response.raw.read(limits.max_body_bytes + 1, decode_content=True)
        return loads_limited(body, limits)
    except (requests.RequestException, OSError, ValueError) as exc:
        raise RpcCallError(url, "GET", None, f"unreachable ({type(exc).__name__})") from exc
    except RpcError as exc:
        raise RpcCallError(url, "GET", None, f"unreadable answer ({exc.message})", {"reason": exc.reason}) from exc


class AsyncRpcClient(_Base):
    """JSON-RPC 2.0 over HTTP for asyncio code; one aiohttp session (created on first use, in the loop)."""

    def __init__(self, url: str, *, token: str | None = None, timeout: float = 30.0,
                 limits: Limits = RESPONSE_LIMITS) -> None:  # fmt: skip
        super().__init__(url, token=token, timeout=timeout, limits=limits)
        self._session: aiohttp.ClientSession | None = None

    async def post(self, document: Any, *, method: str = "request") -> Any:
        """POST one JSON document; the parsed answer. Raises ``error_type`` if unreachable."""
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout))
        try:
            async with self._session.post(self.url, json=document, headers=self._headers) as response:
                body = bytearray()
                while chunk := await response.content.read(1 << 16):
                    body += chunk
                    if len(body) > self.limits.max_body_bytes:
                        break
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise self._fail(method, None, f"unreachable ({type(exc).__name__})") from exc
        return self._parse(bytes(body), method)

    async def relay(self, document: Any) -> Any:
        """The node's whole answer to a request object a service passes on unchanged (a proxy); when the
        node cannot be reached, an UPSTREAM_UNAVAILABLE error for the service's own client."""
        method = str(document.get("method")) if isinstance(document, dict) else "batch"
        try:
            return await self.post(document, method=method)
        except RpcCallError as exc:
            raise RpcError(UPSTREAM_UNAVAILABLE, f"upstream node unavailable: {exc.message}") from exc

    async def call(self, method: str, *params: Any) -> Any:
        answer = await self.post(_document(method, params, next(self._ids)), method=method)
        return self._result(answer, method)

    async def batch(self, calls: Sequence[Call]) -> list[Any]:
        if not calls:
            return []
        ids = [next(self._ids) for _ in calls]
        documents = [_document(method, params, ident) for (method, params), ident in zip(calls, ids, strict=True)]
        return self._batch_results(await self.post(documents, method="batch"), calls, ids)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
