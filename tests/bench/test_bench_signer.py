"""The signer benchmark's GIL probe tells a call that releases the GIL from one that holds it, whatever
the machine's load. (The whole signer benchmark — a real chain and signer process, concurrent clients
over HTTP — runs in test_bench_command's quick run, which checks its figures; nothing asserts a time.)"""

import hashlib

from chainplug.bench.signer import releases_gil


def test_gil_probe_tells_releasing_calls_from_holding_ones() -> None:
    data = b"x" * (1 << 20)
    assert releases_gil(lambda: sum(range(20_000)), calls=30) == 0.0  # pure Python holds the GIL throughout
    assert releases_gil(lambda: hashlib.sha256(data).digest(), calls=30) > 0.0  # hashlib releases it
