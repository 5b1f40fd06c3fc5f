"""The node path end to end, against py-evm building the same transactions into blocks directly.

What is measured, with real processes over loopback sockets:

* **composite**: ``chainplug chain serve --block-time`` (upgraded rules, KeyRegistry, activation at
  block 0) behind ``chainplug gateway --version upgraded``; registered HYBRID senders, each a client that
  sends its composite transfers (``chainplug_sendEnvelope``) to the gateway one after another, every
  sender at once. The rate is transactions / (first submission .. every one of them seen mined).
* **bare**: unregistered (CLASSICAL) senders' raw EIP-1559 transfers sent straight to the chain
  (``eth_sendRawTransaction``), the same way.

The floor of each: stock py-evm (Prague, ``MiningChain.build_block_with_transactions_and_withdrawals``)
decoding the *same* classical transactions from their bytes (so it recovers their signatures) and
building them into blocks of at most the chain's gas limit, in this process. Each run is bracketed by
two floor measurements (the load of a shared machine drifts) and the ratio is the median over rounds of
(end-to-end rate / floor rate). The node path runs in three processes (these clients, gateway, chain)
on however many cores there are; the floor on one.

Beside them, the **engine**: the chain's own pool and block building (``ChainBackend``, in this process,
no HTTP, hashing as ``chain serve`` does: py-evm on eth-hash's C keccak) on the same kind of transactions,
against the same floor — where the chain is faster or slower than py-evm's own block building before any
process or socket is involved — and the floor once more on the C keccak, to show what that choice alone
is worth. The floor itself is py-evm as installed (eth-hash picks pycryptodome when both are there).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .harness import Harness

TARGET_RATIO = 0.5
"""Issue #14: composite transactions through the gateway, accepted and mined, at >= 0.5 x the floor."""
CHAIN_ID = 1337
BLOCK_TIME = 1.0
"""Seconds between blocks of the measured chain (a run's last transaction waits for its block: at most
one interval, part of the measured time)."""
GAS_LIMIT = 30_000_000
MAX_FEE = 100 * 10**9
"""Far above the base fee however full the blocks get (the workload is signed before the run)."""
TIP = 10**9
FUNDING = 10 * 10**18
COMPOSITE_GAS = 30_000
BARE_GAS = 21_000
RECIPIENT = "0x5a5A5a5a5A5a5a5a5a5A5a5A5A5a5a5A5A5A5A5A"  # checksummed, as eth-account wants
POLL = 0.02
JSON_HEADERS = {"Content-Type": "application/json"}


@dataclass(frozen=True, slots=True)
class Tx:
    """One signed transaction of the workload: what is sent, and what the floor builds."""

    payload: bytes
    """What the client sends: the envelope (composite) or the raw transaction (bare)."""
    raw: bytes
    """The classical transaction (the floor's input)."""
    sender: bytes
    nonce: int
    gas: int


@dataclass
class Workload:
    """Every signed transaction, per round: ``composite[r][s]`` = sender s's transfers in round r in
    nonce order, likewise ``bare``."""

    senders: int
    per_sender: int
    rounds: int
    composite_accounts: list[Any] = field(default_factory=list)
    bare_keys: list[bytes] = field(default_factory=list)
    registrations: list[bytes] = field(default_factory=list)
    composite: list[list[list[Tx]]] = field(default_factory=list)
    bare: list[list[list[Tx]]] = field(default_factory=list)

    @property
    def per_round(self) -> int:
        return self.senders * self.per_sender


def _address(key: bytes) -> bytes:
    from ..crypto import Secp256k1PrivateKey

    return bytes(Secp256k1PrivateKey(key).address)


