"""The UpgradedVerifier policy, cell by cell: the table in docs/envelope-v1.md §policy, written out as
data and checked against the code (state x activation phase x what arrives)."""

from __future__ import annotations

from typing import Any

import pytest

from chainplug.errors import InvalidSignature, PolicyRejected, Reason
from chainplug.types import AccountState
from chainplug.verify import InMemoryRegistry, PqcStatus, UpgradedVerifier

ACTIVATION = 100
# the block the transaction enters: 99 is the last before activation, 100 the activation block itself
PHASES = {"before": 99, "after": 100, "latest": None}  # None means "now": counts as activated

# What arrives: a valid envelope, an envelope whose ML-DSA-87 signature is zeroed, a stripped EIP-1559
# transaction (carries the WNS artifact), a stripped EIP-155 transaction (cannot carry one).
INPUTS = ("envelope", "bad-pqc", "stripped-1559", "stripped-155")

OK = "accept"
REQUIRED = (PolicyRejected, Reason.PQC_REQUIRED)
INVALID = (InvalidSignature, Reason.INVALID_SIGNATURE)
RETIRED = (PolicyRejected, Reason.CLASSICAL_NOT_ALLOWED)

# state -> phase -> input -> (accepted PqcStatus) or (error class, reason)
TABLE: dict[str, dict[str, dict[str, Any]]] = {
    "CLASSICAL": {
        "before": {
            "envelope": PqcStatus.VALID,
            "bad-pqc": PqcStatus.INVALID,
            "stripped-1559": PqcStatus.MISSING,
            "stripped-155": PqcStatus.NOT_EXPECTED,
        },
        "after": {
            "envelope": PqcStatus.VALID,
            "bad-pqc": INVALID,
            "stripped-1559": REQUIRED,
            "stripped-155": PqcStatus.NOT_EXPECTED,
        },
    },
    "HYBRID": {
        "before": {
            "envelope": PqcStatus.VALID,
            "bad-pqc": PqcStatus.INVALID,
            "stripped-1559": PqcStatus.MISSING,
            "stripped-155": PqcStatus.MISSING,
        },
        "after": {"envelope": PqcStatus.VALID, "bad-pqc": INVALID, "stripped-1559": REQUIRED, "stripped-155": REQUIRED},
    },
    "FINALIZING": {
        "before": {
            "envelope": PqcStatus.VALID,
            "bad-pqc": INVALID,
            "stripped-1559": REQUIRED,
            "stripped-155": REQUIRED,
        },
        "after": {"envelope": PqcStatus.VALID, "bad-pqc": INVALID, "stripped-1559": REQUIRED, "stripped-155": REQUIRED},
    },
    "PQC_ONLY": {
        "before": dict.fromkeys(INPUTS, RETIRED),
        "after": dict.fromkeys(INPUTS, RETIRED),
    },
}


@pytest.fixture(scope="module")
def inputs(alice, tx) -> dict[str, bytes]:
    hybrid = alice.sign_transaction(tx(nonce=3))
    legacy = alice.sign_transaction(tx(nonce=4, legacy=True))
    envelope = hybrid.envelope
    bad = envelope[: len(envelope) - 4627] + bytes(4627)
    return {
        "envelope": envelope,
        "bad-pqc": bad,
        "stripped-1559": hybrid.raw_transaction,
        "stripped-155": legacy.raw_transaction,
    }


CASES = [(state, phase, what) for state in TABLE for phase in PHASES for what in INPUTS]


@pytest.mark.parametrize(("state", "phase", "what"), CASES)
def test_policy_cell(alice, inputs, state: str, phase: str, what: str) -> None:
    registry = InMemoryRegistry()
    if state != "CLASSICAL":
        registry.set(alice.address_bytes, AccountState[state], public_key=alice.pqc_public_key)
    verifier = UpgradedVerifier(registry, activation_block=ACTIVATION)
    expected = TABLE[state]["after" if phase == "latest" else phase][what]
    if isinstance(expected, PqcStatus):
        result = verifier.verify(inputs[what], inclusion_block=PHASES[phase])
        assert result.pqc is expected
        assert result.sender == alice.address_bytes and result.sender_state is AccountState[state]
        assert (result.key_id == alice.key_id) is (expected is PqcStatus.VALID)
        assert (result.pqc_reason is Reason.INVALID_SIGNATURE) is (expected is PqcStatus.INVALID)
    else:
        error, reason = expected
        with pytest.raises(error) as info:
            verifier.verify(inputs[what], inclusion_block=PHASES[phase])
        assert type(info.value) is error and info.value.reason is reason
