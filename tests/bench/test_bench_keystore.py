"""Keystore unlock: vault (one PBKDF2, then per key ML-KEM + HKDF + AES-GCM) vs single files (one
PBKDF2 each), for 1, 100 and 10,000 keys, and the headline 10,000-key figure.

Measure (production PBKDF2 iterations; the 10,000-key vault takes a few seconds to build):

    pytest tests/bench/test_bench_keystore.py --benchmark-enable -s \
        --benchmark-columns=median,iqr,rounds

``test_unlock_10000_against_its_floor`` is the README's figure with its one definition in
chainplug.bench.keystore, the same code ``chainplug bench`` runs: per round, the floor (one PBKDF2 +
10,000 x (ML-KEM-1024 decapsulation + AES-256-GCM open), single-threaded, on the PQC backend in use)
right before ``Vault.open_and_unlock`` in its default mode; the median of per-round ratios is
reported (target <= 1.3 x, issue #18). It runs once more with ``threads=1`` for comparison. Nothing
here asserts a time.

With ``--benchmark-disable`` (the suite default) each case runs once, at toy sizes and a low
iteration count, to keep the harness correct.
"""

from pathlib import Path
from typing import Any

import pytest

from chainplug.bench import keystore as unlock_bench
from chainplug.bench.primitives import MLKEM_DECAPS, Workload, primitive_ops
from chainplug.crypto import Secp256k1PrivateKey, get_backend, keccak256
from chainplug.keystore import (
    Credentials,
    KdfPolicy,
    KemKey,
    KeyToStore,
    Passphrase,
    Vault,
    create_key_file,
    open_key_file,
)

PASSWORD = "benchmark password"
KEM_SEED = bytes(range(64))
SIZES = (1, 100, 10_000)


def _key(i: int) -> Secp256k1PrivateKey:
    return Secp256k1PrivateKey(keccak256(b"bench" + i.to_bytes(4, "big")))


