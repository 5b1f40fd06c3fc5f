"""``OUT/report.html``: the page an operator reads first. From the top: the verdict in one sentence
(a stranded validator named even when the scenario expects it), what to read first (the run's
warnings and limitations), the key figures with their units, the timeline picture, the acceptance
matrix (validator version × transaction kind), every attack with its outcome and reason, the
expectations, then validators, migration, faults and the schedule. Times are local, with the zone.
Self-contained (the picture is embedded, no script), every value escaped; ``report.json`` stays the
source of truth."""

from __future__ import annotations

import base64
import html
import importlib.util
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from . import wording as w

STATES = ("HYBRID", "FINALIZING", "PQC_ONLY")
"""Migration target states, in order (report.json keeps its keys sorted)."""
NO_PICTURE = "no timeline picture: matplotlib is not installed (pip install 'chainplug[devnet]')"

STYLE = """
:root{--ok:#1b5e20;--ok-bg:#e8f5e9;--bad:#b71c1c;--bad-bg:#ffebee;--warn:#8a5300;--warn-bg:#fff8e1;--line:#d0d7de;
--muted:#57606a}
body{font:15px/1.5 system-ui,-apple-system,"Segoe UI",sans-serif;color:#1f2328;margin:0;background:#f6f8fa}
main{max-width:1180px;margin:0 auto;padding:24px 28px 48px;background:#fff;min-height:100vh;box-sizing:border-box}
h1{font-size:26px;margin:0 0 4px}h2{font-size:19px;margin:32px 0 8px;padding-bottom:4px;border-bottom:1px solid
var(--line)}p{margin:6px 0}.muted{color:var(--muted)}
.banner{border-radius:8px;padding:16px 20px;margin-bottom:16px;border:2px solid}
.banner.passed{background:var(--ok-bg);border-color:var(--ok)}.banner.failed{background:var(--bad-bg);
border-color:var(--bad)}.banner.stranded{background:var(--warn-bg);border-color:var(--warn)}
.verdict{font-weight:700}.passed .verdict{color:var(--ok)}.failed .verdict{color:var(--bad)}
.stranded .verdict{color:var(--ok)}.lead{font-size:17px;font-weight:600}
.notes{background:var(--warn-bg);border-left:5px solid var(--warn);padding:10px 16px;margin:14px 0;border-radius:4px}
.notes h2{border:0;margin:0 0 4px;font-size:17px;color:var(--warn)}.notes ul{margin:4px 0;padding-left:20px}
.figures{display:grid;grid-template-columns:repeat(auto-fill,minmax(260px,1fr));gap:10px;margin:12px 0}
.figure{border:1px solid var(--line);border-radius:6px;padding:10px 14px}.figure .label{color:var(--muted);
font-size:13px}.figure .number{font-size:22px;font-weight:650}.figure .words{font-size:13px}
.figure.bad{border-color:var(--bad);background:var(--bad-bg)}
table{border-collapse:collapse;width:100%;margin:6px 0 10px;font-size:14px}th,td{border-bottom:1px solid
var(--line);padding:5px 8px;text-align:left;vertical-align:top}th{background:#f6f8fa;font-weight:600}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}tr.bad td{background:var(--bad-bg)}
.ok{color:var(--ok);font-weight:600}.no{color:var(--bad);font-weight:600}.warn{color:var(--warn);font-weight:600}
code,.addr{font:12.5px ui-monospace,SFMono-Regular,Menlo,monospace}ul.plain{margin:0;padding-left:18px}
figure{margin:8px 0}figure img{width:100%;height:auto;border:1px solid var(--line);border-radius:4px}
figcaption{font-size:13px;color:var(--muted)}
td.accept{background:var(--ok-bg)}td.refuse{background:var(--bad-bg)}td.mixed{background:var(--warn-bg)}
footer{margin-top:36px;font-size:13px;color:var(--muted)}
"""


