"""Generate the PQC-only transaction test vectors in tests/vectors/pqc_tx/ (docs/pqc-transaction.md).

    python tools/gen_pqc_tx_vectors.py           # (re)write tests/vectors/pqc_tx/pqc-tx-v1.json
    python tools/gen_pqc_tx_vectors.py --check   # exit 1 if the file differs from a fresh build

Reproducible: the ML-DSA-87 signatures are made with dilithium-py in the FIPS 204 *deterministic*
variant (rnd = 32 zero bytes), so a rebuild is byte-identical; chainplug signs hedged, and verifiers
cannot tell the two apart. The encoding is built here from pyrlp directly (not from chainplug's
encoder), and the build stops if chainplug decodes, hashes or verifies any vector differently.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import rlp
from dilithium_py.ml_dsa import ML_DSA_87

from chainplug.constants import PQC_TX_AUTH_GAS, SUITE_LABEL, TX_TYPE_PQC_ONLY
from chainplug.crypto import keccak256
from chainplug.envelope import message_representative
from chainplug.errors import ChainplugError
from chainplug.node.chain import decode_pqc_transaction, verify_pqc_signature
from chainplug.types import Address, Hash32, KeyId

OUT = Path(__file__).resolve().parent.parent / "tests" / "vectors" / "pqc_tx" / "pqc-tx-v1.json"
CHAIN_ID = 1337
# "alice" of tests/vectors/envelope: her ML-DSA-87 seed and address. Test material only.
SEED = bytes(range(32))
SENDER = bytes.fromhex("2c7536e3605d9c16a7a3d7b1898e529396a65c23")

CASES: list[dict[str, Any]] = [
    {
        "name": "transfer",
        "nonce": 0,
        "max_priority_fee_per_gas": 1_000_000_000,
        "max_fee_per_gas": 2_000_000_000,
        "gas": 21_000 + PQC_TX_AUTH_GAS,
        "to": "35" * 20,
        "value": 10**18,
        "data": "",
        "access_list": [],
    },
    {
        "name": "call-with-access-list",
        "nonce": 7,
        "max_priority_fee_per_gas": 0,
        "max_fee_per_gas": 3_000_000_000,
        "gas": 200_000,
        "to": "5fbdb2315678afecb367f032d93f642f64180aa3",
        "value": 0,
        "data": "e6d8d0a5",
        "access_list": [["000000000000000000000000000000000000cafe", ["00" * 31 + "01"]]],
    },
    {
        "name": "create",
        "nonce": 2**64 - 2,
        "max_priority_fee_per_gas": 5,
        "max_fee_per_gas": 10**12,
        "gas": 500_000,
        "to": "",
        "value": 1,
        "data": "6080604052348015600f57600080fd5b50",
        "access_list": [],
    },
]

# The ten signed fields in order; the encoded transaction appends public_key and signature.
FIELDS = [
    "chain_id",
    "nonce",
    "max_priority_fee_per_gas",
    "max_fee_per_gas",
    "gas",
    "to",
    "value",
    "data",
    "access_list",
    "sender",
]


def _hex(data: bytes) -> str:
    return "0x" + data.hex()


def _items(case: dict[str, Any], chain_id: int = CHAIN_ID) -> list[Any]:
    access = [[bytes.fromhex(a), [bytes.fromhex(k) for k in keys]] for a, keys in case["access_list"]]
    return [
        chain_id,
        case["nonce"],
        case["max_priority_fee_per_gas"],
        case["max_fee_per_gas"],
        case["gas"],
        bytes.fromhex(case["to"]),
        case["value"],
        bytes.fromhex(case["data"]),
        access,
        SENDER,
    ]


def _sign(secret: bytes, m_prime: bytes, context: bytes = SUITE_LABEL) -> bytes:
    return bytes(ML_DSA_87.sign(secret, m_prime, ctx=context, deterministic=True))


def _m_prime(public_key: bytes, signing_hash: bytes, classical: bytes = bytes(32)) -> bytes:
    return message_representative(
        chain_id=CHAIN_ID,
        sender=Address(SENDER),
        key_id=KeyId(keccak256(public_key)),
        signing_hash=Hash32(signing_hash),
        classical_signature_hash=classical,
    )


def _encode(items: list[Any], public_key: bytes, signature: bytes) -> bytes:
    return bytes((TX_TYPE_PQC_ONLY,)) + rlp.encode([*items, public_key, signature])


def _reason(raw: bytes) -> str:
    try:
        tx = decode_pqc_transaction(raw)
        verify_pqc_signature(tx)
    except ChainplugError as exc:
        return exc.reason.value
    return "accepted"


def build() -> dict[str, Any]:
    public_key, secret = ML_DSA_87.key_derive(SEED)
    vectors = []
    for case in CASES:
        payload = bytes((TX_TYPE_PQC_ONLY,)) + rlp.encode(_items(case))
        signing_hash = keccak256(payload)
        m_prime = _m_prime(public_key, signing_hash)
        signature = _sign(secret, m_prime)
        raw = _encode(_items(case), public_key, signature)
        vectors.append(
            {
                **case,
                "chain_id": CHAIN_ID,
                "sender": _hex(SENDER),
                "signing_payload": _hex(payload),
                "signing_hash": _hex(signing_hash),
                "m_prime": _hex(m_prime),
                "signature": _hex(signature),
                "raw": _hex(raw),
                "tx_hash": _hex(keccak256(raw)),
            }
        )
    first = bytes.fromhex(vectors[0]["raw"][2:])
    items, sig = _items(CASES[0]), bytes.fromhex(vectors[0]["signature"][2:])
    signing_hash = bytes.fromhex(vectors[0]["signing_hash"][2:])
    flipped = bytearray(sig)
    flipped[0] ^= 1
    negatives = {
        "truncated": first[:-1],
        "trailing-byte": first + b"\x00",
        "wrong-type-byte": b"\x02" + first[1:],
        "empty": b"",
        "eleven-fields": bytes((TX_TYPE_PQC_ONLY,)) + rlp.encode([*items, public_key]),
        "short-public-key": _encode(items, public_key[:-1], sig),
        "long-signature": _encode(items, public_key, sig + b"\x00"),
        "nonce-leading-zero": bytes((TX_TYPE_PQC_ONLY,))
        + rlp.encode([*items[:1], b"\x00\x01", *items[2:], public_key, sig]),
        "chain-id-zero": _encode([0, *items[1:]], public_key, sig),
        "sender-19-bytes": _encode([*items[:9], SENDER[:19]], public_key, sig),
        "signature-bit-flipped": _encode(items, public_key, bytes(flipped)),
        "signed-with-other-context": _encode(items, public_key, _sign(secret, _m_prime(public_key, signing_hash), b"")),
        "signed-with-classical-hash": _encode(
            items, public_key, _sign(secret, _m_prime(public_key, signing_hash, b"\x01" * 32))
        ),
        "signed-for-other-chain": _encode([CHAIN_ID + 1, *items[1:]], public_key, sig),
    }
    return {
        "description": "PQC-only transaction (type 0x50) known-answer vectors; see README.md.",
        "format": "docs/pqc-transaction.md",
        "suite_label": SUITE_LABEL.decode(),
        "mldsa87_signing": "FIPS 204 deterministic variant (rnd = 0^32); chainplug signs hedged",
        "key": {
            "mldsa87_seed": _hex(SEED),
            "public_key": _hex(public_key),
            "key_id": _hex(keccak256(public_key)),
            "sender": _hex(SENDER),
        },
        "signed_fields": FIELDS,
        "pqc_tx_auth_gas": PQC_TX_AUTH_GAS,
        "vectors": vectors,
        "negative": [{"name": name, "raw": _hex(raw), "reason": _reason(raw)} for name, raw in negatives.items()],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="compare with the committed file instead of writing")
    args = parser.parse_args()
    document = build()
    for vector in document["vectors"]:  # self-check: chainplug must accept what pyrlp + dilithium-py built
        if _reason(bytes.fromhex(vector["raw"][2:])) != "accepted":
            raise SystemExit(f"chainplug rejects vector {vector['name']}")
    if any(n["reason"] == "accepted" for n in document["negative"]):
        raise SystemExit("chainplug accepts a negative vector")
    text = json.dumps(document, indent=1) + "\n"
    if args.check:
        same = OUT.exists() and OUT.read_text() == text
        print("vectors up to date" if same else f"{OUT} differs from a fresh build")
        return 0 if same else 1
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(text)
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
