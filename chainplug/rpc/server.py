"""One JSON-RPC endpoint for every chainplug HTTP service (chain, gateway, validator, signer).

:class:`JsonRpcEndpoint` turns a table of methods into an aiohttp handler that, in this order:
authorizes (before the body is read), reads the body under a size bound and a deadline (a slow-loris
body is cut off), checks the nesting depth before parsing, parses with bounded numbers, bounds strings
and integers, checks the batch length, validates each request object, and dispatches. Handlers take the
``params`` list and may be plain functions or coroutine functions (so concurrent async handlers are
possible); they raise :class:`RpcError` for a refusal. Anything else a handler raises is logged here
and answered as INTERNAL_ERROR without a traceback: every answer is a JSON-RPC document, never an
HTTP 500, and nothing a client sends can stop the process.

HTTP statuses: 200 for every JSON-RPC answer, except 401 (authorization), 413 (body too large) and
408 (body too slow), which also carry a JSON-RPC error document. :func:`json_errors` makes the
application's other HTTP errors (unknown path, wrong HTTP method) JSON-RPC documents too.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from .limits import Limits, check_batch, loads_limited
from .protocol import (
    INTERNAL_ERROR,
    INVALID_REQUEST,
    LIMIT_EXCEEDED,
    METHOD_NOT_FOUND,
    UNAUTHORIZED,
    RpcError,
    error_response,
    request_id,
    result_response,
    validate_call,
)

LOG = logging.getLogger(__name__)

IDLE_TIMEOUT = 30.0
"""Seconds a connection may stay open without a complete request (aiohttp's keep-alive timeout, which it
also arms when a connection opens): slow-loris headers are cut off after this."""

Handler = Callable[[list[Any]], Any]
"""A method: takes the params list, returns a JSON value (or an awaitable of one), raises RpcError."""
Fallback = Callable[[dict[str, Any]], Awaitable[Any]]
"""Answers a validated request whose method is not in the table (the gateway forwards it)."""
ErrorMapper = Callable[[Exception], RpcError | None]
"""Turns a domain exception into the RpcError to answer (None: not one of mine; INTERNAL_ERROR)."""


@dataclass(frozen=True, slots=True)
class Forwarded:
    """A handler's return value that is a whole JSON-RPC answer from elsewhere (an upstream node): it is
    sent as is, with the caller's id."""

    answer: Any


class BodyRejected(Exception):
    """The body was refused while it was being read (size, deadline) or never fully arrived."""

    def __init__(self, status: int, error: RpcError | None) -> None:
        super().__init__(error.message if error is not None else "connection closed")
        self.status = status
        self.error = error


async def read_body(request: web.Request, limits: Limits) -> bytes:
    """The whole body, at most ``limits.max_body_bytes``, within ``limits.body_timeout`` seconds."""
    too_large = RpcError(LIMIT_EXCEEDED, f"body larger than {limits.max_body_bytes} bytes", reason="body-too-large")
    declared = request.content_length
    if declared is not None and declared > limits.max_body_bytes:
        raise BodyRejected(413, too_large)
    chunks = bytearray()
    try:
        async with asyncio.timeout(limits.body_timeout):
            while True:
                chunk = await request.content.read(1 << 16)
                if not chunk:
                    break
                chunks += chunk
                if len(chunks) > limits.max_body_bytes:
                    raise BodyRejected(413, too_large)
    except TimeoutError:
        slow = RpcError(LIMIT_EXCEEDED, f"body not received within {limits.body_timeout:g} s", reason="body-timeout")
        raise BodyRejected(408, slow) from None
    except (ConnectionError, asyncio.IncompleteReadError) as exc:
        raise BodyRejected(400, None) from exc
    except Exception as exc:  # aiohttp's payload errors (truncated chunked or Content-Length body)
        if type(exc).__module__.startswith("aiohttp"):
            raise BodyRejected(400, None) from exc
        raise
    return bytes(chunks)


