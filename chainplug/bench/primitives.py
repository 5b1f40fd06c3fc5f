"""The bare primitives every ratio is measured against, straight on the libraries of the PQC backend in
use: no chainplug code in a timed path.

* ``cryptography``: pyca/cryptography's ML-DSA-87 / ML-KEM-1024 objects (OpenSSL).
* ``liboqs``: liboqs' own ``OQS_SIG_ml_dsa_87_*`` / ``OQS_KEM_ml_kem_1024_*`` functions through ctypes
  prototypes, inputs passed by pointer (the cheapest call Python can make into liboqs; liboqs-python's
  methods add a copy of every input). Key generation draws from liboqs' own RNG: liboqs has no seeded
  ML-DSA key generation, so what chainplug does to derive a key from a stored seed is product overhead.

secp256k1 (libsecp256k1 through coincurve's binding), keccak256 (pysha3), AES-256-GCM and PBKDF2
(cryptography) and fsync are the same libraries whichever PQC backend runs.
"""

from __future__ import annotations

import ctypes
import importlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..constants import KEYSTORE_PBKDF2_ITERATIONS, SUITE_LABEL
from .harness import Op

MLDSA_KEYGEN, MLDSA_SIGN, MLDSA_VERIFY = "ML-DSA-87 keygen", "ML-DSA-87 sign", "ML-DSA-87 verify"
MLKEM_ENCAPS, MLKEM_DECAPS = "ML-KEM-1024 encaps", "ML-KEM-1024 decaps"
SECP_SIGN, SECP_RECOVER = "secp256k1 sign", "secp256k1 recover"
AES_OPEN = "AES-256-GCM open (96 B)"
PBKDF2 = f"PBKDF2-HMAC-SHA3-256 ({KEYSTORE_PBKDF2_ITERATIONS} it)"
FSYNC = "fsync (128 B append)"


@dataclass(frozen=True)
class Workload:
    """One HYBRID composite account and a signed EIP-1559 transaction from it, on the backend in use."""

    account: Any
    signed: Any
    envelope: Any
    m_prime: bytes
    registry: Any
    label: bytes = SUITE_LABEL

    @classmethod
    def build(cls) -> Workload:
        from ..envelope import CompositeAccount, decode_envelope
        from ..envelope.message import classical_signature_hash, message_representative
        from ..types import AccountState
        from ..verify import InMemoryRegistry

        account = CompositeAccount.from_keys(b"\x11" * 32, b"\x22" * 32)
        signed = account.sign_transaction(
            {"chainId": 1, "nonce": 7, "gas": 21000, "to": "0x" + "33" * 20, "value": 10**18,
             "maxFeePerGas": 30 * 10**9, "maxPriorityFeePerGas": 10**9}
        )  # fmt: skip
        envelope = decode_envelope(signed.envelope)
        tx = envelope.transaction
        m_prime = message_representative(chain_id=1, sender=account.address_bytes, key_id=account.key_id,
                                         signing_hash=tx.signing_hash,
                                         classical_signature_hash=classical_signature_hash(tx.signature))  # fmt: skip
        registry = InMemoryRegistry()
        registry.set(account.address_bytes, AccountState.HYBRID, public_key=account.pqc_public_key)
        return cls(account, signed, envelope, m_prime, registry)


def _cryptography_pqc(work: Workload) -> dict[str, Op]:
    from cryptography.hazmat.primitives.asymmetric import mldsa, mlkem

    private = mldsa.MLDSA87PrivateKey.from_seed_bytes(b"\x22" * 32)
    public = mldsa.MLDSA87PublicKey.from_public_bytes(work.account.pqc_public_key)
    signature, m_prime, label = work.envelope.pqc_signature, work.m_prime, work.label
    kem = mlkem.MLKEM1024PrivateKey.generate()
    kem_public = kem.public_key()
    _, ciphertext = kem_public.encapsulate()
    return {
        MLDSA_KEYGEN: mldsa.MLDSA87PrivateKey.generate,
        MLDSA_SIGN: lambda: private.sign(m_prime, label),
        MLDSA_VERIFY: lambda: public.verify(signature, m_prime, label),
        MLKEM_ENCAPS: kem_public.encapsulate,
        MLKEM_DECAPS: lambda: kem.decapsulate(ciphertext),
    }


