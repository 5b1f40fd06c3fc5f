"""``chainplug account create``: new CLASSICAL accounts in a key store (creating the store if needed)."""

from __future__ import annotations

import argparse
from typing import Any

from ..errors import ConfigError
from ._migrate import open_engine, store_arguments
from ._output import EXIT_OK, emit

PLAINTEXT_WARNING = (
    "note: without --vault, private keys are stored UNENCRYPTED in {keys}; protect that directory, or use --vault."
)


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    account = sub.add_parser("account", help="manage the accounts of a key store")
    actions = account.add_subparsers(dest="action", metavar="ACTION")
    actions.required = True
    create = actions.add_parser(
        "create",
        parents=[common, store_arguments()],
        help="create new CLASSICAL accounts (fresh secp256k1 keys)",
        description="Create CLASSICAL accounts with fresh secp256k1 keys; the store is created if missing.",
    )
    create.add_argument("--count", type=int, default=1, help="how many accounts (one group commit; default 1)")
    create.set_defaults(handler=_create)


def _create(args: argparse.Namespace) -> int:
    from ..crypto import Secp256k1PrivateKey

    if args.count < 1:
        raise ConfigError("--count must be at least 1")
    keys = [Secp256k1PrivateKey.generate() for _ in range(args.count)]
    try:
        with open_engine(args, create=True) as engine:
            addresses = engine.create_accounts(keys)
            keys_dir = engine.root / "keys"
    finally:
        for key in keys:
            key.destroy()
    hexes = [f"0x{address.hex()}" for address in addresses]
    encrypted = args.vault is not None
    data = {"ok": True, "store": str(args.store), "created": hexes, "state": "CLASSICAL", "keys_encrypted": encrypted}
    lines = [f"{h}  CLASSICAL" for h in hexes]
    text = "\n".join(lines if encrypted else [*lines, PLAINTEXT_WARNING.format(keys=keys_dir)])
    emit(data, text, as_json=args.json)
    return EXIT_OK
