"""Bounded random fuzz (hypothesis) of every method of the four running services: random parameter lists
and valid parameters with one position or object field replaced by random JSON. Every answer must be a
JSON-RPC document that is not INTERNAL_ERROR, and the service must be alive after every example.

The default run is small (a few seconds per service); ``pytest -m slow`` runs the long version."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.hostile.catalog import Method, chain_methods, gateway_methods, short, signer_methods, validator_methods
from tests.hostile.conftest import Service, dev_account
from tests.hostile.test_hostile_input import check_answer

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**300), 2**300)
    | st.floats(allow_nan=False)
    | st.text(max_size=20)
    | st.sampled_from(["0x", "0x0", "0x00", "latest", "pending", "0x" + "11" * 20, "0x" + "ab" * 32, "HYBRID"]),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=12,
)


def mutated(method: Method) -> st.SearchStrategy[list[Any]]:
    valid = [p.valid for p in method.params]
    if not valid:
        return st.lists(json_values, max_size=3)

    def replace(index: int, value: Any, field: str | None) -> list[Any]:
        params = list(valid)
        spec = method.params[index % len(valid)]
        if field is not None and isinstance(spec.valid, dict):
            params[index % len(valid)] = {**spec.valid, field: value}
        else:
            params[index % len(valid)] = value
        return params

    fields = sorted({f for p in method.params for f in (p.fields or {})}) or [""]
    return st.builds(replace, st.integers(0, len(valid) - 1), json_values, st.sampled_from([None, *fields]))


def methods_of(name: str, services: dict[str, Service], signer_account: str) -> list[Method]:
    if name == "chain":
        return chain_methods(dev_account(services))
    if name == "gateway":
        return gateway_methods()
    if name == "validator":
        return validator_methods()
    return signer_methods(signer_account)


def fuzz(service: Service, methods: list[Method], examples: int) -> None:
    for method in methods:
        fuzz_method(service, method, examples)


def fuzz_method(service: Service, method: Method, examples: int) -> None:
    @settings(max_examples=examples, deadline=None, database=None,
                  suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])  # fmt: skip
    @given(params=st.one_of(st.lists(json_values, max_size=4), mutated(method)))
    def one(params: list[Any]) -> None:
        what = f"{method.name} {short(params)}"
        status, answer = service.post({"jsonrpc": "2.0", "id": 1, "method": method.name, "params": params})
        assert status in (200, 413), f"{what}: HTTP {status}"
        problem = check_answer(answer, refused=False, what=what)
        assert problem is None, problem
        service.assert_alive(what)

    one()


SERVERS = ["chain", "gateway", "validator", "signer", "signer-fronts"]


@pytest.mark.parametrize("name", SERVERS)
def test_fuzz_every_method(name: str, services: dict[str, Service], signer_accounts: dict[str, str]) -> None:
    fuzz(services[name], methods_of(name, services, signer_accounts.get(name, "")), examples=12)


@pytest.mark.slow
@pytest.mark.parametrize("name", SERVERS)
def test_fuzz_every_method_long(name: str, services: dict[str, Service], signer_accounts: dict[str, str]) -> None:
    fuzz(services[name], methods_of(name, services, signer_accounts.get(name, "")), examples=400)
