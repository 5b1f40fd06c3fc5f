"""``chainplug devnet list|run|up``: the local mixed-fleet devnet (devnet/README.md).

Exit codes: 0 every expectation held; 1 an expectation failed (or the report broke its schema);
2 bad scenario or a process that would not start; 130/143 interrupted (everything torn down, a
partial report written).
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
from pathlib import Path
from typing import Any

from ._output import EXIT_OK, EXIT_REJECTED, emit


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    devnet = sub.add_parser("devnet", help="run a mixed legacy/upgraded devnet from a scenario file")
    actions = devnet.add_subparsers(dest="action", metavar="ACTION")
    actions.required = True
    run = actions.add_parser(
        "run",
        parents=[common],
        help="run a scenario end to end and write its report",
        description=(
            "Start the chain (embedded py-evm, or --rpc-url), deploy the KeyRegistry, start the gateway, the "
            "validators and the signer as real processes on loopback ports, drive the scenario's schedule with "
            "traffic, attacks and crashes, tear everything down, and write OUT/report.json, report.html and "
            "timeline.png. A live status line goes to stderr. Exit 0 if every expectation held, 1 if not."
        ),
    )
    run.add_argument("scenario", help="a built-in scenario (chainplug devnet list), e.g. smoke, or a scenario file")
    run.add_argument("--out", type=Path, help="report directory (default devnet-out/<scenario name>)")
    run.add_argument("--rpc-url", help="run against this external chain instead of the scenario's [chain]")
    run.set_defaults(handler=_run)
    up = actions.add_parser(
        "up",
        parents=[common],
        help="start a devnet and keep it running for manual experiments (Ctrl-C stops it)",
        description=(
            "Start the processes of a scenario (its [chain], [fleet] and [accounts]; no schedule), print every "
            "endpoint, and keep running with a live status line until Ctrl-C or SIGTERM."
        ),
    )
    up.add_argument("scenario", nargs="?", default="smoke", help="built-in scenario or scenario file (default: smoke)")
    up.add_argument("--out", type=Path, default=Path("devnet-out/up"), help="state and logs directory")
    up.add_argument("--rpc-url", help="use this external chain")
    up.add_argument("--traffic", action="store_true", help="also send the scenario's background traffic")
    up.set_defaults(handler=_up)
    listing = actions.add_parser(
        "list",
        parents=[common],
        help="the built-in scenarios",
        description="The scenarios shipped with chainplug; run one by name: chainplug devnet run NAME.",
    )
    listing.set_defaults(handler=_list)


def _list(args: argparse.Namespace) -> int:
    from ..devnet.scenario import builtin_scenarios, load_scenario

    found = [load_scenario(path) for path in builtin_scenarios().values()]
    rows = [{"name": s.name, "description": s.description, "file": str(s.source)} for s in found]
    width = max(len(row["name"]) for row in rows)
    text = "\n".join(f"{row['name']:<{width}}  {row['description']}" for row in rows)
    emit({"ok": True, "scenarios": rows}, text + "\n\nrun one: chainplug devnet run NAME", as_json=args.json)
    return EXIT_OK


def _interrupted(exc: BaseException) -> int:
    name = str(exc) or "SIGINT"
    sys.stderr.write(f"\nchainplug devnet: {name}: every process stopped\n")
    return 128 + (signal.Signals[name].value if name in signal.Signals.__members__ else signal.SIGINT.value)


def _run(args: argparse.Namespace) -> int:
    from ..devnet import find_scenario, install_signal_handlers, load_scenario, run_scenario
    from ..devnet.processes import Interrupted

    scenario = load_scenario(find_scenario(args.scenario))
    out = args.out or Path("devnet-out") / scenario.name
    install_signal_handlers()
    try:
        result = run_scenario(scenario, out, rpc_url=args.rpc_url)
    except (KeyboardInterrupt, Interrupted) as exc:
        return _interrupted(exc)
    summary = result.report["summary"]
    if args.json:
        document = {
            "passed": result.passed,
            "summary": summary,
            "expectations": result.report["expectations"],
            "schema_errors": result.schema_errors,
            "schema": result.schema_note,
            "files": [str(f) for f in result.files],
        }
        sys.stdout.write(json.dumps(document, indent=2) + "\n")
    else:
        sys.stdout.write(_text_report(result.report, result.schema_note, result.schema_errors, result.files) + "\n")
    return EXIT_OK if result.passed else EXIT_REJECTED


def _text_report(report: dict[str, Any], schema_note: str, schema_errors: list[str], files: list[Path]) -> str:
    """The run in the words of its HTML page: verdict first, then what to read, checks and figures."""
    from ..devnet import wording as w

    word, sentence = w.verdict(report)
    if schema_errors:
        word, sentence = "FAILED", f"the report breaks its schema ({len(schema_errors)} errors); {sentence}"
    run, summary = report["run"], report["summary"]
    lines = [
        f"devnet {report['scenario']['name']}: {word} in {w.seconds(run['wall_seconds'])} (setup "
        f"{w.seconds(run['setup_seconds'])}) — {sentence}"
    ]
    lines += [f"  warning: {x}" for x in run["warnings"]] + [
        f"  limitation: {x}" for x in report["chain"]["limitations"]
    ]
    for check in report["expectations"]:
        found = f"{check['name']}: {w.value(check['actual'])}"
        lines.append(
            f"  {'ok  ' if check['passed'] else 'FAIL'} {found}"
            + (
                ""
                if check["passed"]
                else f" (expected {w.value(check['expected'])}){'; ' + check['note'] if check['note'] else ''}"
            )
        )
    lines += [f"  schema: {schema_note}"] + [f"  schema error: {e}" for e in schema_errors]
    for key, value in summary.items():
        if key != "passed":
            shown = ", ".join(f"{k} {v}" for k, v in value.items()) if isinstance(value, dict) else w.value(value)
            lines.append(f"  {key.replace('_', ' ')}: {shown}")
    lines += [f"  wrote {f}" for f in files]
    return "\n".join(lines)


def _up(args: argparse.Namespace) -> int:
    import threading

    from ..devnet import find_scenario, install_signal_handlers, load_scenario, running_devnet
    from ..devnet.processes import Interrupted
    from ..devnet.rpc import JsonRpc
    from ..devnet.traffic import Traffic

    scenario = load_scenario(find_scenario(args.scenario))
    install_signal_handlers()
    try:
        with running_devnet(scenario, args.out, rpc_url=args.rpc_url) as devnet:
            endpoints = {**devnet.network.endpoints(), "accounts": devnet.accounts, "logs": str(args.out / "logs")}
            text = "\n".join(
                f"  {k}: {json.dumps(v) if isinstance(v, dict | list) else v}" for k, v in endpoints.items()
            )
            sys.stdout.write((json.dumps(endpoints) if args.json else f"devnet up:\n{text}\nCtrl-C stops it.") + "\n")
            sys.stdout.flush()
            traffic = None
            if args.traffic:
                chain = JsonRpc(devnet.network.require_chain().url)
                traffic = Traffic(
                    chain,
                    lambda: devnet.network.signer,
                    devnet.observer.mined_in,
                    rate=scenario.traffic.rate,
                    plain_share=scenario.traffic.plain_share,
                    plain_wallets=chain.call("eth_accounts")[1:4],
                    seed=scenario.seed,
                )
                traffic.accounts = devnet.accounts
                traffic.start()
            devnet.observer.set_phase("up (Ctrl-C stops)")
            try:
                threading.Event().wait()
            finally:
                if traffic is not None:
                    traffic.stop()
    except (KeyboardInterrupt, Interrupted) as exc:
        return _interrupted(exc)
    return EXIT_OK