def build_workload(senders: int, per_sender: int, rounds: int, registry: str, say: Callable[[str], None]) -> Workload:
    """Sign everything before the run: registrations (nonce 0), then ``rounds`` x ``per_sender``
    composite transfers per HYBRID sender, and as many bare transfers per CLASSICAL sender."""
    from eth_account import Account
    from web3 import Web3

    from ..envelope import CompositeAccount
    from ..registry import KeyRegistryContract, Transition

    work = Workload(senders, per_sender, rounds)
    contract = KeyRegistryContract(Web3(), registry)  # encodes calls only: no node behind it
    fees = {"maxFeePerGas": MAX_FEE, "maxPriorityFeePerGas": TIP}
    for index in range(senders):
        account = CompositeAccount.from_keys((0xB000 + index).to_bytes(32, "big"), (0xC000 + index).to_bytes(32, "big"))
        work.composite_accounts.append(account)
        call = contract.transition_call(Transition.REGISTER, account.key_id)
        register = account.sign_transaction({"chainId": CHAIN_ID, "nonce": 0, "value": 0, "gas": 150_000,
                                             **call, **fees})  # fmt: skip
        work.registrations.append(register.envelope)
        work.bare_keys.append((0xD000 + index).to_bytes(32, "big"))
    for round_index in range(rounds):
        say(f"node: signing round {round_index + 1}/{rounds} ({2 * work.per_round} transactions)")
        composite_round, bare_round = [], []
        for index, account in enumerate(work.composite_accounts):
            composite, bare = [], []
            key, sender = work.bare_keys[index], _address(work.bare_keys[index])
            for offset in range(per_sender):
                nonce = 1 + round_index * per_sender + offset
                tx = {"chainId": CHAIN_ID, "nonce": nonce, "to": RECIPIENT, "value": 1, "gas": COMPOSITE_GAS, **fees}
                signed = account.sign_transaction(tx)
                composite.append(Tx(signed.envelope, signed.raw_transaction, account.address_bytes, nonce,
                                    COMPOSITE_GAS))  # fmt: skip
                bare_tx = {**tx, "nonce": nonce - 1, "gas": BARE_GAS, "type": 2}
                raw = bytes(Account.sign_transaction(bare_tx, key).raw_transaction)
                bare.append(Tx(raw, raw, sender, nonce - 1, BARE_GAS))
            composite_round.append(composite)
            bare_round.append(bare)
        work.composite.append(composite_round)
        work.bare.append(bare_round)
    return work


def interleave(per_sender: Sequence[Sequence[Tx]]) -> list[Tx]:
    """One list in an order every sender's nonces allow: round robin over senders."""
    longest = max(map(len, per_sender), default=0)
    return [txs[i] for i in range(longest) for txs in per_sender if i < len(txs)]


# --- the floor --------------------------------------------------------------------------------------


def _floor_chain(senders: dict[bytes, int]) -> Any:
    from eth.chains.base import MiningChain
    from eth.constants import ZERO_ADDRESS
    from eth.db.atomic import AtomicDB
    from eth.vm.forks.prague import PragueVM
    from eth_typing import Address as EvmAddress
    from eth_typing import BlockNumber

    chain_class = MiningChain.configure(
        __name__="FloorChain", vm_configuration=((BlockNumber(0), PragueVM),), chain_id=CHAIN_ID
    )
    genesis = {"coinbase": ZERO_ADDRESS, "difficulty": 0, "gas_limit": GAS_LIMIT, "extra_data": b"",
               "mix_hash": bytes(32), "nonce": bytes(8), "timestamp": int(time.time())}  # fmt: skip
    alloc = {EvmAddress(a): {"balance": FUNDING, "nonce": n, "code": b"", "storage": {}} for a, n in senders.items()}
    return chain_class.from_genesis(AtomicDB(), genesis, alloc)  # type: ignore[arg-type]


def floor_seconds(txs: Sequence[Tx]) -> float:
    """Seconds for stock py-evm to decode ``txs`` (in order) and build them into blocks of at most the gas
    limit, each on a fresh chain where the senders hold ether and have the nonces it starts from."""
    chunks: list[list[Tx]] = [[]]
    gas = 0
    limit = GAS_LIMIT - GAS_LIMIT // 1024  # stock py-evm's first block may lower the genesis limit by 1/1024
    for tx in txs:
        if gas + tx.gas > limit:
            chunks.append([])
            gas = 0
        chunks[-1].append(tx)
        gas += tx.gas
    total = 0.0
    for chunk in chunks:
        starts: dict[bytes, int] = {}
        for tx in chunk:
            starts.setdefault(tx.sender, tx.nonce)
        chain = _floor_chain(starts)
        builder = chain.get_vm().get_transaction_builder()
        started = time.perf_counter()
        transactions = [builder.decode(tx.raw) for tx in chunk]
        block, _, _ = chain.build_block_with_transactions_and_withdrawals(transactions)
        total += time.perf_counter() - started
        if len(block.transactions) != len(chunk):
            raise RuntimeError("the floor block does not hold every transaction")
    return total


# --- the engine (the chain's pool and block building, no HTTP) ----------------------------------------


