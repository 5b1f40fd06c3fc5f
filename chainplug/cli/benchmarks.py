"""Measurement harness and cases behind ``chainplug bench`` (docs: README "Performance").

Each product operation is measured *interleaved* with the primitives it must run (its floor): every
round times one loop of each, so machine noise hits both alike, and the reported ratio is the median
of per-round ratios. Medians over rounds, interquartile spread shown, warm-up excluded.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

Op = Callable[[], object]


@dataclass(frozen=True, slots=True)
class Timing:
    """Seconds per operation over rounds."""

    name: str
    median: float
    p25: float
    p75: float
    rounds: int

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "median_us": self.median * 1e6, "p25_us": self.p25 * 1e6,
                "p75_us": self.p75 * 1e6, "rounds": self.rounds}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Ratio:
    """A product operation against its floor (sum of the primitives it must run)."""

    name: str
    product: Timing
    floor: list[Timing]
    ratio: float
    """Median of per-round ratios product / sum(floor)."""
    target: float | None = None
    """Issue target (ratio must be <= target), when there is one."""

    @property
    def meets_target(self) -> bool | None:
        return None if self.target is None else self.ratio <= self.target

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "ratio": self.ratio, "target": self.target, "meets_target": self.meets_target,
                "product": self.product.to_json(), "floor": [t.to_json() for t in self.floor]}  # fmt: skip


@dataclass
class Report:
    """Everything one ``chainplug bench`` run measured."""

    machine: dict[str, Any]
    primitives: list[Timing] = field(default_factory=list)
    ratios: list[Ratio] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"machine": self.machine, "primitives": [t.to_json() for t in self.primitives],
                "ratios": [r.to_json() for r in self.ratios], "figures": self.figures}  # fmt: skip


class Harness:
    """Calibrated, interleaved timing. ``quick`` trades precision for a < 60 s run."""

    def __init__(self, *, quick: bool = False, progress: bool = True) -> None:
        self.rounds = 7 if quick else 15
        self.round_time = 0.02 if quick else 0.08
        """Target seconds per timed loop."""
        self.progress = progress

    def say(self, message: str) -> None:
        if self.progress:
            sys.stderr.write(f"\rbench: {message:<70}")
            sys.stderr.flush()

    def _loops(self, op: Op) -> int:
        op()  # warm-up, excluded
        start = time.perf_counter()
        op()
        once = max(time.perf_counter() - start, 1e-7)
        return max(1, int(self.round_time / once))

    @staticmethod
    def _time(op: Op, loops: int) -> float:
        start = time.perf_counter()
        for _ in range(loops):
            op()
        return (time.perf_counter() - start) / loops

    def interleaved(self, ops: Sequence[tuple[str, Op]]) -> list[list[float]]:
        """Per-op lists of seconds-per-op, one entry per round, all ops timed in every round."""
        loops = [self._loops(op) for _, op in ops]
        samples: list[list[float]] = [[] for _ in ops]
        for _ in range(self.rounds):
            for index, (_, op) in enumerate(ops):
                samples[index].append(self._time(op, loops[index]))
        return samples

    def timing(self, name: str, op: Op) -> Timing:
        self.say(name)
        return _summary(name, self.interleaved([(name, op)])[0])

    def ratio(self, name: str, product: Op, floor: Sequence[tuple[str, Op]], target: float | None = None) -> Ratio:
        self.say(name)
        samples = self.interleaved([(name, product), *floor])
        per_round = [p / sum(f[i] for f in samples[1:]) for i, p in enumerate(samples[0])]
        floors = [_summary(label, s) for (label, _), s in zip(floor, samples[1:], strict=True)]
        return Ratio(name, _summary(name, samples[0]), floors, statistics.median(per_round), target)


def _summary(name: str, samples: list[float]) -> Timing:
    ordered = sorted(samples)
    quartiles = statistics.quantiles(ordered, n=4) if len(ordered) > 1 else [ordered[0]] * 3
    return Timing(name, statistics.median(ordered), quartiles[0], quartiles[2], len(ordered))


# --- cases ------------------------------------------------------------------------------------


def machine_info() -> dict[str, Any]:
    import platform

    return {"python": platform.python_version(), "platform": platform.platform(), "cpus": os.cpu_count(),
            "processor": platform.processor() or platform.machine()}  # fmt: skip


def _fixture() -> dict[str, Any]:
    from ..constants import SUITE_LABEL
    from ..envelope import CompositeAccount, decode_envelope
    from ..envelope.message import classical_signature_hash, message_representative
    from ..types import AccountState
    from ..verify import InMemoryRegistry

    account = CompositeAccount.from_keys(b"\x11" * 32, b"\x22" * 32)
    signed = account.sign_transaction(
        {"chainId": 1, "nonce": 7, "gas": 21000, "to": "0x" + "33" * 20, "value": 10**18,
         "maxFeePerGas": 30 * 10**9, "maxPriorityFeePerGas": 10**9}
    )  # fmt: skip
    envelope = decode_envelope(signed.envelope)
    tx = envelope.transaction
    m_prime = message_representative(chain_id=1, sender=account.address_bytes, key_id=account.key_id,
                                     signing_hash=tx.signing_hash,
                                     classical_signature_hash=classical_signature_hash(tx.signature))  # fmt: skip
    registry = InMemoryRegistry()
    registry.set(account.address_bytes, AccountState.HYBRID, public_key=account.pqc_public_key)
    return {"account": account, "signed": signed, "envelope": envelope, "m_prime": m_prime,
            "registry": registry, "label": SUITE_LABEL}  # fmt: skip


def primitive_ops() -> dict[str, Op]:
    """The bare primitives, straight on the libraries (no chainplug code in the timed path)."""
    import coincurve
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import mldsa, mlkem
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC
    from sha3 import keccak_256

    fx = _fixture()
    tx = fx["envelope"].transaction
    secp = coincurve.PrivateKey(b"\x11" * 32)
    sig65, digest = tx.signature.to_bytes(), tx.signing_hash
    ml_private = mldsa.MLDSA87PrivateKey.from_seed_bytes(b"\x22" * 32)
    ml_public = mldsa.MLDSA87PublicKey.from_public_bytes(fx["account"].pqc_public_key)
    ml_sig, m_prime, label = fx["envelope"].pqc_signature, fx["m_prime"], fx["label"]
    kem = mlkem.MLKEM1024PrivateKey.generate()
    kem_public = kem.public_key()
    _, kem_ct = kem_public.encapsulate()
    aes, nonce, blob = AESGCM(b"\x01" * 32), b"\x00" * 12, b"\x02" * 96
    sealed = aes.encrypt(nonce, blob, b"aad")
    iterations = _pbkdf2_iterations()
    fsync_dir = Path(tempfile.mkdtemp(prefix="chainplug-bench-"))

    def fsync_once() -> None:
        fd = os.open(fsync_dir / "f", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            os.write(fd, b"x" * 128)
            os.fsync(fd)
        finally:
            os.close(fd)

    def pbkdf2() -> bytes:
        kdf = PBKDF2HMAC(algorithm=hashes.SHA3_256(), length=32, salt=b"s" * 16, iterations=iterations)
        return kdf.derive(b"password")

    return {
        "secp256k1 sign": lambda: secp.sign_recoverable(digest, hasher=None),
        "secp256k1 recover": lambda: coincurve.PublicKey.from_signature_and_message(sig65, digest, hasher=None).format(
            False
        ),
        "ML-DSA-87 keygen": mldsa.MLDSA87PrivateKey.generate,
        "ML-DSA-87 sign": lambda: ml_private.sign(m_prime, label),
        "ML-DSA-87 verify": lambda: ml_public.verify(ml_sig, m_prime, label),
        "ML-KEM-1024 encaps": kem_public.encapsulate,
        "ML-KEM-1024 decaps": lambda: kem.decapsulate(kem_ct),
        "keccak256 (208 B)": lambda: keccak_256(m_prime).digest(),
        "AES-256-GCM open (96 B)": lambda: aes.decrypt(nonce, sealed, b"aad"),
        f"PBKDF2-HMAC-SHA3-256 ({iterations} it)": pbkdf2,
        "fsync (128 B append)": fsync_once,
    }


def _pbkdf2_iterations() -> int:
    try:
        from .. import constants

        return int(getattr(constants, "KEYSTORE_PBKDF2_ITERATIONS"))  # noqa: B009 - present once the keystore lands
    except (AttributeError, ValueError):
        return 600_000


def envelope_ratios(h: Harness, prims: dict[str, Op]) -> list[Ratio]:
    from eth_account import Account

    from ..envelope import decode_envelope
    from ..verify import LegacyVerifier, UpgradedVerifier

    fx = _fixture()
    signed, registry, account = fx["signed"], fx["registry"], fx["account"]
    legacy, upgraded = LegacyVerifier(chain_id=1), UpgradedVerifier(registry, chain_id=1)
    key_id_envelope = fx["envelope"].without_public_key().encode()
    recover, verify, sign = prims["secp256k1 recover"], prims["ML-DSA-87 verify"], prims["ML-DSA-87 sign"]
    tx = {"chainId": 1, "nonce": 8, "gas": 21000, "to": "0x" + "33" * 20, "maxFeePerGas": 10, "maxPriorityFeePerGas": 1}
    raw = signed.raw_transaction
    return [
        h.ratio("legacy verify", lambda: legacy.verify(raw), [("secp256k1 recover", recover)], 1.5),
        h.ratio(
            "upgraded verify (full key)",
            lambda: upgraded.verify(signed.envelope),
            [("ML-DSA-87 verify", verify), ("secp256k1 recover", recover)],
            1.10,
        ),
        h.ratio(
            "upgraded verify (key id)",
            lambda: upgraded.verify(key_id_envelope),
            [("ML-DSA-87 verify", verify), ("secp256k1 recover", recover)],
            1.10,
        ),
        h.ratio(
            "eth-account recover_transaction",
            lambda: Account.recover_transaction(raw),
            [("secp256k1 recover", recover)],
        ),
        h.ratio("envelope decode", lambda: decode_envelope(signed.envelope), [("secp256k1 recover", recover)]),
        h.ratio(
            "composite sign",
            lambda: account.sign_transaction(tx),
            [("ML-DSA-87 sign", sign), ("secp256k1 sign", prims["secp256k1 sign"])],
        ),
    ]


# --- validator throughput over processes ------------------------------------------------------
#
# What a validator does per transaction: chainplug.node.validator.check_transaction (sidecar decode
# and match, the upgraded verifier with its registry read, the verdict) in a process pool fed with
# executor.map, as Validator.check_block does, with a chunksize so that pool overhead is paid per
# chunk rather than per transaction. Pool rates are normalised per round by the bare primitive
# time measured right before and right after that pool run (the machine's load drifts; see Harness).

_THROUGHPUT_SENDERS = 4
_THROUGHPUT_TXS_PER_SENDER = 4
_THROUGHPUT_PARENT_BLOCK = 1
_THROUGHPUT_CHAIN_ID = 1
_CHUNKS_PER_WORKER = 4

TxItem = tuple[str, bytes, bytes | None, int]


def _throughput_workload() -> tuple[Any, list[TxItem]]:
    """HYBRID senders in an in-memory registry, and distinct validator work items for them:
    (tx hash, raw transaction, sidecar envelope, parent block), as check_block builds them."""
    from ..envelope import CompositeAccount
    from ..types import AccountState
    from ..verify import InMemoryRegistry

    registry = InMemoryRegistry()
    items: list[TxItem] = []
    for index in range(_THROUGHPUT_SENDERS):
        account = CompositeAccount.from_keys(bytes([0x11 + index]) * 32, bytes([0x22 + index]) * 32)
        registry.set(account.address_bytes, AccountState.HYBRID, public_key=account.pqc_public_key)
        for nonce in range(_THROUGHPUT_TXS_PER_SENDER):
            signed = account.sign_transaction(
                {"chainId": _THROUGHPUT_CHAIN_ID, "nonce": nonce, "gas": 21000, "to": "0x" + "33" * 20,
                 "value": 10**18, "maxFeePerGas": 30 * 10**9, "maxPriorityFeePerGas": 10**9}
            )  # fmt: skip
            items.append(("0x" + signed.tx_hash.hex(), signed.raw_transaction, signed.envelope,
                          _THROUGHPUT_PARENT_BLOCK))  # fmt: skip
    return registry, items


def _init_throughput_worker(registry: Any) -> None:
    """Pool initializer: the validator's own worker setup (init_worker), with the in-memory registry."""
    from ..node.validator import init_worker_with_registry

    init_worker_with_registry("upgraded", registry, 0, _THROUGHPUT_CHAIN_ID)


