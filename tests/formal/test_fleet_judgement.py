"""The fleet model's judgement is the verifiers' judgement (issue #9: tie the model to the code).

Fleet.tla decides, per validator version, which transactions a validator accepts given the sender's
registered state and the activation flag (``LegacyAccepts``, ``UpgradedAccepts``); every property
TLC checks about stranding and stripping rests on that. ``FleetJudge.tla`` has TLC write the
judgement out for every registered state x activation flag x transaction kind; this test builds a
real transaction of each kind and asks the real verifiers, cell by cell.

Kinds, as real bytes: ``classical`` a stock EIP-1559 transaction signed by eth-account (no hybrid
artifact); ``hybrid`` a composite envelope; ``stripped`` that envelope's bare classical part (it
still names the hybrid artifact); ``forged`` the same bytes as ``classical`` (a forged classical
signature is indistinguishable from a real one — that is the threat); ``pqconly`` a type-0x50
transaction signed with the registered ML-DSA-87 key. Legacy validators see a hybrid transaction's
classical part, which is what the chain carries.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from eth_account import Account

from chainplug.envelope import CompositeAccount, PqcOnlySigner
from chainplug.errors import ChainplugError
from chainplug.types import AccountState
from chainplug.verify import InMemoryRegistry, LegacyVerifier, UpgradedVerifier
from tests.formal.tlc import FORMAL, run_tlc, tlc_or_skip

CLASSICAL_SECRET, MLDSA_SEED = bytes.fromhex("44" * 32), bytes.fromhex("b4" * 32)
ACTIVATION = 100
INCLUSION = {False: ACTIVATION - 1, True: ACTIVATION}  # the block the transaction enters
STATES = {1: AccountState.CLASSICAL, 2: AccountState.HYBRID, 3: AccountState.FINALIZING, 4: AccountState.PQC_ONLY}
TX = {"chainId": 1, "nonce": 0, "gas": 21_000, "to": "0x" + "22" * 20, "value": 1,
      "maxFeePerGas": 2 * 10**9, "maxPriorityFeePerGas": 10**9}  # fmt: skip


def model_table(tmp_path: Path) -> dict[tuple[int, bool, str], tuple[bool, bool]]:
    """(state, activated, kind) -> (legacy accepts, upgraded accepts), as TLC evaluates Fleet.tla."""
    java, jar = tlc_or_skip()
    for name in ("Fleet.tla", "FleetJudge.tla", "FleetJudge.cfg"):
        shutil.copy(FORMAL / name, tmp_path)
    result = run_tlc(java, jar, tmp_path, "FleetJudge", "FleetJudge.cfg", "-dump", "judge", timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    table = {}
    for block in (tmp_path / "judge.dump").read_text().split("State ")[1:]:
        state = int(re.search(r"state = \(a1 :> (\d)\)", block).group(1))  # type: ignore[union-attr]
        activated = re.search(r"activated = (TRUE|FALSE)", block).group(1) == "TRUE"  # type: ignore[union-attr]
        for kind, legacy, upgraded in re.findall(r"(\w+) \|-> <<(TRUE|FALSE), (TRUE|FALSE)>>", block):
            table[(state, activated, kind)] = (legacy == "TRUE", upgraded == "TRUE")
    return table


def real_inputs() -> dict[str, tuple[bytes, bytes]]:
    """kind -> (what a legacy validator sees, what an upgraded one sees)."""
    account = CompositeAccount.from_keys(CLASSICAL_SECRET, MLDSA_SEED)
    hybrid = account.sign_transaction(TX)
    classical = bytes(Account.from_key(CLASSICAL_SECRET).sign_transaction(TX).raw_transaction)
    pqc_only = PqcOnlySigner.from_seed(MLDSA_SEED, account.address_bytes).sign_transaction(TX | {"gas": 200_000})
    return {
        "classical": (classical, classical),
        "forged": (classical, classical),
        "hybrid": (hybrid.raw_transaction, hybrid.envelope),
        "stripped": (hybrid.raw_transaction, hybrid.raw_transaction),
        "pqconly": (pqc_only.raw_transaction, pqc_only.raw_transaction),
    }


def accepts(verify: Callable[..., object], *args: object, **kwargs: object) -> bool:
    try:
        verify(*args, **kwargs)
    except ChainplugError:
        return False
    return True


def test_fleet_model_judges_as_the_verifiers_do(tmp_path: Path) -> None:
    table = model_table(tmp_path)
    assert len(table) == 4 * 2 * 5, table
    account = CompositeAccount.from_keys(CLASSICAL_SECRET, MLDSA_SEED)
    inputs = real_inputs()
    legacy = LegacyVerifier()
    disagreements = []
    for (state, activated, kind), (model_legacy, model_upgraded) in sorted(table.items()):
        registry = InMemoryRegistry()
        if STATES[state] is not AccountState.CLASSICAL:  # CLASSICAL = not registered
            registry.set(account.address_bytes, STATES[state], public_key=account.pqc_public_key)
        upgraded = UpgradedVerifier(registry, activation_block=ACTIVATION)
        seen_by_legacy, seen_by_upgraded = inputs[kind]
        code_legacy = accepts(legacy.verify, seen_by_legacy)
        code_upgraded = accepts(upgraded.verify, seen_by_upgraded, inclusion_block=INCLUSION[activated])
        if (code_legacy, code_upgraded) != (model_legacy, model_upgraded):
            disagreements.append(
                f"{STATES[state].name} {'after' if activated else 'before'} activation, {kind}: model "
                f"(legacy, upgraded) = {(model_legacy, model_upgraded)}, code = {(code_legacy, code_upgraded)}"
            )
    assert not disagreements, "\n".join(disagreements)


@pytest.mark.parametrize("kind", ["classical", "stripped"])
def test_the_kinds_are_what_they_say(kind: str) -> None:
    """``classical`` carries no hybrid artifact and ``stripped`` does: the bytes differ as the model assumes."""
    from chainplug.envelope import decode_transaction
    from chainplug.verify.verifiers import WNS_ARTIFACT_ADDRESS, artifact_key_ids

    legacy_view, _ = real_inputs()[kind]
    found = artifact_key_ids(decode_transaction(legacy_view), WNS_ARTIFACT_ADDRESS)
    assert bool(found) is (kind == "stripped")
