"""Generate the composite envelope v1 test vectors in tests/vectors/envelope/ (docs/envelope-v1.md).

    python tools/gen_envelope_vectors.py           # (re)write the JSON files
    python tools/gen_envelope_vectors.py --check   # exit 1 if the files differ from a fresh build

Fully reproducible: the secp256k1 signatures are RFC 6979 (deterministic, libsecp256k1), and the
ML-DSA-87 signatures are made with dilithium-py in the FIPS 204 *deterministic* variant (rnd = 32 zero
bytes, FIPS 204 Alg. 2 line 5), so a rebuild is byte-identical. chainplug itself signs hedged
(OpenSSL, fresh rnd); verifiers cannot tell the variants apart, and both verify.

Expected verdicts are written out below from the policy table (docs/envelope-v1.md §policy), not read
back from the verifiers; the build then runs every vector through chainplug and stops if the code
disagrees, so a generated file is never a snapshot of a bug.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from dilithium_py.ml_dsa import ML_DSA_87

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests._txcraft

from chainplug import errors
from chainplug.constants import MAX_ENVELOPE_BYTES, SECP256K1_N, SUITE_LABEL
from chainplug.crypto import keccak256
from chainplug.envelope import CompositeAccount, Envelope, decode_transaction, message_representative
from chainplug.envelope.message import classical_signature_hash
from chainplug.types import AccountState
from chainplug.verify import InMemoryRegistry, LegacyVerifier, StrictVerifier, UpgradedVerifier
from tests._txcraft import Encoded, ecdsa_sign_with_nonce, rewrite

OUT_DIR = Path(__file__).resolve().parent.parent / "tests" / "vectors" / "envelope"
POSITIVE_FILE = "envelope-v1.json"
NEGATIVE_FILE = "envelope-v1-negative.json"

CHAIN_ID = 1337

# Fixed test keys: (secp256k1 secret, ML-DSA-87 seed xi). Test material only.
KEYS = {
    "alice": (bytes.fromhex("4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"), bytes(range(32))),
    "bob": (bytes.fromhex("b71c71a67e1177ad4e901695e1b4b9ee17ae16c6668d313eac2f96dbcda3f291"), bytes(range(32, 64))),
}

CASES: list[dict[str, Any]] = [
    {
        "name": "eip1559-transfer",
        "signer": "alice",
        "tx": {
            "chainId": CHAIN_ID,
            "nonce": 0,
            "gas": 21_000,
            "to": "0x3535353535353535353535353535353535353535",
            "value": 10**18,
            "maxFeePerGas": 2_000_000_000,
            "maxPriorityFeePerGas": 1_000_000_000,
        },
    },
    {
        "name": "eip1559-create-with-access-list",
        "signer": "alice",
        "tx": {
            "chainId": CHAIN_ID,
            "nonce": 1,
            "gas": 120_000,
            "value": 0,
            "data": "0x6080604052348015600f57600080fd5b50",
            "maxFeePerGas": 3_000_000_000,
            "maxPriorityFeePerGas": 0,
            "accessList": [
                {
                    "address": "0x000000000000000000000000000000000000cafe",
                    "storageKeys": ["0x" + "00" * 31 + "01"],
                }
            ],
        },
    },
    {
        "name": "eip155-legacy-transfer",
        "signer": "alice",
        "tx": {
            "chainId": CHAIN_ID,
            "nonce": 2,
            "gas": 21_000,
            "to": "0x3535353535353535353535353535353535353535",
            "value": 1,
            "data": "0x",
            "gasPrice": 20_000_000_000,
        },
    },
    {
        "name": "eip1559-transfer-bob",
        "signer": "bob",
        "tx": {
            "chainId": CHAIN_ID,
            "nonce": 0,
            "gas": 21_000,
            "to": "0x3535353535353535353535353535353535353535",
            "value": 10**18,
            "maxFeePerGas": 2_000_000_000,
            "maxPriorityFeePerGas": 1_000_000_000,
        },
    },
]


def _hex(data: bytes) -> str:
    return "0x" + data.hex()


# --- keys and registries ---------------------------------------------------------------------------


def _accounts() -> dict[str, tuple[CompositeAccount, bytes]]:
    """name -> (account, dilithium-py expanded secret key). Both keygens must agree on the public key."""
    result = {}
    for name, (secret, seed) in KEYS.items():
        account = CompositeAccount.from_keys(secret, seed)
        public_key, secret_key = ML_DSA_87.key_derive(seed)
        if public_key != account.pqc_public_key:
            raise SystemExit(f"dilithium-py and chainplug derive different ML-DSA-87 keys for {name}")
        result[name] = (account, secret_key)
    return result


def _registries(accounts: dict[str, tuple[CompositeAccount, bytes]]) -> dict[str, dict[str, Any]]:
    alice, bob = accounts["alice"][0], accounts["bob"][0]

    def make(*rows: tuple[CompositeAccount, AccountState, bool, int]) -> dict[str, Any]:
        registry = InMemoryRegistry()
        for account, state, with_key, from_block in rows:
            public = account.pqc_public_key if with_key else None
            registry.set(account.address_bytes, state, account.key_id, public_key=public, from_block=from_block)
        return registry.to_json()

    h, f, p = AccountState.HYBRID, AccountState.FINALIZING, AccountState.PQC_ONLY
    return {
        "empty": make(),
        "alice-hybrid": make((alice, h, True, 0), (bob, h, True, 0)),
        "alice-hybrid-commitment-only": make((alice, h, False, 0)),
        "alice-hybrid-from-block-10": make((alice, h, True, 10)),
        "alice-finalizing": make((alice, f, True, 0)),
        "alice-pqc-only": make((alice, p, True, 0)),
    }


# --- signing pieces ---------------------------------------------------------------------------------


def _pqc_sign(secret_key: bytes, m_prime: bytes, context: bytes = SUITE_LABEL) -> bytes:
    return ML_DSA_87.sign(secret_key, m_prime, ctx=context, deterministic=True)


def _m_prime(account: CompositeAccount, raw: bytes, key_id: bytes | None = None) -> bytes:
    tx = decode_transaction(raw)
    return message_representative(
        chain_id=tx.chain_id,
        sender=account.address_bytes,
        key_id=key_id or account.key_id,
        signing_hash=tx.signing_hash,
        classical_signature_hash=classical_signature_hash(tx.signature),
    )


def _envelope(raw: bytes, key: bytes, signature: bytes, **header: int) -> bytes:
    """Envelope bytes with optional header overrides (version, suite, kind, form, tx_len)."""
    form = header.get("form", 1 if len(key) == 2592 else 0)
    tx_len = header.get("tx_len", len(raw))
    head = bytes([header.get("version", 1), header.get("suite", 1), header.get("kind", 1), form])
    return b"\x8cPQ" + head + tx_len.to_bytes(4, "big") + raw + key + signature


# Textbook ECDSA with a chosen nonce: a second valid signature over the same digest.
# --- running a vector through chainplug (the build's self-check) ------------------------------------


def inclusion_block(check: dict[str, Any]) -> int | None:
    """The block the transaction enters. A verdict's ``block`` is the registry state it reads: the
    parent of that block (None: latest state, activated)."""
    block = check.get("block")
    return None if block is None else int(block) + 1


def run(data: bytes, check: dict[str, Any], registries: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Run one verdict description; return {"accepted": ...} or {"error": class, "reason": code}."""
    registry = InMemoryRegistry.from_json(registries[check["registry"]]) if check.get("registry") else None
    kind = check["verifier"]
    verifier: Any
    if kind == "legacy":
        verifier = LegacyVerifier(chain_id=check.get("chain_id"))
    elif kind == "strict":
        verifier = StrictVerifier(registry, chain_id=check.get("chain_id"))
    else:
        assert registry is not None
        verifier = UpgradedVerifier(
            registry, activation_block=check.get("activation_block", 0), chain_id=check.get("chain_id")
        )
    try:
        options = {} if kind == "legacy" else {"inclusion_block": inclusion_block(check)}
        result = verifier.verify(data, **options)
    except errors.ChainplugError as exc:
        return {"accepted": False, "error": type(exc).__name__, "reason": exc.reason.value}
    return {
        "accepted": True,
        "sender": _hex(result.sender),
        "pqc": result.pqc.value,
        "sender_state": result.sender_state.name if result.sender_state is not None else None,
        "key_id": _hex(result.key_id) if result.key_id is not None else None,
    }


