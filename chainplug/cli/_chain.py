"""``chainplug chain serve``: the embedded chain (py-evm + the upgraded rules) over HTTP JSON-RPC."""

from __future__ import annotations

import argparse
from typing import Any

from ..errors import ConfigError
from ._args import registry_address


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    chain = sub.add_parser("chain", help="the embedded py-evm chain with the upgraded (PQC) rules")
    chain_sub = chain.add_subparsers(dest="chain_command", metavar="COMMAND")
    chain_sub.required = True
    serve = chain_sub.add_parser(
        "serve",
        parents=[common],
        help="serve the embedded chain over HTTP JSON-RPC",
        description=(
            "Run py-evm (Prague + the chainplug fork: PQC-only transactions of type 0x50, PQC sidecars "
            "required for registered senders from --activation-block on) behind a geth-compatible JSON-RPC "
            "server. Dev accounts are anvil's well-known test keys: TEST ONLY, never fund them elsewhere."
        ),
    )
    serve.add_argument("--listen", default="127.0.0.1:8545", help="HOST:PORT (default loopback 127.0.0.1:8545)")
    serve.add_argument("--chain-id", type=int, default=1337, help="EIP-155 chain id (default 1337)")
    serve.add_argument("--accounts", type=int, default=10, help="pre-funded dev accounts (default 10)")
    serve.add_argument("--mnemonic", help="dev-account mnemonic (default: anvil's test mnemonic)")
    serve.add_argument(
        "--activation-block", type=int, default=0, help="block from which HYBRID senders need a PQC sidecar (default 0)"
    )
    mining = serve.add_mutually_exclusive_group()
    mining.add_argument("--block-time", type=float, help="mine one block every SECONDS (default: one per transaction)")
    mining.add_argument(
        "--manual-mining",
        action="store_true",
        help="mine only when asked (evm_mine): the devnet drives the block clock, so its schedule is held to blocks",
    )
    registry = serve.add_mutually_exclusive_group()
    registry.add_argument("--registry", help="KeyRegistry address the rules read")
    registry.add_argument("--deploy-registry", action="store_true", help="deploy the KeyRegistry at start")
    serve.set_defaults(handler=_serve)


def _serve(args: argparse.Namespace) -> int:
    if args.chain_id <= 0 or args.accounts < 1 or args.activation_block < 0:
        raise ConfigError("--chain-id and --accounts must be positive, --activation-block not negative")
    if args.block_time is not None and args.block_time <= 0:
        raise ConfigError("--block-time must be positive")
    registry = registry_address(args.registry) if args.registry else None
    from ._serve import parse_listen, serve

    parse_listen(args.listen)  # a typo must fail before the chain is built and its dev keys are printed
    from eth_utils.address import to_checksum_address

    from ..node.chain.accounts import DEV_MNEMONIC
    from ..node.chain.backend import ChainBackend
    from ..node.chain.evm_keccak import use_fast_keccak
    from ..node.chain.server import ChainServer

    use_fast_keccak()  # py-evm's hashing on the C keccak (see there): this process runs only the chain

    backend = ChainBackend(
        chain_id=args.chain_id,
        accounts=args.accounts,
        activation_block=args.activation_block,
        registry_address=registry,
        mnemonic=args.mnemonic or DEV_MNEMONIC,
    )
    server = ChainServer(backend, block_time=args.block_time)
    backend.automine = args.block_time is None and not args.manual_mining
    if args.deploy_registry:
        backend.deploy_registry()
    info = server.info()
    accounts = [
        {"address": to_checksum_address(a.address), "private_key": "0x" + a.private_key.hex()} for a in backend.accounts
    ]
    lines = ["chainplug chain — dev accounts (TEST ONLY: publicly known keys)"]
    lines += [f"  ({i}) {a['address']}  key {a['private_key']}" for i, a in enumerate(accounts)]
    lines += [f"  {name}: {value}" for name, value in info.items()]
    announcement = {"service": "chain", **info, "accounts": accounts}
    return serve(server.app(), args.listen, announcement, as_json=args.json, banner="\n".join(lines))
