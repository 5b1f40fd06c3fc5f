"""The devnet's processes: chain, registry, gateway, validators and signer, wired by configuration.

Every endpoint is configuration: validators get ``--rpc``, ``--sidecars`` and ``--listen``; the
signer gets the chain, the gateway and every validator's URL for the fleet gate. The same wiring
works across hosts (devnet/README.md "Beyond one machine"): an external chain by URL, and remote
validators observed at their URLs. Validators and the signer keep a fixed port for the whole run,
so a restart (rolling upgrade, crash) keeps the URL the signer's fleet gate reads.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from web3 import Web3

from ..registry import KeyRegistryContract
from .processes import Service, Supervisor, free_port
from .rpc import DevnetError, JsonRpc, RpcFailure, get_json
from .scenario import Scenario

LOOPBACK = "127.0.0.1"
NO_PQC_ONLY_TX = (
    "the chain has no PQC-only transaction type (0x50): accounts stop at HYBRID (FINALIZING and PQC_ONLY "
    "steps are skipped), and the chain enforces no PQC rule itself: only the validators judge PQC parts"
)


@dataclass
class ChainInfo:
    url: str
    chain_id: int
    registry: str
    activation_block: int
    kind: str
    pqc_only_tx: bool
    """True when the chain executes PQC-only transactions (type 0x50): the embedded chain does,
    stock clients (anvil, geth) do not."""
    limitations: list[str] = field(default_factory=list)
    clock_driven: bool = False
    """The devnet started this chain and mines it (``--manual-mining``, :class:`~.clock.BlockClock`)."""


@dataclass
class ValidatorState:
    name: str
    url: str
    version: str
    remote: bool
    state_dir: Path
    upgrades: list[dict[str, Any]] = field(default_factory=list)
    restarts: int = 0
    process: str = ""
    """The service (process) it runs in: its own name (``validator run``), or a validator host's."""