def engine_seconds(txs: Sequence[Tx], *, composite: bool, accounts: Sequence[Any]) -> float:
    """Seconds for a fresh in-process ChainBackend (manual mining) to take ``txs`` — envelopes
    (``composite``: their senders registered HYBRID first) or raw transactions — and seal them, one block
    per gas limit. ``accounts``: the senders, as dev-account keys (their funding is the genesis)."""
    from ..node.chain.backend import ChainBackend

    funded = {bytes(a.address_bytes): FUNDING for a in accounts}
    backend = ChainBackend(chain_id=CHAIN_ID, accounts=1, activation_block=0, funded=funded)
    backend.automine = False
    if composite:
        _register_in_process(backend, accounts)
    started = time.perf_counter()
    gas = 0
    for tx in txs:
        if gas + tx.gas > GAS_LIMIT:
            backend.mine()
            gas = 0
        if composite:
            backend.send_envelope(tx.payload)
        else:
            backend.send_raw(tx.payload)
        gas += tx.gas
    backend.mine()
    return time.perf_counter() - started


def _register_in_process(backend: Any, accounts: Sequence[Any]) -> None:
    from web3 import Web3

    from ..registry import KeyRegistryContract, Transition

    registry = backend.deploy_registry()
    contract = KeyRegistryContract(Web3(), registry)
    fees = {"maxFeePerGas": MAX_FEE, "maxPriorityFeePerGas": TIP}
    for account in accounts:
        call = contract.transition_call(Transition.REGISTER, account.key_id)
        backend.send_envelope(account.sign_transaction({"chainId": CHAIN_ID, "nonce": 0, "value": 0,
                                                        "gas": 150_000, **call, **fees}).envelope)  # fmt: skip
    backend.mine()


# --- the node ---------------------------------------------------------------------------------------


def _cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of process ``pid`` (Linux /proc), None where unavailable."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def _own_cpu() -> float:
    """User + system CPU seconds of this process (the clients, and the wait for the blocks)."""
    times = os.times()
    return times.user + times.system


def _body(method: str, payload: bytes) -> bytes:
    return json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": ["0x" + payload.hex()]}).encode()


async def send_all(url: str, bodies: list[list[bytes]]) -> tuple[float, list[str]]:
    """Every sender a client sending its requests (encoded before the run) in order, each after the answer
    to the one before, all senders at once; (seconds until the last was answered, refusals)."""
    import aiohttp

    errors: list[str] = []
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=300)) as session:

        async def sender(items: list[bytes]) -> None:
            for body in items:
                async with session.post(url, data=body, headers=JSON_HEADERS) as response:
                    answer = json.loads(await response.read())
                if "error" in answer:
                    errors.append(str(answer["error"]))
                    return

        started = time.perf_counter()
        await asyncio.gather(*(sender(items) for items in bodies))
        return time.perf_counter() - started, errors


def _wait_nonces(rpc: Any, addresses: Sequence[str], nonces: Sequence[int], timeout: float) -> None:
    """Block until every address has ``nonces[i]`` transactions in mined blocks."""
    deadline = time.monotonic() + timeout
    while True:
        answers = rpc.batch([("eth_getTransactionCount", [a, "latest"]) for a in addresses])
        behind = [a for a, n, got in zip(addresses, nonces, answers, strict=True)
                  if isinstance(got, Exception) or int(got, 16) < n]  # fmt: skip
        if not behind:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"{len(behind)} senders' transactions were not mined within {timeout:.0f} s")
        time.sleep(POLL)


@dataclass
class PathRun:
    """One end-to-end run of one path, with the floor measured around it."""

    transactions: int
    accept_s: float
    mined_s: float
    floor_s: float
    cpu_s: dict[str, float]

    @property
    def rate(self) -> float:
        return self.transactions / self.mined_s

    @property
    def floor_rate(self) -> float:
        return self.transactions / self.floor_s

    def to_json(self) -> dict[str, Any]:
        return {"transactions": self.transactions, "accepted_per_s": self.transactions / self.accept_s,
                "mined_per_s": self.rate, "floor_per_s": self.floor_rate, "ratio": self.rate / self.floor_rate,
                "cpu_ms_per_tx": {k: 1000 * v / self.transactions for k, v in self.cpu_s.items()}}  # fmt: skip