def picture_note() -> str:
    """Why this run will draw no picture ("" when it will): matplotlib is an optional extra."""
    return "" if importlib.util.find_spec("matplotlib") else NO_PICTURE


def e(text: Any) -> str:
    return html.escape("" if text is None else str(text))


def short(address: str) -> str:
    """0x1234…abcd: enough to tell the accounts apart (the full address is in the title)."""
    return f'<span class="addr" title="{e(address)}">{e(address[:6])}…{e(address[-4:])}</span>'


def table(
    head: Sequence[str], rows: Iterable[Sequence[str]], *, numeric: Iterable[int] = (), classes: Any = None
) -> str:
    """A table of already-escaped cells; ``numeric``: column indexes aligned right."""
    right = set(numeric)
    top = "".join(f"<th{' class=n' if i in right else ''}>{e(h)}</th>" for i, h in enumerate(head))
    body = []
    for index, row in enumerate(rows):
        kind = classes(index) if classes else ""
        cells = "".join(f"<td{' class=n' if i in right else ''}>{cell}</td>" for i, cell in enumerate(row))
        body.append(f"<tr{f' class={kind}' if kind else ''}>{cells}</tr>")
    if not body:
        return '<p class="muted">none</p>'
    return f"<table><thead><tr>{top}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def yes(flag: bool, good: str = "yes", bad: str = "NO") -> str:
    return f'<span class="{"ok" if flag else "no"}">{e(good if flag else bad)}</span>'


def listing(items: Iterable[str]) -> str:
    items = list(items)
    return "<ul class=plain>" + "".join(f"<li>{e(i)}</li>" for i in items) + "</ul>" if items else ""


# --- sections ----------------------------------------------------------------------------------------


def _header(report: dict[str, Any]) -> str:
    word, sentence = w.verdict(report)
    kind = "failed" if word == "FAILED" else "stranded" if report["stranded"] else "passed"
    scenario, chain, run, fleet = report["scenario"], report["chain"], report["run"], report["fleet"]
    legacy = sum(1 for v in report["validators"] if v["initial_version"] == "legacy")
    upgraded_end = sum(1 for v in report["validators"] if v["final_version"] == "upgraded")
    facts = [
        f"{fleet['size']} validators ({legacy} legacy at the start, {upgraded_end} upgraded at the end)",
        f"{len(report['migration']['accounts'])} accounts",
        f"{chain['kind']} chain {chain['url']} (chain id {chain['chain_id']})",
        f"PQC required from block {chain['activation_block']}",
        f"fleet gate {fleet['gate']} (threshold {fleet['threshold']})",
    ]
    timing = (
        f"Started {w.local_time(run['started_at'])}; took {w.seconds(run['wall_seconds'])}, of which setup "
        f"{w.seconds(run.get('setup_seconds'))}. Scenario file: {scenario['source']}"
    )
    return (
        f'<header class="banner {kind}"><h1>{e(scenario["name"])} — <span class="verdict">{e(word)}</span></h1>'
        f'<p class="lead">{e(sentence)}</p><p>{e(scenario["description"])}</p>'
        f'<p class="muted">{e(" · ".join(facts))}.<br>{e(timing)}</p></header>'
    )


def _notes(report: dict[str, Any], note: str) -> str:
    run, chain = report["run"], report["chain"]
    items = []
    if run["error"]:
        items.append(f"The run stopped early: {run['error']}")
    items += [f"Warning: {x}" for x in run["warnings"]]
    items += [f"Limitation of this chain: {x}" for x in chain["limitations"]]
    if note:
        items.append(note.capitalize())
    if not items:
        return ""
    return f'<section class="notes"><h2>Read this first</h2>{listing(items)}</section>'


def _figure(label: str, number: str, words: str, bad: bool = False) -> str:
    return (
        f'<div class="figure{" bad" if bad else ""}"><div class="label">{e(label)}</div>'
        f'<div class="number">{e(number)}</div><div class="words">{e(words)}</div></div>'
    )


