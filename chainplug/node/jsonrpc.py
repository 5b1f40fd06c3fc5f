"""JSON-RPC 2.0 plumbing shared by chainplug's HTTP services (gateway, signer, validator, chain)."""

from __future__ import annotations

from typing import Any

# JSON-RPC 2.0 §5.1 and EIP-1474 codes.
PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
TRANSACTION_REJECTED = -32003
"""EIP-1474 "Transaction rejected": admission policy refused the transaction."""
UNAUTHORIZED = -32001
UPSTREAM_UNAVAILABLE = -32010


class RpcError(Exception):
    """An error to return as a JSON-RPC error object."""

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data

    def to_json(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.data is not None:
            error["data"] = self.data
        return error


def error_response(request_id: Any, error: RpcError) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "error": error.to_json()}


def result_response(request_id: Any, result: Any) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "result": result}


def validate_call(call: Any) -> tuple[Any, str, list[Any]]:
    """(id, method, params) of a request object, or RpcError(INVALID_REQUEST)."""
    if not isinstance(call, dict) or call.get("jsonrpc") != "2.0" or not isinstance(call.get("method"), str):
        raise RpcError(INVALID_REQUEST, "invalid JSON-RPC 2.0 request")
    params = call.get("params", [])
    if not isinstance(params, list):
        raise RpcError(INVALID_PARAMS, "params must be an array")
    return call.get("id"), call["method"], params


def hex_bytes(value: Any, name: str, *, max_bytes: int) -> bytes:
    """Decode a 0x-hex string parameter, bounded in size, or RpcError(INVALID_PARAMS)."""
    if not isinstance(value, str) or not value.startswith("0x"):
        raise RpcError(INVALID_PARAMS, f"{name} must be a 0x-prefixed hex string")
    if len(value) > 2 + 2 * max_bytes:
        raise RpcError(INVALID_PARAMS, f"{name} is larger than {max_bytes} bytes")
    try:
        return bytes.fromhex(value[2:])
    except ValueError as exc:
        raise RpcError(INVALID_PARAMS, f"{name} is not valid hex") from exc
