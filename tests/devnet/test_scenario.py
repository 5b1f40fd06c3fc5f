"""Scenario files: the shipped ones load, and mistakes are errors that name the file, table and key."""

from pathlib import Path

import pytest

from chainplug.devnet import builtin_scenarios, find_scenario, load_scenario
from chainplug.devnet.scenario import (
    ATTACKS,
    FUND_PER_BLOCK,
    SETUP_BLOCKS,
    before_activation,
    blocks_on_demand,
    ceiling_before,
    parse_scenario,
    setup_blocks,
)
from chainplug.errors import ConfigError

DEVNET = Path(__file__).resolve().parents[2] / "chainplug" / "devnet" / "scenarios"
SHIPPED = sorted(DEVNET.glob("*.toml"))


def test_the_required_scenarios_are_shipped() -> None:
    assert {p.stem for p in SHIPPED} >= {"smoke", "rolling-upgrade", "gate-forced-off", "chaos", "large"}


def test_large_is_the_fleet_and_the_migration_the_issue_asks_for() -> None:
    """#14: 32 validators, a third legacy at the start and upgraded in waves, 1,000 accounts through
    the engine's batch migration, several validators per process, and nothing scheduled before
    activation (so a slow machine tests the same thing)."""
    large = load_scenario(DEVNET / "large.toml")
    assert len(large.fleet.validators) == 32 and len(large.fleet.legacy) == 11 and large.accounts == 1000
    assert large.fleet.per_process > 1 and large.fleet.threshold == "all" and not large.fleet.force_gate
    waves = [set(e.validators) for e in large.events if e.action == "upgrade"]
    assert len(waves) > 1 and set().union(*waves) == large.fleet.legacy
    migrations = [e for e in large.events if e.action in ("register", "migrate")]
    assert migrations and all(e.batch for e in migrations) and all(e.accounts is None for e in migrations)
    assert before_activation(large) == 0 and large.events[0].until == "activation"
    assert large.chain.activation_block > setup_blocks(large.accounts)
    assert large.expect.final_state == "PQC_ONLY" and large.expect.stranded == ()
    assert large.expect.valid_rejected_by_quorum == 0 and large.expect.invalid_accepted == 0


