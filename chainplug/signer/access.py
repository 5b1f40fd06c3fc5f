"""Who may call the signer: a bearer token, or the loopback-only unauthenticated mode.

Every request needs ``Authorization: Bearer <token>`` (compared in constant time, before the body is
read), unless the operator runs the loopback-only unauthenticated mode (``--no-auth``), which refuses
any request that is not from loopback, names a non-loopback Host (DNS rebinding), carries an Origin it
was not told to allow (a web page) or is not ``application/json`` (a form post). These rules are
their own module because they are the signer's whole front door, read and reviewed apart from the
methods behind it (chainplug.signer.service).
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Callable, Collection
from pathlib import Path
from typing import TYPE_CHECKING

from aiohttp import web

from ..errors import ConfigError
from ..rpc import UNAUTHORIZED, RpcError, error_response

if TYPE_CHECKING:
    from aiohttp.typedefs import Handler, Middleware

_LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1", "[::1]"})


def read_token(token_file: str | None, environ: dict[str, str]) -> str:
    """The bearer token from a file or $CHAINPLUG_SIGNER_TOKEN — never from a command-line value."""
    if token_file:
        return Path(token_file).read_text().strip()
    token = environ.get("CHAINPLUG_SIGNER_TOKEN", "").strip()
    if not token:
        raise ConfigError(
            "give the bearer token with --token-file or $CHAINPLUG_SIGNER_TOKEN (or --no-auth: loopback only)"
        )
    return token


def bearer_authorized(request: web.Request, token: bytes) -> bool:
    """The request presents ``Authorization: Bearer <token>`` (compared in constant time)."""
    header = request.headers.get("Authorization", "")
    scheme, _, presented = header.partition(" ")
    return scheme == "Bearer" and hmac.compare_digest(presented.strip().encode(), token)


def is_loopback_host(host: str) -> bool:
    """A listen or Host name that only this machine can reach."""
    name = host.strip().lower()
    if name in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(name.strip("[]")).is_loopback
    except ValueError:
        return False


def _host_name(header: str) -> str:
    """The host part of a Host header (``[::1]:8550`` -> ``::1``, ``localhost:8550`` -> ``localhost``)."""
    if header.startswith("["):
        return header[1 : header.find("]")] if "]" in header else header
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


def _loopback_refusal(request: web.Request, allowed_origins: Collection[str]) -> tuple[str, str] | None:
    """(reason, message) why an unauthenticated request is refused, or None if it may go on."""
    peer = request.remote or ""
    host = _host_name(request.headers.get("Host", ""))
    origin = request.headers.get("Origin")
    content_type = request.headers.get("Content-Type", "").split(";")[0].strip().lower()
    if not is_loopback_host(peer):
        return ("not-loopback", f"unauthenticated mode answers loopback clients only, not {peer}")
    if not is_loopback_host(host):
        return ("host-refused", "unauthenticated mode answers requests for a loopback Host only")
    if origin is not None and origin.rstrip("/") not in allowed_origins:
        return ("origin-refused", f"requests from web origin {origin[:100]} are refused (see --allow-origin)")
    if content_type != "application/json":
        return ("content-type", "unauthenticated mode takes Content-Type: application/json only")
    return None


def loopback_only(allowed_origins: Collection[str], on_error: Callable[[RpcError], None]) -> Middleware:
    """The middleware of the unauthenticated mode: without a token, a request must come from this
    machine, as a program and not as a web page: loopback peer, loopback Host (no DNS rebinding), no
    Origin unless allowed (a page's fetch sends one), JSON content type (a cross-site form or "simple"
    request cannot set it without CORS). A refusal is a JSON-RPC error with HTTP 403."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.method != "POST":
            return await handler(request)
        refusal = _loopback_refusal(request, allowed_origins)
        if refusal is None:
            return await handler(request)
        error = RpcError(UNAUTHORIZED, refusal[1], reason=refusal[0])
        on_error(error)
        return web.json_response(error_response(None, error), status=403)

    return middleware
