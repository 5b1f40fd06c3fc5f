"""Hostile input against the four services as a user starts them (#13): wrong values for every parameter
of every method, nesting bombs, huge numbers, unknown methods, batches, truncated and slow bodies.

Every case must get a JSON-RPC error document with a code and a reason (never an HTTP 500, never
INTERNAL_ERROR: that would be a bug the input found), and the service must be alive after every case."""

from __future__ import annotations

import json
import socket
import threading
from typing import Any

import pytest
import requests

from chainplug.rpc import INTERNAL_ERROR, LIMIT_EXCEEDED, UNAUTHORIZED
from tests.hostile.catalog import (
    Case,
    chain_methods,
    gateway_methods,
    short,
    signer_methods,
    validator_methods,
    wrong_values,
)
from tests.hostile.conftest import Service, dev_account

SERVERS = ["chain", "gateway", "validator", "signer", "signer-fronts"]


def catalog(name: str, services: dict[str, Service], signer_account: str) -> list[Case]:
    if name == "chain":
        return list(wrong_values(chain_methods(dev_account(services))))
    if name == "gateway":
        return list(wrong_values(gateway_methods()))
    if name == "validator":
        return list(wrong_values(validator_methods()))
    return list(wrong_values(signer_methods(signer_account)))


def check_answer(answer: Any, *, refused: bool, what: str) -> str | None:
    """Why ``answer`` is not acceptable, or None."""
    if not isinstance(answer, dict) or answer.get("jsonrpc") != "2.0" or ("result" in answer) == ("error" in answer):
        return f"{what}: not a JSON-RPC answer: {short(answer)}"
    if "error" in answer:
        error = answer["error"]
        if not isinstance(error, dict) or not isinstance(error.get("code"), int) or not error.get("message"):
            return f"{what}: malformed error object {short(error)}"
        if error["code"] == INTERNAL_ERROR:
            return f"{what}: INTERNAL_ERROR (a bug the input reached): {error['message']}"
        data = error.get("data")
        if error["code"] != 3 and not (isinstance(data, dict) and isinstance(data.get("reason"), str)):
            return f"{what}: error without a reason: {short(error)}"
    elif refused:
        return f"{what}: accepted a value it must refuse: {short(answer)}"
    return None


@pytest.mark.parametrize("name", SERVERS)
def test_wrong_values_for_every_parameter_of_every_method(
    name: str, services: dict[str, Service], signer_accounts: dict[str, str]
) -> None:
    service = services[name]
    problems: list[str] = []
    cases = catalog(name, services, signer_accounts.get(name, ""))
    assert len(cases) > 50
    for case in cases:
        what = f"{case.method} {case.where} = {short(case.params)}"
        status, answer = service.post({"jsonrpc": "2.0", "id": 1, "method": case.method, "params": case.params})
        if status != 200:
            problems.append(f"{what}: HTTP {status}")
        problem = check_answer(answer, refused=case.must_refuse, what=what)
        if problem:
            problems.append(problem)
        service.assert_alive(what)
    assert not problems, f"{len(problems)} of {len(cases)} cases:\n" + "\n".join(problems[:40])


def request(method: str, params: Any) -> bytes:
    return json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).encode()