def _figures(report: dict[str, Any]) -> str:
    tx, finality, migration = report["transactions"], report["finality"], report["migration"]
    accounts = migration["accounts"]
    pqc_only = sum(1 for a in accounts if a["final_state"] == "PQC_ONLY")
    attacks = report["attacks"]
    refused = sum(1 for a in attacks if a["verdict"].startswith("rejected"))
    tolerated = sum(1 for a in attacks if a["verdict"] == "tolerated")
    accepted = sum(1 for a in attacks if a["verdict"] == "ACCEPTED")
    faults = report["faults"]
    recovered = sum(1 for f in faults if f["recovered"])
    latency = migration["latency_seconds"]
    steps = ", ".join(f"{state} {w.seconds(latency[state]['median'])}" for state in STATES if latency[state]["count"])
    held = report["chain"].get("held", [])
    stranded = [f"{s['validator']} from block {s['block']}" for s in report["stranded"]]
    cards = [
        _figure("accounts at PQC_ONLY", f"{pqc_only} of {len(accounts)}", f"median step: {steps or '—'}"),
        _figure(
            "valid transactions mined",
            str(tx["valid"]),
            f"{tx['valid_rejected_by_quorum']} rejected by the 2/3 quorum, {tx['refused_at_submission']} refused "
            "when sent",
            bad=bool(tx["valid_rejected_by_quorum"] or tx["refused_at_submission"]),
        ),
        _figure(
            "invalid accepted by an upgraded validator",
            str(tx["invalid_accepted_by_upgraded"]),
            "attacks or missing PQC parts after activation",
            bad=bool(tx["invalid_accepted_by_upgraded"]),
        ),
        _figure(
            "longest finality gap",
            w.seconds(finality["longest_seconds"]),
            f"{finality['longest_blocks']} block(s) mined meanwhile; "
            f"median lag {w.seconds(finality['median_seconds'])}",
            bad=bool(finality["never_final"] or finality["non_final_blocks"]),
        ),
        _figure(
            "attacks",
            f"{refused + tolerated} of {len(attacks)} handled",
            f"{refused} refused, {tolerated} tolerated before activation, {accepted} accepted",
            bad=bool(accepted),
        ),
        _figure("stranded validators", str(len(stranded)), w.names(stranded)),
        _figure(
            "injected faults recovered",
            f"{recovered} of {len(faults)}",
            "validator and signer crashes",
            bad=recovered < len(faults),
        ),
        _figure(
            "blocks",
            str(report["chain"]["head"]),
            f"setup ended at block {report['run']['analysed_from_block'] - 1}"
            + (f"; chain held {w.seconds(sum(h['seconds'] for h in held))} before activation" if held else ""),
        ),
    ]
    return f'<section class="figures">{"".join(cards)}</section>'


def _picture(report: dict[str, Any], picture: bytes | None, note: str) -> str:
    if not picture:
        return f'<h2>Timeline</h2><p class="muted">{e(note)}</p>'
    data = base64.b64encode(picture).decode()
    return (
        '<h2>Timeline</h2><figure><img alt="devnet timeline: attestations per validator and block, finality, '
        f'transactions by kind, accounts by state" src="data:image/png;base64,{data}"><figcaption>Per block '
        "(x axis): each validator's attestation (dark green accepted, light green accepted by a legacy version, "
        "red rejected, grey none: the validator was down), accepts against the 2/3 line, transactions by kind, the "
        "signer's accounts by state. Dashed lines: the schedule's events and the activation block; shaded: setup."
        "</figcaption></figure>"
    )


