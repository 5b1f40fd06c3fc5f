"""``chainplug signer serve``: the HTTP JSON-RPC signer service over a migration store."""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ._credentials import credential_options, credentials_from_args
from ._migrate import refuse_if_keys_are_elsewhere
from ._serve import serve


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    signer = sub.add_parser("signer", help="the signer service (see: chainplug signer serve --help)")
    actions = signer.add_subparsers(dest="action", metavar="ACTION")
    actions.required = True
    run = actions.add_parser(
        "serve",
        parents=[common, credential_options()],
        help="a drop-in remote signer: wallets point their RPC URL at it (signing and migration for a store)",
        description=(
            "A remote signer for the accounts of --store, in the manner of Web3Signer's eth1 mode and Clef: point a "
            "wallet's or a dapp's RPC URL at it. It answers eth_accounts, eth_sendTransaction, eth_signTransaction, "
            "eth_sign, personal_sign and eth_signTypedData(_v4) itself, signing as each account's migration state "
            "requires (classical, composite envelope, or PQC-only), submits through --gateway (envelopes keep their "
            "PQC sidecar), and forwards every other request to --rpc unchanged. chainplug_* methods create accounts "
            "and drive migration steps (with the on-chain registry transitions when --registry is given). Loopback "
            "by default; every call needs 'Authorization: Bearer TOKEN' with the token from --token-file or "
            "$CHAINPLUG_SIGNER_TOKEN, unless --no-auth (loopback only). /health is ready only after every key is "
            "loaded and checked. Every signature and migration step goes to a hash-chained audit log."
        ),
    )
    run.add_argument("--store", required=True, help="migration store directory (created if missing)")
    run.add_argument("--vault", type=Path, help="keys sealed in this keystore vault (password + KEM key options)")
    run.add_argument("--rpc", required=True, help="the node's JSON-RPC URL: defaults, and every method forwarded")
    run.add_argument("--registry", help="KeyRegistry address: migration steps also move the account on chain")
    run.add_argument("--gateway", help="gateway URL to submit to (envelopes via chainplug_sendEnvelope; else --rpc)")
    run.add_argument("--listen", default="127.0.0.1:8550", help="HOST:PORT (default loopback 127.0.0.1:8550)")
    run.add_argument("--token-file", help="file holding the bearer token (else $CHAINPLUG_SIGNER_TOKEN)")
    run.add_argument("--no-auth", action="store_true",
                     help="INSECURE: no token; for a loopback --listen only, and only for requests from this machine "
                          "that no web page sent (loopback peer and Host, JSON content type, no Origin)")  # fmt: skip
    run.add_argument(
        "--allow-origin",
        action="append",
        default=[],
        metavar="ORIGIN",
        help="with --no-auth: a web origin (e.g. a wallet extension's) whose requests are answered",
    )
    run.add_argument("--audit-log", help="audit log path (default STORE/audit.jsonl)")
    threads_help = ("sign (and fsync the audit log) in a pool of N threads instead of on the event loop: for a "
                    "disk whose fsync is slow, or many cores (default 0: on the loop; see docs/signer.md)")  # fmt: skip
    run.add_argument("--signing-threads", type=int, default=0, metavar="N", help=threads_help)
    fronts_help = ("also serve the port from N front processes (HTTP, JSON, token and proxying there; keys, nonces "
                   "and the audit log stay in this process): throughput on several cores (default 0)")  # fmt: skip
    run.add_argument("--fronts", type=int, default=0, metavar="N", help=fronts_help)
    readiness_help = "validator URL whose /health reports its version, for the fleet gate (repeatable)"
    run.add_argument("--readiness-url", action="append", default=[], help=readiness_help)
    run.add_argument("--threshold", default="all", help="fleet gate: upgraded fraction needed (all, 2/3, 0.9 ...)")
    run.add_argument("--force-gate", action="store_true", help="finalize even if the fleet gate refuses (logged)")
    run.set_defaults(handler=_serve)
    front = actions.add_parser(
        "front",
        parents=[common],
        help="one front process of 'signer serve --fronts N' (started by it; not run by hand)",
        description=(
            "Serve the signer's port beside its key process (SO_REUSEPORT): the signer's own methods go to the key "
            "process over --keyport, every other method to --rpc. 'signer serve --fronts N' starts these with the "
            "same listen address and auth (the token in $CHAINPLUG_SIGNER_TOKEN)."
        ),
    )
    front.add_argument("--keyport", type=Path, required=True, help="the key process's Unix socket")
    front.add_argument("--rpc", required=True, help="the node's JSON-RPC URL (methods the signer does not answer)")
    front.add_argument("--listen", required=True, help="HOST:PORT: the signer's own")
    front.add_argument("--no-auth", action="store_true", help="as the signer runs: loopback-only, no token")
    front.add_argument("--allow-origin", action="append", default=[], metavar="ORIGIN", help="as the signer runs")
    front.set_defaults(handler=_front)


