"""``chainplug devnet run`` and ``devnet up``: bring the devnet up, drive it, always tear it down.

The order of a run: start the processes (:class:`Network`), create and fund the signer's accounts,
wait for every validator to follow, start the observer (live status line), the block clock (the
embedded chain mines nothing else until then: setup always ends at block 2) and the traffic, run the
schedule (:class:`Driver`), let the last transactions settle and every validator attest them, then
stop everything — on success, on failure, on Ctrl-C or SIGTERM alike — and only then compute and
write the report from what was observed.
"""

from __future__ import annotations

import hashlib
import resource
import shutil
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from ..envelope.fees import default_fees
from ..errors import ConfigError
from ..verify import pqc_enforced
from .analysis import analyse
from .attacks import AttackContext
from .clock import BlockClock
from .driver import Driver
from .expectations import evaluate, summary
from .network import Network
from .observer import Observer
from .processes import Interrupted, Supervisor
from .report import build_report, schema_path, validate, write_json
from .rpc import DevnetError, JsonRpc, RpcFailure, quantity
from .scenario import FUND_PER_BLOCK, Scenario
from .traffic import Traffic

SETTLE_TIMEOUT = 60.0
"""Seconds the validators get, after the schedule, to attest the last blocks."""


@dataclass
class RunResult:
    report: dict[str, Any]
    passed: bool
    schema_errors: list[str]
    files: list[Path]
    schema_note: str = ""
    """Whether and against what the report was validated."""


@dataclass
class Devnet:
    """A running devnet: processes, accounts and the observer (``devnet up`` keeps one open)."""

    network: Network
    observer: Observer
    accounts: list[str]
    ready_block: int
    warnings: list[str]
    settled_head: int | None = None
    """The head every validator attested after the schedule; the report covers blocks up to it."""
    clock: BlockClock | None = None
    """The embedded chain's block clock (None on an external chain, which mines by itself)."""
    setup_seconds: float = 0.0


@contextmanager
def running_devnet(
    scenario: Scenario, out: Path, *, rpc_url: str | None = None, status: TextIO | None = sys.stderr
) -> Iterator[Devnet]:
    """Start everything; on leaving (however), stop the observer and every process."""
    prepare_out(out)
    supervisor = Supervisor(out / "logs")
    network = Network(scenario, out, supervisor, rpc_url=rpc_url)
    observer: Observer | None = None
    clock: BlockClock | None = None
    started = time.monotonic()
    try:
        if status is not None:
            status.write(
                f"[{scenario.name}] starting chain, gateway, {len(scenario.fleet.validators)} validators, "
                f"signer (logs in {out / 'logs'})\n"
            )
        network.start()
        network.wait_signer_ready()
        chain = network.require_chain()
        observer = Observer(
            chain.url,
            {v.name: v.url for v in network.validators.values()},
            lambda: network.signer,
            label=scenario.name,
            status=status,
        )
        observer.start()
        accounts = _create_accounts(network, observer, scenario)
        for name, validator in network.validators.items():
            if validator.remote and status is not None:
                status.write(
                    f"[{scenario.name}] waiting for remote validator {name} at {validator.url}; on its "
                    f"host run:\n  {network.remote_command(name)}\n"
                )
            wait = scenario.timeout if validator.remote else 90.0
            network.wait_validator(name, height=observer.head, version=validator.version, timeout=wait)
        warnings = []
        next_block = observer.head + 1
        if chain.activation_block > 0 and pqc_enforced(
            inclusion_block=next_block, activation_block=chain.activation_block
        ):
            warnings.append(
                f"the chain passed the activation block ({chain.activation_block}) during setup (ready at block "
                f"{observer.head}): every scheduled step ran after activation; raise [chain] activation_block"
            )
        for warning in warnings:
            if status is not None:
                status.write(f"[{scenario.name}] warning: {warning}\n")
        setup_seconds = time.monotonic() - started
        if chain.clock_driven:
            clock = BlockClock(JsonRpc(chain.url), scenario.chain.block_time)
            clock.start()
            if status is not None:
                status.write(
                    f"[{scenario.name}] ready at block {observer.head} after {setup_seconds:.0f} s (the chain mined "
                    f"only what setup needed); activation at block {chain.activation_block}\n"
                )
        yield Devnet(network, observer, accounts, observer.head, warnings, clock=clock, setup_seconds=setup_seconds)
    finally:
        if clock is not None:
            clock.stop()
        if observer is not None:
            observer.stop()
        supervisor.close()