class Store:
    """Builds each vault / set of single files once per module and policy."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.kem = KemKey.from_seed(KEM_SEED)
        self.built: dict[tuple[str, int, int], Path] = {}

    def credentials(self, policy: KdfPolicy) -> Credentials:
        return Credentials(Passphrase(PASSWORD, policy), self.kem)

    def vault(self, n: int, policy: KdfPolicy, *, pqc: bool = False) -> Path:
        key = ("vault-pqc" if pqc else "vault", n, policy.iterations)
        if key not in self.built:
            vault = Vault.create(self.root / f"{key[0]}-{n}-{policy.iterations}", self.credentials(policy))
            if pqc:
                backend = get_backend()
                items = [
                    KeyToStore(
                        backend.mldsa87_from_seed(keccak256(b"pqc" + i.to_bytes(4, "big"))), address=_key(i).address
                    )
                    for i in range(n)
                ]
            else:
                items = [KeyToStore(_key(i)) for i in range(n)]
            for start in range(0, n, 1000):
                vault.put(items[start : start + 1000])
            self.built[key] = vault.directory
        return self.built[key]

    def files(self, n: int, policy: KdfPolicy) -> list[Path]:
        key = ("files", n, policy.iterations)
        if key not in self.built:
            directory = self.root / f"files-{n}-{policy.iterations}"
            directory.mkdir()
            creds = self.credentials(policy)  # one Passphrase: each file still has its own salt
            for i in range(n):
                create_key_file(directory / f"{i}.json", _key(i), creds)
            self.built[key] = directory
        return sorted(self.built[key].glob("*.json"))


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    return Store(tmp_path_factory.mktemp("keystore-bench"))


def _mode(benchmark: Any) -> tuple[KdfPolicy, bool]:
    enabled = not benchmark.disabled
    return (KdfPolicy() if enabled else KdfPolicy.unsafe_for_testing(1000)), enabled


def _unlock_vault(store: Store, directory: Path, policy: KdfPolicy, threads: int | None = None) -> int:
    """Open the vault and unlock every key: ``Vault.open_and_unlock`` (``threads=1``: PBKDF2, then
    the keys, all in this thread; 2: PBKDF2 in a second thread while this one reads and parses)."""
    creds = store.credentials(policy)  # a fresh Passphrase per unlock: PBKDF2 runs every time
    _, keys = Vault.open_and_unlock(directory, creds, threads=threads)
    assert creds.passphrase.derivations == 1
    for key in keys:
        key.destroy()
    return len(keys)


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.benchmark(group="keystore-vault")
def test_vault_unlock(benchmark: Any, store: Store, n: int) -> None:
    policy, enabled = _mode(benchmark)
    n = n if enabled else min(n, 3)
    directory = store.vault(n, policy)
    rounds = 3 if n >= 10_000 else 5
    assert benchmark.pedantic(_unlock_vault, args=(store, directory, policy), rounds=rounds, iterations=1) == n


@pytest.mark.benchmark(group="keystore-vault")
def test_vault_unlock_100_ml_dsa_keys(benchmark: Any, store: Store) -> None:
    policy, enabled = _mode(benchmark)
    n = 100 if enabled else 3
    directory = store.vault(n, policy, pqc=True)
    assert benchmark.pedantic(_unlock_vault, args=(store, directory, policy), rounds=3, iterations=1) == n


@pytest.mark.parametrize("n", SIZES[:2])
@pytest.mark.benchmark(group="keystore-single-file")
def test_single_file_unlock(benchmark: Any, store: Store, n: int) -> None:
    """10,000 single files would take 10,000 PBKDF2 runs (hours); the docs extrapolate from n=100."""
    policy, enabled = _mode(benchmark)
    n = n if enabled else min(n, 3)
    paths = store.files(n, policy)

    def unlock() -> int:
        creds = store.credentials(policy)
        for path in paths:
            open_key_file(path, creds).destroy()
        assert creds.passphrase.derivations == n
        return n

    assert benchmark.pedantic(unlock, rounds=1 if n >= 100 else 3, iterations=1) == n


@pytest.fixture(scope="module")
def headline_vault(tmp_path_factory: pytest.TempPathFactory, benchmark_enabled: bool) -> tuple[Path, KemKey, KdfPolicy]:
    """The vault of the headline figure, built exactly as ``chainplug bench`` builds it."""
    policy = KdfPolicy() if benchmark_enabled else KdfPolicy.unsafe_for_testing(1000)
    kem = KemKey.from_seed(KEM_SEED)
    keys = unlock_bench.UNLOCK_KEYS if benchmark_enabled else 3
    return unlock_bench.build_vault(tmp_path_factory.mktemp("headline") / "vault", keys, kem, policy), kem, policy


@pytest.mark.parametrize("threads", [None, 1], ids=["default-mode", "1-thread"])
@pytest.mark.benchmark(group="keystore-target")
def test_unlock_10000_against_its_floor(
    benchmark: Any, headline_vault: tuple[Path, KemKey, KdfPolicy], threads: int | None
) -> None:
    """The README's 10,000-key figure, measured by chainplug.bench.keystore as ``chainplug bench`` does
    (default mode; also in one thread for comparison). The floor is single-threaded both times."""
    directory, kem, policy = headline_vault
    enabled = not benchmark.disabled
    keys = unlock_bench.UNLOCK_KEYS if enabled else 3
    decapsulate = primitive_ops(get_backend().name, Workload.build())[MLKEM_DECAPS]
    floors: list[unlock_bench.UnlockFloor] = []

    def setup() -> tuple[tuple[Any, ...], dict[str, Any]]:
        floors.append(unlock_bench.measure_floor(directory, keys, policy.iterations, decapsulate))
        return (directory, kem, policy, threads), {}

    rounds = unlock_bench.UNLOCK_ROUNDS if enabled else 1
    assert benchmark.pedantic(unlock_bench.unlock_once, setup=setup, rounds=rounds) == keys
    assert len(floors) == rounds and floors[0].pbkdf2_s > 0 and floors[0].per_key_s > 0
    if not enabled:
        return
    report = unlock_bench.summarise(keys, list(benchmark.stats.stats.data), floors, threads)
    benchmark.extra_info.update({k: v for k, v in report.items() if k != "ratios"})
    print(f"\nvault unlock of {keys:,} keys ({report['mode']} mode, {get_backend().name}): "
          f"{report['unlock_s']:.2f} s = {report['ratio_to_floor']:.2f} x the floor "
          f"(per round: {', '.join(f'{r:.2f}' for r in report['ratios'])}; target <= {report['target']})")  # fmt: skip
