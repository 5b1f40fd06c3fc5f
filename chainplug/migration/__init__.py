"""chainplug.migration — the four-state key migration engine (docs/migration.md).

Owns: the state machine as a pure core (``state``), the write-ahead log (``records``, ``wal``,
``ledger``), the store lock and layout (``store``), Erasure-Before-WAL transitions
(``transitions``), recovery, batch migration with group commit, the fleet gate (``gate``), the
on-chain hook interface (``chain``, no-op by default), the private-key storage port
(``keystore_port``) and the labelled crash points used by crash-injection tests (``crashpoints``).

May import: chainplug.crypto, chainplug.keystore, chainplug.types / errors / constants, and
chainplug._fs (every durable write goes through it). Never envelope, verify, registry, signer,
node, devnet or cli.

Entry points: :class:`MigrationEngine` (``MigrationEngine.open(store, create=True)``),
:func:`read_status`, :class:`FleetGate` + :class:`StaticReadiness`, :class:`PrivateKeyStore`.
"""

from .batch import BatchReport
from .chain import ChainHook, NoChainHook
from .crashpoints import CRASH_POINTS
from .engine import MigrationEngine, next_state
from .gate import FleetGate, ReadinessSource, StaticReadiness, ValidatorReadiness, parse_threshold
from .keystore_port import KeyInventory, PlainFileKeyStore, PrivateKeyStore
from .ledger import Account
from .recovery import RecoveryReport
from .state import TRANSITIONS, Event, Phase, Position, apply, forward_path
from .status import StoreStatus, read_status

__all__ = [
    "CRASH_POINTS",
    "TRANSITIONS",
    "Account",
    "BatchReport",
    "ChainHook",
    "Event",
    "FleetGate",
    "KeyInventory",
    "MigrationEngine",
    "NoChainHook",
    "Phase",
    "PlainFileKeyStore",
    "Position",
    "PrivateKeyStore",
    "ReadinessSource",
    "RecoveryReport",
    "StaticReadiness",
    "StoreStatus",
    "ValidatorReadiness",
    "apply",
    "forward_path",
    "next_state",
    "parse_threshold",
    "read_status",
]