class Network:
    """Starts and restarts the devnet's processes through a :class:`Supervisor`."""

    def __init__(self, scenario: Scenario, out: Path, supervisor: Supervisor, *, rpc_url: str | None = None) -> None:
        self.scenario = scenario
        self.out = out
        self.supervisor = supervisor
        self.rpc_override = rpc_url
        self.chain: ChainInfo | None = None
        self.gateway_url: str | None = None
        self.validators: dict[str, ValidatorState] = {}
        self.signer: JsonRpc | None = None
        self.signer_url: str | None = None
        self.token_file = out / "signer.token"
        self.listen = scenario.network.listen_host
        self.advertise = scenario.network.advertise_host
        self._signer_port = free_port(LOOPBACK)
        self.w3: Web3 | None = None

    # --- start ----------------------------------------------------------------------------------

    def start(self) -> None:
        chain = self._start_chain()
        port = free_port(self.listen)
        self.gateway_url = f"http://{self.advertise}:{port}"
        gateway = ["gateway", "--upstream", chain.url, "--registry", chain.registry]
        gateway += ["--activation-block", str(chain.activation_block), "--listen", f"{self.listen}:{port}"]
        fleet = self.scenario.fleet
        for name in fleet.validators:
            remote = fleet.remote.get(name)
            version = "legacy" if name in fleet.legacy else "upgraded"
            url = remote.rstrip("/") if remote else f"http://{self.advertise}:{free_port(self.listen)}"
            state_dir = self.out / "validators" / name
            state_dir.mkdir(parents=True, exist_ok=True)
            self.validators[name] = ValidatorState(name, url, version, remote is not None, state_dir)
        specs: list[tuple[str, list[str]]] = [("gateway", gateway)]
        specs += [(process, self._process_args(process)) for process in self._place_validators()]
        specs.append(("signer", self._signer_args()))  # its fleet gate reads the validators only when asked
        self._signer_started(self.supervisor.start_many(specs)[-1])

    def _start_chain(self) -> ChainInfo:
        spec = self.scenario.chain
        external = self.rpc_override or (spec.rpc_url if spec.kind == "external" else None)
        url = external or ""
        registry = spec.registry or ""
        if external is None:
            args = [
                "chain",
                "serve",
                "--listen",
                f"{self.listen}:0",
                "--chain-id",
                str(spec.chain_id),
                "--accounts",
                "6",
            ]
            # The devnet's BlockClock mines (clock.py): setup takes a fixed number of blocks, and the steps
            # scheduled before activation are held before it, however slow this machine is.
            args += ["--activation-block", str(spec.activation_block), "--manual-mining"]
            info = self.supervisor.start("chain", [*args, "--deploy-registry"]).info
            url = f"http://{self.advertise}:{str(info['url']).rsplit(':', 1)[1]}"
            registry = str(info["registry"])
        self.w3 = Web3(Web3.HTTPProvider(url, request_kwargs={"timeout": 60}))
        if not self.w3.is_connected():
            raise DevnetError(f"chain at {url} is not reachable")
        if not registry:
            registry = KeyRegistryContract.deploy(self.w3, self.w3.eth.accounts[0]).address
        try:
            JsonRpc(url).call("chainplug_chainInfo")
            pqc_only = True
        except RpcFailure:
            pqc_only = False
        limitations = [] if pqc_only else [NO_PQC_ONLY_TX]
        kind = "embedded" if external is None else "external"
        chain_id = int(self.w3.eth.chain_id)
        self.chain = ChainInfo(
            url, chain_id, registry, spec.activation_block, kind, pqc_only, limitations, clock_driven=external is None
        )
        return self.chain

    def _place_validators(self) -> list[str]:
        """Assign every local validator to a process: its own, or a host of ``per_process`` validators
        (in fleet order: v1..v8 in vhost1, v9..v16 in vhost2, ...). Returns the processes in order."""
        local = [v for v in self.validators.values() if not v.remote]
        per = self.scenario.fleet.per_process
        for index, validator in enumerate(local):
            validator.process = validator.name if per == 1 else f"vhost{index // per + 1}"
        return list(dict.fromkeys(v.process for v in local))

    def members(self, process: str) -> list[str]:
        """The validators a process runs."""
        return [v.name for v in self.validators.values() if v.process == process and not v.remote]

    def hosts(self) -> dict[str, list[str]]:
        """Every local process that runs validators, with the validators it runs."""
        return {v.process: self.members(v.process) for v in self.validators.values() if not v.remote}

    def alive(self, name: str) -> bool:
        """Whether the process running validator ``name`` is up (remote validators: assumed)."""
        validator = self.validators[name]
        return validator.remote or self.supervisor.services[validator.process].alive

    def _process_args(self, process: str) -> list[str]:
        if process in self.validators and self.validators[process].process == process:
            return self._validator_args(self.validators[process])
        return self._host_args(process)

    def _common_validator_args(self) -> list[str]:
        chain = self.require_chain()
        args = ["--rpc", chain.url, "--registry", chain.registry, "--activation-block", str(chain.activation_block)]
        args += ["--poll-interval", str(self.scenario.fleet.poll_interval)]
        # Sidecars: the embedded chain keeps every envelope it was sent; a stock node keeps none, the gateway does.
        for url in [chain.url, self.gateway_url] if chain.kind == "embedded" else [self.gateway_url]:
            if url:
                args += ["--sidecars", url]
        return args

    def _host_args(self, process: str) -> list[str]:
        """``chainplug validator host``: its members file written now, with each member's current version."""
        members = [
            {"name": v.name, "version": v.version, "state_dir": str(v.state_dir),
             "listen": f"{self.listen}:{v.url.rsplit(':', 1)[1]}"}
            for v in (self.validators[name] for name in self.members(process))
        ]  # fmt: skip
        path = self.out / "hosts" / f"{process}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(members, indent=1) + "\n")
        return ["validator", "host", "--members", str(path), *self._common_validator_args()]

    def restart_process(self, process: str, versions: dict[str, str]) -> Service:
        """Stop ``process`` and start it again, its validators in ``versions`` running that version (the
        others as before): a rolling upgrade of a host restarts all of its validators at once."""
        self.supervisor.stop(process)
        for name in self.members(process):
            validator = self.validators[name]
            validator.version = versions.get(name, validator.version)
            validator.restarts += 1
        return self.supervisor.start(process, self._process_args(process))

    def _validator_args(self, validator: ValidatorState) -> list[str]:
        args = ["validator", "run", "--version", validator.version, "--name", validator.name]
        args += ["--state-dir", str(validator.state_dir), "--workers", str(self.scenario.fleet.workers)]
        args += ["--listen", f"{self.listen}:{validator.url.rsplit(':', 1)[1]}"]
        return args + self._common_validator_args()

    def _signer_args(self) -> list[str]:
        chain = self.require_chain()
        if not self.token_file.exists():
            self.token_file.write_text(secrets.token_urlsafe(32))
            self.token_file.chmod(0o600)
        fleet = self.scenario.fleet
        args = ["signer", "serve", "--store", str(self.out / "signer-store"), "--rpc", chain.url]
        args += ["--registry", chain.registry, "--listen", f"{LOOPBACK}:{self._signer_port}"]
        args += ["--token-file", str(self.token_file), "--audit-log", str(self.out / "signer-audit.jsonl")]
        args += ["--threshold", fleet.threshold]
        if chain.kind == "external":
            args += ["--gateway", str(self.gateway_url)]  # the gateway keeps the sidecars a stock node cannot
        if fleet.force_gate:
            args.append("--force-gate")
        for validator in self.validators.values():
            args += ["--readiness-url", validator.url]
        return args

    def _signer_started(self, service: Service) -> Service:
        self.signer_url = service.url
        self.signer = JsonRpc(service.url, token=self.token_file.read_text().strip(), timeout=180)
        return service

    def start_signer(self, *, crash_at: str | None = None) -> Service:
        """Start (or restart) the signer; with ``crash_at`` it SIGKILLs itself at that crash point."""
        env = {"CHAINPLUG_CRASH_AT": crash_at} if crash_at else None
        return self._signer_started(self.supervisor.start("signer", self._signer_args(), extra_env=env))

    def wait_signer_ready(self, timeout: float = 60.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        body: Any = None
        while time.monotonic() < deadline:
            try:
                body = get_json(f"{self.signer_url}/health")
                if isinstance(body, dict) and body.get("ready"):
                    return body
            except RpcFailure:
                pass
            if not self.supervisor.services["signer"].alive:
                raise DevnetError(f"signer exited: {self.supervisor.tail(self.supervisor.services['signer'])}")
            time.sleep(0.1)
        raise DevnetError(f"signer not ready after {timeout:.0f} s: {body}")

    # --- validators -----------------------------------------------------------------------------

    def start_validator(self, name: str, version: str) -> Service:
        """Start a validator's own process again (``per_process = 1``), running ``version``."""
        validator = self.validators[name]
        validator.version = version
        validator.restarts += 1
        return self.supervisor.start(validator.process, self._process_args(validator.process))

    def validator_health(self, name: str) -> dict[str, Any] | None:
        try:
            body = get_json(f"{self.validators[name].url}/health", timeout=2)
        except RpcFailure:
            return None
        return body if isinstance(body, dict) else None

    def wait_validator(self, name: str, *, height: int, version: str, timeout: float = 60.0) -> None:
        """Until the validator answers, runs ``version`` and has attested up to ``height``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            body = self.validator_health(name)
            if body and body.get("version") == version and (body.get("height") or 0) >= height:
                return
            time.sleep(0.1)
        raise DevnetError(f"validator {name} did not reach height {height} as {version} within {timeout:.0f} s")

    # --- helpers --------------------------------------------------------------------------------

    def remote_command(self, name: str) -> str:
        """The command an operator runs on a remote validator's host to join this devnet."""
        validator = self.validators[name]
        args = self._validator_args(validator)
        args[args.index("--state-dir") + 1] = f"./{name}-state"
        args[args.index("--listen") + 1] = f"0.0.0.0:{validator.url.rsplit(':', 1)[1].rstrip('/')}"
        return "chainplug " + " ".join(args)

    def require_chain(self) -> ChainInfo:
        if self.chain is None:
            raise DevnetError("the chain is not started")
        return self.chain

    def require_signer(self) -> JsonRpc:
        if self.signer is None:
            raise DevnetError("the signer is not started")
        return self.signer

    def endpoints(self) -> dict[str, Any]:
        chain = self.require_chain()
        return {
            "chain": chain.url,
            "chain_id": chain.chain_id,
            "registry": chain.registry,
            "activation_block": chain.activation_block,
            "gateway": self.gateway_url,
            "signer": self.signer_url,
            "signer_token_file": str(self.token_file),
            "validators": {
                v.name: {"url": v.url, "version": v.version, "remote": v.remote, "process": v.process}
                for v in self.validators.values()
            },
        }
