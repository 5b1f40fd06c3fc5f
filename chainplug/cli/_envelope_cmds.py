"""``chainplug verify`` and ``chainplug inspect``: check or show a raw transaction or an envelope."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ._output import EXIT_OK, emit


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    verify = sub.add_parser(
        "verify",
        parents=[common],
        help="verify a raw transaction or composite envelope under a policy",
        description=(
            "Verify a raw signed transaction or a composite envelope (binary or hex; '-' reads stdin). "
            "Exit 0 accepted, 1 rejected, 2 malformed input or usage."
        ),
    )
    verify.add_argument("file", help="input file, or - for stdin")
    verify.add_argument(
        "--policy",
        choices=("legacy", "upgraded", "strict"),
        required=True,
        help=(
            "what accepting means: legacy = the classical signature only (a stock node); upgraded = what the "
            "sender's registered state requires (needs --registry-file); strict = an envelope whose both "
            "signatures are valid, always"
        ),
    )
    verify.add_argument("--registry-file", help="registry JSON (see docs/envelope-v1.md); required for upgraded")
    verify.add_argument("--chain-id", type=int, help="reject transactions for any other chain")
    verify.add_argument(
        "--block", type=int, help="registry state of this block, for a transaction in the next (default: latest)"
    )
    verify.add_argument(
        "--activation-block", type=int, default=0, help="first block whose transactions must carry a valid PQC part"
    )
    verify.set_defaults(handler=_verify)

    inspect = sub.add_parser(
        "inspect",
        parents=[common],
        help="decode and show a raw transaction or envelope (no verification)",
        description="Strictly decode a raw transaction or composite envelope and print its fields.",
    )
    inspect.add_argument("file", help="input file, or - for stdin")
    inspect.set_defaults(handler=_inspect)


TEXT_BYTES = frozenset(range(0x20, 0x7F)) | frozenset(b"\t\n\r\x0b\x0c")


def read_input(name: str) -> bytes:
    """Bytes from a file or stdin: binary, or hex text (optionally 0x-prefixed, line breaks allowed).

    Any other text is refused: a real transaction or envelope is never all printable ASCII (its RLP
    list header alone is a byte >= 0xc0), so reading text as binary would only report nonsense such
    as a transaction of type 0x7a ('z')."""
    where = "stdin" if name == "-" else name
    data = sys.stdin.buffer.read() if name == "-" else Path(name).read_bytes()
    if not data or not set(data) <= TEXT_BYTES:
        return data
    text = b"".join(data.split())
    if text[:2] in (b"0x", b"0X"):
        text = text[2:]
    if not text or any(c not in b"0123456789abcdefABCDEF" for c in text):
        raise ConfigError(
            f"{where} is text but not hex: give the raw transaction or envelope as binary, or as hex "
            "(0x-prefixed or not)"
        )
    if len(text) % 2:
        raise ConfigError(f"{where}: hex input has an odd number of digits")
    return bytes.fromhex(text.decode())


def _verify(args: argparse.Namespace) -> int:
    from ..verify import InMemoryRegistry, LegacyVerifier, StrictVerifier, UpgradedVerifier

    data = read_input(args.file)
    registry = InMemoryRegistry.load(args.registry_file) if args.registry_file else None
    # --block names the registry state to judge by: the parent of the block the transaction enters.
    inclusion_block = None if args.block is None else args.block + 1
    if args.policy == "legacy":
        result = LegacyVerifier(chain_id=args.chain_id).verify(data)
    elif args.policy == "strict":
        result = StrictVerifier(registry, chain_id=args.chain_id).verify(data, inclusion_block=inclusion_block)
    else:
        if registry is None:
            raise ConfigError("--policy upgraded needs --registry-file (the sender states it enforces)")
        verifier = UpgradedVerifier(registry, activation_block=args.activation_block, chain_id=args.chain_id)
        result = verifier.verify(data, inclusion_block=inclusion_block)
    payload = {
        "ok": True,
        "policy": result.policy,
        "sender": "0x" + result.sender.hex(),
        "chain_id": result.chain_id,
        "tx_hash": "0x" + result.tx_hash.hex(),
        "pqc": result.pqc.value,
        "sender_state": result.sender_state.name if result.sender_state is not None else None,
        "key_id": "0x" + result.key_id.hex() if result.key_id else None,
    }
    text = f"accepted ({result.policy}): sender 0x{result.sender.hex()}, PQC {result.pqc.value}"
    emit(payload, text, as_json=args.json)
    return EXIT_OK


def describe(data: bytes) -> dict[str, Any]:
    """Decoded fields of a raw transaction or envelope, JSON-ready."""
    from ..envelope import LegacyTransaction, decode_envelope, decode_transaction, is_envelope

    envelope = decode_envelope(data) if is_envelope(data) else None
    tx = envelope.transaction if envelope else decode_transaction(data)
    u = tx.unsigned
    info: dict[str, Any] = {
        "kind": "envelope" if envelope else "raw-transaction",
        "tx_type": "legacy-eip155" if isinstance(u, LegacyTransaction) else "eip1559",
        "tx_hash": "0x" + tx.tx_hash.hex(),
        "signing_hash": "0x" + tx.signing_hash.hex(),
        "chain_id": u.chain_id,
        "nonce": u.nonce,
        "to": "0x" + u.to.hex() if u.to else None,
        "value": u.value,
        "gas": u.gas,
        "data_bytes": len(u.data),
        "access_list": [
            {"address": "0x" + a.hex(), "storage_keys": ["0x" + k.hex() for k in keys]} for a, keys in u.access_list
        ],
        "raw_transaction_bytes": len(tx.raw),
    }
    if envelope is not None:
        info.update(
            envelope_version=envelope.version,
            suite=envelope.suite,
            key_form="full-key" if envelope.public_key is not None else "key-id",
            key_id="0x" + envelope.key_id.hex(),
            pqc_signature_bytes=len(envelope.pqc_signature),
            envelope_bytes=len(data),
        )
    return info


def _inspect(args: argparse.Namespace) -> int:
    info = describe(read_input(args.file))
    text = "\n".join(f"{key:>22}: {value}" for key, value in info.items())
    emit({"ok": True, **info}, text, as_json=args.json)
    return EXIT_OK