class JsonRpcEndpoint:
    """``handle`` is the aiohttp handler for ``POST /`` of one service."""

    def __init__(
        self,
        methods: Mapping[str, Handler],
        *,
        limits: Limits | None = None,
        fallback: Fallback | None = None,
        authorize: Callable[[web.Request], bool] | None = None,
        map_error: ErrorMapper | None = None,
        on_error: Callable[[RpcError], None] | None = None,
    ) -> None:
        self.methods = dict(methods)
        self.limits = limits or Limits()
        self._fallback = fallback
        self._authorize = authorize
        self._map_error = map_error
        self._on_error = on_error

    def _refused(self, error: RpcError, status: int = 200) -> web.Response:
        self._count(error)
        return web.json_response(error_response(None, error), status=status)

    def _count(self, error: RpcError) -> None:
        if self._on_error is not None:
            self._on_error(error)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        if self._authorize is not None and not self._authorize(request):
            return self._refused(RpcError(UNAUTHORIZED, "missing or wrong bearer token"), 401)
        try:
            body = await read_body(request, self.limits)
        except BodyRejected as exc:
            if exc.error is None:  # the client went away mid-body: nobody to answer
                return web.Response(status=exc.status)
            response = self._refused(exc.error, exc.status)
            response.force_close()  # the rest of the body is not worth reading
            return response
        try:
            document = loads_limited(body, self.limits)
            check_batch(document, self.limits)
        except RpcError as exc:
            return self._refused(exc)
        if isinstance(document, list):
            answers = await asyncio.gather(*(self.dispatch(call) for call in document))
            return web.json_response(answers)
        return web.json_response(await self.dispatch(document))

    async def dispatch(self, call: Any) -> Any:
        """Answer one request object (never raises)."""
        answer_id = request_id(call)
        try:
            answer_id, method, params = validate_call(call)
            handler = self.methods.get(method)
            if handler is None:
                if self._fallback is None:
                    raise RpcError(METHOD_NOT_FOUND, f"the method {method} does not exist/is not available")
                return _with_id(await self._fallback(call), answer_id)
            result = handler(params)
            if inspect.isawaitable(result):
                result = await result
            if isinstance(result, Forwarded):
                return _with_id(result.answer, answer_id)
            return result_response(answer_id, result)
        except RpcError as exc:
            self._count(exc)
            return error_response(answer_id, exc)
        except Exception as exc:
            mapped = self._map_error(exc) if self._map_error is not None else None
            if mapped is None:  # a bug, not the client's fault: keep the traceback in our log only
                LOG.exception("internal error answering %s", call.get("method") if isinstance(call, dict) else call)
                mapped = RpcError(INTERNAL_ERROR, f"internal error: {type(exc).__name__}")
            self._count(mapped)
            return error_response(answer_id, mapped)


def _with_id(answer: Any, answer_id: Any) -> Any:
    if isinstance(answer, dict) and ("result" in answer or "error" in answer):
        return {**answer, "id": answer_id}
    return error_response(answer_id, RpcError(INTERNAL_ERROR, "upstream answer is not a JSON-RPC response"))


_STATUS_REASONS = {404: "not-found", 405: "method-not-allowed"}


@web.middleware
async def json_errors(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> Any:
    """HTTP errors of the application (unknown path, wrong HTTP method, a handler bug) as JSON-RPC
    error documents; a bug answers 200 with INTERNAL_ERROR, never 500 with a traceback."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        if exc.status >= 500:
            LOG.error("HTTP %d serving %s %s", exc.status, request.method, request.path)
            error = RpcError(INTERNAL_ERROR, f"internal error: {exc.reason}")
            return web.json_response(error_response(None, error))
        reason = _STATUS_REASONS.get(exc.status, "http-error")
        error = RpcError(INVALID_REQUEST, f"{exc.status} {exc.reason}", reason=reason)
        return web.json_response(error_response(None, error), status=exc.status)
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        LOG.exception("internal error serving %s %s", request.method, request.path)
        error = RpcError(INTERNAL_ERROR, f"internal error: {type(exc).__name__}")
        return web.json_response(error_response(None, error))


def json_application(limits: Limits | None = None) -> web.Application:
    """An aiohttp application with :func:`json_errors` installed (and aiohttp's own body cap at the limit)."""
    return web.Application(middlewares=[json_errors], client_max_size=(limits or Limits()).max_body_bytes)