BIG = "too-deep|body-too-large"  # a bomb bigger than a service's body limit is refused for its size first
BOMBS: list[tuple[str, bytes, str | None]] = [
    ("100,000 nested arrays", b"[" * 100_000 + b"]" * 100_000, BIG),
    ("50,000 nested objects", b'{"a":' * 50_000 + b"1" + b"}" * 50_000, BIG),
    ("an unterminated deep array", b"[" * 200_000, BIG),
    ("40,000 nested arrays", b"[" * 40_000, "too-deep"),
    ("deep params", request("eth_chainId", [json.loads("[" * 40 + "]" * 40)]), "too-deep"),
    ("deep inside a batch", b"[" + request("eth_chainId", [json.loads("[" * 40 + "]" * 40)]) + b"]", "too-deep"),
    ("brackets inside a string", request("eth_nope", ["[" * 200]), None),
    ("a 5,000-digit integer", b'{"jsonrpc":"2.0","id":1,"method":"eth_getBalance","params":[' + b"9" * 5000 + b"]}",
     "number-too-large"),
    ("a 300-bit integer", request("eth_getBalance", [2**300]), "number-too-large"),
    ("1e400", b'{"jsonrpc":"2.0","id":1,"method":"eth_getBalance","params":[1e400]}', "number-too-large"),
    ("a long float", b'{"jsonrpc":"2.0","id":1,"method":"x","params":[0.' + b"1" * 5000 + b"]}", "number-too-large"),
    ("NaN", b'{"jsonrpc":"2.0","id":1,"method":"eth_getBalance","params":[NaN]}', "parse-error"),
    ("a 5,000-digit hex quantity", request("eth_getBlockByNumber", ["0x" + "f" * 5000, False]), None),
    ("a 300-bit id", b'{"jsonrpc":"2.0","id":' + str(2**300).encode() + b',"method":"eth_chainId"}',
     "number-too-large"),
    ("a huge id string", request("eth_chainId", []).replace(b'"id": 1', b'"id": "' + b"i" * 600_000 + b'"'),
     None),
]  # fmt: skip


@pytest.mark.parametrize("name", SERVERS)
def test_nesting_bombs_and_huge_numbers(name: str, services: dict[str, Service]) -> None:
    service = services[name]
    for what, body, reason in BOMBS:
        status, answer = service.post(body)
        assert status in (200, 413), f"{name}, {what}: HTTP {status}"
        error = answer["error"] if isinstance(answer, dict) else None
        assert error is not None and error["code"] != INTERNAL_ERROR and error["data"]["reason"], (what, answer)
        if reason is not None:
            assert error["data"]["reason"] in reason.split("|"), (what, error)
        service.assert_alive(what)


UNKNOWN = ["", "eth_nope", "chainplug_nope", "rpc.discover", "__init__", "_methods", "constructor", "é\u0000",
           "x" * 70_000, "chainplug_" + "a" * 2000]  # fmt: skip


@pytest.mark.parametrize("name", SERVERS)
def test_unknown_methods_and_malformed_requests(name: str, services: dict[str, Service]) -> None:
    service = services[name]
    documents: list[Any] = [
        *({"jsonrpc": "2.0", "id": 1, "method": method, "params": []} for method in UNKNOWN),
        None, True, 1, "x", {}, {"jsonrpc": "2.0"}, {"jsonrpc": "1.0", "id": 1, "method": service.probe},
        {"jsonrpc": "2.0", "id": {"a": 1}, "method": service.probe}, {"jsonrpc": "2.0", "id": 1, "method": ["x"]},
        {"jsonrpc": "2.0", "id": 1, "method": service.probe, "params": {"named": 1}},
        {"jsonrpc": "2.0", "id": 1, "method": service.probe, "params": "0x00"},
    ]  # fmt: skip
    for document in documents:
        status, answer = service.post(document)
        assert status in (200, 413), (status, answer)
        problem = check_answer(answer, refused=True, what=short(document))
        assert problem is None, problem
        service.assert_alive(short(document))


@pytest.mark.parametrize("name", SERVERS)
def test_batches(name: str, services: dict[str, Service]) -> None:
    service = services[name]
    probe = {"jsonrpc": "2.0", "id": 1, "method": service.probe, "params": []}
    status, answer = service.post([])
    assert status == 200 and answer["error"]["code"] == -32600
    status, answer = service.post([probe] * 101)
    assert status == 200 and answer["error"]["code"] == LIMIT_EXCEEDED, answer
    assert answer["error"]["data"]["reason"] == "batch-too-large"
    status, answers = service.post([probe, 1, "x", [probe], {"jsonrpc": "2.0", "id": 2, "method": "eth_nope"}])
    assert status == 200 and isinstance(answers, list) and len(answers) == 5
    assert "result" in answers[0]
    for answer in answers[1:]:
        assert check_answer(answer, refused=True, what="batch item") is None, answer
    service.assert_alive("batches")