def _accept(pqc: str, state: str | None, sender: str, key_id: str | None = None) -> dict[str, Any]:
    return {"accepted": True, "sender": sender, "pqc": pqc, "sender_state": state, "key_id": key_id}


def _reject(error: str, reason: str) -> dict[str, Any]:
    return {"accepted": False, "error": error, "reason": reason}


def _verdicts(name: str, sender: str, key_id: str, artifact: bool) -> list[dict[str, Any]]:
    """Expected results for one positive vector (docs/envelope-v1.md §policy)."""
    v: list[dict[str, Any]] = []
    upgraded = {"verifier": "upgraded", "registry": "alice-hybrid"}
    if name.endswith("-bob"):
        return [
            {"input": "envelope_full_key", **upgraded, "expect": _accept("valid", "HYBRID", sender, key_id)},
            {"input": "raw_transaction", **upgraded, "expect": _reject("PolicyRejected", "pqc-required")},
        ]
    v.append({"input": "envelope_full_key", "verifier": "legacy", "expect": _accept("not-checked", None, sender)})
    v.append({"input": "raw_transaction", "verifier": "legacy", "expect": _accept("not-checked", None, sender)})
    v.append({"input": "envelope_full_key", **upgraded, "expect": _accept("valid", "HYBRID", sender, key_id)})
    v.append({"input": "envelope_key_id", **upgraded, "expect": _accept("valid", "HYBRID", sender, key_id)})
    v.append({"input": "raw_transaction", **upgraded, "expect": _reject("PolicyRejected", "pqc-required")})
    v.append(
        {"input": "envelope_full_key", "verifier": "strict", "expect": _accept("valid", "CLASSICAL", sender, key_id)}
    )
    v.append({"input": "raw_transaction", "verifier": "strict", "expect": _reject("PolicyRejected", "pqc-required")})
    v.append(
        {
            "input": "envelope_key_id",
            "verifier": "upgraded",
            "registry": "alice-hybrid-commitment-only",
            "expect": _reject("PolicyRejected", "unknown-key"),
        }
    )
    v.append(
        {
            "input": "envelope_full_key",
            "verifier": "upgraded",
            "registry": "alice-hybrid-commitment-only",
            "expect": _accept("valid", "HYBRID", sender, key_id),
        }
    )
    # Telemetry window: HYBRID, stripped, before activation.
    v.append(
        {
            "input": "raw_transaction",
            **upgraded,
            "activation_block": 100,
            "block": 98,  # parent state: the transaction is in block 99, before activation
            "expect": _accept("missing", "HYBRID", sender),
        }
    )
    v.append(
        {
            "input": "raw_transaction",
            **upgraded,
            "activation_block": 100,
            "block": 99,  # parent state: the transaction is in block 100, the activation block
            "expect": _reject("PolicyRejected", "pqc-required"),
        }
    )
    # Unregistered sender: the WNS artifact (EIP-1559 only) marks a stripped transaction.
    empty = {"verifier": "upgraded", "registry": "empty"}
    v.append({"input": "envelope_full_key", **empty, "expect": _accept("valid", "CLASSICAL", sender, key_id)})
    if artifact:
        v.append({"input": "raw_transaction", **empty, "expect": _reject("PolicyRejected", "pqc-required")})
        v.append(
            {
                "input": "raw_transaction",
                **empty,
                "activation_block": 100,
                "block": 98,
                "expect": _accept("missing", "CLASSICAL", sender),
            }
        )
    else:
        v.append({"input": "raw_transaction", **empty, "expect": _accept("not-expected", "CLASSICAL", sender)})
    # Registry history: registered from block 10.
    hist = {"verifier": "upgraded", "registry": "alice-hybrid-from-block-10"}
    v.append({"input": "raw_transaction", **hist, "block": 10, "expect": _reject("PolicyRejected", "pqc-required")})
    if not artifact:
        v.append(
            {"input": "raw_transaction", **hist, "block": 9, "expect": _accept("not-expected", "CLASSICAL", sender)}
        )
    v.append(
        {
            "input": "raw_transaction",
            "verifier": "upgraded",
            "registry": "alice-finalizing",
            "activation_block": 100,
            "block": 5,
            "expect": _reject("PolicyRejected", "pqc-required"),
        }
    )
    for data in ("envelope_full_key", "raw_transaction"):
        v.append(
            {
                "input": data,
                "verifier": "upgraded",
                "registry": "alice-pqc-only",
                "expect": _reject("PolicyRejected", "classical-not-allowed"),
            }
        )
    v.append(
        {"input": "envelope_full_key", **upgraded, "chain_id": 1, "expect": _reject("PolicyRejected", "wrong-chain")}
    )
    v.append(
        {
            "input": "envelope_full_key",
            **upgraded,
            "chain_id": CHAIN_ID,
            "expect": _accept("valid", "HYBRID", sender, key_id),
        }
    )
    return v


