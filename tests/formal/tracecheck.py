"""Trace validation: each crash-harness run must be a behaviour of docs/formal/Migration.tla.

The single source is the model. TLC explores it under ``MigrationTrace.cfg`` and dumps the complete
reachable state graph (``-dump dot,actionlabels``); :func:`build_model_graph` parses that graph.
A run of the real engine traced by ``CHAINPLUG_CRASH_TRACE`` (see
:mod:`chainplug.migration.crashpoints`) is a list of lines::

    keys.classical.put.rename 0x<address>.classical.key     a durable step and its subject
    wal.append.torn CREATE:<address>,CREATE:<address>        a commit and the records it holds
    erase.zero_memory <address>,<address>
    @killed        the crash plan killed the process *before* the step on the line above
    @crash         appended by the harness after reaping a SIGKILLed process
    @recovered     the engine opened the store and recovery (if any) is complete
    @restore <address>   (tests) an operator put an old copy of the classical key file back

:func:`key_steps` projects it onto one key: the model's steps are crash-point *sites*, and a site's
step has happened once its commit point has run (the ``rename`` of that key's file for a put, its
``unlink`` for a wipe, the ``torn`` point of a log append, after which the whole record is written).
The step on a ``@killed`` line never ran (but a group commit torn there may have left a prefix of its
records whole, so each of those may have happened); after a random-time kill (``@crash`` without ``@killed``)
the last step may or may not have run, so both are allowed. Loading a key is not traced and the
model's ``LoadClassical`` steps are free. :func:`check_trace` then replays each key's steps against
the graph as a non-deterministic automaton, starting from every model state that matches the key's
files and log before the run, and requires the end to match the store after the run.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from chainplug.migration import read_status
from chainplug.migration.state import TRANSITIONS, Event, Phase
from chainplug.types import Address
from tests.formal.tlc import FORMAL, find_tlc, run_tlc

CONFIG = "MigrationTrace"

# key file names of the engine's two key stores: plain files (PlainFileKeyStore) and a vault (VaultKeyStore)
_CLASSICAL = re.compile(r"0x([0-9a-f]{40})\.(?:classical\.key|secp256k1\.g0\.json)")
_PQC = re.compile(r"0x([0-9a-f]{40})\.(?:pqc-g([0-9]+)\.key|ml-dsa-87\.g([0-9]+)\.json)")


def _generation(match: re.Match[str]) -> int:
    """The generation in a _PQC match (either naming)."""
    return int(match.group(2) or match.group(3))


_BACKUP = re.compile(r"0x([0-9a-f]{40})\.classical\.pub")
_NODE = re.compile(r'^(-?\d+) \[label="(.*)"(,style = filled)?\];?$')
_EDGE = re.compile(r'^(-?\d+) -> (-?\d+) \[label="(\w+)"')


# --- the model's state graph ----------------------------------------------------------------------


COUNTERS = frozenset({"crashes", "restores"})
"""Variables that only bound the model for TLC. The graph the traces are checked against forgets
them (merges states equal in everything else), which removes the bounds: a run of the engine may
crash any number of times. ``test_trace_validation`` checks this is exact, not an approximation:
raising the bounds adds no state or transition to the merged graph."""


@dataclass(frozen=True, slots=True)
class ModelState:
    """One state of Migration.tla without its COUNTERS (variables as TLC prints them)."""

    log: tuple[str, ...]
    cls: bool
    restored: bool
    pqc: frozenset[int]
    backup: bool
    mem: bool
    up: bool
    pc: str
    ei: int
    loaded_retired: bool
    step: str

    @property
    def phase(self) -> Phase | None:
        """The fold of the log through state.TRANSITIONS (None: no account yet)."""
        phase: Phase | None = None
        for event in self.log:
            phase = TRANSITIONS[(phase, Event[event])]
        return phase

    @property
    def generation(self) -> int:
        return self.log.count("ROLLBACK")

    def describe(self) -> str:
        name = "none" if self.phase is None else self.phase.name
        files = f"cls={self.cls} pqc={sorted(self.pqc)} backup={self.backup}"
        return f"[{name} g{self.generation} {'up' if self.up else 'down'} pc={self.pc} {files} after {self.step}]"


@dataclass
class ModelGraph:
    """The model's reachable states (COUNTERS forgotten) and transitions (TLC omits stuttering steps)."""

    states: list[ModelState]
    successors: list[list[int]]
    initial: set[int]
    tlc_summary: str
    _by_facts: dict[tuple[object, ...], list[int]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for index, state in enumerate(self.states):
            if state.pc == "idle" and not state.mem:  # where a run can start: no transition in flight
                facts = (state.phase, state.generation, state.cls, state.pqc, state.backup, state.up)
                self._by_facts.setdefault(facts, []).append(index)

    def resting(self, facts: KeyFacts, up: bool) -> list[int]:
        """The states with no transition in flight whose log and files are ``facts``."""
        return self._by_facts.get((facts.phase, facts.generation, facts.cls, facts.pqc, facts.backup, up), [])

    def edges(self) -> set[tuple[ModelState, ModelState]]:
        return {(self.states[s], self.states[t]) for s, targets in enumerate(self.successors) for t in targets}


def _value(text: str) -> object:
    text = text.strip()
    if text in ("TRUE", "FALSE"):
        return text == "TRUE"
    if text.startswith("<<"):
        return tuple(re.findall(r'"([^"]*)"', text))
    if text.startswith("{"):
        return frozenset(int(n) for n in re.findall(r"-?\d+", text))
    if text.startswith('"'):
        return text.strip('"')
    return int(text)


def _state(label: str) -> ModelState:
    text = label.replace('\\"', '"').replace("\\n", "\n").replace("\\\\", "\\")
    values = {}
    for conjunct in re.split(r"^/\\ ", text, flags=re.MULTILINE)[1:]:  # a long value wraps onto more lines
        name, _, value = conjunct.partition(" = ")
        values[name.strip()] = _value(" ".join(value.split()))
    names = {"loadedRetired": "loaded_retired"}
    fields = {names.get(name, name): value for name, value in values.items() if name not in COUNTERS}
    return ModelState(**fields)  # type: ignore[arg-type]


def parse_dot(dot: str, summary: str = "") -> ModelGraph:
    """The graph of a TLC ``-dump dot,actionlabels`` file, COUNTERS forgotten."""
    index: dict[str, int] = {}  # TLC's state id -> our state
    ours: dict[ModelState, int] = {}
    initial: set[int] = set()
    edges: list[tuple[str, str]] = []
    for line in dot.splitlines():
        if match := _EDGE.match(line):
            edges.append((match.group(1), match.group(2)))
        elif match := _NODE.match(line):
            state = _state(match.group(2))
            index[match.group(1)] = ours.setdefault(state, len(ours))
            if match.group(3):
                initial.add(ours[state])
    successors: list[set[int]] = [set() for _ in ours]
    for source, target in edges:  # a crash while down becomes a self-loop once the counter is gone
        successors[index[source]].add(index[target])
    return ModelGraph(list(ours), [sorted(s) for s in successors], initial, summary)


def build_model_graph(work: Path, bounds: Mapping[str, int] | None = None) -> ModelGraph | str:
    """Run TLC on Migration.tla with MigrationTrace.cfg (its constants overridden by ``bounds``) and
    parse its state graph, or say why TLC cannot run here."""
    found = find_tlc()
    if isinstance(found, str):
        return found
    java, jar = found
    work.mkdir(parents=True, exist_ok=True)
    (work / "Migration.tla").write_bytes((FORMAL / "Migration.tla").read_bytes())
    config = (FORMAL / f"{CONFIG}.cfg").read_text()
    for name, value in (bounds or {}).items():
        config, count = re.subn(rf"^(\s*{name} = )\d+$", rf"\g<1>{value}", config, flags=re.MULTILINE)
        assert count == 1, f"{CONFIG}.cfg sets no constant {name}"
    (work / f"{CONFIG}.cfg").write_text(config)
    graph = work / "graph.dot"
    result = run_tlc(java, jar, work, "Migration", f"{CONFIG}.cfg", "-dump", "dot,actionlabels", str(graph))
    out = result.stdout + result.stderr
    if result.returncode != 0 or "No error has been found" not in out:
        raise AssertionError(f"TLC failed on {CONFIG}.cfg:\n{out}")
    summary = re.search(r"\d+ states generated, \d+ distinct states found", out)
    return parse_dot(graph.read_text(), summary.group(0) if summary else "")


# --- what a store holds, per key --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class KeyFacts:
    """The model's view of one key in a real store: its log's fold and which files exist."""

    phase: Phase | None = None
    generation: int = 0
    cls: bool = False
    pqc: frozenset[int] = frozenset()
    backup: bool = False

    def matches(self, state: ModelState) -> bool:
        return (
            state.phase == self.phase
            and state.generation == self.generation
            and state.cls == self.cls
            and state.pqc == self.pqc
            and state.backup == self.backup
        )


def store_facts(store: Path | None, keys: Path | None = None) -> dict[Address, KeyFacts]:
    """KeyFacts of every key of a store whose key files are in ``keys`` (default ``store/keys``, the
    plain-file store; a vault's directory otherwise), read-only; {} when there is no store yet."""
    if store is None or not (store / "migration.wal").exists():
        return {}
    logged = {a.address: (a.phase, a.generation) for a in read_status(store).accounts}
    classical: set[Address] = set()
    pqc: dict[Address, set[int]] = {}
    backups: set[Address] = set()
    for name in _names(keys if keys is not None else store / "keys"):
        if match := _CLASSICAL.fullmatch(name):
            classical.add(Address(bytes.fromhex(match.group(1))))
        elif match := _PQC.fullmatch(name):
            pqc.setdefault(Address(bytes.fromhex(match.group(1))), set()).add(_generation(match))
    for name in _names(store / "public"):
        if match := _BACKUP.fullmatch(name):
            backups.add(Address(bytes.fromhex(match.group(1))))
    facts = {}
    for address in logged.keys() | classical | pqc.keys() | backups:
        phase, generation = logged.get(address, (None, 0))
        facts[address] = KeyFacts(
            phase, generation, address in classical, frozenset(pqc.get(address, ())), address in backups
        )
    return facts


def _names(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir()) if directory.is_dir() else []


# --- a trace, per key -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Step:
    """One model step of one key, from one trace line."""

    kind: str
    """A DurableSteps site, "erase", "crash", "recovered" or "restore"."""
    detail: str | int | None
    """The event of a log append, the generation of a PQC key file."""
    line: int
    text: str
    optional: bool = False


def _file_step(site: str, name: str, address: Address) -> tuple[str, int | None] | None:
    if site in ("keys.classical.put", "keys.classical.wipe"):
        match = _CLASSICAL.fullmatch(name)
        return (site, None) if match and match.group(1) == address.hex() else None
    if site in ("keys.pqc.put", "keys.pqc.wipe"):
        match = _PQC.fullmatch(name)
        return (site, _generation(match)) if match and match.group(1) == address.hex() else None
    if site == "public.backup":
        match = _BACKUP.fullmatch(name)
        return (site, None) if match and match.group(1) == address.hex() else None
    return None


COMMIT_POINTS = {
    "keys.classical.put": "rename",
    "keys.pqc.put": "rename",
    "public.backup": "rename",
    "keys.classical.wipe": "unlink",
    "keys.pqc.wipe": "unlink",
    "wal.append": "torn",
    "erase": "zero_memory",
}
"""Per model step (crash-point site), the step of the site after which it has happened."""


def _steps_of_line(label: str, subject: str, address: Address, number: int, text: str) -> list[Step]:
    site, _, point = label.rpartition(".")
    if COMMIT_POINTS.get(site) != point:
        return []
    if site == "wal.append":
        events = (item.partition(":") for item in subject.split(",") if item)
        return [Step(site, event, number, text) for event, _, who in events if who == address.hex()]
    if site == "erase":
        return [Step(site, None, number, text)] if address.hex() in subject.split(",") else []
    found = _file_step(site, subject, address)
    return [Step(found[0], found[1], number, text)] if found else []


def key_steps(lines: Sequence[str], address: Address) -> list[Step]:
    """The model steps ``address`` took in a trace (module docstring)."""
    steps: list[Step] = []
    last: list[Step] = []  # steps of the latest label line
    killed = False
    for number, text in enumerate(lines, start=1):
        if text == "@killed":
            for step in last:  # the plan killed the process before that step ran ...
                if _group_torn(step.text):  # ... except a torn group commit keeps a prefix of its records
                    steps[steps.index(step)] = Step(step.kind, step.detail, step.line, step.text, optional=True)
                else:
                    steps.remove(step)
            last, killed = [], True
        elif text == "@crash":
            if not killed:  # a random-time kill: the latest step may or may not have run
                for step in last:
                    steps[steps.index(step)] = Step(step.kind, step.detail, step.line, step.text, optional=True)
            steps.append(Step("crash", None, number, text))
            last, killed = [], False
        elif text == "@recovered":
            steps.append(Step("recovered", None, number, text))
            last = []
        elif text.startswith("@restore "):  # an operator put an old copy of the classical key back
            if text.split()[1] == address.hex():
                steps.append(Step("restore", None, number, text))
            last = []
        elif text and not text.startswith("@"):
            label, _, subject = text.partition(" ")
            last = _steps_of_line(label, subject, address, number, text)
            steps.extend(last)
    return steps


def _group_torn(text: str) -> bool:
    """A torn write of a group commit: the first half of its frames is on disk, and whole records in it
    count (docs/migration.md §3, "Commit"); a single record is never whole in half its bytes."""
    label, _, subject = text.partition(" ")
    return label == "wal.append.torn" and "," in subject


def trace_addresses(lines: Iterable[str]) -> set[Address]:
    """Every address named in a trace's subjects."""
    found = set()
    for text in lines:
        for hexes in re.findall(r"(?<![0-9a-f])([0-9a-f]{40})(?![0-9a-f])", text):
            found.add(Address(bytes.fromhex(hexes)))
    return found


# --- replay -----------------------------------------------------------------------------------------


def _matches(before: ModelState, after: ModelState, step: Step) -> bool:
    if after.step != step.kind:
        return False
    if step.kind == "wal.append":
        return after.log == (*before.log, step.detail)
    if step.kind == "keys.classical.put":
        return after.cls and not before.cls
    if step.kind == "keys.classical.wipe":
        return before.cls and not after.cls
    if step.kind == "keys.pqc.put":
        return step.detail in after.pqc and step.detail not in before.pqc
    if step.kind == "keys.pqc.wipe":
        return step.detail in before.pqc and step.detail not in after.pqc
    if step.kind == "public.backup":
        return after.backup
    if step.kind == "restore":
        return after.cls and not before.cls
    return True  # crash, recovered, erase: the model's step label is the whole match


@dataclass
class TraceCheck:
    """The outcome of checking one trace: how much was checked, and every mismatch."""

    keys: int = 0
    steps: int = 0
    problems: list[str] = field(default_factory=list)


def _closure(graph: ModelGraph, states: set[int]) -> set[int]:
    """Add what untraced key loads (LoadClassical) reach."""
    todo = list(states)
    while todo:
        for target in graph.successors[todo.pop()]:
            if target not in states and graph.states[target].step == "load":
                states.add(target)
                todo.append(target)
    return states


def check_trace(
    graph: ModelGraph,
    lines: Sequence[str],
    before: Mapping[Address, KeyFacts],
    after: Mapping[Address, KeyFacts],
    *,
    start_down: bool = False,
) -> TraceCheck:
    """Check every key of a trace against the model (module docstring). ``before``/``after`` are the
    :func:`store_facts` of the store before and after the run; ``start_down`` says the run began on
    a crashed, unrecovered store."""
    result = TraceCheck()
    for address in sorted(before.keys() | after.keys() | trace_addresses(lines)):
        name = f"0x{address.hex()[:8]}"
        facts = before.get(address, KeyFacts())
        current = set(graph.resting(facts, up=not start_down))
        if not current:
            result.problems.append(f"{name}: its state before the run {facts} is outside the model's bounds")
            continue
        result.keys += 1
        current = _closure(graph, current)
        steps = key_steps(lines, address)
        for step in steps:
            following = {
                t for s in current for t in graph.successors[s] if _matches(graph.states[s], graph.states[t], step)
            }
            if step.kind == "recovered":  # opening a store that did not crash recovers nothing
                following |= {s for s in current if graph.states[s].up}
            if step.optional:
                following |= current
            if not following:
                shown = " ".join(graph.states[s].describe() for s in sorted(current)[:3])
                detail = "" if step.detail is None else f" {step.detail}"
                result.problems.append(
                    f"{name}: trace line {step.line} ({step.text!r}) is step {step.kind}{detail}, which the model "
                    f"does not allow from {shown}"
                )
                break
            current = _closure(graph, following)
            result.steps += 1
        else:
            final = after.get(address, KeyFacts())
            if not any(final.matches(graph.states[s]) for s in current):
                shown = " ".join(graph.states[s].describe() for s in sorted(current)[:3])
                result.problems.append(f"{name}: the store ends as {final}, the model's run ends in {shown}")
    return result