def _summary(runs: Sequence[PathRun]) -> dict[str, Any]:
    return {"runs": [r.to_json() for r in runs], "mined_per_s": statistics.median(r.rate for r in runs),
            "floor_per_s": statistics.median(r.floor_rate for r in runs),
            "ratio": statistics.median(r.rate / r.floor_rate for r in runs)}  # fmt: skip


def node_figures(h: Harness, *, quick: bool, senders: int | None = None, per_sender: int | None = None,
                 rounds: int | None = None, block_time: float = BLOCK_TIME) -> dict[str, Any]:  # fmt: skip
    """Composite transactions through the upgraded gateway and bare ones straight to the chain, accepted
    and mined, and the chain's engine in process, each against its floor (see the module docstring)."""
    from eth_account import Account
    from eth_utils.address import to_checksum_address

    from ..devnet.processes import Supervisor
    from ..rpc import RpcClient

    senders = senders or (10 if quick else 50)
    per_sender = per_sender or (10 if quick else 40)
    rounds = rounds or (1 if quick else 3)
    runs: dict[str, list[PathRun]] = {"composite": [], "bare": []}
    supervisor = Supervisor(Path(tempfile.mkdtemp(prefix="chainplug-bench-node-")))
    try:
        h.say("node: starting the chain")
        chain = supervisor.start("chain", ["chain", "serve", "--listen", "127.0.0.1:0", "--deploy-registry",
                                           "--block-time", str(block_time), "--chain-id", str(CHAIN_ID)])  # fmt: skip
        registry = str(chain.info["registry"])
        work = build_workload(senders, per_sender, rounds, registry, h.say)
        h.say("node: starting the gateway")
        gateway = supervisor.start("gateway", ["gateway", "--listen", "127.0.0.1:0", "--upstream", chain.url,
                                               "--version", "upgraded", "--registry", registry])  # fmt: skip
        rpc = RpcClient(chain.url, timeout=60)
        composite_addresses = [to_checksum_address(a.address_bytes) for a in work.composite_accounts]
        bare_addresses = [to_checksum_address(_address(k)) for k in work.bare_keys]
        h.say("node: funding and registering the senders")
        dev = chain.info["accounts"][0]
        nonce = int(rpc.call("eth_getTransactionCount", dev["address"], "pending"), 16)
        for offset, address in enumerate(composite_addresses + bare_addresses):
            tx = {"chainId": CHAIN_ID, "nonce": nonce + offset, "to": address, "value": FUNDING, "gas": 21_000,
                  "maxFeePerGas": MAX_FEE, "maxPriorityFeePerGas": TIP, "type": 2}  # fmt: skip
            signed = Account.sign_transaction(tx, dev["private_key"])
            rpc.call("eth_sendRawTransaction", "0x" + bytes(signed.raw_transaction).hex())
        _wait_nonces(rpc, [dev["address"]], [nonce + 2 * senders], 120)
        for envelope in work.registrations:
            rpc.call("chainplug_sendEnvelope", "0x" + envelope.hex())
        _wait_nonces(rpc, composite_addresses, [1] * senders, 120)
        pids = {"chain": chain.process.pid, "gateway": gateway.process.pid}
        h.say("node: floor warm-up")
        floor_seconds(interleave(work.bare[0]))  # imports and first-call costs, outside every round
        for round_index in range(rounds):
            for path in ("composite", "bare"):
                if path == "composite":
                    url, method, txs = gateway.url, "chainplug_sendEnvelope", work.composite[round_index]
                    addresses, expected = composite_addresses, 1 + (round_index + 1) * per_sender
                else:
                    url, method, txs = chain.url, "eth_sendRawTransaction", work.bare[round_index]
                    addresses, expected = bare_addresses, (round_index + 1) * per_sender
                bodies = [[_body(method, tx.payload) for tx in sender_txs] for sender_txs in txs]
                ordered = interleave(txs)
                h.say(f"node: round {round_index + 1}/{rounds}, {path}: floor")
                floor_before = floor_seconds(ordered)
                h.say(f"node: round {round_index + 1}/{rounds}, {path}: {len(ordered)} transactions end to end")
                cpu_before = {name: _cpu_seconds(pid) for name, pid in pids.items()} | {"client": _own_cpu()}
                started = time.perf_counter()
                accept_s, errors = asyncio.run(send_all(url, bodies))
                if errors:
                    raise RuntimeError(f"{len(errors)} {path} transactions refused, first: {errors[0]}")
                _wait_nonces(rpc, addresses, [expected] * senders, 300)
                mined_s = time.perf_counter() - started
                cpu_after = {name: _cpu_seconds(pid) for name, pid in pids.items()} | {"client": _own_cpu()}
                h.say(f"node: round {round_index + 1}/{rounds}, {path}: floor again")
                floor_s = (floor_before + floor_seconds(ordered)) / 2
                cpu = {name: after - before for name, before in cpu_before.items()
                       if before is not None and (after := cpu_after[name]) is not None}  # fmt: skip
                runs[path].append(PathRun(len(ordered), accept_s, mined_s, floor_s, cpu))
        rpc.close()
    finally:
        supervisor.close()
    result: dict[str, Any] = {"backend": h.backend, "senders": senders, "per_sender": per_sender, "rounds": rounds,
                              "block_time_s": block_time, "target_ratio": TARGET_RATIO,
                              "composite": _summary(runs["composite"]), "bare": _summary(runs["bare"])}  # fmt: skip
    result["engine"] = _engine_figures(h, quick=quick)
    return result