# --- build -----------------------------------------------------------------------------------------------


def build() -> tuple[dict[str, Any], dict[str, Any]]:
    """The two vector documents (positive, negative), fully deterministic."""
    accounts = _accounts()
    registries = _registries(accounts)
    keys = {
        name: {
            "secp256k1_secret": _hex(secret),
            "mldsa87_seed": _hex(seed),
            "address": accounts[name][0].address,
            "mldsa87_public_key": _hex(accounts[name][0].pqc_public_key),
            "key_id": _hex(accounts[name][0].key_id),
        }
        for name, (secret, seed) in KEYS.items()
    }
    vectors = []
    built: dict[str, dict[str, bytes]] = {}
    for case in CASES:
        account, secret_key = accounts[case["signer"]]
        signed = account.sign_transaction(case["tx"])
        raw = signed.raw_transaction
        tx = decode_transaction(raw)
        m_prime = _m_prime(account, raw)
        pqc_signature = _pqc_sign(secret_key, m_prime)
        full = Envelope(tx, account.pqc_public_key, pqc_signature).encode()
        key_id_form = Envelope(tx, account.key_id, pqc_signature).encode()
        built[case["name"]] = {
            "raw": raw,
            "full": full,
            "key_id": key_id_form,
            "m_prime": m_prime,
            "sig": pqc_signature,
        }
        sender = _hex(account.address_bytes)
        vectors.append(
            {
                "name": case["name"],
                "signer": case["signer"],
                "secp256k1_secret": keys[case["signer"]]["secp256k1_secret"],
                "mldsa87_seed": keys[case["signer"]]["mldsa87_seed"],
                "tx": case["tx"],
                "chain_id": tx.chain_id,
                "sender": sender,
                "key_id": _hex(account.key_id),
                "signing_hash": _hex(tx.signing_hash),
                "classical_signature": {
                    "r": hex(tx.signature.r),
                    "s": hex(tx.signature.s),
                    "y_parity": tx.signature.y_parity,
                },
                "classical_signature_hash": _hex(classical_signature_hash(tx.signature)),
                "m_prime": _hex(m_prime),
                "raw_transaction": _hex(raw),
                "tx_hash": _hex(keccak256(raw)),
                "envelope_full_key": _hex(full),
                "envelope_key_id": _hex(key_id_form),
                "verdicts": _verdicts(case["name"], sender, _hex(account.key_id), artifact=raw[0] == 2),
            }
        )
    positive = {
        "description": "Composite envelope v1 (secp256k1 + ML-DSA-87) known-answer vectors; see README.md.",
        "format": "docs/envelope-v1.md",
        "suite_label": SUITE_LABEL.decode(),
        "mldsa87_signing": "FIPS 204 deterministic variant (rnd = 0^32); chainplug signs hedged",
        "keys": keys,
        "registries": registries,
        "vectors": vectors,
    }
    negative = {
        "description": "Composite envelope v1 inputs that must be rejected; see README.md.",
        "format": "docs/envelope-v1.md",
        "registries": registries,
        "vectors": _negatives(accounts, built),
    }
    for document in (positive, negative):
        _self_check(document, registries)
    return positive, negative