def _serve(args: argparse.Namespace) -> int:
    from web3 import Web3

    from ..envelope import PqcOnlySigner, SignedComposite
    from ..migration import FleetGate, MigrationEngine, PlainFileKeyStore, PrivateKeyStore, parse_threshold
    from ..migration.keystore_adapter import VaultKeyStore, open_or_create_vault
    from ..registry import KeyRegistryContract
    from ..registry.hook import RegistryChainHook, complete_on_chain, complete_on_chain_many
    from ..rpc import RpcClient
    from ..signer.access import is_loopback_host, read_token
    from ..signer.audit import AuditLog
    from ..signer.backend import SigningBackend
    from ..signer.readiness import HttpReadiness
    from ..signer.service import SignerService
    from ..types import Address
    from ._serve import parse_listen

    token = _token(args, read_token, is_loopback_host(parse_listen(args.listen)[0]))
    store = Path(args.store)
    store.mkdir(parents=True, exist_ok=True)
    chain = RpcClient(args.rpc)
    submit_to = RpcClient(args.gateway) if args.gateway else chain
    gate = FleetGate(parse_threshold(args.threshold), force=args.force_gate)
    readiness = HttpReadiness(args.readiness_url) if args.readiness_url else None
    w3 = Web3(Web3.HTTPProvider(args.rpc, request_kwargs={"timeout": 60}))
    if not w3.is_connected():
        raise ConfigError(f"chain RPC {args.rpc} is not reachable")

    credentials = credentials_from_args(args) if args.vault else None
    if credentials is None:
        refuse_if_keys_are_elsewhere(store)

    def open_backend() -> SigningBackend:
        keystore: PrivateKeyStore
        if credentials is not None:
            keystore = VaultKeyStore(open_or_create_vault(args.vault, credentials))  # PBKDF2 once per (re)load
        else:
            keystore = PlainFileKeyStore(store / "keys")
        hook = None

        def send_envelope(signed: SignedComposite) -> str:
            return str(submit_to.call("chainplug_sendEnvelope", "0x" + signed.envelope.hex()))

        if args.registry:
            hook = RegistryChainHook(w3, KeyRegistryContract(w3, args.registry), keystore, send_envelope=send_envelope)
        engine = MigrationEngine.open(store, create=True, keystore=keystore, chain=hook, gate=gate, readiness=readiness)
        return SigningBackend(engine, chain)

    def finish(backend: SigningBackend, address: Address) -> str | None:
        if not args.registry:
            return None
        key = backend.engine.load_pqc_key(address)
        contract = KeyRegistryContract(w3, args.registry)
        try:
            # PQC-only transactions go straight to the chain, the only party that can execute them.
            return complete_on_chain(
                w3,
                contract,
                PqcOnlySigner(key, address),
                lambda raw: str(chain.call("eth_sendRawTransaction", "0x" + raw.hex())),
            )
        finally:
            key.destroy()  # run for every PQC_ONLY account at start: do not keep the keys alive

    def finish_many(backend: SigningBackend, addresses: Sequence[Address]) -> list[str]:
        if not args.registry:
            return []
        keys = [backend.engine.load_pqc_key(address) for address in addresses]
        try:
            return complete_on_chain_many(
                w3,
                KeyRegistryContract(w3, args.registry),
                [PqcOnlySigner(key, address) for key, address in zip(keys, addresses, strict=True)],
                lambda raw: str(chain.call("eth_sendRawTransaction", "0x" + raw.hex())),
            )
        finally:
            for key in keys:
                key.destroy()

    audit = AuditLog(Path(args.audit_log) if args.audit_log else store / "audit.jsonl")
    service = SignerService(open_backend, token=token, audit=audit, rpc_url=args.rpc, submit_url=args.gateway,
                            complete_on_chain=finish, complete_on_chain_many=finish_many,
                            allowed_origins=args.allow_origin, signing_threads=args.signing_threads)  # fmt: skip
    info = {"service": "signer", "store": str(store), "rpc": args.rpc, "gateway": args.gateway,
            "registry": args.registry, "auth": "bearer" if token is not None else "none (loopback only)"}  # fmt: skip
    if args.fronts < 0:
        raise ConfigError("--fronts must be 0 or more")
    app = service.app()
    if not args.fronts:
        return serve(app, args.listen, info, as_json=args.json)
    return serve(app, args.listen, {**info, "fronts": args.fronts}, as_json=args.json, reuse_port=True,
                 on_bound=_start_fronts(service, args, token), hand_over_port=True)  # fmt: skip


