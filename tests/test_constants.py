"""Security constants are pinned: any change is a format break and must be deliberate."""

import json
from pathlib import Path

from chainplug import constants
from chainplug.crypto import keccak256

PINNED = json.loads((Path(__file__).parent / "vectors" / "constants.json").read_text())


def test_every_constant_is_pinned_and_unchanged() -> None:
    current = {name: getattr(constants, name) for name in dir(constants) if name.isupper()}
    assert set(current) == set(PINNED), "a constant was added or removed without updating the vector file"
    for name, value in current.items():
        pinned = PINNED[name]
        if isinstance(value, bytes):
            assert value.hex() == pinned["hex"], name
        else:
            assert value == pinned, name


def test_derived_constants_match_their_definitions() -> None:
    assert constants.WNS_ARTIFACT_ADDRESS == keccak256(b"chainplug-composite-v1/wns-artifact")[12:]
    assert constants.SECP256K1_HALF_N == constants.SECP256K1_N // 2
    assert constants.MAX_ENVELOPE_BYTES == 11 + 128 * 1024 + 2592 + 4627
    assert len(constants.SUITE_LABEL) <= constants.MLDSA_MAX_CONTEXT_BYTES
    # The magic's first byte can start neither a typed transaction (< 0x80) nor an RLP list (>= 0xc0).
    assert 0x80 <= constants.ENVELOPE_MAGIC[0] < 0xC0