def _engine_figures(h: Harness, *, quick: bool) -> dict[str, Any]:
    """The chain's pool and block building in process, on bare and composite transfers from dev accounts,
    each bracketed by its floor: rates and ratios, medians over rounds."""
    from ..envelope import CompositeAccount

    senders, per_sender, rounds = (10, 20, 1) if quick else (20, 50, 5)
    keys = [(0xF000 + i).to_bytes(32, "big") for i in range(senders)]
    accounts = [CompositeAccount.from_keys(key, (0xE000 + i).to_bytes(32, "big")) for i, key in enumerate(keys)]
    h.say("node: engine workload")
    fees = {"maxFeePerGas": MAX_FEE, "maxPriorityFeePerGas": TIP}
    composite, bare = [], []
    for account in accounts:
        signed = [account.sign_transaction({"chainId": CHAIN_ID, "nonce": 1 + n, "to": RECIPIENT, "value": 1,
                                            "gas": COMPOSITE_GAS, **fees}) for n in range(per_sender)]  # fmt: skip
        composite.append([Tx(s.envelope, s.raw_transaction, account.address_bytes, 1 + n, COMPOSITE_GAS)
                          for n, s in enumerate(signed)])  # fmt: skip
    from eth_account import Account

    for key, account in zip(keys, accounts, strict=True):
        raws = [bytes(Account.sign_transaction({"chainId": CHAIN_ID, "nonce": n, "to": RECIPIENT, "value": 1,
                                                "gas": BARE_GAS, "type": 2, **fees}, key).raw_transaction)
                for n in range(per_sender)]  # fmt: skip
        bare.append([Tx(raw, raw, account.address_bytes, n, BARE_GAS) for n, raw in enumerate(raws)])
    from ..node.chain.evm_keccak import FAST_KECCAK, py_evm_keccak

    fast = _loads(FAST_KECCAK)
    result: dict[str, Any] = {"transactions": senders * per_sender, "keccak": FAST_KECCAK if fast else "default"}
    for name, txs, is_composite in (("composite", interleave(composite), True), ("bare", interleave(bare), False)):
        ratios, rates, floors, fast_floors = [], [], [], []

        def engine(txs: list[Tx] = txs, is_composite: bool = is_composite) -> float:
            # as `chainplug chain serve` runs it: py-evm on the C keccak when installed
            with py_evm_keccak(FAST_KECCAK) if fast else contextlib.nullcontext():
                return engine_seconds(txs, composite=is_composite, accounts=accounts)

        engine()  # warm-up
        for round_index in range(rounds):
            h.say(f"node: engine, {name}, round {round_index + 1}/{rounds}")
            before = floor_seconds(txs)
            seconds = engine()
            floor = (before + floor_seconds(txs)) / 2
            ratios.append(floor / seconds)
            rates.append(len(txs) / seconds)
            floors.append(len(txs) / floor)
            if fast:
                with py_evm_keccak(FAST_KECCAK):
                    fast_floors.append(len(txs) / floor_seconds(txs))
        result[name] = {"per_s": statistics.median(rates), "floor_per_s": statistics.median(floors),
                        "ratio": statistics.median(ratios)}  # fmt: skip
        if fast_floors:
            result[name]["floor_fast_keccak_per_s"] = statistics.median(fast_floors)
    return result


def _loads(backend: str) -> bool:
    from eth_hash.utils import load_backend

    try:
        load_backend(backend)
    except ImportError:
        return False
    return True