def _liboqs_pqc(work: Workload) -> dict[str, Op]:
    # Imported only after the liboqs backend loaded (its loader guarantees oqs finds a library and so
    # never tries to download one): this is the same module object, not a second import.
    oqs = importlib.import_module("oqs")
    lib = oqs.native()
    buf, size, status = ctypes.c_char_p, ctypes.c_size_t, ctypes.c_int
    keypair = ctypes.CFUNCTYPE(status, buf, buf)(("OQS_SIG_ml_dsa_87_keypair", lib))
    sign = ctypes.CFUNCTYPE(status, buf, ctypes.POINTER(size), buf, size, buf, size, buf)(
        ("OQS_SIG_ml_dsa_87_sign_with_ctx_str", lib)
    )
    verify = ctypes.CFUNCTYPE(status, buf, size, buf, size, buf, size, buf)(
        ("OQS_SIG_ml_dsa_87_verify_with_ctx_str", lib)
    )
    kem_keypair = ctypes.CFUNCTYPE(status, buf, buf)(("OQS_KEM_ml_kem_1024_keypair", lib))
    encaps = ctypes.CFUNCTYPE(status, buf, buf, buf)(("OQS_KEM_ml_kem_1024_encaps", lib))
    decaps = ctypes.CFUNCTYPE(status, buf, buf, buf)(("OQS_KEM_ml_kem_1024_decaps", lib))
    sig_sizes = oqs.Signature("ML-DSA-87")
    pk_len, sk_len, sig_len = sig_sizes.length_public_key, sig_sizes.length_secret_key, sig_sizes.length_signature
    sig_sizes.free()
    kem_sizes = oqs.KeyEncapsulation("ML-KEM-1024")
    ek_len, dk_len = kem_sizes.length_public_key, kem_sizes.length_secret_key
    ct_len, ss_len = kem_sizes.length_ciphertext, kem_sizes.length_shared_secret
    kem_sizes.free()

    sk, pk = ctypes.create_string_buffer(sk_len), ctypes.create_string_buffer(pk_len)
    if keypair(pk, sk) != 0:
        raise RuntimeError("liboqs ML-DSA-87 key generation failed")
    public_key = work.account.pqc_public_key
    signature, m_prime, label = work.envelope.pqc_signature, work.m_prime, work.label
    dk, ek = ctypes.create_string_buffer(dk_len), ctypes.create_string_buffer(ek_len)
    if kem_keypair(ek, dk) != 0:
        raise RuntimeError("liboqs ML-KEM-1024 key generation failed")
    ciphertext_buf, shared_buf = ctypes.create_string_buffer(ct_len), ctypes.create_string_buffer(ss_len)
    encaps(ciphertext_buf, shared_buf, ek)
    ciphertext = ciphertext_buf.raw

    def mldsa_keygen() -> bytes:
        public, secret = ctypes.create_string_buffer(pk_len), ctypes.create_string_buffer(sk_len)
        keypair(public, secret)
        return public.raw

    def mldsa_sign() -> bytes:
        out, length = ctypes.create_string_buffer(sig_len), ctypes.c_size_t(sig_len)
        sign(out, ctypes.byref(length), m_prime, len(m_prime), label, len(label), sk)
        return out.raw

    def mldsa_verify() -> None:
        if verify(m_prime, len(m_prime), signature, len(signature), label, len(label), public_key) != 0:
            raise RuntimeError("liboqs rejected the workload's ML-DSA-87 signature")

    def mlkem_encaps() -> tuple[bytes, bytes]:
        ct, ss = ctypes.create_string_buffer(ct_len), ctypes.create_string_buffer(ss_len)
        encaps(ct, ss, ek)
        return ss.raw, ct.raw

    def mlkem_decaps() -> bytes:
        ss = ctypes.create_string_buffer(ss_len)
        decaps(ss, ciphertext, dk)
        return ss.raw

    mldsa_verify()  # the floor verifies the very signature the product verifies
    return {MLDSA_KEYGEN: mldsa_keygen, MLDSA_SIGN: mldsa_sign, MLDSA_VERIFY: mldsa_verify,
            MLKEM_ENCAPS: mlkem_encaps, MLKEM_DECAPS: mlkem_decaps}  # fmt: skip