def _acceptance(report: dict[str, Any]) -> str:
    cells = report.get("acceptance", [])
    kinds = sorted({c["kind"] for c in cells}, key=lambda k: (k.startswith("attack"), k))
    versions = [v for v in ("legacy", "upgraded") if any(c["version"] == v for c in cells)]
    if not cells:
        return '<h2>Which validator accepted what</h2><p class="muted">no validator verdicts recorded</p>'
    by = {(c["version"], c["kind"]): c for c in cells}
    head = "".join(f"<th>{e(k)}</th>" for k in kinds)
    rows = []
    for version in versions:
        row = [f"<th>{e(version)} validators</th>"]
        for kind in kinds:
            cell = by.get((version, kind))
            if cell is None:
                row.append('<td class="muted">—</td>')
                continue
            parts = []
            if cell["accepted"]:
                parts.append(f"accepted {cell['accepted']}")
            if cell["refused"]:
                why = ", ".join(f"{code} ×{n}" for code, n in cell["reasons"].items())
                parts.append(f"refused {cell['refused']}: {why}")
            style = "mixed" if cell["accepted"] and cell["refused"] else "refuse" if cell["refused"] else "accept"
            row.append(f'<td class="{style}">{"<br>".join(e(p) for p in parts)}</td>')
        rows.append(f"<tr>{''.join(row)}</tr>")
    return (
        "<h2>Which validator accepted what</h2><p class=muted>Validator verdicts on mined transactions, by the "
        "validator's version when it judged and the transaction's kind (an admitted attack by its name; attacks "
        "refused when sent never reach a validator: see Attacks).</p>"
        f"<table><thead><tr><th></th>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )


def _attacks(report: dict[str, Any]) -> str:
    activation = report["chain"]["activation_block"]
    rows = []
    for attack in report["attacks"]:
        when = "before" if attack["block"] + 1 < activation else "after"
        rows.append(
            (
                e(attack.get("phase", "")),
                f"<b>{e(attack['kind'])}</b><br><span class=muted>{e(attack['detail'])}</span>",
                f"{short(attack['target'])}<br>{e(attack['target_state'])}",
                e(f"{attack['block']} ({when} activation)"),
                e(attack["via"]),
                e(w.attack_outcome(attack)),
                yes(attack["verdict"] not in ("ACCEPTED", "skipped"), attack["verdict"], attack["verdict"]),
            )
        )
    return "<h2>Attacks</h2>" + table(
        ["phase", "attack", "target", "sent at block", "via", "what happened", "verdict"],
        rows,
        classes=lambda i: "bad" if report["attacks"][i]["verdict"] in ("ACCEPTED", "skipped") else "",
    )


def _expectations(report: dict[str, Any]) -> str:
    checks = report.get("expectations", [])
    rows = [
        (
            e(c["name"]),
            e(w.value(c["expected"])),
            e(w.value(c["actual"])),
            yes(c["passed"], "held", "FAILED"),
            e(c["note"]),
        )
        for c in checks
    ]
    return "<h2>Expectations</h2>" + table(
        ["check", "expected", "found", "result", "note"], rows, classes=lambda i: "" if checks[i]["passed"] else "bad"
    )


def _validators(report: dict[str, Any]) -> str:
    rows = []
    for v in report["validators"]:
        upgrades = [f"at block {u['at_block']}, back in {w.seconds(u['downtime_seconds'])}" for u in v["upgrades"]]
        stranded = f"from block {v['stranded_at_block']}" if v["stranded"] else ""
        rows.append(
            (
                e(v["name"]) + (" <span class=muted>(remote)</span>" if v["remote"] else ""),
                e(
                    v["initial_version"]
                    if v["initial_version"] == v["final_version"]
                    else f"{v['initial_version']} → {v['final_version']}"
                ),
                str(v["attested"]),
                str(v["accepted"]),
                str(v["rejected"]),
                str(v["restarts"]),
                e(_lag_text(v["lag_blocks"])),
                e(v["process"] or "—"),
                e("; ".join(upgrades)),
                f'<span class="warn">{e(stranded)}</span>' if stranded else "",
            )
        )
    stranded_rows = [
        (
            e(s["validator"]),
            e(s["version"]),
            str(s["block"]),
            str(s["final_blocks_rejected"]),
            e(", ".join(w.reason(r) for r in s["reasons"])),
        )
        for s in report["stranded"]
    ]
    out = "<h2>Validators</h2>" + table(
        [
            "validator",
            "version",
            "attested",
            "accepted",
            "rejected",
            "restarts",
            "lag (blocks)",
            "process",
            "upgrade",
            "stranded",
        ],
        rows,
        numeric=(2, 3, 4, 5),
    )
    if stranded_rows:
        out += "<p>Stranded: rejected a block the 2/3 quorum finalized, so no longer follows the chain.</p>" + table(
            ["validator", "version", "first block", "final blocks rejected", "why"], stranded_rows, numeric=(2, 3)
        )
    return out


def _migration(report: dict[str, Any]) -> str:
    migration = report["migration"]
    latency = [
        (e(state), str(v["count"]), e(w.seconds(v["min"])), e(w.seconds(v["median"])), e(w.seconds(v["max"])))
        for state, v in [
            *((s, migration["latency_seconds"][s]) for s in STATES),
            ("end to end", migration["end_to_end_seconds"]),
        ]
    ]
    rows = []
    for account in migration["accounts"]:
        steps = []
        for step in account["steps"]:
            took = f" {w.seconds(step['seconds'])}" if step["seconds"] is not None else ""
            steps.append(f"{step['to']}: {step['outcome']}{took}" + (f" ({step['detail']})" if step["detail"] else ""))
        rows.append((short(account["address"]), e(account["final_state"]), listing(steps)))
    return (
        "<h2>Migration</h2><p class=muted>Seconds per successful step, by target state; end to end is from an "
        "account's first step to PQC_ONLY, waits for the fleet gate and crashes included.</p>"
        + table(["step to", "count", "fastest", "median", "slowest"], latency, numeric=(1, 2, 3, 4))
        + table(["account", "final state", "steps"], rows)
    )


def _faults(report: dict[str, Any]) -> str:
    faults = report["faults"]
    if not faults:
        return ""
    rows = [
        (
            e(f["phase"]),
            e(f["kind"]),
            e(f["target"]),
            str(f["block"]),
            e(f["crash_point"] or "—"),
            yes(f["recovered"]),
            e(f["recovery"]) + listing(f["lost"]),
        )
        for f in faults
    ]
    return "<h2>Injected faults</h2>" + table(
        ["phase", "fault", "target", "block", "crash point", "recovered", "how"],
        rows,
        numeric=(3,),
        classes=lambda i: "" if faults[i]["recovered"] else "bad",
    )


def _schedule(report: dict[str, Any]) -> str:
    events = report["events"]
    rows = [
        (
            str(ev["index"] + 1),
            e(ev["phase"]),
            e(ev["action"]),
            e(f"{ev['block_start']}–{ev['block_end']}"),
            e(w.clock_time(ev["started_at"])),
            e(w.seconds(max(0.0, ev["ended_at"] - ev["started_at"]))),
            yes(ev["ok"], "ok", "FAILED"),
            listing(ev["detail"]),
        )
        for ev in events
    ]
    held = report["chain"].get("held", [])
    note = (
        "<p class=muted>"
        + e(
            "The chain was held (no block mined by time) so the steps scheduled before activation ran before it: "
            + "; ".join(
                f"at block {h['block']} from {w.clock_time(h['started_at'])} for {w.seconds(h['seconds'])}"
                for h in held
            )
        )
        + "</p>"
        if held
        else ""
    )
    return (
        "<h2>Schedule</h2>"
        + note
        + table(
            ["#", "phase", "action", "blocks", "started", "took", "result", "detail"],
            rows,
            numeric=(0, 3, 4, 5),
            classes=lambda i: "" if events[i]["ok"] else "bad",
        )
    )


def _lag_text(lag: dict[str, Any]) -> str:
    """A validator's lag behind the head: median, 95th percentile and most, in blocks."""
    if not lag["samples"]:
        return "—"
    return f"median {lag['median']:g}, p95 {lag['p95']}, max {lag['max']}"


def _processes(report: dict[str, Any]) -> str:
    rows = [
        (e(p["name"]), e(p["role"]), e(w.names(p["validators"]) if p["validators"] else "—"),
         f"{p['cpu_seconds']:.1f} s")
        for p in report["processes"]
    ]  # fmt: skip
    run = report["run"]
    per_tx = run["cpu_per_transaction_ms"]
    total = f"CPU {run['cpu_seconds']:.1f} s in all" + (f", {per_tx:.1f} ms per mined transaction" if per_tx else "")
    return (
        "<h2>Processes</h2>"
        + f"<p>{e(total)} (setup included).</p>"
        + table(["process", "role", "validators", "CPU"], rows)
    )


def _transactions(report: dict[str, Any]) -> str:
    tx, finality = report["transactions"], report["finality"]
    pq = tx["pq"]
    rows = [
        ("mined", f"{tx['mined']} ({', '.join(f'{k} {n}' for k, n in sorted(tx['by_kind'].items()))})"),
        (
            "sent by the devnet (traffic and steps)",
            f"{tx['sent_by_devnet']}; {tx['traffic_turns_skipped']} traffic turns skipped (every sender busy)",
        ),
        (
            "PQC part, as upgraded validators found it",
            f"present {pq['present']}, missing {pq['missing']}, PQC-only {pq['pqc_only']}, not expected "
            f"{pq['not_expected']} (plain classical senders)",
        ),
        ("final blocks", f"{finality['final_blocks']} of {len(report['blocks'])}"),
        ("blocks never final", w.names([str(b) for b in finality["never_final"]])),
        ("blocks rightly rejected for an attack", w.names([str(b) for b in finality["attack_blocks"]])),
        ("longest finality gap", f"{w.seconds(finality['longest_seconds'])} at block {finality['at_block']}"),
        ("validators' lag behind the head (all polls)", _lag_text(report["fleet"]["lag_blocks"]) + " blocks"),
    ]
    return "<h2>Transactions and finality</h2>" + table(["figure", "value"], [(e(a), e(b)) for a, b in rows])


def render(report: dict[str, Any], picture: bytes | None, note: str = "") -> str:
    name = e(report["scenario"]["name"])
    word, _ = w.verdict(report)
    sections = {
        "timeline": _picture(report, picture, note),
        "acceptance": _acceptance(report),
        "attacks": _attacks(report),
        "expectations": _expectations(report),
        "validators": _validators(report),
        "migration": _migration(report),
        "faults": _faults(report),
        "transactions": _transactions(report),
        "processes": _processes(report),
        "schedule": _schedule(report),
    }
    parts = [
        f"<!doctype html><html lang=en><meta charset=utf-8><meta name=viewport content='width=device-width'>"
        f"<title>{name} — {e(word)} — chainplug devnet</title><style>{STYLE}</style><main>",
        _header(report),
        _notes(report, note),
        _figures(report),
        *(f'<section id="{key}">{body}</section>' for key, body in sections.items() if body),
        f"<footer>chainplug {e(report['chainplug_version'])} · report format {e(report['schema'])} · the full data "
        "is in report.json next to this page; logs of every process in logs/.</footer></main></html>",
    ]
    return "\n".join(parts) + "\n"


def write_html(report: dict[str, Any], out: Path) -> list[Path]:
    """Draw ``timeline.png`` (if matplotlib is installed) and write ``report.html``; returns the files."""
    written: list[Path] = []
    picture: bytes | None = None
    note = picture_note()
    if not note:
        from .plot import draw_timeline

        written.append(draw_timeline(report, out / "timeline.png"))
        picture = written[-1].read_bytes()
    page = out / "report.html"
    page.write_text(render(report, picture, note), encoding="utf-8")
    return [page, *written]
