"""``chainplug migrate status|advance|rollback|recover|batch``: drive the key migration engine.

Exit codes: 0 ok; 1 rejected (fleet gate, illegal transition, classical key retired, or recovery
found something a person must look at); 2 bad input or a store that cannot be used (arguments,
readiness file, unknown account, missing store, corrupt log, store in use by another process).
See docs/migration.md.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError, MigrationRejected
from ..types import AccountState, Address
from ._args import STATE_NAMES, parse_address, parse_state
from ._credentials import credential_options, credentials_from_args
from ._output import EXIT_OK, EXIT_REJECTED, emit, report_error

if TYPE_CHECKING:
    from ..migration import Account, MigrationEngine, PrivateKeyStore, StoreStatus

Handler = Callable[[argparse.Namespace], int]


def store_arguments() -> argparse.ArgumentParser:
    """The ``--store DIR`` option shared by migrate and account commands, with ``--vault`` (keys sealed in
    an encrypted vault: password + ML-KEM-1024 key) and its credential options."""
    parser = argparse.ArgumentParser(add_help=False, parents=[credential_options()])
    parser.add_argument("--store", required=True, type=Path, metavar="DIR", help="the key store directory")
    parser.add_argument(
        "--vault",
        type=Path,
        metavar="DIR",
        help="keep private keys sealed in this keystore vault (created if missing); else plain files",
    )
    return parser


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    migrate = sub.add_parser(
        "migrate",
        help="move accounts CLASSICAL → HYBRID → FINALIZING → PQC_ONLY (write-ahead logged)",
        description=(
            "Drive the four-state key migration of the accounts in a store (docs/migration.md). Exit 0 ok, "
            "1 rejected (fleet gate, illegal transition, recovery needs attention), 2 bad input or store in use."
        ),
    )
    actions = migrate.add_subparsers(dest="action", metavar="ACTION")
    actions.required = True
    store = store_arguments()
    account = argparse.ArgumentParser(add_help=False)
    account.add_argument("--address", type=parse_address, help="the account (default: the store's only account)")
    gate = argparse.ArgumentParser(add_help=False)
    gate.add_argument(
        "--readiness",
        type=Path,
        metavar="FILE",
        help='fleet readiness JSON: {"validators": {"<name>": true|false, ...}}',
    )
    gate.add_argument("--threshold", default="all", help="upgraded fraction required: all (default), 2/3, 0.9 ...")
    gate.add_argument(
        "--force",
        action="store_true",
        help="finalize even if the fleet gate refuses (logged loudly, recorded in the log)",
    )

    status = actions.add_parser("status", parents=[common, store, account], help="show states (read-only)")
    status.set_defaults(handler=_status)
    advance = actions.add_parser("advance", parents=[common, store, account, gate], help="move one account forward")
    advance.add_argument("--to", type=parse_state, help=f"target state ({STATE_NAMES}; default: the next one)")
    advance.set_defaults(handler=_rejected_is_1(_advance))
    rollback = actions.add_parser("rollback", parents=[common, store, account], help="HYBRID → CLASSICAL")
    rollback.add_argument("--to", type=parse_state, default=AccountState.CLASSICAL, help="only CLASSICAL")
    rollback.set_defaults(handler=_rejected_is_1(_rollback))
    recover = actions.add_parser(
        "recover",
        parents=[common, store],
        help="replay the log and repair the key files",
        description=(
            "Replay the log and bring the key files in line with it (docs/migration.md section 5). If the key files "
            "prove the log is missing records (truncated, or restored from an older copy), nothing is changed and "
            "the command says what it found: restore the log, or rebuild it with --rebuild-from-keys."
        ),
    )
    recover.add_argument(
        "--rebuild-from-keys",
        action="store_true",
        help="the log is known to be damaged and no better copy exists: append what the key files show",
    )
    recover.set_defaults(handler=_rejected_is_1(_recover))
    batch = actions.add_parser("batch", parents=[common, store, gate], help="migrate every account (group commit)")
    batch.add_argument("--to", type=parse_state, required=True, help=f"target state ({STATE_NAMES})")
    batch.add_argument("--batch-size", type=int, default=1000, help="accounts per group commit (default 1000)")
    batch.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="progress line on stderr (default: when stderr is a terminal)",
    )
    batch.set_defaults(handler=_rejected_is_1(_batch))


def _rejected_is_1(handler: Handler) -> Handler:
    """A refused request is "rejected" (exit 1), not bad input (exit 2)."""

    def run(args: argparse.Namespace) -> int:
        try:
            return handler(args)
        except MigrationRejected as exc:
            report_error(exc, as_json=args.json)
            return EXIT_REJECTED

    return run


def open_engine(args: argparse.Namespace, *, create: bool = False) -> MigrationEngine:
    """Open (and recover) the store named by ``--store``, with the gate options if present."""
    from ..migration import FleetGate, MigrationEngine, StaticReadiness, parse_threshold

    readiness = getattr(args, "readiness", None)
    gate = FleetGate(parse_threshold(getattr(args, "threshold", "all")), force=getattr(args, "force", False))
    source = StaticReadiness.from_file(readiness) if readiness is not None else None
    return MigrationEngine.open(
        args.store,
        create=create,
        gate=gate,
        readiness=source,
        keystore=key_storage(args, create),
        rebuild_from_keys=getattr(args, "rebuild_from_keys", False),
    )


def key_storage(args: argparse.Namespace, create: bool) -> PrivateKeyStore | None:
    """A vault-backed key store when ``--vault`` is given (None = the engine's plain files)."""
    if getattr(args, "vault", None) is None:
        if not create:
            refuse_if_keys_are_elsewhere(args.store)
        return None
    from ..migration.keystore_adapter import VaultKeyStore, open_or_create_vault

    if not create and not (args.vault / "vault.json").exists():
        raise ConfigError(f"no vault at {args.vault} (it is created by commands that create accounts)")
    return VaultKeyStore(open_or_create_vault(args.vault, credentials_from_args(args)))


def refuse_if_keys_are_elsewhere(store: Path, status: StoreStatus | None = None) -> None:
    """Opened without ``--vault``: a store whose accounts need keys but whose ``keys/`` directory holds
    none keeps them in a vault. Say so, rather than let it read as lost key files (or let recovery run)."""
    from ..migration import read_status

    if status is None:
        if not (store / "migration.wal").is_file():
            return  # no store yet: the command says so itself
        status = read_status(store)
    needing = [a for a in status.accounts if a.phase.needs_classical_key or a.phase.needs_pqc_key]
    if needing and not status.inventory.classical and not status.inventory.pqc:
        raise ConfigError(
            f"{store}: its {len(needing)} account(s) need keys, but {store / 'keys'} holds no key file: this "
            "store's keys are in a vault — pass --vault DIR with --kem-key and a password option (if it never "
            "used a vault, its key files are gone: restore them from a backup)"
        )


def _only_account(engine: MigrationEngine, address: Address | None) -> Address:
    if address is not None:
        return address
    if len(engine.accounts) != 1:
        raise ConfigError(f"{engine.root} holds {len(engine.accounts)} accounts; pass --address")
    return next(iter(engine.accounts))


def _account_line(account: Account) -> str:
    key = f"  key 0x{account.key_id.hex()[:16]}…" if account.key_id is not None else ""
    return f"0x{account.address.hex()}  {account.state.name:<10}  generation {account.generation}{key}"


def _status(args: argparse.Namespace) -> int:
    from ..migration import read_status

    status = read_status(args.store, key_storage(args, create=False))
    data = status.to_json()
    if args.address is not None:
        wanted = f"0x{args.address.hex()}"
        data["accounts"] = [a for a in data["accounts"] if a["address"] == wanted]
        if not data["accounts"]:
            raise ConfigError(f"no account {wanted} in {args.store}")
    lines = [f"store {args.store}: " + ", ".join(f"{n} {s}" for s, n in data["counts"].items())]
    for entry in data["accounts"]:
        key = f"  key {entry['key_id'][:18]}…" if entry["key_id"] else ""
        lines.append(f"{entry['address']}  {entry['state']:<10}  generation {entry['generation']}{key}")
        if entry["erasure_pending"]:
            lines.append("    erasure interrupted: the next open of the store (any command but status) finishes it")
        lines.extend(f"    note: {note}" for note in entry["notes"])
    lines.append(f"needs recovery: {'yes' if data['needs_recovery'] else 'no'}")
    emit({"ok": True, **data}, "\n".join(lines), as_json=args.json)
    return EXIT_OK


def _advance(args: argparse.Namespace) -> int:
    from ..migration.status import account_json

    with open_engine(args) as engine:
        address = _only_account(engine, args.address)
        account = engine.advance(address, args.to)
        forced = engine.last_gate is not None and engine.last_gate.forced
    _warn_if_forced(forced)
    emit({"ok": True, "gate_forced": forced, **account_json(account)}, _account_line(account), as_json=args.json)
    return EXIT_OK


def _warn_if_forced(forced: bool) -> None:
    if forced:
        sys.stderr.write(
            "chainplug: WARNING: the fleet gate was FORCED: accounts are finalizing although the fleet is not "
            "ready; legacy validators cannot verify PQC_ONLY signatures. This is recorded in the log.\n"
        )


def _rollback(args: argparse.Namespace) -> int:
    from ..migration.status import account_json

    if args.to is not AccountState.CLASSICAL:
        raise ConfigError("rollback goes to CLASSICAL only (from HYBRID)")
    with open_engine(args) as engine:
        account = engine.rollback(_only_account(engine, args.address))
    emit({"ok": True, **account_json(account)}, _account_line(account), as_json=args.json)
    return EXIT_OK


def _recover(args: argparse.Namespace) -> int:
    with open_engine(args) as engine:
        report = engine.last_recovery
    assert report is not None
    data = report.to_json()
    done = {k: v for k, v in data.items() if k not in ("clean", "problems", "lost_history") and v}
    lines = ["recovery: " + (", ".join(f"{k.replace('_', ' ')}: {v}" for k, v in done.items()) or "nothing to do")]
    lines += [
        f"WARNING: 0x{a.hex()} was past erasure but its classical private key was back on disk; it was refused "
        "and wiped again. Destroy the backup it came from."
        for a in report.restored_classical_keys_erased
    ]
    lines += [f"rebuilt from the key files although the log lacked their history: {e}" for e in report.lost_history]
    lines += [f"problem: {p}" for p in report.problems]
    emit({"ok": report.clean, **data}, "\n".join(lines), as_json=args.json)
    return EXIT_OK if report.clean else EXIT_REJECTED


class StderrProgress:
    """A one-line progress bar on stderr, redrawn at most ten times a second."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.started = 0.0
        self._drawn = 0.0

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if not self.started:
            self.started = now
        if done < total and now - self._drawn < 0.1:
            return
        self._drawn = now
        fraction = done / total if total else 1.0
        bar = "#" * int(fraction * 30)
        rate = done / max(now - self.started, 1e-9)
        sys.stderr.write(f"\r{self.label} [{bar:<30}] {done}/{total} {fraction:4.0%} {rate:,.0f} keys/s")
        if done >= total:
            sys.stderr.write("\n")
        sys.stderr.flush()


def _batch(args: argparse.Namespace) -> int:
    if args.batch_size < 1:
        raise ConfigError("--batch-size must be at least 1")
    show = sys.stderr.isatty() if args.progress is None else args.progress
    progress = StderrProgress(f"migrate → {args.to.name}") if show else None
    with open_engine(args) as engine:
        report = engine.batch(args.to, batch_size=args.batch_size, progress=progress)
    data = report.to_json()
    _warn_if_forced(data["gate_forced"])
    text = (
        f"{data['reached_target']}/{data['to_do']} accounts reached {data['target']} "
        f"({data['already_there']} already there, {len(data['failed'])} failed) in {data['seconds']:.2f} s, "
        f"{data['chunks']} chunks, {data['syncs']} syncs"
    )
    text += "".join(f"\nfailed: {address}: {why}" for address, why in data["failed"].items())
    emit({"ok": not data["failed"], **data}, text, as_json=args.json)
    return EXIT_OK if not data["failed"] else EXIT_REJECTED