def _negatives(accounts: dict[str, tuple[CompositeAccount, bytes]], built: dict[str, dict[str, bytes]]) -> list[Any]:
    alice, alice_sk = accounts["alice"]
    bob = accounts["bob"][0]
    base = built["eip1559-transfer"]
    raw, kid, sig = base["raw"], base["key_id"], base["sig"]
    pk, key_id = alice.pqc_public_key, alice.key_id
    tx = decode_transaction(raw)
    upgraded = {"verifier": "upgraded", "registry": "alice-hybrid"}
    out: list[dict[str, Any]] = []

    def add(name: str, what: str, data: bytes | dict[str, Any], error: str, reason: str, **check: Any) -> None:
        entry: dict[str, Any] = {"name": name, "description": what}
        if isinstance(data, bytes):
            entry["input"] = _hex(data)
        else:
            entry["input_pattern"] = data
        entry |= (check or upgraded) | {"expect": _reject(error, reason)}
        out.append(entry)

    # framing
    add("empty", "zero-length input", b"", "MalformedTransaction", "truncated")
    add("header-only", "11-byte header, nothing after it", kid[:11], "MalformedEnvelope", "truncated")
    add("truncated-1", "key-id envelope minus its last byte", kid[:-1], "MalformedEnvelope", "truncated")
    add(
        "no-pqc-part",
        "header + transaction, key and signature missing",
        _envelope(raw, b"", b""),
        "MalformedEnvelope",
        "truncated",
    )
    add("trailing-byte", "key-id envelope plus one 0x00", kid + b"\x00", "MalformedEnvelope", "trailing-bytes")
    add(
        "oversized",
        f"magic followed by zero bytes up to {MAX_ENVELOPE_BYTES + 1} bytes (cap + 1)",
        {"prefix": "0x8c5051", "fill_byte": "0x00", "length": MAX_ENVELOPE_BYTES + 1},
        "MalformedEnvelope",
        "oversized",
    )
    add(
        "version-0",
        "version byte 0",
        _envelope(raw, key_id, sig, version=0),
        "UnsupportedEnvelope",
        "unsupported-version",
    )
    add(
        "version-2",
        "version byte 2",
        _envelope(raw, key_id, sig, version=2),
        "UnsupportedEnvelope",
        "unsupported-version",
    )
    add("suite-2", "suite byte 2", _envelope(raw, key_id, sig, suite=2), "UnsupportedEnvelope", "unsupported-suite")
    add(
        "kind-pqc-only",
        "kind 2 (PQC_ONLY, reserved, not implemented)",
        _envelope(raw, key_id, sig, kind=2),
        "UnsupportedEnvelope",
        "unsupported-kind",
    )
    add("kind-3", "unknown kind byte", _envelope(raw, key_id, sig, kind=3), "MalformedEnvelope", "malformed")
    add("form-2", "unknown key form byte", _envelope(raw, key_id, sig, form=2), "MalformedEnvelope", "malformed")
    add(
        "form-contradicts-key",
        "form 0 (key id) with a full public key",
        _envelope(raw, pk, sig, form=0),
        "MalformedEnvelope",
        "trailing-bytes",
    )
    add(
        "tx-length-plus-1",
        "tx length field one too large",
        _envelope(raw, key_id, sig, tx_len=len(raw) + 1),
        "MalformedEnvelope",
        "truncated",
    )
    add(
        "tx-length-minus-1",
        "tx length field one too small",
        _envelope(raw, key_id, sig, tx_len=len(raw) - 1),
        "MalformedEnvelope",
        "trailing-bytes",
    )
    add("tx-length-0", "tx length field zero", _envelope(raw, key_id, sig, tx_len=0), "MalformedEnvelope", "malformed")
    add(
        "tx-length-consistent-lie",
        "form 0 and tx length + 2,560: totals add up, tx absorbs key bytes",
        _envelope(raw, pk, sig, form=0, tx_len=len(raw) + 2560),
        "MalformedTransaction",
        "non-canonical",
    )
    add(
        "bad-magic",
        "0x8c 0x50 0x52: not an envelope, not a transaction type",
        b"\x8cPR" + kid[3:],
        "UnsupportedEnvelope",
        "unsupported-transaction-type",
    )
    # classical transaction
    high = rewrite(raw, y_parity=tx.signature.y_parity ^ 1, s=SECP256K1_N - tx.signature.s)
    add(
        "high-s",
        "classical s replaced by n - s (y_parity flipped): malleated copy",
        _envelope(high, key_id, sig),
        "MalformedTransaction",
        "high-s",
    )
    add("high-s-bare", "the same malleated transaction without envelope", high, "MalformedTransaction", "high-s")
    add("r-zero", "classical r = 0", _envelope(rewrite(raw, r=0), key_id, sig), "MalformedTransaction", "malformed")
    add(
        "s-n",
        "classical s = n",
        _envelope(rewrite(raw, s=SECP256K1_N), key_id, sig),
        "MalformedTransaction",
        "malformed",
    )
    add(
        "nonce-leading-zero",
        "nonce 0 encoded as 0x00 instead of 0x80",
        _envelope(rewrite(raw, nonce=Encoded(b"\x00")), key_id, sig),
        "MalformedTransaction",
        "non-canonical",
    )
    add(
        "data-long-form",
        "empty data as 0xb8 0x00 (long form for a short string)",
        _envelope(rewrite(raw, data=Encoded(b"\xb8\x00")), key_id, sig),
        "MalformedTransaction",
        "non-canonical",
    )
    legacy_raw = built["eip155-legacy-transfer"]["raw"]
    add(
        "pre-eip155",
        "legacy transaction with v = 27 (no chain id)",
        rewrite(legacy_raw, v=27),
        "UnsupportedEnvelope",
        "unsupported-transaction-type",
    )
    add("type-1", "EIP-2930 type byte", b"\x01" + raw[1:], "UnsupportedEnvelope", "unsupported-transaction-type")
    # policy
    add("stripped", "alice's raw transaction alone; alice is HYBRID", raw, "PolicyRejected", "pqc-required")
    add("wrong-chain", "verifier pinned to chain 1", kid, "PolicyRejected", "wrong-chain", chain_id=1, **upgraded)
    add(
        "pqc-only-sender",
        "envelope from a PQC_ONLY sender",
        kid,
        "PolicyRejected",
        "classical-not-allowed",
        verifier="upgraded",
        registry="alice-pqc-only",
    )
    add(
        "unknown-key-id",
        "key-id form; the registry has only the commitment",
        kid,
        "PolicyRejected",
        "unknown-key",
        verifier="upgraded",
        registry="alice-hybrid-commitment-only",
    )
    add(
        "another-key",
        "bob's public key in alice's envelope",
        _envelope(raw, bob.pqc_public_key, sig),
        "PolicyRejected",
        "key-mismatch",
    )
    add(
        "another-key-strict",
        "bob's public key in alice's envelope, no registry: the artifact names alice's key",
        _envelope(raw, bob.pqc_public_key, sig),
        "PolicyRejected",
        "artifact-mismatch",
        verifier="strict",
    )
    # signatures
    flipped = bytearray(sig)
    flipped[0] ^= 1
    add(
        "pqc-bit-flip",
        "first byte of the ML-DSA-87 signature xor 1",
        _envelope(raw, key_id, bytes(flipped)),
        "InvalidSignature",
        "invalid-signature",
    )
    add(
        "pqc-zero",
        "ML-DSA-87 signature all zero",
        _envelope(raw, key_id, bytes(4627)),
        "InvalidSignature",
        "invalid-signature",
    )
    add(
        "pqc-swapped-halves",
        "ML-DSA-87 signature halves swapped",
        _envelope(raw, key_id, sig[2313:] + sig[:2313]),
        "InvalidSignature",
        "invalid-signature",
    )
    empty_ctx = _pqc_sign(alice_sk, base["m_prime"], b"")
    add(
        "pqc-empty-context",
        "M' signed with the empty context string instead of the suite label",
        _envelope(raw, key_id, empty_ctx),
        "InvalidSignature",
        "invalid-signature",
    )
    other = built["eip1559-create-with-access-list"]
    add(
        "pqc-from-another-transaction",
        "alice's tx with the PQC signature of her other tx",
        _envelope(raw, key_id, other["sig"]),
        "InvalidSignature",
        "invalid-signature",
    )
    r, s, y_parity = ecdsa_sign_with_nonce(KEYS["alice"][0], tx.signing_hash, k=0xC0FFEE)
    resigned = rewrite(raw, y_parity=y_parity, r=r, s=s)
    add(
        "another-classical-signature",
        "same content and sender, second ECDSA signature (other nonce)",
        _envelope(resigned, key_id, sig),
        "InvalidSignature",
        "invalid-signature",
    )
    away = alice.sign_transaction(CASES[0]["tx"] | {"chainId": 1}).raw_transaction
    add(
        "pqc-from-another-chain",
        "same fields on chain 1 with the chain-1337 PQC signature",
        _envelope(away, key_id, sig),
        "InvalidSignature",
        "invalid-signature",
    )
    return out


