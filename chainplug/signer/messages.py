"""Off-chain message signatures the way Ethereum wallets make them: EIP-191 personal messages
(``eth_sign``, ``personal_sign``) and EIP-712 typed data (``eth_signTypedData`` / ``_v4``).

Both are secp256k1 signatures over a 32-byte digest, returned as 65 bytes ``r || s || v`` with
``v`` = 27 or 28 (geth's ``eth_sign``; what ``ecrecover`` and every wallet library expects). There is
no post-quantum form of either that a verifier would accept: contracts and dapps check them with
``ecrecover`` (or an ERC-1271 contract wallet's own rule), so an account without a classical key
cannot make them at all (docs/signer.md §messages).
"""

from __future__ import annotations

from typing import Any

from eth_account.messages import encode_typed_data

from ..crypto import RecoverableSignature, keccak256
from ..errors import ChainplugError, Reason
from ..rpc import Limits, RpcError, loads_limited
from ..types import Hash32


class MalformedMessage(ChainplugError, ValueError):
    """A message or typed-data request that cannot be encoded for signing (the request's fault)."""

    default_reason = Reason.MALFORMED


PERSONAL_PREFIX = b"\x19Ethereum Signed Message:\n"
"""EIP-191 version 0x45 ("E"): the prefix geth's eth_sign and personal_sign put before the message."""

TYPED_DATA_LIMITS = Limits(max_body_bytes=256 * 1024, max_depth=16, max_string=128 * 1024)
"""Typed data given as JSON text is held to the limits the request itself was."""


def personal_message_digest(message: bytes) -> Hash32:
    """keccak256("\\x19Ethereum Signed Message:\\n" || decimal length || message) (EIP-191 0x45)."""
    return Hash32(keccak256(PERSONAL_PREFIX + str(len(message)).encode() + message))


def typed_data_digest(typed_data: Any) -> Hash32:
    """keccak256(0x19 0x01 || domainSeparator || hashStruct(message)) of EIP-712 typed data given as a
    JSON object or its JSON text (``eth_signTypedData_v4``: arrays and nested structs included).

    Raises MalformedMessage (the request's fault) for anything eth-account's encoder refuses.
    """
    if isinstance(typed_data, str):  # ethers sends the JSON text; bounded like a request body
        try:
            typed_data = loads_limited(typed_data.encode(), TYPED_DATA_LIMITS)
        except UnicodeEncodeError:  # a lone surrogate (JSON "\ud800") is no text at all
            raise MalformedMessage("typed data text is not valid Unicode") from None
        except RpcError as exc:
            raise MalformedMessage(f"typed data is not acceptable JSON: {exc.message}") from None
    if not isinstance(typed_data, dict) or not {"types", "primaryType", "domain", "message"} <= set(typed_data):
        raise MalformedMessage("typed data must be an object with types, primaryType, domain and message")
    try:
        signable = encode_typed_data(full_message=typed_data)
    except RecursionError:
        raise MalformedMessage("typed data nests too deeply") from None
    except Exception as exc:  # eth-account raises ValueError, TypeError, KeyError, ValidationError, ...
        raise MalformedMessage(f"typed data does not encode (EIP-712): {type(exc).__name__}: {exc}") from None
    return Hash32(keccak256(b"\x19" + signable.version + signable.header + signable.body))


def wallet_signature(signature: RecoverableSignature) -> str:
    """0x-hex of r || s || v with v = 27 + y_parity, as eth_sign answers."""
    raw = signature.to_bytes()
    return "0x" + (raw[:64] + bytes((27 + raw[64],))).hex()