def test_setup_funds_the_accounts_a_few_blocks_at_a_time() -> None:
    assert setup_blocks(1) == setup_blocks(FUND_PER_BLOCK) == SETUP_BLOCKS
    assert setup_blocks(FUND_PER_BLOCK + 1) == SETUP_BLOCKS + 1
    assert setup_blocks(1000) == 1 + -(-1000 // FUND_PER_BLOCK)


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_shipped_scenario_loads(path: Path) -> None:
    scenario = load_scenario(path)
    assert scenario.name == path.stem
    assert scenario.events, "a scenario without a schedule tests nothing"
    assert scenario.fleet.legacy <= set(scenario.fleet.validators)


def test_built_in_scenarios_are_found_by_name_and_files_by_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert builtin_scenarios() == {p.stem: p for p in SHIPPED}
    monkeypatch.chdir(tmp_path)  # from any directory
    assert find_scenario("smoke") == find_scenario("smoke.toml") == DEVNET / "smoke.toml"
    mine = tmp_path / "smoke"  # a file of that name wins: a path is always taken as given
    mine.write_text('[scenario]\nname = "mine"\n')
    assert find_scenario("smoke") == Path("smoke") and load_scenario(find_scenario("smoke")).name == "mine"
    with pytest.raises(
        ConfigError, match=r"nor a built-in scenario \(chaos, .*smoke\); did you mean the built-in 'smoke'"
    ):
        find_scenario("devnet/smoke.toml")
    with pytest.raises(ConfigError, match="no such scenario file"):
        find_scenario("nonesuch")


def test_shipped_scenarios_cover_every_attack_and_both_kinds_of_crash() -> None:
    events = [e for path in SHIPPED for e in load_scenario(path).events]
    assert {e.attack for e in events if e.action == "attack"} == set(ATTACKS)
    assert any(e.action == "crash_validator" for e in events)
    assert any(e.action == "crash_signer" and e.crash_at for e in events)


def test_smoke_and_gate_forced_off_expect_what_the_issue_claims() -> None:
    smoke = load_scenario(DEVNET / "smoke.toml")
    assert smoke.expect.final_state == "PQC_ONLY" and smoke.expect.stranded == ()
    assert smoke.expect.valid_rejected_by_quorum == 0 and smoke.expect.invalid_accepted == 0
    assert not smoke.fleet.force_gate and smoke.fleet.legacy, "the gate must have legacy validators to hold back"
    forced = load_scenario(DEVNET / "gate-forced-off.toml")
    assert forced.fleet.force_gate
    assert forced.expect.stranded == tuple(sorted(forced.fleet.legacy))
    assert not any(e.action == "upgrade" for e in forced.events), "its legacy validators must stay legacy"


def test_defaults_fill_an_empty_file() -> None:
    scenario = parse_scenario({}, Path("empty.toml"))
    assert scenario.fleet.validators == ("v1", "v2", "v3", "v4")
    assert scenario.chain.kind == "embedded" and scenario.expect.final_state == "PQC_ONLY"


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"chain": {"blocktime": 1}}, "[chain]: unknown key(s) blocktime"),
        ({"fleet": {"validators": True}}, "validators has the wrong type"),
        ({"fleet": {"legacy": ["v9"]}}, "unknown validator(s) ['v9']"),
        ({"chain": {"kind": "external"}}, "needs rpc_url"),
        ({"events": [{"action": "explode"}]}, "action must be one of"),
        ({"events": [{"action": "attack", "kind": "nuke"}]}, "kind must be one of"),
        ({"events": [{"action": "crash_signer", "crash_at": "nowhere"}]}, "CRASH_POINTS"),
        ({"events": [{"action": "upgrade"}]}, "needs validators"),
        ({"events": [{"action": "register", "accounts": [5]}]}, "account index out of range"),
        ({"fleet": {"threshold": "1/2x"}}, "threshold"),
        ({"expect": {"final_state": "DONE"}}, "final_state"),
        (
            {
                "fleet": {"remote": {"r1": "http://10.0.0.2:9100"}},
                "events": [{"action": "crash_validator", "validators": ["r1"]}],
            },
            "not ours to kill",
        ),
        (
            {"fleet": {"per_process": 2}, "events": [{"action": "crash_validator", "validators": ["v1"]}]},
            "needs per_process = 1",
        ),
        ({"events": [{"action": "upgrade", "validators": ["v1"], "batch": 10}]}, "batch (1..1000) is for"),
        ({"events": [{"action": "migrate", "batch": 0}]}, "batch (1..1000) is for"),
        ({"events": [{"action": "finalize", "batch": 5, "expect": "gate-refused"}]}, "one account at a time"),
        ({"fleet": {"per_process": 0}}, "per_process"),
    ],
)
def test_mistakes_are_named(document: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_scenario(document, Path("bad.toml"))
    assert message in str(raised.value)
    assert "bad.toml" in str(raised.value)


def test_remote_validators_join_the_fleet() -> None:
    scenario = parse_scenario({"fleet": {"validators": 2, "remote": {"far": "http://10.0.0.7:9100"}}}, Path("r.toml"))
    assert scenario.fleet.validators == ("v1", "v2", "far")
    assert scenario.fleet.remote == {"far": "http://10.0.0.7:9100"}


def test_output_directory_is_cleared_only_if_a_devnet_made_it(tmp_path: Path) -> None:
    from chainplug.devnet.orchestrator import MARKER, prepare_out

    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "thesis.tex").write_text("precious")
    with pytest.raises(ConfigError, match="not made by chainplug devnet"):
        prepare_out(foreign)
    assert (foreign / "thesis.tex").read_text() == "precious"

    out = tmp_path / "out"
    prepare_out(out)
    (out / "validators" / "v1").mkdir(parents=True)
    (out / "validators" / "v1" / "attestations.jsonl").write_text("{}\n")
    (out / "report.json").write_text("{}")
    (out / "notes.txt").write_text("mine")
    prepare_out(out)  # a second run on the same directory: the old chain's state goes, the rest stays
    assert (out / MARKER).exists() and (out / "notes.txt").read_text() == "mine"
    assert not (out / "validators").exists() and not (out / "report.json").exists()


def test_the_steps_before_activation_and_the_ceilings_they_leave() -> None:
    events = [
        {"action": "register"},  # 3 accounts: a transaction each, plus their traffic in flight
        {"action": "upgrade", "validators": ["v3"]},  # no block needed
        {"action": "attack", "kind": "strip", "after_blocks": 1},
        {"action": "wait", "until": "activation"},
        {"action": "attack", "kind": "strip"},
    ]
    scenario = parse_scenario({"chain": {"activation_block": 20}, "events": events}, Path("s.toml"))
    assert before_activation(scenario) == 3
    assert [blocks_on_demand(e, scenario.accounts) for e in scenario.events] == [6, 0, 3, 0, 2]
    assert [ceiling_before(scenario, i) for i in range(3)] == [20 - 2 - 9, 20 - 2 - 3, 20 - 2 - 3]
    assert before_activation(parse_scenario({"events": events[:3]}, Path("t.toml"))) == 0  # no activation point


def test_an_activation_too_early_for_the_steps_before_it_is_refused() -> None:
    events = [{"action": "register"}, {"action": "wait", "until": "activation"}]
    parse_scenario({"chain": {"activation_block": 10}, "events": events}, Path("ok.toml"))  # 2 + 6 <= 10 - 2
    with pytest.raises(ConfigError, match=r"activation_block = 9 is too early.*raise it to at least 10"):
        parse_scenario({"chain": {"activation_block": 9}, "events": events}, Path("early.toml"))
    late_start = [{"action": "register", "at_block": 5}, events[1]]
    with pytest.raises(ConfigError, match="at least 13"):
        parse_scenario({"chain": {"activation_block": 12}, "events": late_start}, Path("late.toml"))
    external = {"kind": "external", "rpc_url": "http://127.0.0.1:8545", "activation_block": 3}
    parse_scenario({"chain": external, "events": events}, Path("ext.toml"))  # a chain the devnet cannot hold