def _self_check(document: dict[str, Any], registries: dict[str, dict[str, Any]]) -> None:
    problems = []
    for vector in document["vectors"]:
        checks = vector.get("verdicts") or [vector]
        for check in checks:
            if "input" in check and check["input"] in vector and check is not vector:
                data = bytes.fromhex(vector[check["input"]][2:])
            elif "input_pattern" in check:
                data = pattern_bytes(check["input_pattern"])
            else:
                data = bytes.fromhex(check["input"][2:])
            got = run(data, check, registries)
            if got != check["expect"]:
                problems.append(f"{vector['name']}: {check} -> {got}")
    if problems:
        raise SystemExit("chainplug disagrees with the expected verdicts:\n" + "\n".join(problems))


def pattern_bytes(pattern: dict[str, Any]) -> bytes:
    """Expand an ``input_pattern`` (used where the input is too large to store as hex)."""
    prefix = bytes.fromhex(pattern["prefix"][2:])
    fill = bytes.fromhex(pattern["fill_byte"][2:])
    return prefix + fill * (pattern["length"] - len(prefix))


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=1) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare with the files instead of writing them")
    args = parser.parse_args(argv)
    positive, negative = build()
    outputs = {POSITIVE_FILE: render(positive), NEGATIVE_FILE: render(negative)}
    stale = [
        name for name, text in outputs.items() if not (OUT_DIR / name).exists() or (OUT_DIR / name).read_text() != text
    ]
    if args.check:
        for name in stale:
            print(f"{OUT_DIR / name} is out of date; run tools/gen_envelope_vectors.py", file=sys.stderr)
        return 1 if stale else 0
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    for name, text in outputs.items():
        (OUT_DIR / name).write_text(text)
        print(f"wrote {OUT_DIR / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