def _chunksize(items: int, workers: int) -> int:
    """A few chunks per worker: pool overhead amortised, load still balanced at the end."""
    return max(1, -(-items // (workers * _CHUNKS_PER_WORKER)))


def _verify_many(pool: ProcessPoolExecutor, work: list[TxItem], chunksize: int) -> float:
    """Seconds for the pool to check ``work`` (every transaction must be accepted with a valid PQC part)."""
    from ..node.validator import check_transaction

    start = time.perf_counter()
    checks = list(pool.map(check_transaction, work, chunksize=chunksize))
    elapsed = time.perf_counter() - start
    for check in checks:
        if not (check.accepted and check.pqc == "valid" and check.sidecar):
            raise RuntimeError(f"validator throughput workload was not accepted: {check}")
    return elapsed


def validator_throughput(h: Harness, prims: dict[str, Op], max_processes: int) -> dict[str, Any]:
    """Transactions (with sidecars) a validator checks per second on 1..N processes vs the bare
    primitive rate (ML-DSA-87 verify + secp256k1 recover per transaction, one core)."""

    def bare() -> None:
        prims["ML-DSA-87 verify"]()
        prims["secp256k1 recover"]()

    h.say("validator throughput: workload")
    registry, items = _throughput_workload()
    floor_first = h._time(bare, h._loops(bare))
    per_process = max(20, int(1.0 / floor_first) // (8 if h.rounds < 10 else 4))  # ~1/8 s (quick), ~1/4 s
    floor_loops = max(1, per_process // 2)  # each bracket half as long as a 1-process run: the two sides
    rounds = min(h.rounds, 9)  # together span about as much time as the run they normalise
    floors: list[float] = []
    rates: dict[int, list[float]] = {}
    normalised: dict[int, list[float]] = {}  # per round: pool rate x bare seconds = pool rate / bare rate
    unchunked: list[float] = []
    for processes in range(1, max_processes + 1):
        h.say(f"validator throughput, {processes} process(es)")
        work = [items[i % len(items)] for i in range(per_process * processes)]
        chunksize = _chunksize(len(work), processes)
        with ProcessPoolExecutor(processes, initializer=_init_throughput_worker, initargs=(registry,)) as pool:
            _verify_many(pool, items * 2 * processes, len(items))  # warm-up: start workers, parse keys
            rates[processes], normalised[processes] = [], []
            floor = h._time(bare, floor_loops)
            for round_index in range(rounds):
                rate = len(work) / _verify_many(pool, work, chunksize)
                after = h._time(bare, floor_loops)
                bracket = (floor + after) / 2  # the bare time on both sides of the pool run
                floors.append(bracket)
                rates[processes].append(rate)
                normalised[processes].append(rate * bracket)
                floor = after
                if processes == 1 and round_index < max(3, rounds // 2):
                    # For comparison: executor.map without a chunksize, as Validator.check_block maps.
                    slow_rate = len(work) / _verify_many(pool, work, 1)
                    after = h._time(bare, floor_loops)
                    unchunked.append(slow_rate * (floor + after) / 2)
                    floor = after
    result: dict[str, Any] = {
        "bare_primitive_rate_per_s": 1.0 / statistics.median(floors),
        "verifications_per_s": {str(p): statistics.median(r) for p, r in rates.items()},
        "ratio_1_process_to_bare": statistics.median(normalised[1]),
        "unchunked_1_process_to_bare": statistics.median(unchunked),
        "chunks_per_worker": _CHUNKS_PER_WORKER,
        "transactions_per_run_per_process": per_process,
    }
    if 2 in normalised:
        result["speedup_2_vs_1"] = statistics.median(normalised[2]) / statistics.median(normalised[1])
    return result


# --- keystore unlock and batch migration (custody scale) ---------------------------------------


def keystore_figures(h: Harness, prims: dict[str, Op], keys: int) -> dict[str, Any]:
    """Unlocking a vault of ``keys`` secp256k1 keys at the production PBKDF2 cost, against its floor:
    one PBKDF2 plus ``keys`` x (ML-KEM-1024 decapsulation + AES-256-GCM open)."""
    from ..crypto import Secp256k1PrivateKey
    from ..keystore import Credentials, KdfPolicy, KemKey, KeyToStore, Passphrase, Vault

    h.say(f"keystore: sealing {keys} keys")
    work = Path(tempfile.mkdtemp(prefix="chainplug-bench-vault-"))
    kem = KemKey.generate()
    vault = Vault.create(work / "vault", Credentials(Passphrase("bench password", KdfPolicy()), kem))
    vault.put([KeyToStore(Secp256k1PrivateKey.generate()) for _ in range(keys)])
    pbkdf2 = next(op for name, op in prims.items() if name.startswith("PBKDF2"))
    timings = []
    for _ in range(3 if h.rounds < 10 else 5):
        h.say(f"keystore: unlocking {keys} keys")
        floor_pbkdf2 = _once(pbkdf2)
        per_key = _per_op(prims["ML-KEM-1024 decaps"], 200) + _per_op(prims["AES-256-GCM open (96 B)"], 200)
        started = time.perf_counter()
        _, unlocked = Vault.open_and_unlock(work / "vault", Credentials(Passphrase("bench password", KdfPolicy()), kem))
        elapsed = time.perf_counter() - started
        for key in unlocked:
            key.destroy()
        timings.append((elapsed, elapsed / (floor_pbkdf2 + keys * per_key), floor_pbkdf2, per_key))
    elapsed, ratio, floor_pbkdf2, per_key = sorted(timings, key=lambda t: t[1])[len(timings) // 2]
    return {"keys": keys, "unlock_s": elapsed, "pbkdf2_s": floor_pbkdf2, "floor_per_key_us": per_key * 1e6,
            "ratio_to_floor": ratio, "target": 1.5,
            "single_file_estimate_s": keys * floor_pbkdf2}  # fmt: skip


def migration_figures(h: Harness, keys: int) -> dict[str, Any]:
    """CLASSICAL -> HYBRID for ``keys`` accounts: group commit vs one commit per key, fsyncs per key,
    and the ratio to the primitives it must run (ML-DSA-87 keygen + writing each key file)."""
    import shutil

    from .. import _fs
    from ..crypto import Secp256k1PrivateKey, get_backend
    from ..migration import MigrationEngine
    from ..types import AccountState

    work = Path(tempfile.mkdtemp(prefix="chainplug-bench-migration-"))
    h.say(f"migration: {keys} accounts")
    with MigrationEngine.open(work / "template", create=True) as engine:
        addresses = engine.create_accounts([Secp256k1PrivateKey.generate() for _ in range(keys)])
    results: dict[str, Any] = {"keys": keys}
    for name, batch_size in (("batch", keys), ("per_key", 1)):
        store = work / name
        shutil.copytree(work / "template", store)
        with MigrationEngine.open(store) as engine:
            before = _fs.SYNC_STATS.snapshot()
            started = time.perf_counter()
            engine.batch(AccountState.HYBRID, batch_size=batch_size, addresses=addresses)
            elapsed = time.perf_counter() - started
            syncs = _fs.SYNC_STATS.since(before).total
        results[name] = {"keys_per_s": keys / elapsed, "syncs_per_key": syncs / keys}
    backend = get_backend()
    floor_dir = work / "floor"
    floor_dir.mkdir()
    started = time.perf_counter()
    for index in range(keys):
        key = backend.mldsa87_generate()
        (floor_dir / f"{index}.key").write_bytes(key.seed_bytes())
    floor = (time.perf_counter() - started) / keys
    results["primitives_per_key_us"] = floor * 1e6
    results["ratio_to_primitives"] = (1 / results["batch"]["keys_per_s"]) / floor
    results["target_ratio"] = 1.5
    results["target_syncs_per_key"] = 0.01
    shutil.rmtree(work, ignore_errors=True)
    return results


def _once(op: Op) -> float:
    started = time.perf_counter()
    op()
    return time.perf_counter() - started


def _per_op(op: Op, count: int) -> float:
    started = time.perf_counter()
    for _ in range(count):
        op()
    return (time.perf_counter() - started) / count


def sizes() -> dict[str, int]:
    fx = _fixture()
    signed = fx["signed"]
    return {
        "raw_transaction": len(signed.raw_transaction),
        "envelope_full_key": len(signed.envelope),
        "envelope_key_id": len(fx["envelope"].without_public_key().encode()),
        "mldsa87_signature": 4627,
        "mldsa87_public_key": 2592,
        "classical_signature": 65,
    }


def run(*, quick: bool, processes: int, progress: bool = True) -> Report:
    """The whole benchmark."""
    h = Harness(quick=quick, progress=progress)
    report = Report(machine=machine_info())
    prims = primitive_ops()
    for name, op in prims.items():
        report.primitives.append(h.timing(name, op))
    report.ratios.extend(envelope_ratios(h, prims))
    report.figures["sizes"] = sizes()
    report.figures["validator_throughput"] = validator_throughput(h, prims, processes)
    report.figures["keystore_unlock"] = keystore_figures(h, prims, 200 if quick else 2000)
    report.figures["migration"] = migration_figures(h, 200 if quick else 1000)
    h.say("done")
    if progress:
        sys.stderr.write("\n")
    return report
