"""``chainplug gateway``: the JSON-RPC policy gateway in front of an Ethereum node."""

from __future__ import annotations

import argparse
from typing import Any

from ..errors import ConfigError
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


def _gateway(args: argparse.Namespace) -> int:
    from web3 import Web3

    from ..node.admission import AdmissionHook, NodeVersion
    from ..node.gateway import Gateway
    from ..registry import ChainRegistry, KeyRegistryContract

    w3 = Web3(Web3.HTTPProvider(args.upstream, request_kwargs={"timeout": 30}))
    if not w3.is_connected():
        raise ConfigError(f"upstream node {args.upstream} is not reachable")
    chain_id = w3.eth.chain_id
    registry = None
    if args.node_version == NodeVersion.UPGRADED:
        if not args.registry:
            raise ConfigError("--version upgraded needs --registry ADDRESS (the KeyRegistry the policy reads)")
        registry = ChainRegistry(KeyRegistryContract(w3, args.registry))
    hook = AdmissionHook(args.node_version, registry, activation_block=args.activation_block, chain_id=chain_id)
    gateway = Gateway(args.upstream, hook, block_source=lambda: w3.eth.block_number)
    info = {"service": "gateway", "version": args.node_version, "upstream": args.upstream, "chain_id": chain_id}
    return serve(gateway.app(), args.listen, info, as_json=args.json)
