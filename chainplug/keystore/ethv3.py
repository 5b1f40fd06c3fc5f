"""Import a standard Ethereum V3 keystore (Web3 Secret Storage; what eth-account and geth write).

Format: https://ethereum.org/developers/docs/data-structures-and-encoding/web3-secret-storage/ —
``crypto.kdf`` is ``scrypt`` or ``pbkdf2`` (``hmac-sha256``), the cipher ``aes-128-ctr``, and
``mac = keccak256(derived_key[16:32] || ciphertext)``. We decrypt it here with pyca/cryptography
(eth-account serves as the oracle in the tests), with bounds on the KDF parameters an untrusted file
may ask for, and check the recovered key against the file's ``address`` (docs/keystore.md §8).
"""

from __future__ import annotations

import hmac
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

from ..constants import ETH_V3_MAX_PBKDF2_ITERATIONS, ETH_V3_MAX_SCRYPT_MEMORY_BYTES, ETH_V3_MAX_SCRYPT_P
from ..crypto import Secp256k1PrivateKey, keccak256, zeroize
from ..errors import CryptoError, MalformedKeyFile, PublicKeyMismatch, Reason, WeakKdfParameters, WrongPassphraseOrKey
from . import _codec as c

_MAX_SALT_BYTES = 1024


def _kdf_key(kdf: str, params: Any, password: bytes | bytearray) -> bytearray:
    """The 32-byte derived key, after bounding the file's parameters."""
    where = "crypto.kdfparams"
    if kdf == "scrypt":
        obj = c.fields(params, frozenset({"dklen", "n", "p", "r", "salt"}), where=where)
        c.integer(obj["dklen"], where=f"{where}.dklen", low=32, high=32)
        n = c.integer(obj["n"], where=f"{where}.n", low=2, high=ETH_V3_MAX_SCRYPT_MEMORY_BYTES)
        r = c.integer(obj["r"], where=f"{where}.r", low=1, high=1024)
        p = c.integer(obj["p"], where=f"{where}.p", low=1, high=ETH_V3_MAX_SCRYPT_P)
        if n & (n - 1) or 128 * n * r > ETH_V3_MAX_SCRYPT_MEMORY_BYTES:
            raise WeakKdfParameters(f"{where}: scrypt n must be a power of two and 128*n*r at most 1 GiB")
        # NOTE: pycryptodome's scrypt (what eth-account uses), not OpenSSL's: OpenSSL enforces
        # RFC 7914's N < 2**(16 r), which V3 files in the wild (and the Web3 Secret Storage test
        # vector, n=2**18 with r=1) break, and which geth does not enforce either.
        from Crypto.Protocol.KDF import scrypt

        # pycryptodome's stubs say str; the function takes (and here gets) bytes
        derived = scrypt(bytes(password), _salt(obj), 32, N=n, r=r, p=p)  # type: ignore[arg-type]
        if not isinstance(derived, bytes):  # one key was asked for, so one key comes back
            raise TypeError("scrypt returned several keys")
        return bytearray(derived)
    if kdf == "pbkdf2":
        obj = c.fields(params, frozenset({"c", "dklen", "prf", "salt"}), where=where)
        c.integer(obj["dklen"], where=f"{where}.dklen", low=32, high=32)
        c.constant(obj["prf"], "hmac-sha256", where=f"{where}.prf")
        rounds = c.integer(obj["c"], where=f"{where}.c", low=1, high=ETH_V3_MAX_PBKDF2_ITERATIONS)
        out = bytearray(32)
        PBKDF2HMAC(hashes.SHA256(), 32, _salt(obj), rounds).derive_into(password, out)
        return out
    raise MalformedKeyFile("crypto.kdf must be 'scrypt' or 'pbkdf2'", reason=Reason.UNSUPPORTED_SUITE)


def _salt(obj: dict[str, Any]) -> bytes:
    salt = c.text(obj["salt"], where="crypto.kdfparams.salt").removeprefix("0x").lower()
    if not 0 < len(salt) <= 2 * _MAX_SALT_BYTES or len(salt) % 2:
        raise MalformedKeyFile("crypto.kdfparams.salt must be non-empty hex")
    return c.hex_bytes(salt, len(salt) // 2, where="crypto.kdfparams.salt")


def _hex(value: Any, length: int, *, where: str) -> bytes:
    """V3 files come from other tools: accept any case and an optional 0x."""
    return c.hex_bytes(c.text(value, where=where).removeprefix("0x").lower(), length, where=where)


def decrypt_v3(raw: bytes, password: bytes | bytearray) -> Secp256k1PrivateKey:
    """Decrypt a V3 keystore and return its secp256k1 key, checked against ``address`` if present.

    The password is used as given (UTF-8 bytes, no normalization), as geth and eth-account do.
    """
    top = c.parse_json(raw, what="V3 keystore")
    if top.get("version") != 3:
        raise MalformedKeyFile("not a version 3 Ethereum keystore", reason=Reason.UNSUPPORTED_VERSION)
    crypto_keys = [k for k in ("crypto", "Crypto") if k in top]
    if len(crypto_keys) != 1:
        raise MalformedKeyFile("a V3 keystore needs exactly one 'crypto' object")
    crypto = c.fields(
        top[crypto_keys[0]],
        frozenset({"cipher", "cipherparams", "ciphertext", "kdf", "kdfparams", "mac"}),
        where="crypto",
    )
    c.constant(crypto["cipher"], "aes-128-ctr", where="crypto.cipher")
    iv = _hex(c.fields(crypto["cipherparams"], frozenset({"iv"}), where="crypto.cipherparams")["iv"], 16, where="iv")
    ciphertext = _hex(crypto["ciphertext"], 32, where="crypto.ciphertext")
    mac = _hex(crypto["mac"], 32, where="crypto.mac")
    derived = _kdf_key(c.text(crypto["kdf"], where="crypto.kdf"), crypto["kdfparams"], password)
    secret = bytearray(32 + 15)  # update_into wants room for one block more than the input
    try:
        if not hmac.compare_digest(keccak256(bytes(derived[16:32]) + ciphertext), mac):
            raise WrongPassphraseOrKey("cannot open the V3 keystore: wrong password, or the file was modified")
        decryptor = Cipher(algorithms.AES(bytes(derived[:16])), modes.CTR(iv)).decryptor()
        decryptor.update_into(ciphertext, secret)
        decryptor.finalize()
        del secret[32:]
        key = Secp256k1PrivateKey(secret)
    except CryptoError:
        raise MalformedKeyFile("the V3 keystore holds an invalid secp256k1 key") from None
    finally:
        zeroize(derived)
        zeroize(secret)
    if "address" in top:
        recorded = _hex(top["address"], 20, where="address")
        if not hmac.compare_digest(recorded, key.address):
            key.destroy()
            raise PublicKeyMismatch("the V3 keystore's key does not match its recorded address; refusing to import")
    return key
