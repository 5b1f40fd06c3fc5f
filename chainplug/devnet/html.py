"""``OUT/report.html``: the report for people — headline, expectations, the timeline picture,
validators, faults and their recovery, attacks, migration latency, events. Self-contained (the
PNG is embedded) and escaped throughout; ``report.json`` stays the source of truth."""

from __future__ import annotations

import base64
import html
import importlib.util
import json
from pathlib import Path
from typing import Any

NO_PICTURE = "no timeline picture: matplotlib is not installed (pip install 'chainplug[devnet]')"


def picture_note() -> str:
    """Why this run will draw no picture ("" when it will): matplotlib is an optional extra."""
    return "" if importlib.util.find_spec("matplotlib") else NO_PICTURE


STYLE = """body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:1300px;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #ccc;padding:3px 8px;text-align:left;
vertical-align:top}th{background:#f3f3f3}.pass{color:#2e7d32;font-weight:600}.fail{color:#c62828;font-weight:600}
img{max-width:100%;border:1px solid #ddd}code{font-size:12px}"""


def _cell(value: Any) -> str:
    if isinstance(value, bool):
        return f'<span class="{"pass" if value else "fail"}">{"yes" if value else "NO"}</span>'
    if isinstance(value, float):
        return f"{value:.3f}"
    if isinstance(value, list | dict):
        return f"<code>{html.escape(json.dumps(value))}</code>"
    return html.escape("" if value is None else str(value))


def _table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    if not rows:
        return "<p>none</p>"
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{_cell(row.get(c))}</td>" for c in columns) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def render(report: dict[str, Any], picture: bytes | None, note: str = "") -> str:
    summary = report["summary"]
    verdict = "PASSED" if summary["passed"] else "FAILED"
    parts = [
        f"<!doctype html><meta charset=utf-8><title>chainplug devnet — {html.escape(report['scenario']['name'])}"
        f"</title><style>{STYLE}</style>",
        f"<h1>chainplug devnet: {html.escape(report['scenario']['name'])} — "
        f'<span class="{"pass" if summary["passed"] else "fail"}">{verdict}</span></h1>',
        f"<p>{html.escape(report['scenario']['description'])}</p>",
        f"<p>chain: {_cell(report['chain']['kind'])} {_cell(report['chain']['url'])}, activation block "
        f"{report['chain']['activation_block']}, fleet gate {_cell(report['fleet']['gate'])} "
        f"(threshold {_cell(report['fleet']['threshold'])}), wall time {report['run']['wall_seconds']:.1f} s."
        + "".join(f"<br><b>limitation:</b> {html.escape(x)}" for x in report["chain"]["limitations"])
        + (f"<br><b>error:</b> {html.escape(report['run']['error'])}" if report["run"]["error"] else "")
        + "</p>",
        "<h2>Headline</h2>",
        _table([{"figure": k, "value": v} for k, v in summary.items()], ["figure", "value"]),
        "<h2>Expectations</h2>",
        _table(report["expectations"], ["name", "expected", "actual", "passed", "note"]),
        "<h2>Timeline</h2>",
        (
            f'<img alt="devnet timeline" src="data:image/png;base64,{base64.b64encode(picture).decode()}">'
            if picture
            else f"<p>{html.escape(note)}</p>"
        ),
        "<h2>Validators</h2>",
        _table(
            report["validators"],
            [
                "name",
                "initial_version",
                "final_version",
                "attested",
                "accepted",
                "rejected",
                "restarts",
                "stranded",
                "stranded_at_block",
                "upgrades",
            ],
        ),
        "<h2>Stranded validators</h2>",
        _table(report["stranded"], ["validator", "version", "block", "final_blocks_rejected", "reasons"]),
        "<h2>Finality</h2>",
        _table([{k: v for k, v in report["finality"].items()}], list(report["finality"])),
        "<h2>Injected faults and their recovery</h2>",
        _table(report["faults"], ["kind", "target", "phase", "block", "crash_point", "recovered", "recovery", "lost"]),
        "<h2>Attacks</h2>",
        _table(
            report["attacks"],
            [
                "kind",
                "target_state",
                "via",
                "block",
                "expected",
                "outcome",
                "reason",
                "mined_block",
                "rejected_by",
                "accepted_by_upgraded",
                "verdict",
                "detail",
            ],
        ),
        "<h2>Migration latency (seconds per step, by target state)</h2>",
        _table(
            [{"state": k, **v} for k, v in report["migration"]["latency_seconds"].items()]
            + [{"state": "end to end", **report["migration"]["end_to_end_seconds"]}],
            ["state", "count", "min", "median", "max"],
        ),
        "<h2>Transactions</h2>",
        _table(
            [{k: v for k, v in report["transactions"].items() if not isinstance(v, list)}],
            [k for k, v in report["transactions"].items() if not isinstance(v, list)],
        ),
        "<h2>Events</h2>",
        _table(report["events"], ["index", "phase", "action", "block_start", "block_end", "ok", "detail"]),
    ]
    return "\n".join(parts) + "\n"


def write_html(report: dict[str, Any], out: Path) -> list[Path]:
    """Draw ``timeline.png`` (if matplotlib is installed) and write ``report.html``; returns the files."""
    written: list[Path] = []
    picture: bytes | None = None
    note = ""
    if picture_note():
        note = picture_note()
    else:
        from .plot import draw_timeline

        written.append(draw_timeline(report, out / "timeline.png"))
        picture = written[-1].read_bytes()
    page = out / "report.html"
    page.write_text(render(report, picture, note), encoding="utf-8")
    return [page, *written]