def _secp256k1_recover(signature: bytes, digest: bytes) -> Op:
    """Public-key recovery as the three libsecp256k1 calls it is (parse, recover, serialise), through
    coincurve's cffi binding without its wrapper objects: the cheapest call Python can make (about
    1-2 us less than ``coincurve.PublicKey.from_signature_and_message(...).format(False)``)."""
    import coincurve
    from coincurve._libsecp256k1 import ffi, lib
    from coincurve.context import GLOBAL_CONTEXT

    ctx, new, uncompressed = GLOBAL_CONTEXT.ctx, ffi.new, lib.SECP256K1_EC_UNCOMPRESSED
    parse = lib.secp256k1_ecdsa_recoverable_signature_parse_compact
    recover_point, serialize = lib.secp256k1_ecdsa_recover, lib.secp256k1_ec_pubkey_serialize
    recid = signature[64]

    def recover() -> bytes:
        parsed = new("secp256k1_ecdsa_recoverable_signature *")
        parse(ctx, parsed, signature, recid)
        point = new("secp256k1_pubkey *")
        if not recover_point(ctx, point, parsed, digest):
            raise RuntimeError("the workload's secp256k1 signature does not recover")
        out = new("unsigned char[65]")
        serialize(ctx, out, new("size_t *", 65), point, uncompressed)
        public: bytes = ffi.buffer(out)[1:]
        return public

    expected = coincurve.PublicKey.from_signature_and_message(signature, digest, hasher=None).format(False)[1:]
    if recover() != expected:
        raise RuntimeError("direct libsecp256k1 recovery disagrees with coincurve")
    return recover


def primitive_ops(backend: str, work: Workload) -> dict[str, Op]:
    """Every primitive, keyed by its display name; the PQC ones from ``backend``'s library."""
    import coincurve
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC
    from sha3 import keccak_256

    pqc = _liboqs_pqc(work) if backend == "liboqs" else _cryptography_pqc(work)
    tx = work.envelope.transaction
    secp = coincurve.PrivateKey(b"\x11" * 32)
    sig65, digest = tx.signature.to_bytes(), tx.signing_hash
    m_prime = work.m_prime
    aes, nonce, blob = AESGCM(b"\x01" * 32), b"\x00" * 12, b"\x02" * 96
    sealed = aes.encrypt(nonce, blob, b"aad")
    fsync_dir = Path(tempfile.mkdtemp(prefix="chainplug-bench-"))

    def fsync_once() -> None:
        fd = os.open(fsync_dir / "f", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            os.write(fd, b"x" * 128)
            os.fsync(fd)
        finally:
            os.close(fd)

    def pbkdf2() -> bytes:
        kdf = PBKDF2HMAC(algorithm=hashes.SHA3_256(), length=32, salt=b"s" * 16, iterations=KEYSTORE_PBKDF2_ITERATIONS)
        return kdf.derive(b"password")

    recover = _secp256k1_recover(sig65, digest)

    return {
        SECP_SIGN: lambda: secp.sign_recoverable(digest, hasher=None),
        SECP_RECOVER: recover,
        **pqc,
        "keccak256 (208 B)": lambda: keccak_256(m_prime).digest(),
        AES_OPEN: lambda: aes.decrypt(nonce, sealed, b"aad"),
        PBKDF2: pbkdf2,
        FSYNC: fsync_once,
    }
