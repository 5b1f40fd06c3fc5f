"""JSON-RPC 2.0 objects: error codes, the error to raise from a handler, response documents, and the
parameter readers every service shares (each raises :class:`RpcError` with INVALID_PARAMS and a reason).

Codes are JSON-RPC 2.0 §5.1 and EIP-1474. Every error a chainplug server sends carries ``data.reason``, a
short machine-readable word (``too-deep``, ``invalid-params``, ...) a client can switch on.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

# JSON-RPC 2.0 §5.1
PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
# EIP-1474 (the -32000 range)
SERVER_ERROR = -32000
"""EIP-1474 "Invalid input" / geth's "the request was understood but failed" (nonce too low, ...)."""
UNAUTHORIZED = -32001
NOT_READY = -32002
"""EIP-1474 "Resource unavailable": the service cannot answer yet (keys not loaded)."""
TRANSACTION_REJECTED = -32003
"""EIP-1474 "Transaction rejected": a policy refused the transaction or the request."""
LIMIT_EXCEEDED = -32005
"""EIP-1474 "Limit exceeded": the request is larger, deeper or slower than the server allows."""
UPSTREAM_UNAVAILABLE = -32010

_DEFAULT_REASONS = {
    PARSE_ERROR: "parse-error",
    INVALID_REQUEST: "invalid-request",
    METHOD_NOT_FOUND: "method-not-found",
    INVALID_PARAMS: "invalid-params",
    INTERNAL_ERROR: "internal-error",
    SERVER_ERROR: "failed",
    UNAUTHORIZED: "unauthorized",
    NOT_READY: "not-ready",
    TRANSACTION_REJECTED: "rejected",
    LIMIT_EXCEEDED: "limit-exceeded",
    UPSTREAM_UNAVAILABLE: "upstream-unavailable",
}


class RpcError(Exception):
    """An error to answer as a JSON-RPC error object (raise it from a handler).

    ``data`` is sent as given when it is a dict without ``reason`` (one is added) or any other JSON value;
    ``reason`` defaults to a word for the code.
    """

    def __init__(self, code: int, message: str, data: Any = None, *, reason: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.reason = reason or _DEFAULT_REASONS.get(code, "error")
        self.data = data

    def to_json(self) -> dict[str, Any]:
        data = self.data
        if data is None:
            data = {"reason": self.reason}
        elif isinstance(data, dict) and "reason" not in data:
            data = {**data, "reason": self.reason}
        return {"code": self.code, "message": self.message, "data": data}


def error_response(request_id: Any, error: RpcError) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "error": error.to_json()}


def result_response(request_id: Any, result: Any) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "result": result}


def request_id(call: Any) -> Any:
    """The id to answer with: the request's own if it is a valid JSON-RPC id, else null."""
    if isinstance(call, dict):
        value = call.get("id")
        if value is None or (isinstance(value, str | int) and not isinstance(value, bool)):
            return value
    return None


def validate_call(call: Any) -> tuple[Any, str, list[Any]]:
    """(id, method, params) of one request object, or RpcError (INVALID_REQUEST / INVALID_PARAMS)."""
    if not isinstance(call, dict) or call.get("jsonrpc") != "2.0":
        raise RpcError(INVALID_REQUEST, "not a JSON-RPC 2.0 request object")
    if "id" in call and request_id(call) is None and call["id"] is not None:
        raise RpcError(INVALID_REQUEST, "id must be a string, an integer or null")
    method = call.get("method")
    if not isinstance(method, str) or not method:
        raise RpcError(INVALID_REQUEST, "method must be a non-empty string")
    params = call.get("params", [])
    if not isinstance(params, list):
        raise RpcError(INVALID_PARAMS, "params must be an array")
    return call.get("id"), method, params


# --- parameter readers ----------------------------------------------------------------------------


def param_count(params: Sequence[Any], least: int, most: int | None = None) -> None:
    """Raise INVALID_PARAMS unless ``least <= len(params) <= most`` (``most`` defaults to ``least``)."""
    most = least if most is None else most
    if not least <= len(params) <= most:
        wanted = str(least) if least == most else f"{least} to {most}"
        raise RpcError(INVALID_PARAMS, f"expected {wanted} parameter(s), got {len(params)}")


def hex_bytes(value: Any, name: str, *, max_bytes: int, size: int | None = None) -> bytes:
    """A 0x-prefixed hex string parameter, bounded in size (exactly ``size`` bytes if given)."""
    if not isinstance(value, str) or not value.startswith(("0x", "0X")):
        raise RpcError(INVALID_PARAMS, f"{name} must be a 0x-prefixed hex string")
    if len(value) > 2 + 2 * max_bytes:
        raise RpcError(INVALID_PARAMS, f"{name} is larger than {max_bytes} bytes")
    if len(value) % 2:
        raise RpcError(INVALID_PARAMS, f"{name} must have an even number of hex digits")
    try:
        decoded = bytes.fromhex(value[2:])
    except ValueError:
        raise RpcError(INVALID_PARAMS, f"{name} is not valid hex") from None
    if size is not None and len(decoded) != size:
        raise RpcError(INVALID_PARAMS, f"{name} must be {size} bytes")
    return decoded


def hex_quantity(value: Any, name: str, *, max_bits: int = 256) -> int:
    """A 0x-hex quantity (as geth: JSON numbers are refused), at most ``max_bits`` wide."""
    if not isinstance(value, str) or not value.startswith(("0x", "0X")) or len(value) < 3:
        raise RpcError(INVALID_PARAMS, f"{name} must be a 0x-prefixed hex quantity")
    if len(value) > 2 + (max_bits + 3) // 4:
        raise RpcError(INVALID_PARAMS, f"{name} is wider than {max_bits} bits")
    digits = value[2:]
    if not all(c in "0123456789abcdefABCDEF" for c in digits):
        raise RpcError(INVALID_PARAMS, f"{name} is not valid hex")
    number = int(digits, 16)
    if number.bit_length() > max_bits:
        raise RpcError(INVALID_PARAMS, f"{name} is wider than {max_bits} bits")
    return number


def integer(value: Any, name: str, *, least: int = 0, most: int) -> int:
    """A JSON integer (not a bool, not a float) in ``least..most``."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise RpcError(INVALID_PARAMS, f"{name} must be an integer")
    if not least <= value <= most:
        raise RpcError(INVALID_PARAMS, f"{name} must be in {least}..{most}")
    return value
