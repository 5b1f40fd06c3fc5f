"""chainplug.rpc — the JSON-RPC plumbing every service and client shares (a base package: every layer may
import it; it imports only the standard library, aiohttp, requests and chainplug.errors / constants).

* :class:`JsonRpcEndpoint`: the aiohttp handler for ``POST /`` with the limits that hold before any
  parse (:class:`Limits`: body size and read deadline, nesting depth, batch length, number, string and
  integer widths), validation of each request, dispatch to sync or async handlers, and JSON-RPC / EIP-1474
  error answers (never an HTTP 500, never a crash).
* :class:`RpcClient` / :class:`AsyncRpcClient`: calls and batches with connection reuse; answers are
  bounded the same way; failures are :class:`RpcCallError`.
* The error codes, :class:`RpcError` and the parameter readers in :mod:`chainplug.rpc.protocol`.
"""

from .client import AsyncRpcClient, RpcCallError, RpcClient, get_json
from .limits import RESPONSE_LIMITS, Limits, loads_limited, nesting_depth_exceeds
from .protocol import (
    INTERNAL_ERROR,
    INVALID_PARAMS,
    INVALID_REQUEST,
    LIMIT_EXCEEDED,
    METHOD_NOT_FOUND,
    NOT_READY,
    PARSE_ERROR,
    SERVER_ERROR,
    TRANSACTION_REJECTED,
    UNAUTHORIZED,
    UPSTREAM_UNAVAILABLE,
    RpcError,
    error_response,
    hex_bytes,
    hex_quantity,
    integer,
    param_count,
    result_response,
    validate_call,
)
from .server import IDLE_TIMEOUT, Forwarded, JsonRpcEndpoint, json_application, json_errors

__all__ = [
    "IDLE_TIMEOUT",
    "INTERNAL_ERROR",
    "INVALID_PARAMS",
    "INVALID_REQUEST",
    "LIMIT_EXCEEDED",
    "METHOD_NOT_FOUND",
    "NOT_READY",
    "PARSE_ERROR",
    "RESPONSE_LIMITS",
    "SERVER_ERROR",
    "TRANSACTION_REJECTED",
    "UNAUTHORIZED",
    "UPSTREAM_UNAVAILABLE",
    "AsyncRpcClient",
    "Forwarded",
    "JsonRpcEndpoint",
    "Limits",
    "RpcCallError",
    "RpcClient",
    "RpcError",
    "error_response",
    "get_json",
    "hex_bytes",
    "hex_quantity",
    "integer",
    "json_application",
    "json_errors",
    "loads_limited",
    "nesting_depth_exceeds",
    "param_count",
    "result_response",
    "validate_call",
]
