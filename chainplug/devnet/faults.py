"""Injected faults and the evidence that each one recovered.

* Validator crash: SIGKILL the validator's whole process group, leave it down for some blocks,
  start it again on the same state directory. Recovered when it has attested every block since,
  and its durable log holds every height exactly once (no gap, no duplicate).
* Signer crash mid-migration: restart the signer with ``CHAINPLUG_CRASH_AT=<label>`` so it
  SIGKILLs itself at that durable step of the advance the driver then asks for; start it again
  without it. Recovered when the signer turns ready (WAL recovery ran, keys re-checked), the
  account reaches the requested state locally *and* on chain (resuming the step if recovery left
  it earlier, as an operator would), every other account is where it was, and the account can
  still sign: a transaction from it is mined.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Protocol

from ..registry import KeyRegistryContract
from ..types import AccountState
from .network import Network
from .observer import Observer
from .records import FaultRecord, StepRecord
from .rpc import DevnetError, RpcFailure, get_json
from .scenario import Event
from .traffic import Traffic


class Driver(Protocol):
    """What a fault needs of the schedule's driver (:class:`chainplug.devnet.driver.Driver`, which calls
    in here): the processes, what is observed, the traffic and the step ledger, and five of its moves."""

    network: Network
    observer: Observer
    traffic: Traffic
    accounts: list[str]
    steps: list[StepRecord]

    def wait_block(self, height: int) -> None: ...

    def advance(self, account: str, to: str) -> StepRecord: ...

    def selected(self, event: Event) -> list[str]: ...

    def time_left(self, cap: float) -> float: ...

    def holding(self, accounts: Sequence[str]) -> AbstractContextManager[None]: ...


def crash_validator(driver: Driver, name: str, event: Event) -> FaultRecord:
    network, observer = driver.network, driver.observer
    validator = network.validators[name]
    fault = FaultRecord("validator-crash", name, event.phase, time.time(), observer.head)
    before = observer.attested(name)
    network.supervisor.kill(name)
    driver.wait_block(observer.head + event.down_blocks)
    restarted_at = time.time()
    network.start_validator(name, validator.version)
    head = observer.head
    network.wait_validator(name, height=head, version=validator.version, timeout=driver.time_left(90))
    heights = [int(a["height"]) for a in get_json(f"{validator.url}/attestations?from=0&limit=100000", timeout=10)]
    expected = list(range(heights[0], heights[-1] + 1)) if heights else []
    if heights != expected:
        fault.lost.append(f"{name}'s attestation log is not consecutive after the restart")
    fault.recovered = not fault.lost and bool(heights) and heights[-1] >= head
    fault.recovered_at = time.time()
    fault.recovery = (
        f"{name} SIGKILLed at block {fault.block} (last attested {before}), down {event.down_blocks} blocks, "
        f"restarted from its durable attestation log; attested blocks {before + 1}..{heights[-1] if heights else '?'} "
        f"in {fault.recovered_at - restarted_at:.1f} s, every height exactly once"
        if fault.recovered
        else f"{name} did not recover: {'; '.join(fault.lost) or 'not caught up'}"
    )
    return fault


def crash_signer(driver: Driver, event: Event) -> FaultRecord:
    observer, traffic = driver.observer, driver.traffic
    observer.refresh_accounts()
    states = observer.account_states()
    chosen = driver.selected(event) if event.accounts else driver.accounts
    if event.crash_at is None:  # a plain SIGKILL between requests: nothing may move
        candidates = chosen[:1]
    else:
        candidates = [a for a in chosen if AccountState[states.get(a, "CLASSICAL")] < AccountState[event.to]]
    target = candidates[0] if candidates else "-"
    fault = FaultRecord("signer-crash", target, event.phase, time.time(), observer.head, crash_point=event.crash_at)
    if not candidates:
        fault.recovery = f"no account below {event.to} to crash the signer on"
        return fault
    traffic.paused = True
    try:
        with driver.holding(driver.accounts):
            try:
                _crash_and_recover(driver, event, fault, target, states)
            except DevnetError as exc:
                fault.lost.append(f"recovery failed: {exc}")
                fault.recovery = f"signer did not recover: {exc}"
    finally:
        traffic.paused = False
    return fault


def _inject(driver: Driver, event: Event, fault: FaultRecord, account: str) -> str:
    """Crash the signer as the event says; returns "" if it died as planned, else what went wrong."""
    network, supervisor = driver.network, driver.network.supervisor
    if event.crash_at is None:
        fault.injected_at, fault.block = time.time(), driver.observer.head
        code = supervisor.kill("signer")
        return "" if code == -9 else f"exit {code}"
    supervisor.stop("signer")
    problem = ""
    step = StepRecord(account, event.to, time.time(), driver.observer.head, outcome="crashed")
    try:
        network.start_signer(crash_at=event.crash_at)
        network.wait_signer_ready()
        fault.injected_at, fault.block = time.time(), driver.observer.head
        step.requested_at, step.block_requested = fault.injected_at, fault.block
        driver.steps.append(step)
        try:
            network.require_signer().call("chainplug_advance", account, event.to)
            problem = "the advance completed: the crash point was never reached"
        except RpcFailure as exc:
            if not exc.unreachable:
                problem = f"the advance was refused instead: {exc.message}"
    except DevnetError:
        pass  # it died during start-up, at the crash point: still a crash to recover from
    code = supervisor.kill("signer")
    step.done_at, step.block_done = time.time(), driver.observer.head
    step.detail = problem or f"signer SIGKILLed itself at {event.crash_at}"
    return problem or ("" if code == -9 else f"exit {code}")


def _crash_and_recover(driver: Driver, event: Event, fault: FaultRecord, account: str, before: dict[str, str]) -> None:
    network, observer = driver.network, driver.observer
    problem = _inject(driver, event, fault, account)
    restarted = time.time()
    network.start_signer()
    health = network.wait_signer_ready()
    if problem:
        fault.lost.append(f"the crash did not happen as injected: {problem}")
        fault.recovery = f"crash at {event.crash_at} did not happen as injected: {problem}"
        return
    observer.refresh_accounts()
    wanted = event.to if event.crash_at is not None else before.get(account, "?")
    recovered_state = observer.account_states().get(account, "?")
    resumed = ""
    if recovered_state != wanted:  # recovery went back to a safe earlier state: resume, as an operator would
        step = driver.advance(account, wanted)
        observer.refresh_accounts()
        resumed = f", then the step was resumed ({recovered_state} → {wanted}: {step.outcome} {step.detail})"
    after = observer.account_states()
    assert network.w3 is not None
    on_chain = KeyRegistryContract(network.w3, network.require_chain().registry).entry(account).state.name
    if after.get(account) != wanted:
        fault.lost.append(f"{account} is {after.get(account)} locally, expected {wanted}")
    if on_chain != wanted:
        fault.lost.append(f"{account} is {on_chain} on chain, expected {wanted}")
    for other, state in before.items():
        if other != account and after.get(other) != state:
            fault.lost.append(f"{other} moved from {state} to {after.get(other)} without being asked")
    proof = driver.traffic.send(account, plain=False, source="recovery-check")
    mined = proof.tx_hash is not None and _wait_mined(driver, proof.tx_hash)
    if not mined:
        fault.lost.append(f"{account} cannot sign after recovery: {proof.error or 'not mined'}")
    fault.recovered = not fault.lost
    fault.recovered_at = time.time()
    where = f"at {event.crash_at} during {account} → {event.to}" if event.crash_at else "between requests"
    fault.recovery = (
        f"signer SIGKILLed {where}; restarted, WAL recovery left {account} {recovered_state}{resumed}; ready in "
        f"{fault.recovered_at - restarted:.1f} s with {health.get('accounts')} accounts; chain says {on_chain}; "
        f"a {proof.kind} transaction from it was {'mined' if mined else 'NOT mined'}"
    )


def _wait_mined(driver: Driver, tx_hash: str, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if driver.observer.mined_in(tx_hash) is not None:
            return True
        time.sleep(0.1)
    return False