MARKER = ".chainplug-devnet"
OWNED = ("logs", "validators", "hosts", "signer-store", "signer.token", "signer-audit.jsonl", "report.json",
         "report.html", "timeline.png")  # fmt: skip


def prepare_out(out: Path) -> None:
    """A fresh output directory: a previous run's state (signer store, attestation logs) belongs to a
    chain that no longer exists. Only a directory this command created (it holds the marker file) is
    cleared, and only of what a run writes; any other non-empty directory is refused."""
    if out.exists() and any(out.iterdir()) and not (out / MARKER).exists():
        raise ConfigError(f"{out} is not empty and was not made by chainplug devnet; choose another --out")
    out.mkdir(parents=True, exist_ok=True)
    (out / MARKER).write_text("chainplug devnet output directory: runs clear it\n")
    for name in OWNED:
        path = out / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()


def _create_accounts(network: Network, observer: Observer, scenario: Scenario) -> list[str]:
    """Create the signer's accounts and fund them from the first dev account: :data:`FUND_PER_BLOCK` per
    block on the embedded chain (nothing else is mined before setup is done), in batched calls."""
    chain = JsonRpc(network.require_chain().url)
    funder = chain.call("eth_accounts")[0]
    created = network.require_signer().call("chainplug_createAccounts", scenario.accounts)
    accounts = [str(a).lower() for a in created]
    nonce = quantity(chain.call("eth_getTransactionCount", funder, "pending"))
    fees = default_fees(quantity(chain.call("eth_getBlockByNumber", "latest", False)["baseFeePerGas"]))
    hashes: list[str] = []
    for start in range(0, len(accounts), FUND_PER_BLOCK):
        chunk = accounts[start : start + FUND_PER_BLOCK]
        transfers = [
            {"from": funder, "to": a, "value": hex(scenario.fund_wei), "gas": hex(21_000), "nonce": hex(nonce + i),
             "maxFeePerGas": hex(fees["maxFeePerGas"]), "maxPriorityFeePerGas": hex(fees["maxPriorityFeePerGas"])}
            for i, a in enumerate(chunk, start)
        ]  # fmt: skip
        for answer in chain.batch([("eth_sendTransaction", [t]) for t in transfers], timeout=120):
            if isinstance(answer, RpcFailure):
                raise DevnetError(f"funding the signer's accounts failed: {answer.message}")
            hashes.append(str(answer))
        if network.require_chain().clock_driven:
            chain.call("evm_mine")
    deadline = time.monotonic() + 60
    while any(observer.mined_in(h) is None for h in hashes):
        if time.monotonic() > deadline:
            raise DevnetError("funding the signer's accounts was not mined within 60 s")
        time.sleep(0.05)
    observer.refresh_accounts()
    return accounts


def run_scenario(
    scenario: Scenario, out: Path, *, rpc_url: str | None = None, status: TextIO | None = sys.stderr
) -> RunResult:
    started = time.time()
    deadline = time.monotonic() + scenario.timeout
    error: str | None = None
    interrupted: BaseException | None = None
    driver: Driver | None = None
    traffic: Traffic | None = None
    devnet: Devnet | None = None
    from .html import picture_note

    if picture_note() and status is not None:
        status.write(f"[{scenario.name}] {picture_note()}\n")  # said once, before the run, not found after it
    try:
        with running_devnet(scenario, out, rpc_url=rpc_url, status=status) as devnet:
            network, observer = devnet.network, devnet.observer
            chain = network.require_chain()
            chain_rpc = JsonRpc(chain.url)
            traffic = Traffic(
                chain_rpc,
                lambda: network.signer,
                observer.mined_in,
                rate=scenario.traffic.rate,
                plain_share=scenario.traffic.plain_share,
                plain_wallets=chain_rpc.call("eth_accounts")[1:4],
                seed=scenario.seed,
            )
            traffic.accounts = devnet.accounts
            attack = AttackContext(
                chain_rpc,
                JsonRpc(str(network.gateway_url)),
                network.require_signer(),
                chain.chain_id,
                chain.activation_block,
                traffic.sink,
                hashlib.sha256(f"chainplug-devnet-attacker/{scenario.seed}".encode()).digest(),
                chain_takes_envelopes=chain.pqc_only_tx,  # both come with the upgraded (embedded) chain
            )
            driver = Driver(scenario, network, observer, traffic, devnet.accounts, attack, deadline, devnet.clock)
            traffic.start()
            try:
                driver.run()
            finally:
                traffic.stop()
            _settle(devnet, traffic)
    except (KeyboardInterrupt, Interrupted) as exc:
        interrupted, error = exc, f"interrupted ({type(exc).__name__} {exc})".strip()
    except DevnetError as exc:
        error = str(exc)
    finally:
        if traffic is not None:
            traffic.stop()
    if interrupted is not None and devnet is None:
        raise interrupted  # nothing was observed: nothing to report
    result = _finish(scenario, out, devnet, driver, traffic, started=started, error=error)
    if interrupted is not None:
        raise interrupted  # the partial report is written; exit as interrupted
    return result


