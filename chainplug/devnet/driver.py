"""Drives a scenario's schedule against a running :class:`~chainplug.devnet.network.Network`.

Each event waits for its trigger (``at_block``, ``after_blocks``), then runs; what happened goes to
the ledgers the report is built from: events, per-account migration steps (with latency), faults
and their recovery, attacks. A failed event is recorded and the schedule goes on — the report shows
everything — and the run fails at the end. Only the scenario's wall-clock budget stops it early.

On the embedded chain the driver tells the :class:`~.clock.BlockClock` how far it may mine while the
events scheduled before activation run (:func:`~.scenario.ceiling_before`), which heights a step
waits for, and which accounts a step is using, so those events run before activation on any machine.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext

from ..types import AccountState
from .attacks import TOLERATED_BEFORE_ACTIVATION, AttackContext, AttackRecord, choose_target, run_attack
from .clock import BlockClock
from .faults import crash_signer, crash_validator
from .network import Network
from .observer import Observer
from .records import EventRecord, FaultRecord, StepRecord
from .rpc import DevnetError, RpcFailure
from .scenario import TARGET_STATE, Event, Scenario, before_activation, ceiling_before
from .traffic import Traffic


class Driver:
    def __init__(
        self,
        scenario: Scenario,
        network: Network,
        observer: Observer,
        traffic: Traffic,
        accounts: list[str],
        attack: AttackContext,
        deadline: float,
        clock: BlockClock | None = None,
    ) -> None:
        self.scenario = scenario
        self.network = network
        self.observer = observer
        self.traffic = traffic
        self.accounts = accounts
        self.attack_context = attack
        self.deadline = deadline
        self.events: list[EventRecord] = []
        self.steps: list[StepRecord] = []
        self.faults: list[FaultRecord] = []
        self.attacks: list[AttackRecord] = []
        self.clock = clock
        """Set when the devnet mines the chain (embedded): the schedule is then held to blocks."""
        self.warnings: list[str] = []
        self.before_activation = before_activation(scenario)
        """Events scheduled before activation (those before the first ``until = "activation"``)."""

    # --- schedule -------------------------------------------------------------------------------

    def run(self) -> None:
        previous_end = self.observer.head
        for event in self.scenario.events:
            if self.clock is not None:
                early = event.index < self.before_activation
                self.clock.hold_at(ceiling_before(self.scenario, event.index) if early else None)
            target = max(event.at_block or 0, previous_end + event.after_blocks)
            self.observer.set_phase(
                f"{event.phase} (waiting for block {target})" if target > self.observer.head else event.phase
            )
            self.wait_block(target)
            self.observer.set_phase(event.phase)
            record = EventRecord(event.index, event.action, event.phase, time.time(), self.observer.head)
            self.events.append(record)
            try:
                getattr(self, f"_do_{event.action}")(event, record)
            except DevnetError as exc:
                record.ok = False
                record.detail.append(str(exc))
            record.ended_at, record.block_end = time.time(), self.observer.head
            previous_end = record.block_end
        if self.clock is not None:
            self.clock.hold_at(None)

    def wait_block(self, height: int) -> None:
        if self.clock is not None:
            self.clock.need(height)
        if not self.observer.wait_head(height, max(0.0, self.deadline - time.monotonic())):
            raise DevnetError(f"scenario timeout ({self.scenario.timeout:.0f} s) waiting for block {height}")

    def selected(self, event: Event) -> list[str]:
        return list(self.accounts) if event.accounts is None else [self.accounts[i] for i in event.accounts]

    @contextmanager
    def holding(self, accounts: Sequence[str]) -> Iterator[None]:
        """A step uses these accounts' nonces: traffic keeps off them (their transactions in flight mined
        first), and the clock mines whatever of theirs waits, even while it holds the chain."""
        with self.clock.watching(accounts) if self.clock is not None else nullcontext(), self.traffic.hold(accounts):
            yield

    # --- migration ------------------------------------------------------------------------------

    def _path(self, event: Event, current: str) -> list[str]:
        if event.action == "migrate":
            return [state.name for state in AccountState if state > AccountState[current]]
        target = TARGET_STATE[event.action]
        return [target] if AccountState[target] > AccountState[current] else []

    def _migration(self, event: Event, record: EventRecord) -> None:
        if event.batch is not None:
            self._batch_migration(event, record)
            return
        self.observer.refresh_accounts()
        states = self.observer.account_states()
        refused = 0
        for account in self.selected(event):
            for to in self._path(event, states.get(account, "CLASSICAL")):
                step = self.advance(account, to, gate_check=event.expect == "gate-refused")
                refused += step.outcome == "gate-refused"
                if step.outcome != "ok":
                    break
        if event.expect == "gate-refused" and not refused:
            record.ok = False
            record.detail.append("the fleet gate let FINALIZING through; the scenario expected a refusal")
        elif event.expect == "ok" and any(s.outcome in ("error", "gate-refused") for s in self._steps_of(record)):
            record.ok = False
        record.detail += [f"{s.account} → {s.to}: {s.outcome} {s.detail}".rstrip() for s in self._steps_of(record)]

    def _batch_migration(self, event: Event, record: EventRecord) -> None:
        """The engine's batch migration through the signer (``chainplug_advanceBatch``): ``batch`` accounts
        at a time, each state of the path one batch call (so a batch's FINALIZING waits for its HYBRID);
        every account of the batch is held back from traffic while its batch runs."""
        self.observer.refresh_accounts()
        states = self.observer.account_states()
        chosen = self.selected(event)
        assert event.batch is not None
        for start in range(0, len(chosen), event.batch):
            batch = chosen[start : start + event.batch]
            current = min((AccountState[states.get(a, "CLASSICAL")] for a in batch), default=AccountState.PQC_ONLY)
            for to in self._path(event, current.name):
                self.observer.set_phase(f"{event.phase}: {start + len(batch)}/{len(chosen)} → {to}")
                steps = self.advance_batch(batch, to)
                if any(step.outcome != "ok" for step in steps):
                    record.ok = False
                    break
        done = self._steps_of(record)
        outcomes = Counter(f"{s.to}: {s.outcome}" for s in done)
        record.detail += [f"{count} × {what}" for what, count in sorted(outcomes.items())]
        record.detail += [f"{s.account} → {s.to}: {s.outcome} {s.detail}" for s in done if s.outcome != "ok"]

    def advance_batch(self, accounts: Sequence[str], to: str) -> list[StepRecord]:
        """One ``chainplug_advanceBatch`` for ``accounts`` (held back from traffic meanwhile); one step
        record per account, all with the batch's times."""
        chain = self.network.require_chain()
        steps = [StepRecord(a, to, time.time(), self.observer.head) for a in accounts]
        self.steps += steps
        if AccountState[to] > AccountState.HYBRID and not chain.pqc_only_tx:
            for step in steps:
                step.outcome, step.detail = "skipped", "the chain cannot execute PQC-only transactions"
            return steps
        with self.holding(accounts):
            for step in steps:
                step.requested_at = time.time()
            try:
                answer = self.network.require_signer().call("chainplug_advanceBatch", list(accounts), to)
                failed = {str(a).lower(): str(why) for a, why in answer.get("failed", {}).items()}
                reached = {
                    str(a["address"]).lower()
                    for a in answer["accounts"]
                    if AccountState[a["state"]] >= AccountState[to]
                }
                for step in steps:
                    step.outcome = "ok" if step.account in reached else "error"
                    step.detail = failed.get(step.account, "" if step.account in reached else "not moved")
            except RpcFailure as exc:
                gate = exc.rejection_reason == "gate-rejected"
                for step in steps:
                    step.outcome, step.detail = ("gate-refused" if gate else "error"), exc.message
        for step in steps:
            step.done_at, step.block_done = time.time(), self.observer.head
        return steps

    def _steps_of(self, record: EventRecord) -> list[StepRecord]:
        return [s for s in self.steps if s.requested_at >= record.started_at]

    def advance(self, account: str, to: str, *, gate_check: bool = False) -> StepRecord:
        """One ``chainplug_advance`` with the account held back from traffic (it needs the nonce).
        ``gate_check``: the fleet gate is expected to refuse, so the step is tried even on a chain that
        could not take the account further (the gate answers before anything changes)."""
        step = StepRecord(account, to, time.time(), self.observer.head)
        self.steps.append(step)
        chain = self.network.require_chain()
        if AccountState[to] > AccountState.HYBRID and not chain.pqc_only_tx and not gate_check:
            step.outcome, step.detail = "skipped", "the chain cannot execute PQC-only transactions"
            return step
        with self.holding([account]):
            try:
                self.network.require_signer().call("chainplug_advance", account, to)
                step.outcome = "ok"
            except RpcFailure as exc:
                gate = exc.rejection_reason == "gate-rejected"
                step.outcome, step.detail = ("gate-refused" if gate else "error"), exc.message
        step.done_at, step.block_done = time.time(), self.observer.head
        return step

    _do_register = _do_finalize = _do_complete = _do_migrate = _migration

    def _do_rollback(self, event: Event, record: EventRecord) -> None:
        for account in self.selected(event):
            with self.holding([account]):
                try:
                    self.network.require_signer().call("chainplug_rollback", account)
                    record.detail.append(f"{account} rolled back to CLASSICAL")
                except RpcFailure as exc:
                    record.ok = False
                    record.detail.append(f"{account}: rollback refused: {exc.message}")

    # --- fleet ----------------------------------------------------------------------------------

    def _do_upgrade(self, event: Event, record: EventRecord) -> None:
        """Rolling upgrade: one process at a time, the next only once this one has caught up. A validator
        host restarts with all of its validators named here upgraded at once (a wave); its other
        validators restart as they were."""
        network = self.network
        waves: dict[str, list[str]] = {}
        for name in event.validators:
            waves.setdefault(network.validators[name].process or name, []).append(name)
        for process, names in waves.items():
            self.observer.set_phase(f"{event.phase}: {', '.join(names)}")
            at_block, stopped_at = self.observer.head, time.time()
            entries = {name: {"from": network.validators[name].version, "to": "upgraded", "at_block": at_block,
                              "stopped_at": stopped_at} for name in names}  # fmt: skip
            remote = network.validators[names[0]].remote
            if remote:  # an operator upgrades it by hand; we wait and watch
                network.wait_validator(names[0], height=0, version="upgraded", timeout=self.time_left(600))
            else:
                started_at = time.time()
                network.restart_process(process, dict.fromkeys(names, "upgraded"))
                for entry in entries.values():
                    entry["started_at"] = started_at
            for name in names if remote else network.members(process):
                version = network.validators[name].version
                network.wait_validator(name, height=self.observer.head, version=version, timeout=self.time_left(90))
            caught_up_at = time.time()
            for name, entry in entries.items():
                entry["caught_up_at"] = caught_up_at
                entry["downtime_seconds"] = round(caught_up_at - stopped_at, 3)
                network.validators[name].version = "upgraded"
                network.validators[name].upgrades.append(entry)
            others = [] if remote else [n for n in network.members(process) if n not in names]
            record.detail.append(
                f"{', '.join(names)} upgraded at block {at_block}, back in {caught_up_at - stopped_at:.1f} s"
                + (f" ({', '.join(others)} restarted with them: same process)" if others else "")
            )

    def _do_crash_validator(self, event: Event, record: EventRecord) -> None:
        for name in event.validators:
            fault = crash_validator(self, name, event)
            self.faults.append(fault)
            record.ok &= fault.recovered
            record.detail.append(fault.recovery)

    def _do_crash_signer(self, event: Event, record: EventRecord) -> None:
        if (
            event.crash_at
            and AccountState[event.to] > AccountState.HYBRID
            and not self.network.require_chain().pqc_only_tx
        ):
            record.detail.append("skipped: the chain cannot execute PQC-only transactions")
            return
        fault = crash_signer(self, event)
        self.faults.append(fault)
        record.ok &= fault.recovered
        record.detail.append(fault.recovery)

    # --- attacks and waits ----------------------------------------------------------------------

    def _do_attack(self, event: Event, record: EventRecord) -> None:
        assert event.attack is not None
        self.observer.refresh_accounts()
        states = self.observer.account_states()
        target = choose_target(event.attack, states, self.selected(event) if event.accounts else [])
        if target is None:
            record.ok = False
            record.detail.append(f"no account in a state {event.attack} can target")
            return
        with self.holding([target]):
            attack = run_attack(
                self.attack_context, event.attack, target, states[target], event.via, self.observer.head
            )
        self.attacks.append(attack)
        early = event.index < self.before_activation
        if early and attack.kind in TOLERATED_BEFORE_ACTIVATION and attack.expected != "tolerated":
            self.warnings.append(
                f"'{event.phase}' is scheduled before activation but was sent at block {attack.block}, when the chain "
                "already required PQC parts: this run did not test what the scenario says"
                + ("" if self.clock is not None else " (the devnet does not mine this chain, so cannot hold it)")
            )
        if attack.outcome == "skipped":
            record.ok = False
        record.detail.append(
            f"{attack.kind} on {target} ({attack.target_state}) via {attack.via}: {attack.outcome}"
            f"{f' ({attack.reason})' if attack.reason else ''}"
        )

    def _do_wait(self, event: Event, record: EventRecord) -> None:
        if event.until == "activation":
            self.wait_block(self.network.require_chain().activation_block)
        self.wait_block(self.observer.head + event.blocks)

    def time_left(self, cap: float) -> float:
        return max(1.0, min(cap, self.deadline - time.monotonic()))