def raw_exchange(service: Service, data: bytes, *, half_close: bool = False, timeout: float = 60) -> bytes:
    host, port = service.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=timeout) as sock:
        sock.sendall(data)
        if half_close:
            sock.shutdown(socket.SHUT_WR)
        received = b""
        try:
            while chunk := sock.recv(65536):
                received += chunk
        except (ConnectionResetError, TimeoutError):
            pass
        return received


def http_head(service: Service, length: int | None, *, chunked: bool = False) -> bytes:
    lines = ["POST / HTTP/1.1", "Host: localhost", "Content-Type: application/json", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in service.headers.items()]
    lines.append("Transfer-Encoding: chunked" if chunked else f"Content-Length: {length}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


@pytest.mark.parametrize("name", SERVERS)
def test_truncated_bodies(name: str, services: dict[str, Service]) -> None:
    service = services[name]
    whole = request(service.probe, [])
    for cut in (1, 10, len(whole) // 2, len(whole) - 1):
        status, answer = service.post(whole[:cut])  # a complete HTTP body holding cut JSON
        assert status == 200 and answer["error"]["data"]["reason"] == "parse-error", answer
    for body in (b"", b"\xff\xfe\x00", b"\xc3\x28", b"null", b"[1"):
        status, answer = service.post(body)
        assert status == 200 and check_answer(answer, refused=True, what=repr(body)) is None, (body, answer)
    # The client announces more than it sends and gives up; or ends a chunked body early.
    raw_exchange(service, http_head(service, 500) + whole[:20], half_close=True)
    raw_exchange(service, http_head(service, None, chunked=True) + b"10\r\n" + whole[:8], half_close=True)
    raw_exchange(service, http_head(service, None, chunked=True) + b"zz\r\n", half_close=True)
    service.assert_alive("truncated bodies")


def test_slow_loris_bodies_are_cut_off_and_do_not_block_others(services: dict[str, Service]) -> None:
    """Each service gets a body that never completes (its headers promise more); each answers 408 with
    a JSON-RPC error once its body deadline passes, and answers other clients meanwhile."""
    answers: dict[str, bytes] = {}

    def slow(service: Service) -> None:
        answers[service.name] = raw_exchange(service, http_head(service, 1000) + b'{"jsonrpc": "2.0", ', timeout=120)

    threads = [threading.Thread(target=slow, args=(service,)) for service in services.values()]
    for thread in threads:
        thread.start()
    for service in services.values():
        service.assert_alive("a slow client connected")
    for thread in threads:
        thread.join(150)
    for name, answer in answers.items():
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 408"), (name, answer[:200])
        error = json.loads(body)["error"]
        assert error["code"] == LIMIT_EXCEEDED and error["data"]["reason"] == "body-timeout", (name, error)
    assert sorted(answers) == sorted(services)
    for service in services.values():
        service.assert_alive("slow-loris bodies")


def test_the_signer_checks_its_token_before_it_reads_a_byte_of_the_body(services: dict[str, Service]) -> None:
    signer = services["signer"]
    for headers in ({"Authorization": ""}, {"Authorization": "Bearer wrong-token-0123456789"}):
        status, answer = signer.post(b"[" * 100_000, headers=headers)
        assert status == 401 and answer["error"]["code"] == UNAUTHORIZED
    no_token = Service("signer", signer.url, signer.process)  # promises a body it never sends
    answer = raw_exchange(no_token, http_head(no_token, 10_000), timeout=60)
    assert answer.startswith(b"HTTP/1.1 401"), answer[:200]
    signer.assert_alive("unauthorized requests")


@pytest.mark.slow
def test_slow_loris_headers_are_cut_off(services: dict[str, Service]) -> None:
    """A client that never finishes its headers is disconnected after the idle timeout (30 s)."""
    for service in services.values():
        answer = raw_exchange(service, b"POST / HTTP/1.1\r\nHost: localhost\r\nX-Slow: ", timeout=120)
        assert answer == b"" or answer.startswith(b"HTTP/1.1 4"), answer[:200]
        service.assert_alive("slow headers")


def test_every_health_answer_names_the_pqc_backend(services: dict[str, Service]) -> None:
    from chainplug.crypto import get_backend

    for service in services.values():
        health = requests.get(service.url + "/health", timeout=30).json()
        assert health["pqc_backend"] == get_backend().name, (service.name, health)
