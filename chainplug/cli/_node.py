"""``chainplug gateway``: the JSON-RPC policy gateway in front of an Ethereum node."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ._args import registry_address
from ._serve import serve


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    gateway = sub.add_parser(
        "gateway",
        parents=[common],
        help="run the JSON-RPC policy gateway in front of an Ethereum node",
        description=(
            "Serve JSON-RPC on --listen: admit or reject eth_sendRawTransaction and chainplug_sendEnvelope by "
            "the node version's policy, forward to --upstream, keep PQC sidecars (chainplug_getSidecar), and pass "
            "every other method through unchanged. Metrics at /metrics, health at /health."
        ),
    )
    gateway.add_argument("--upstream", required=True, help="the node's JSON-RPC URL, e.g. http://127.0.0.1:8545")
    gateway.add_argument("--listen", default="127.0.0.1:8546", help="HOST:PORT (default loopback 127.0.0.1:8546)")
    gateway.add_argument("--version", choices=("legacy", "upgraded"), default="upgraded", dest="node_version")
    gateway.add_argument("--registry", help="KeyRegistry contract address (required for --version upgraded)")
    gateway.add_argument("--activation-block", type=int, default=0, help="block from which PQC parts are enforced")
    gateway.set_defaults(handler=_gateway)

    validator = sub.add_parser("validator", help="validator processes (see: chainplug validator run --help)")
    actions = validator.add_subparsers(dest="action", metavar="ACTION")
    actions.required = True
    run = actions.add_parser(
        "run",
        parents=[common],
        help="follow a chain, check every block under a version's rules, publish attestations",
        description=(
            "Follow --rpc, check every transaction of every block (and its PQC sidecar from --sidecars) under "
            "--version, append one attestation per block to STATE_DIR/attestations.jsonl and serve them at "
            "/attestations; restarts continue after the last attested block. Metrics at /metrics."
        ),
    )
    run.add_argument("--version", choices=("legacy", "upgraded"), required=True, dest="node_version")
    run.add_argument("--rpc", required=True, help="the chain's JSON-RPC URL")
    run.add_argument("--sidecars", action="append", default=[], help="chainplug_getSidecar endpoint (repeatable)")
    run.add_argument("--registry", help="KeyRegistry address (required for --version upgraded)")
    run.add_argument("--activation-block", type=int, default=0)
    run.add_argument("--listen", default="127.0.0.1:9100", help="HOST:PORT for /attestations (default loopback)")
    run.add_argument("--state-dir", required=True, help="directory for the attestation log")
    run.add_argument("--name", default="validator", help="name used in attestations and metrics")
    run.add_argument("--workers", type=int, default=0, help="verification processes (default: one per core)")
    run.add_argument("--start-height", type=int, default=1, help="first block to check on a fresh state dir")
    run.add_argument("--poll-interval", type=float, default=0.5, help="seconds between head polls")
    run.set_defaults(handler=_validator_run)

    host = actions.add_parser(
        "host",
        parents=[common],
        help="run several validators in one process, each verifying on its own",
        description=(
            "Run the validators listed in --members (a JSON list of {name, version, state_dir, listen}) in one "
            "process: each is a validator as 'validator run' makes one (its own admission hook and registry view, "
            "its own attestation log, its own /attestations, /health and /metrics on its own listen address), but "
            "they share one follower loop and the bytes of each block, fetched once. Verification runs inline: "
            "one core per host."
        ),
    )
    host.add_argument("--members", required=True, type=Path, help="JSON file listing the validators")
    host.add_argument("--rpc", required=True, help="the chain's JSON-RPC URL")
    host.add_argument("--sidecars", action="append", default=[], help="chainplug_getSidecar endpoint (repeatable)")
    host.add_argument("--registry", help="KeyRegistry address (required if any validator is upgraded)")
    host.add_argument("--activation-block", type=int, default=0)
    host.add_argument("--poll-interval", type=float, default=0.5, help="seconds between head polls")
    host.set_defaults(handler=_validator_host)


def _gateway(args: argparse.Namespace) -> int:
    from ..node.admission import AdmissionHook, NodeVersion
    from ..node.gateway import Gateway
    from ..node.upstream import UpstreamView
    from ..rpc import AsyncRpcClient, RpcCallError, RpcClient

    try:  # the chain id never changes: read once, here
        chain_id = int(RpcClient(args.upstream, timeout=30).call("eth_chainId"), 16)
    except (RpcCallError, TypeError, ValueError) as exc:
        raise ConfigError(f"upstream node {args.upstream} is not reachable: {exc}") from None
    view = None
    if args.node_version == NodeVersion.UPGRADED:
        if not args.registry:
            raise ConfigError("--version upgraded needs --registry ADDRESS (the KeyRegistry the policy reads)")
        view = UpstreamView(AsyncRpcClient(args.upstream, timeout=30), registry_address(args.registry))
    hook = AdmissionHook(args.node_version, view, activation_block=args.activation_block, chain_id=chain_id)
    gateway = Gateway(args.upstream, hook, view=view)
    info = {"service": "gateway", "version": args.node_version, "upstream": args.upstream, "chain_id": chain_id}
    return serve(gateway.app(), args.listen, info, as_json=args.json)


def _validator_run(args: argparse.Namespace) -> int:
    from ..node.admission import NodeVersion
    from ..node.validator import Validator, ValidatorConfig
    from ..node.validator_service import ValidatorService

    if args.node_version == NodeVersion.UPGRADED and not args.registry:
        raise ConfigError("--version upgraded needs --registry ADDRESS")
    config = ValidatorConfig(
        name=args.name,
        version=NodeVersion(args.node_version),
        rpc_url=args.rpc,
        sidecar_urls=tuple(args.sidecars),
        registry_address=args.registry,
        activation_block=args.activation_block,
        state_dir=Path(args.state_dir),
        workers=args.workers,
        start_height=args.start_height,
    )
    service = ValidatorService(Validator(config), poll_interval=args.poll_interval)
    info = {"service": "validator", "name": args.name, "version": args.node_version, "rpc": args.rpc}
    return serve(service.app(), args.listen, info, as_json=args.json)


def _validator_host(args: argparse.Namespace) -> int:
    from ..node.validator_host import ValidatorHost, read_members
    from ._serve import serve_many

    common = {"rpc_url": args.rpc, "sidecar_urls": tuple(args.sidecars), "registry_address": args.registry,
              "activation_block": args.activation_block}  # fmt: skip
    host = ValidatorHost(read_members(args.members, common=common), poll_interval=args.poll_interval)
    names = [m.config.name for m in host.members]
    info = {"service": "validator-host", "validators": names, "rpc": args.rpc}
    return serve_many(host.apps(), info, as_json=args.json, background=host.follow)
