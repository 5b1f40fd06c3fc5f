"""The shared JSON-RPC endpoint and clients over real loopback sockets (an aiohttp server in a thread)."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import requests
from aiohttp import web

from chainplug.rpc import (
    INTERNAL_ERROR,
    INVALID_PARAMS,
    LIMIT_EXCEEDED,
    METHOD_NOT_FOUND,
    UNAUTHORIZED,
    AsyncRpcClient,
    Forwarded,
    JsonRpcEndpoint,
    Limits,
    RpcCallError,
    RpcClient,
    RpcError,
    get_json,
    json_application,
    param_count,
)

TOKEN = "a-token-of-sixteen-chars"


@contextmanager
def serving(app: web.Application) -> Iterator[str]:
    """Run ``app`` on a free loopback port in a background thread; yields its URL."""
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(app)
    started = threading.Event()
    address: list[Any] = []

    async def start() -> None:
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        address.append(runner.addresses[0])
        started.set()

    thread = threading.Thread(target=lambda: (loop.run_until_complete(start()), loop.run_forever()), daemon=True)
    thread.start()
    assert started.wait(30)
    try:
        yield f"http://127.0.0.1:{address[0][1]}"
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(30)
        loop.close()


def build(limits: Limits | None = None, *, authorize: bool = False) -> web.Application:
    gate = asyncio.Event()

    def add(params: list[Any]) -> int:
        param_count(params, 2)
        if not all(isinstance(p, int) for p in params):
            raise RpcError(INVALID_PARAMS, "add takes two integers")
        return int(params[0]) + int(params[1])

    async def wait(params: list[Any]) -> str:
        await gate.wait()  # released only by a concurrent "release" call
        return "waited"

    async def release(params: list[Any]) -> str:
        gate.set()
        return "released"

    def broken(params: list[Any]) -> None:
        raise ValueError("secret detail that must not leak")

    def domain(params: list[Any]) -> None:
        raise LookupError("no such thing")

    async def forward(params: list[Any]) -> Forwarded:
        return Forwarded({"jsonrpc": "2.0", "id": "upstream-id", "result": "from upstream"})

    async def fallback(call: dict[str, Any]) -> Any:
        return {"jsonrpc": "2.0", "id": 99, "result": f"fallback {call['method']}"}

    def lookup(exc: Exception) -> RpcError | None:
        return RpcError(INVALID_PARAMS, str(exc), reason="lookup") if isinstance(exc, LookupError) else None

    endpoint = JsonRpcEndpoint(
        {"add": add, "wait": wait, "release": release, "broken": broken, "domain": domain, "forward": forward},
        limits=limits,
        fallback=fallback if not authorize else None,
        authorize=(lambda request: request.headers.get("Authorization") == f"Bearer {TOKEN}") if authorize else None,
        map_error=lookup,
    )
    app = json_application(limits)
    app.router.add_post("/", endpoint.handle)
    return app


def raw(url: str, data: bytes, *, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    response = requests.post(url, data=data, headers=headers or {}, timeout=60)
    return response.status_code, response.json()


def test_calls_batches_and_errors() -> None:
    with serving(build()) as url:
        client = RpcClient(url)
        assert client.call("add", 2, 3) == 5
        with pytest.raises(RpcCallError) as bad:
            client.call("add", 2)
        assert bad.value.code == INVALID_PARAMS and bad.value.rejection_reason == "invalid-params"
        results = client.batch([("add", [1, 1]), ("add", ["x", 1]), ("broken", []), ("domain", [])])
        assert results[0] == 2
        assert isinstance(results[1], RpcCallError) and results[1].code == INVALID_PARAMS
        assert isinstance(results[2], RpcCallError) and results[2].code == INTERNAL_ERROR
        assert "secret" not in results[2].message and results[2].message == "internal error: ValueError"
        assert isinstance(results[3], RpcCallError) and results[3].rejection_reason == "lookup"
        # async handlers of one batch run concurrently: "wait" finishes only because "release" ran meanwhile
        assert client.batch([("wait", []), ("release", [])]) == ["waited", "released"]
        assert client.call("anything") == "fallback anything"  # unknown methods go to the fallback ...
        forwarded = requests.post(url, json={"jsonrpc": "2.0", "id": 7, "method": "forward"}, timeout=30).json()
        assert forwarded == {"jsonrpc": "2.0", "id": 7, "result": "from upstream"}  # with the caller's id
        for document, code in [
            ({"jsonrpc": "1.0", "id": 1, "method": "add"}, -32600),
            ({"jsonrpc": "2.0", "id": [1], "method": "add"}, -32600),
            ({"jsonrpc": "2.0", "id": 1, "method": 5}, -32600),
            ({"jsonrpc": "2.0", "id": 1, "method": "add", "params": {"a": 1}}, INVALID_PARAMS),
            ([], -32600),
            ([1, "x"], None),
        ]:
            status, answer = raw(url, requests.models.complexjson.dumps(document).encode())
            assert status == 200
            errors = [a["error"] for a in answer] if isinstance(answer, list) else [answer["error"]]
            assert all(e["code"] == (code or -32600) and e["data"]["reason"] for e in errors), answer


def test_http_level_errors_are_json_rpc_documents() -> None:
    with serving(build()) as url:
        for response in (requests.get(url, timeout=30), requests.post(url + "/nowhere", data=b"{}", timeout=30)):
            assert response.status_code in (404, 405)
            assert response.json()["error"]["data"]["reason"] in ("not-found", "method-not-allowed")


def test_limits_refuse_before_parsing() -> None:
    limits = Limits(max_body_bytes=4096, max_depth=8, max_batch=3, max_string=64)
    with serving(build(limits)) as url:
        assert raw(url, b"[" * 3000)[1]["error"]["data"]["reason"] == "too-deep"
        assert raw(url, b'{"jsonrpc":"2.0","id":1,"method":"add","params":["' + b"a" * 65 + b'"]}')[1]["error"][
            "data"]["reason"] == "string-too-long"  # fmt: skip
        batch = b"[" + b",".join([b'{"jsonrpc":"2.0","id":1,"method":"add","params":[1,1]}'] * 4) + b"]"
        assert raw(url, batch)[1]["error"]["code"] == LIMIT_EXCEEDED
        status, answer = raw(url, b" " * 5000)
        assert status == 413 and answer["error"]["data"]["reason"] == "body-too-large"

        def chunks() -> Iterator[bytes]:  # no Content-Length: the size is checked while reading
            for _ in range(10):
                yield b" " * 1000

        response = requests.post(url, data=chunks(), timeout=30)
        assert response.status_code == 413 and response.json()["error"]["code"] == LIMIT_EXCEEDED
        assert RpcClient(url).call("add", 1, 2) == 3


def send_raw(url: str, data: bytes, *, close: bool = False) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=60)
    sock.sendall(data)
    if close:
        sock.shutdown(socket.SHUT_WR)
    return sock


def read_all(sock: socket.socket) -> bytes:
    received = b""
    while chunk := sock.recv(65536):
        received += chunk
    sock.close()
    return received


def test_slow_and_truncated_bodies() -> None:
    with serving(build(Limits(body_timeout=1.0))) as url:
        head = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n"
        slow = send_raw(url, head + b'{"jsonrpc": "2.0",')  # and never the rest
        answer = read_all(slow)
        assert answer.startswith(b"HTTP/1.1 408") and b'"reason": "body-timeout"' in answer
        truncated = send_raw(url, head + b'{"jsonrpc": "2.0",', close=True)  # the client gives up mid-body
        read_all(truncated)
        cut = b'{"jsonrpc": "2.0", "id": 1, "method": "add", "params": [1,'
        status, body = raw(url, cut)  # a complete HTTP body holding cut JSON
        assert status == 200 and body["error"]["data"]["reason"] == "parse-error"
        assert RpcClient(url).call("add", 1, 2) == 3


def test_authorization_comes_before_the_body() -> None:
    with serving(build(Limits(body_timeout=300.0), authorize=True)) as url:
        head = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n"
        answer = read_all(send_raw(url, head))  # no body at all: only an early refusal can answer
        assert answer.startswith(b"HTTP/1.1 401") and b'"reason": "unauthorized"' in answer
        with pytest.raises(RpcCallError) as refused:
            RpcClient(url).call("add", 1, 2)
        assert refused.value.code == UNAUTHORIZED
        assert RpcClient(url, token=TOKEN).call("add", 1, 2) == 3
    with serving(build(authorize=True)) as url, pytest.raises(RpcCallError) as missing:
        RpcClient(url, token=TOKEN).call("nothing-here")
    assert missing.value.code == METHOD_NOT_FOUND


def test_clients_bound_what_a_hostile_server_answers() -> None:
    async def deep(_: web.Request) -> web.Response:
        return web.Response(body=b"[" * 100_000, content_type="application/json")

    async def huge(_: web.Request) -> web.Response:
        return web.Response(body=b'{"jsonrpc": "2.0", "id": 1, "result": ' + b"9" * 5000 + b"}")

    async def health(_: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_post("/deep", deep)
    app.router.add_post("/huge", huge)
    app.router.add_get("/deep", deep)
    app.router.add_get("/health", health)
    with serving(app) as url:
        assert get_json(url + "/health") == {"ok": True}
        with pytest.raises(RpcCallError) as deep_get:
            get_json(url + "/deep")
        assert deep_get.value.rejection_reason == "too-deep"
        for path, reason in (("/deep", "too-deep"), ("/huge", "number-too-large")):
            with pytest.raises(RpcCallError) as sync_error:
                RpcClient(url + path).call("x")
            assert sync_error.value.unreachable and sync_error.value.rejection_reason == reason

            async def call_async(target: str = url + path) -> None:
                client = AsyncRpcClient(target)
                try:
                    await client.call("x")
                finally:
                    await client.close()

            with pytest.raises(RpcCallError):
                asyncio.run(call_async())
    with pytest.raises(RpcCallError) as gone:
        RpcClient("http://127.0.0.1:9", timeout=5).call("x")
    assert gone.value.unreachable


def test_async_client_calls_and_batches() -> None:
    with serving(build()) as url:

        async def run() -> list[Any]:
            client = AsyncRpcClient(url)
            try:
                return [await client.call("add", 4, 5), await client.batch([("add", [1, 2]), ("add", [])])]
            finally:
                await client.close()

        single, batch = asyncio.run(run())
        assert single == 9 and batch[0] == 3 and isinstance(batch[1], RpcCallError)