def _settle(devnet: Devnet, traffic: Traffic) -> None:
    """Let the last transactions land (a chain that mines on demand makes no more blocks once traffic
    stops) and every validator we run attest every block."""
    network, observer = devnet.network, devnet.observer
    if devnet.clock is not None:
        devnet.clock.hold_at(None)  # a schedule that failed half-way may have left it held
    observer.set_phase("settling")
    pending = [t.tx_hash for t in traffic.sent if t.tx_hash]
    deadline = time.monotonic() + 10 * network.scenario.chain.block_time + 5
    while any(observer.mined_in(h) is None for h in pending) and time.monotonic() < deadline:
        time.sleep(0.05)
    head = observer.head
    for name, validator in network.validators.items():
        if network.alive(name):
            network.wait_validator(name, height=head, version=validator.version, timeout=SETTLE_TIMEOUT)
    deadline = time.monotonic() + 10
    while any(observer.attested(n) < head for n in network.validators) and time.monotonic() < deadline:
        time.sleep(0.1)
    devnet.settled_head = head
    # The final states come from the signer as the schedule left them, not from the poll loop's last
    # reading, which on a loaded machine can predate the last step.
    observer.refresh_accounts(timeout=SETTLE_TIMEOUT)


def _finish(
    scenario: Scenario,
    out: Path,
    devnet: Devnet | None,
    driver: Driver | None,
    traffic: Traffic | None,
    *,
    started: float,
    error: str | None,
) -> RunResult:
    if devnet is None:  # nothing came up: no data, only the error
        raise DevnetError(error or "the devnet did not start")
    network, observer = devnet.network, devnet.observer
    ended = time.time()
    chain = network.require_chain()
    sent = traffic.sent if traffic is not None else []
    facts = analyse(
        observer.data.blocks,
        observer.data.verdicts,
        sent,
        driver.attacks if driver else [],
        activation_block=chain.activation_block,
        window_start=devnet.ready_block + 1,
        window_end=devnet.settled_head,
        end_time=ended,
    )
    report = build_report(
        scenario,
        network,
        driver,
        observer.data,
        facts,
        started=started,
        ended=ended,
        window_start=devnet.ready_block + 1,
        window_end=devnet.settled_head,
        error=error,
        warnings=devnet.warnings + (driver.warnings if driver else []),
        sent=sent,
        clock=devnet.clock,
        setup_seconds=devnet.setup_seconds,
        orchestrator_cpu=sum(resource.getrusage(resource.RUSAGE_SELF)[:2]),
        traffic_skipped=traffic.skipped if traffic is not None else 0,
    )
    checks = evaluate(scenario.expect, scenario.accounts, report)
    report["expectations"] = checks
    report["run"]["passed"] = all(c["passed"] for c in checks)
    report["summary"] = summary(report)
    schema = schema_path(scenario.source)
    schema_errors: list[str] = []
    if schema is None:
        schema_note = "not checked: report.schema.json is neither next to the scenario nor in the package"
    else:
        schema_errors = validate(report, schema)
        schema_note = f"checked against {schema}"
    files = [out / "report.json"]
    write_json(files[0], report)
    from .html import write_html

    files += write_html(report, out)
    return RunResult(report, report["run"]["passed"] and not schema_errors, schema_errors, files, schema_note)
