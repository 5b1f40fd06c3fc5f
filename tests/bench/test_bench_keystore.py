"""Keystore unlock: vault (one PBKDF2, then per key ML-KEM + HKDF + AES-GCM) vs single files (one
PBKDF2 each), for 1, 100 and 10,000 keys, and the issue #4 target measured in the same run.

Measure (production PBKDF2 iterations; the 10,000-key vault takes a few seconds to build):

    pytest tests/bench/test_bench_keystore.py --benchmark-enable -s \
        --benchmark-columns=median,iqr,rounds

Target (issue #4): unlocking 10,000 keys < 1.5 x (one PBKDF2 + 10,000 x (ML-KEM-1024 decapsulation +
AES-256-GCM open)). ``test_unlock_10000_against_its_floor`` measures the floor in the setup of each
round, interleaved with the unlock it is compared to, and prints the per-round ratios (median
reported), once with the unlock in one thread and once with PBKDF2 in a second thread (the floor
is single-threaded both times). It also reports the floor *including* the secp256k1 key
construction that re-derives each public key (item 4 of the issue), which no unlock can skip.
Nothing here asserts a time.

With ``--benchmark-disable`` (the suite default) each case runs once, at toy sizes and a low
iteration count, to keep the harness correct.
"""

import os
import statistics
import time
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

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


def _floor(kem: KemKey, n: int, iterations: int) -> tuple[float, float, float]:
    """(one PBKDF2-HMAC-SHA3-256, n x (ML-KEM-1024 decaps + AES-256-GCM open), n x secp256k1 key
    construction) in seconds, through the same libraries the keystore uses."""
    started = time.perf_counter()
    PBKDF2HMAC(hashes.SHA3_256(), 32, os.urandom(32), iterations).derive(PASSWORD.encode())
    pbkdf2 = time.perf_counter() - started
    _, ciphertext = get_backend().mlkem1024_encapsulate(kem.encapsulation_key_bytes)
    aad, nonce = os.urandom(3400), os.urandom(12)  # a key file's header is about 3.4 KB of AD
    sealed = AESGCM(bytes(32)).encrypt(nonce, bytes(32), aad)
    started = time.perf_counter()
    for _ in range(n):
        shared = kem.decapsulate(ciphertext)
        AESGCM(bytes(32)).decrypt(nonce, sealed, aad)  # key setup + open, as for every key file
    per_key = time.perf_counter() - started
    assert len(shared) == 32
    secrets = [_key(i).secret_bytes() for i in range(min(n, 1000))]
    started = time.perf_counter()
    for i in range(n):
        Secp256k1PrivateKey(secrets[i % len(secrets)])
    keys = time.perf_counter() - started
    return pbkdf2, per_key, keys


@pytest.mark.parametrize("threads", [1, 2], ids=["1-thread", "2-threads"])
@pytest.mark.benchmark(group="keystore-target")
def test_unlock_10000_against_its_floor(benchmark: Any, store: Store, threads: int) -> None:
    """The floor is single-threaded in both cases; with 2 threads the unlock also uses a second core."""
    policy, enabled = _mode(benchmark)
    n = 10_000 if enabled else 3
    directory = store.vault(n, policy)
    floors: list[tuple[float, float, float]] = []

    def setup() -> tuple[tuple[Any, ...], dict[str, Any]]:
        floors.append(_floor(store.kem, n, policy.iterations))
        return (store, directory, policy, threads), {}

    assert benchmark.pedantic(_unlock_vault, setup=setup, rounds=3 if enabled else 1) == n
    if not enabled:
        return
    unlocks = benchmark.stats.stats.data
    ratios = [u / (p + k) for u, (p, k, _) in zip(unlocks, floors, strict=True)]
    ratios_with_keys = [u / (p + k + c) for u, (p, k, c) in zip(unlocks, floors, strict=True)]
    report = {
        "pbkdf2_s": statistics.median(f[0] for f in floors),
        "decaps_plus_gcm_per_key_us": statistics.median(f[1] for f in floors) / n * 1e6,
        "secp256k1_key_construction_per_key_us": statistics.median(f[2] for f in floors) / n * 1e6,
        "unlock_s": statistics.median(unlocks),
        "ratio_vs_issue_floor": statistics.median(ratios),
        "ratio_vs_floor_with_key_construction": statistics.median(ratios_with_keys),
        "target": 1.5,
    }
    benchmark.extra_info.update(report)
    print(f"\nkeystore unlock of 10,000 keys ({threads} thread(s)):", {k: round(v, 3) for k, v in report.items()})
