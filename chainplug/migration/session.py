"""An open store: lock held, log replayed (torn tail cut), writer ready, key handles tracked.

The engine, transitions, recovery and batch migration all act through one :class:`Session`. It is
the only place that commits records, and the only place that loads private keys — which is where
"after FINALIZING, classical private material is never loaded again" is enforced.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from pathlib import Path

from ..crypto import MLDSA87SigningKey, PQCBackend, Secp256k1PrivateKey, get_backend
from ..errors import ClassicalKeyRetired, ConfigError, IllegalTransition, UnknownAccount
from ..types import Address
from .chain import ChainHook, NoChainHook
from .keystore_port import PlainFileKeyStore, PrivateKeyStore
from .ledger import Account, Draft, Ledger
from .store import StoreLayout, StoreLock
from .wal import WalWriter, create_log, read_log

logger = logging.getLogger("chainplug.migration")


class Session:
    """One engine's hold on one store. Create with :meth:`open`; :meth:`close` exactly once."""

    def __init__(
        self,
        layout: StoreLayout,
        lock: StoreLock,
        ledger: Ledger,
        wal: WalWriter,
        torn_bytes: int,
        keystore: PrivateKeyStore,
        chain: ChainHook,
        backend: PQCBackend,
    ) -> None:
        self.layout = layout
        self.ledger = ledger
        self.torn_bytes = torn_bytes
        """Bytes of torn log tail dropped when this session opened."""
        self.keystore = keystore
        self.chain = chain
        self.backend = backend
        self._lock = lock
        self._wal = wal
        self._classical_handles: dict[Address, list[Secp256k1PrivateKey]] = {}
        self._pqc_handles: dict[Address, list[MLDSA87SigningKey]] = {}

    @classmethod
    def open(
        cls,
        root: Path,
        *,
        create: bool = False,
        keystore: PrivateKeyStore | None = None,
        chain: ChainHook | None = None,
        backend: PQCBackend | None = None,
    ) -> Session:
        """Lock the store at ``root`` (creating it if ``create``), replay its log, cut a torn tail."""
        layout = StoreLayout(root)
        if create:
            layout.create_directories()
        elif not root.is_dir():
            raise ConfigError(f"{root}: no such store directory")
        else:
            layout.require_exists()  # checked before the lock, so no LOCK file is left in a directory that is no store
        lock = StoreLock(layout)
        try:
            if create and not layout.wal.exists():
                layout.remove_leftovers()
                create_log(layout.wal)
            layout.require_exists()
            log = read_log(layout.wal)
            ledger = Ledger.replay(log, str(layout.wal))
            if log.torn_bytes:
                logger.warning(
                    "%s: dropping a torn tail of %d bytes at offset %d (an interrupted commit)",
                    layout.wal,
                    log.torn_bytes,
                    log.valid_end,
                )
            wal = WalWriter(layout.wal, log.valid_end, log.torn_bytes)
        except BaseException:
            lock.release()
            raise
        backend = backend if backend is not None else get_backend()
        keystore = keystore if keystore is not None else PlainFileKeyStore(layout.keys, backend)
        return cls(layout, lock, ledger, wal, log.torn_bytes, keystore, chain or NoChainHook(), backend)

    def account(self, address: Address) -> Account:
        """The account, or :class:`UnknownAccount`."""
        try:
            return self.ledger.accounts[address]
        except KeyError:
            raise UnknownAccount(f"no account 0x{address.hex()} in {self.layout.root}") from None

    def commit(self, drafts: Iterable[Draft]) -> None:
        """Number, check, append with one fsync, then apply. Nothing is applied if the commit fails."""
        staged = self.ledger.stage(drafts)
        self._wal.commit(staged.records)
        self.ledger.accept(staged)
        for record in staged.records:
            logger.info(
                "0x%s: %s (generation %d, seq %d)",
                record.address.hex(),
                record.event.name,
                record.generation,
                record.seq,
            )

    def load_classical(self, address: Address, *, track: bool) -> Secp256k1PrivateKey:
        """Load a classical key — refused from FINALIZING on, whatever files exist.

        With ``track``, the handle is remembered and destroyed at erasure (or close).
        """
        account = self.ledger.accounts.get(address)
        if account is not None and account.phase.classical_retired:
            raise ClassicalKeyRetired(
                f"0x{address.hex()} is {account.state.name}: its classical private key is never loaded again"
            )
        key = self.keystore.load_classical(address)
        if track:
            self._classical_handles.setdefault(address, []).append(key)
        return key

    def load_pqc(self, address: Address, *, track: bool = True) -> MLDSA87SigningKey:
        """Load the account's current ML-DSA-87 key (HYBRID on). With ``track`` (the default) the
        handle is remembered and destroyed at rollback or close."""
        account = self.account(address)
        if not account.phase.needs_pqc_key:
            raise IllegalTransition(f"0x{address.hex()} is {account.state.name}: it has no ML-DSA-87 key")
        key = self.keystore.load_pqc(address, account.generation)
        if track:
            self._pqc_handles.setdefault(address, []).append(key)
        return key

    def destroy_classical_handles(self, addresses: Sequence[Address]) -> int:
        """Zero and drop every classical key handle this process loaded for ``addresses``."""
        return _destroy_all(self._classical_handles, addresses)

    def destroy_pqc_handles(self, addresses: Sequence[Address]) -> int:
        """Zero and drop every ML-DSA-87 key handle this process loaded for ``addresses``."""
        return _destroy_all(self._pqc_handles, addresses)

    def close(self) -> None:
        """Destroy every tracked key handle, close the log, release the lock. Writes nothing."""
        self.destroy_classical_handles(list(self._classical_handles))
        self.destroy_pqc_handles(list(self._pqc_handles))
        self._wal.close()
        self._lock.release()


def _destroy_all(
    handles: dict[Address, list[Secp256k1PrivateKey]] | dict[Address, list[MLDSA87SigningKey]],
    addresses: Sequence[Address],
) -> int:
    destroyed = 0
    for address in addresses:
        for key in handles.pop(address, []):
            key.destroy()
            destroyed += 1
    return destroyed