def _start_fronts(service: Any, args: argparse.Namespace, token: str | None) -> Any:
    """What ``serve`` runs once the port is bound: the key port on a Unix socket in a fresh directory only
    this user can enter, then ``args.fronts`` front processes on the same port, each announced before
    the signer is (the signer then leaves the port to them). A front that exits is started again. It
    returns what stops them (SIGTERM, then the socket and its directory go)."""
    import asyncio
    import contextlib
    import logging
    import shutil
    import subprocess
    import sys
    import tempfile

    log = logging.getLogger("chainplug.signer")

    async def start(host: str, port: int) -> Any:
        run_dir = Path(tempfile.mkdtemp(prefix="chainplug-signer-"))  # mode 0700
        keyport = run_dir / "keyport.sock"
        server = await service.serve_keyport(keyport)
        env = {key: value for key, value in os.environ.items() if key != "CHAINPLUG_SIGNER_TOKEN"}
        if token is not None:
            env["CHAINPLUG_SIGNER_TOKEN"] = token  # the environment, never the command line
        command = [sys.executable, "-m", "chainplug.cli.main", "signer", "front", "--json", "--keyport", str(keyport),
                   "--rpc", args.rpc, "--listen", f"[{host}]:{port}" if ":" in host else f"{host}:{port}"]  # fmt: skip
        if token is None:
            command += ["--no-auth", *(item for origin in args.allow_origin for item in ("--allow-origin", origin))]

        def launch() -> subprocess.Popen[str]:
            return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)

        async def announced(process: subprocess.Popen[str]) -> bool:
            assert process.stdout is not None
            return bool(await asyncio.to_thread(process.stdout.readline))

        fronts = [launch() for _ in range(args.fronts)]

        async def watch() -> None:
            while True:
                await asyncio.sleep(1.0)
                for index, process in enumerate(fronts):
                    if process.poll() is not None:
                        log.warning("signer front process %d exited (%s): starting it again", process.pid,
                                    process.returncode)  # fmt: skip
                        fronts[index] = launch()
                        await announced(fronts[index])

        watcher: asyncio.Task[None] | None = None

        async def stop() -> None:
            if watcher is not None:
                watcher.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watcher
            for process in fronts:
                if process.poll() is None:
                    process.terminate()
            for process in fronts:
                try:
                    await asyncio.to_thread(process.wait, 20)
                except subprocess.TimeoutExpired:
                    process.kill()
                    await asyncio.to_thread(process.wait)
            server.close()
            shutil.rmtree(run_dir, ignore_errors=True)

        for process in fronts:
            if not await announced(process):
                await stop()
                raise ConfigError("a signer front process did not start (run 'chainplug signer front' to see why)")
        watcher = asyncio.create_task(watch())
        return stop

    return start


def _front(args: argparse.Namespace) -> int:
    from ..signer.access import read_token
    from ..signer.front import FrontService
    from ._serve import serve

    token = None if args.no_auth else read_token(None, dict(os.environ))
    service = FrontService(args.keyport, token=token, rpc_url=args.rpc, allowed_origins=args.allow_origin)
    info = {"service": "signer-front", "keyport": str(args.keyport)}
    return serve(service.app(), args.listen, info, as_json=args.json, reuse_port=True)


NO_AUTH_WARNING = """\
WARNING: chainplug signer serve --no-auth: NO AUTHENTICATION.
  Any program on this machine can sign and send transactions from every account of this signer.
  Requests are answered only from loopback, for a loopback Host, as application/json, without a
  web Origin (unless --allow-origin): a web page cannot use it, a local process can.
  Use a bearer token (--token-file) wherever other users or untrusted software share this machine.
"""


def _token(args: argparse.Namespace, read_token: Any, loopback: bool) -> str | None:
    """The bearer token, or None for --no-auth (refused unless the service listens on loopback)."""
    import sys

    if not args.no_auth:
        if args.allow_origin:
            raise ConfigError("--allow-origin applies to --no-auth only (with a token, origins do not matter)")
        return str(read_token(args.token_file, dict(os.environ)))
    if args.token_file or os.environ.get("CHAINPLUG_SIGNER_TOKEN"):
        raise ConfigError("--no-auth and a bearer token (--token-file or $CHAINPLUG_SIGNER_TOKEN): choose one")
    if not loopback:
        raise ConfigError(f"--no-auth listens on loopback only (127.0.0.1, ::1, localhost), not {args.listen}")
    sys.stderr.write(NO_AUTH_WARNING)
    sys.stderr.flush()
    return None
