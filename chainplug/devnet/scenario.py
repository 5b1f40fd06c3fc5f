"""Scenario files: what a devnet run starts, drives and expects.

The format is documented, table by table, in ``devnet/README.md``. Parsing is strict: an unknown
key, a wrong type or an impossible combination is a :class:`~chainplug.errors.ConfigError` that
names the file, the table and the key, so a typo never silently changes what a run tests.

The built-in scenarios ship inside the package (``chainplug/devnet/scenarios/*.toml``), so an
installed chainplug runs them by name from any directory: :func:`builtin_scenarios`,
:func:`find_scenario`.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Final

from ..errors import ConfigError
from ..migration import CRASH_POINTS, parse_threshold
from ..types import AccountState
from ._table import Table
from .expectations import Expectations, parse_expectations

ACTIONS: Final = (
    "register",
    "finalize",
    "complete",
    "migrate",
    "rollback",
    "upgrade",
    "crash_validator",
    "crash_signer",
    "attack",
    "wait",
)
"""Event actions; devnet/README.md describes each."""
ATTACKS: Final = ("strip", "pqc-swap", "replay", "forged-pqc-only")
"""Attack kinds an ``attack`` event can send."""
TARGET_STATE: Final = {"register": "HYBRID", "finalize": "FINALIZING", "complete": "PQC_ONLY", "migrate": "PQC_ONLY"}
"""The account state each migration action advances to."""
SETUP_BLOCKS: Final = 2
"""The embedded chain's head when setup is done with at most :data:`FUND_PER_BLOCK` accounts: the
KeyRegistry in block 1, the signer's accounts funded in block 2 (the devnet holds the chain until then,
however long the processes take to start)."""
FUND_PER_BLOCK: Final = 25
"""Funding transfers per setup block: more accounts are funded over more blocks (:func:`setup_blocks`)."""
MAX_BATCH: Final = 1000
"""Most accounts one batch of a migration action moves (the signer's chainplug_advanceBatch limit)."""


def setup_blocks(accounts: int) -> int:
    """The embedded chain's head when setup is done: the KeyRegistry in block 1, then the signer's
    ``accounts`` funded :data:`FUND_PER_BLOCK` per block."""
    return 1 + max(1, -(-accounts // FUND_PER_BLOCK))


@dataclass(frozen=True, slots=True)
class ChainSpec:
    kind: str
    """"embedded" (``chainplug chain serve``, started by the run) or "external" (``rpc_url``)."""
    rpc_url: str | None
    """External chain's JSON-RPC URL; it must unlock its first account (anvil, geth --dev) to fund."""
    chain_id: int
    """Embedded chain's EIP-155 id (an external chain reports its own)."""
    block_time: float
    """Embedded chain: seconds between blocks, so blocks carry several transactions."""
    activation_block: int
    """From this block on, registered senders' classical transactions need their PQC sidecar."""
    registry: str | None
    """An already deployed KeyRegistry to use; None deploys one."""


@dataclass(frozen=True, slots=True)
class FleetSpec:
    validators: tuple[str, ...]
    """Validator names, in order (generated ``v1 .. vN`` from a count)."""
    legacy: frozenset[str]
    """Validators that start with ``--version legacy``; the rest start upgraded."""
    remote: Mapping[str, str]
    """Validators run elsewhere (name → URL of its service): observed, never started by the run."""
    threshold: str
    """Fleet gate threshold given to the signer: "all", "2/3", "0.9" ..."""
    force_gate: bool
    """Start the signer with ``--force-gate``: finalize whatever the fleet says."""
    workers: int
    """Verification processes per validator."""
    poll_interval: float
    """Seconds between a validator's head polls."""
    per_process: int = 1
    """Validators run in one process (``chainplug validator host``); 1: one ``validator run`` each."""


@dataclass(frozen=True, slots=True)
class NetworkSpec:
    listen_host: str = "127.0.0.1"
    """Where the chain, gateway and validators bind ("0.0.0.0" for other hosts). The signer always
    binds loopback: it holds the keys and only the orchestrator talks to it."""
    advertise_host: str = "127.0.0.1"
    """The address other hosts (remote validators) use to reach this host's services."""


@dataclass(frozen=True, slots=True)
class TrafficSpec:
    rate: float
    """Transactions per second, all senders together (0 = no background traffic)."""
    plain_share: float
    """Share sent by plain wallets (dev accounts, never migrating) rather than the signer's accounts."""


@dataclass(frozen=True, slots=True)
class Event:
    """One step of the schedule. Fields not used by the action keep their defaults."""

    index: int
    action: str
    phase: str
    """Label shown in the live status line and the report (defaults to the action)."""
    at_block: int | None = None
    """Do not start before the chain reaches this block."""
    after_blocks: int = 0
    """Blocks to let pass after the previous event ended."""
    accounts: tuple[int, ...] | None = None
    """Indexes into the signer's accounts; None means all."""
    validators: tuple[str, ...] = ()
    attack: str | None = None
    via: str = "chain"
    """Where an attack is sent: "chain" (straight to the node) or "gateway"."""
    crash_at: str | None = None
    """crash_signer: a label of chainplug.migration.CRASH_POINTS, optionally ":nth" (the signer kills itself
    there during an advance to ``to``); None: a plain SIGKILL between requests."""
    to: str = "PQC_ONLY"
    """crash_signer: the state the interrupted advance was heading for."""
    down_blocks: int = 2
    """crash_validator: blocks the validator stays down."""
    blocks: int = 0
    """wait: blocks to wait."""
    until: str | None = None
    """wait: "activation" waits for the activation block."""
    expect: str = "ok"
    """"ok", or "gate-refused" for a step the fleet gate must refuse."""
    batch: int | None = None
    """Migration actions: move the accounts ``batch`` at a time through the engine's batch migration
    (``chainplug_advanceBatch``); None: one account at a time (``chainplug_advance``)."""


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    description: str
    source: Path
    seed: int
    """Fixes the orchestrator's choices: traffic order and amounts, attack targets, attacker keys."""
    timeout: float
    """Wall-clock budget in seconds; the run fails (and tears down) when it is exceeded."""
    chain: ChainSpec
    fleet: FleetSpec
    accounts: int
    fund_wei: int
    traffic: TrafficSpec
    events: tuple[Event, ...]
    expect: Expectations = field(default_factory=Expectations)
    network: NetworkSpec = field(default_factory=NetworkSpec)


def builtin_scenarios() -> dict[str, Path]:
    """The scenarios shipped in the package, by name (the file name without ``.toml``)."""
    folder = Path(str(resources.files(__package__).joinpath("scenarios")))
    return {path.stem: path for path in sorted(folder.glob("*.toml"))}


def find_scenario(spec: str | Path) -> Path:
    """A scenario file: ``spec`` itself if it is a file, else the built-in scenario of that name."""
    path = Path(spec)
    if path.is_file():
        return path
    builtin = builtin_scenarios()
    found = builtin.get(str(spec).removesuffix(".toml"))
    if found is None:
        hint = f"; did you mean the built-in '{path.stem}'?" if path.stem in builtin else ""
        names = ", ".join(builtin)
        raise ConfigError(f"{spec}: no such scenario file, nor a built-in scenario ({names}){hint}")
    return found


def load_scenario(path: Path) -> Scenario:
    """Read and check a scenario file."""
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read scenario: {exc}") from exc
    return parse_scenario(document, path)


def parse_scenario(document: Mapping[str, Any], source: Path) -> Scenario:
    root = Table(document, str(source))
    meta = Table(root.get("scenario", dict, {}), f"{source} [scenario]")
    chain = _chain(Table(root.get("chain", dict, {}), f"{source} [chain]"))
    fleet = _fleet(Table(root.get("fleet", dict, {}), f"{source} [fleet]"))
    accounts = Table(root.get("accounts", dict, {}), f"{source} [accounts]")
    traffic = Table(root.get("traffic", dict, {}), f"{source} [traffic]")
    network = Table(root.get("network", dict, {}), f"{source} [network]")
    listen = network.get("listen_host", str, "127.0.0.1")
    wildcard = listen in ("0.0.0.0", "::")  # noqa: S104 - a comparison, not a bind
    advertise = network.get("advertise_host", str, "127.0.0.1" if wildcard else listen)
    events = tuple(
        _event(Table(item, f"{source} [[events]] #{i + 1}"), i, fleet)
        for i, item in enumerate(root.get("events", list, []))
    )
    expect = parse_expectations(Table(root.get("expect", dict, {}), f"{source} [expect]"), fleet.validators)
    scenario = Scenario(
        name=meta.get("name", str, source.stem),
        description=meta.get("description", str, ""),
        source=source,
        seed=meta.get("seed", int, 1),
        timeout=meta.number("timeout", 300, minimum=1),
        chain=chain,
        fleet=fleet,
        accounts=int(accounts.number("count", 3, minimum=1)),
        fund_wei=int(accounts.number("fund_ether", 10, minimum=0) * 10**18),
        traffic=TrafficSpec(traffic.number("rate", 2.0), traffic.number("plain_share", 0.25)),
        events=events,
        expect=expect,
        network=NetworkSpec(listen, advertise),
    )
    for table in (root, meta, accounts, traffic, network):
        table.done()
    if not 0 <= scenario.traffic.plain_share <= 1:
        raise ConfigError(f"{source} [traffic]: plain_share must be in [0, 1]")
    for event in events:
        if event.accounts and max(event.accounts) >= scenario.accounts:
            raise ConfigError(f"{source} [[events]] #{event.index + 1}: account index out of range")
    if chain.kind == "embedded":
        _check_room_before_activation(scenario)
    return scenario


# --- the schedule against the activation block -----------------------------------------------------


def before_activation(scenario: Scenario) -> int:
    """How many events are scheduled before activation: those before the first ``wait until =
    "activation"`` (or ``at_block`` at or past it). 0 when the schedule names no such point."""
    activation = scenario.chain.activation_block
    for event in scenario.events:
        if activation > 0 and (event.until == "activation" or (event.at_block or 0) >= activation):
            return event.index
    return 0


def blocks_on_demand(event: Event, accounts: int) -> int:
    """At most how many blocks ``event`` makes the chain mine on its behalf (its own waits, and one block
    per transaction of an account it uses, plus one for that account's traffic still in flight)."""
    chosen = len(event.accounts) if event.accounts is not None else accounts
    if event.action in TARGET_STATE:
        steps = 3 if event.action == "migrate" else 1
        return event.after_blocks + 2 * steps * chosen
    own = {
        "rollback": 2 * chosen,
        "attack": 2,
        "crash_signer": 5,  # traffic in flight, the interrupted step, its resumption (2), the proof
        "crash_validator": event.down_blocks * len(event.validators),
        "wait": event.blocks,
    }
    return event.after_blocks + own.get(event.action, 0)


def ceiling_before(scenario: Scenario, index: int) -> int:
    """The highest block the clock mines by time alone while event ``index`` (one scheduled before
    activation) runs: activation minus 2 (a transaction sent at the ceiling enters the block before
    activation) minus what this and the later events before activation may still need."""
    rest = sum(blocks_on_demand(e, scenario.accounts) for e in scenario.events[index : before_activation(scenario)])
    return scenario.chain.activation_block - 2 - rest


def _check_room_before_activation(scenario: Scenario) -> None:
    """The embedded chain's clock can hold the steps before activation before it, if activation leaves
    them the blocks they may need after setup (and after any ``at_block`` among them)."""
    count = before_activation(scenario)
    activation = scenario.chain.activation_block
    starts = [(setup_blocks(scenario.accounts), 0)]
    starts += [(e.at_block, e.index) for e in scenario.events[:count] if e.at_block is not None]
    for start, index in starts:
        short = start - ceiling_before(scenario, index)
        if count and short > 0:
            raise ConfigError(
                f"{scenario.source} [chain]: activation_block = {activation} is too early: the steps scheduled before "
                f"it may need {activation - 2 - ceiling_before(scenario, index)} blocks from block {start}; raise it "
                f"to at least {activation + short}"
            )


def _chain(table: Table) -> ChainSpec:
    kind = table.get("kind", str, "embedded")
    if kind not in ("embedded", "external"):
        raise ConfigError(f"{table.where}: kind must be 'embedded' or 'external'")
    spec = ChainSpec(
        kind=kind,
        rpc_url=table.get("rpc_url", str, None),
        chain_id=int(table.number("chain_id", 1337, minimum=1)),
        block_time=table.number("block_time", 1.0, minimum=0.05),
        activation_block=int(table.number("activation_block", 0)),
        registry=table.get("registry", str, None),
    )
    table.done()
    if kind == "external" and not spec.rpc_url:
        raise ConfigError(f"{table.where}: an external chain needs rpc_url")
    return spec


def _fleet(table: Table) -> FleetSpec:
    count = table.get("validators", (int, list), 4)
    names = tuple(f"v{i}" for i in range(1, count + 1)) if isinstance(count, int) else tuple(map(str, count))
    remote = table.get("remote", dict, {})
    names += tuple(name for name in remote if name not in names)
    legacy = frozenset(table.get("legacy", list, []))
    threshold = table.get("threshold", str, "all")
    try:
        parse_threshold(threshold)  # reject nonsense now, not when the signer starts
    except ConfigError as exc:
        raise ConfigError(f"{table.where}: {exc}") from exc
    spec = FleetSpec(
        validators=names,
        legacy=legacy,
        remote={str(k): str(v) for k, v in remote.items()},
        threshold=threshold,
        force_gate=table.get("force_gate", bool, False),
        workers=int(table.number("workers", 1, minimum=1)),
        poll_interval=table.number("poll_interval", 0.2, minimum=0.01),
        per_process=int(table.number("per_process", 1, minimum=1)),
    )
    table.done()
    if not names or len(set(names)) != len(names):
        raise ConfigError(f"{table.where}: validators must name at least one validator, each once")
    if not legacy <= set(names):
        raise ConfigError(f"{table.where}: legacy names unknown validator(s) {sorted(legacy - set(names))}")
    return spec


def _event(table: Table, index: int, fleet: FleetSpec) -> Event:
    action = table.get("action", str, None)
    if action not in ACTIONS:
        raise ConfigError(f"{table.where}: action must be one of {', '.join(ACTIONS)}")
    accounts = table.get("accounts", (str, list), "all")
    if accounts != "all" and not (isinstance(accounts, list) and all(isinstance(i, int) and i >= 0 for i in accounts)):
        raise ConfigError(f'{table.where}: accounts must be "all" or a list of account indexes')
    at_block = table.get("at_block", int, None)
    event = Event(
        index=index,
        action=action,
        phase=table.get("phase", str, action),
        at_block=at_block,
        after_blocks=int(table.number("after_blocks", 0)),
        accounts=None if accounts == "all" else tuple(accounts),
        validators=tuple(table.get("validators", list, [])),
        attack=table.get("kind", str, None),
        via=table.get("via", str, "chain"),
        crash_at=table.get("crash_at", str, None),
        to=table.get("to", str, "PQC_ONLY"),
        down_blocks=int(table.number("down_blocks", 2)),
        blocks=int(table.number("blocks", 0)),
        until=table.get("until", str, None),
        expect=table.get("expect", str, "ok"),
        batch=table.get("batch", int, None),
    )
    table.done()
    _check_event(event, table.where, fleet)
    return event


def _check_event(event: Event, where: str, fleet: FleetSpec) -> None:
    unknown = set(event.validators) - set(fleet.validators)
    if unknown:
        raise ConfigError(f"{where}: unknown validator(s) {sorted(unknown)}")
    if event.action in ("upgrade", "crash_validator") and not event.validators:
        raise ConfigError(f"{where}: {event.action} needs validators = [...]")
    if event.action == "crash_validator" and set(event.validators) & set(fleet.remote):
        raise ConfigError(f"{where}: remote validators are not ours to kill")
    if event.action == "crash_validator" and fleet.per_process > 1:
        raise ConfigError(f"{where}: crash_validator kills one validator's process: it needs per_process = 1")
    if event.batch is not None and (event.action not in TARGET_STATE or not 0 < event.batch <= MAX_BATCH):
        raise ConfigError(f"{where}: batch (1..{MAX_BATCH}) is for register, finalize, complete and migrate")
    if event.batch is not None and event.expect == "gate-refused":
        raise ConfigError(f"{where}: a step expected to be refused by the gate runs one account at a time")
    if event.action == "attack" and event.attack not in ATTACKS:
        raise ConfigError(f"{where}: kind must be one of {', '.join(ATTACKS)}")
    if event.via not in ("chain", "gateway"):
        raise ConfigError(f"{where}: via must be 'chain' or 'gateway'")
    if event.action == "crash_signer":
        if event.crash_at is not None and event.crash_at.partition(":")[0] not in CRASH_POINTS:
            raise ConfigError(f"{where}: crash_at must be a label of chainplug.migration.CRASH_POINTS")
        if event.to not in AccountState.__members__ or event.to == "CLASSICAL":
            raise ConfigError(f"{where}: to must be HYBRID, FINALIZING or PQC_ONLY")
    if event.until not in (None, "activation"):
        raise ConfigError(f'{where}: until must be "activation"')
    if event.expect not in ("ok", "gate-refused"):
        raise ConfigError(f'{where}: expect must be "ok" or "gate-refused"')
