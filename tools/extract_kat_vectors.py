#!/usr/bin/env python3
"""Extract a small ML-DSA-87 / ML-KEM-1024 known-answer subset into tests/vectors/acvp/.

Source: the ``cryptography-vectors`` wheel from PyPI (the test-vector package of pyca/cryptography),
files ``cryptography_vectors/asymmetric/MLDSA/kat_MLDSA_87_det_pure.rsp`` (deterministic pure
ML-DSA-87 with a context string) and ``cryptography_vectors/asymmetric/MLKEM/kat_MLKEM_1024.rsp``.
The wheel is read in place (no extraction); the JSON records the wheel's and each member's sha256 so
anyone can check where every byte came from.

Regenerate (byte-identical output for the same wheel and options)::

    pip download --no-deps -d /tmp/dl cryptography-vectors==50.0.2
    python tools/extract_kat_vectors.py --wheel /tmp/dl/cryptography_vectors-50.0.2-py3-none-any.whl

Every selected vector is checked while extracting: lengths match FIPS 204 / FIPS 203, ``sm`` is
``signature || msg`` and ``mlen`` / ``smlen`` agree, so tests can use ``sig`` and ``msg`` directly.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
import zipfile
from collections.abc import Iterator
from email.parser import HeaderParser
from pathlib import Path

MLDSA_MEMBER = "cryptography_vectors/asymmetric/MLDSA/kat_MLDSA_87_det_pure.rsp"
MLKEM_MEMBER = "cryptography_vectors/asymmetric/MLKEM/kat_MLKEM_1024.rsp"

MLDSA87 = {"xi": 32, "pk": 2592, "sk": 4896, "sig": 4627}
MLKEM1024 = {"d": 32, "z": 32, "msg": 32, "pk": 1568, "sk": 3168, "ct": 1568, "ss": 32, "ct_n": 1568, "ss_n": 32}

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO_ROOT / "tests" / "vectors" / "acvp"


def parse_rsp(text: str) -> Iterator[dict[str, str]]:
    """NIST-style ``key = value`` records separated by ``count = N`` lines."""
    record: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep:
            raise ValueError(f"unparseable line: {line[:60]!r}")
        key, value = key.strip(), value.strip()
        if key == "count" and record:
            yield record
            record = {}
        if key in record:
            raise ValueError(f"duplicate field {key!r} in record {record.get('count')}")
        record[key] = value
    if record:
        yield record


def _hex(record: dict[str, str], field: str, length: int | None = None) -> str:
    value = record[field].lower()
    if not re.fullmatch(r"(?:[0-9a-f]{2})*", value):
        raise ValueError(f"record {record['count']}: {field} is not hex")
    if length is not None and len(value) != 2 * length:
        raise ValueError(f"record {record['count']}: {field} is {len(value) // 2} bytes, expected {length}")
    return value


def mldsa_vector(record: dict[str, str]) -> dict[str, object]:
    msg = _hex(record, "msg")
    ctx = _hex(record, "ctx")
    sm = _hex(record, "sm")
    sig_hex_len = 2 * MLDSA87["sig"]
    if sm[sig_hex_len:] != msg:
        raise ValueError(f"record {record['count']}: sm is not signature || msg")
    if int(record["mlen"]) != len(msg) // 2 or int(record["smlen"]) != len(sm) // 2:
        raise ValueError(f"record {record['count']}: mlen/smlen disagree with msg/sm")
    if len(ctx) // 2 > 255:
        raise ValueError(f"record {record['count']}: ctx longer than 255 bytes")
    return {
        "count": int(record["count"]),
        "xi": _hex(record, "xi", MLDSA87["xi"]),
        "pk": _hex(record, "pk", MLDSA87["pk"]),
        "sk": _hex(record, "sk", MLDSA87["sk"]),
        "msg": msg,
        "ctx": ctx,
        "sig": sm[:sig_hex_len],
    }


def mlkem_vector(record: dict[str, str]) -> dict[str, object]:
    out: dict[str, object] = {"count": int(record["count"])}
    for field, length in MLKEM1024.items():
        out[field] = _hex(record, field, length)
    return out


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def wheel_version(zf: zipfile.ZipFile) -> str:
    for name in zf.namelist():
        if name.endswith(".dist-info/METADATA"):
            return HeaderParser().parsestr(zf.read(name).decode("utf-8"))["Version"]
    raise ValueError("wheel has no METADATA")


def extract(wheel: Path, out_dir: Path, mldsa_count: int, mlkem_count: int) -> list[Path]:
    wheel_bytes = wheel.read_bytes()
    written: list[Path] = []
    with zipfile.ZipFile(wheel) as zf:
        version = wheel_version(zf)
        jobs = (
            (
                "mldsa87_det_pure_kat.json",
                MLDSA_MEMBER,
                mldsa_count,
                mldsa_vector,
                {
                    "algorithm": "ML-DSA-87",
                    "standard": "FIPS 204",
                    "mode": "pure ML-DSA with context string, deterministic signing (rnd = 32 zero bytes)",
                    "fields": {
                        "xi": "32-byte key-generation seed (ML-DSA.KeyGen_internal input)",
                        "pk": "public key (pkEncode), 2592 bytes",
                        "sk": "expanded secret key (skEncode), 4896 bytes",
                        "msg": "message M",
                        "ctx": "context string ctx",
                        "sig": "signature, 4627 bytes (the first 4627 bytes of the source's sm = sig || msg)",
                    },
                },
            ),
            (
                "mlkem1024_kat.json",
                MLKEM_MEMBER,
                mlkem_count,
                mlkem_vector,
                {
                    "algorithm": "ML-KEM-1024",
                    "standard": "FIPS 203",
                    "mode": "KeyGen_internal(d, z), Encaps_internal(ek, m), Decaps incl. implicit rejection",
                    "fields": {
                        "d": "32-byte key-generation seed d",
                        "z": "32-byte implicit-rejection seed z (the 64-byte seed form is d || z)",
                        "msg": "32-byte encapsulation randomness m",
                        "pk": "encapsulation key ek, 1568 bytes",
                        "sk": "expanded decapsulation key dk, 3168 bytes",
                        "ct": "ciphertext from Encaps_internal(ek, m), 1568 bytes",
                        "ss": "shared secret of ct, 32 bytes",
                        "ct_n": "a ciphertext that does not decapsulate honestly, 1568 bytes",
                        "ss_n": "implicit-rejection output of Decaps(dk, ct_n), 32 bytes",
                    },
                },
            ),
        )
        for filename, member, count, convert, header in jobs:
            data = zf.read(member)
            records = list(parse_rsp(data.decode("ascii")))
            if count > len(records):
                raise ValueError(f"{member} has only {len(records)} records")
            doc = {
                **header,
                "source": {
                    "package": "cryptography-vectors",
                    "version": version,
                    "wheel": wheel.name,
                    "wheel_sha256": sha256_hex(wheel_bytes),
                    "member": member,
                    "member_sha256": sha256_hex(data),
                    "records_in_member": len(records),
                    "selection": f"the first {count} records (count = 0 .. {count - 1})",
                    "generator": "tools/extract_kat_vectors.py",
                },
                "vectors": [convert(record) for record in records[:count]],
            }
            out_dir.mkdir(parents=True, exist_ok=True)
            path = out_dir / filename
            path.write_text(json.dumps(doc, indent=1) + "\n", encoding="ascii")
            written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--wheel", type=Path, required=True, help="cryptography_vectors-*.whl")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output directory")
    parser.add_argument("--mldsa-count", type=int, default=10)
    parser.add_argument("--mlkem-count", type=int, default=25)
    args = parser.parse_args(argv)
    for path in extract(args.wheel, args.out, args.mldsa_count, args.mlkem_count):
        print(f"{path}  {path.stat().st_size} bytes  sha256 {sha256_hex(path.read_bytes())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
