"""The report's picture: ``OUT/timeline.png``, drawn with matplotlib (Agg, no display needed).

Four panels share the block axis: every validator's attestation per block (green = accepted,
light green = accepted by a legacy version, red = rejected, grey = not attested), the accepts per
block against the 2/3 quorum, the transactions per block by kind, and the signer's accounts per
state. Dashed lines mark the schedule's events and the activation block.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # the backend must be chosen first
from matplotlib.colors import ListedColormap

VERDICT_COLOURS = ("#2e7d32", "#a5d6a7", "#c62828", "#e0e0e0")
"""accepted (upgraded), accepted (legacy), rejected, missing."""
KIND_COLOURS = {"classical": "#9e9e9e", "hybrid": "#1e88e5", "pqc-only": "#8e24aa", "attack": "#e53935"}
STATE_COLOURS = {"CLASSICAL": "#9e9e9e", "HYBRID": "#1e88e5", "FINALIZING": "#fb8c00", "PQC_ONLY": "#8e24aa"}


def _code(block: dict[str, Any], name: str) -> int:
    verdict = block["verdicts"].get(name, "missing")
    if verdict == "missing":
        return 3
    if verdict == "reject":
        return 2
    return 1 if block["versions"].get(name) == "legacy" else 0


def draw_timeline(report: dict[str, Any], path: Path) -> Path:
    blocks = report["blocks"]
    names = [v["name"] for v in report["validators"]]
    heights = [b["height"] for b in blocks]
    marks = _marks(report)
    rows = max((row for _, _, _, row in marks), default=0) + 1
    figure, (labels, *axes) = plt.subplots(
        5,
        1,
        figsize=(13, 10.5 + 0.18 * rows),
        sharex=True,
        gridspec_kw={"height_ratios": [0.25 * rows + 0.2, max(2, len(names) * 0.5), 1.6, 1.6, 1.6]},
    )
    matrix, finality, kinds, states = axes
    summary = report["summary"]
    figure.suptitle(
        f"chainplug devnet — {report['scenario']['name']}: {summary['validators']} validators, "
        f"{summary['accounts']} accounts, {summary['transactions_valid']} valid txs, "
        f"longest finality gap {summary['longest_finality_gap_blocks']} blocks "
        f"({summary['longest_finality_gap_seconds']:.1f} s), "
        f"{'PASSED' if summary['passed'] else 'FAILED'}",
        fontsize=11,
    )
    if blocks:
        grid = [[_code(b, name) for b in blocks] for name in names]
        matrix.imshow(
            grid,
            aspect="auto",
            interpolation="nearest",
            cmap=ListedColormap(VERDICT_COLOURS),
            vmin=0,
            vmax=3,
            extent=(heights[0] - 0.5, heights[-1] + 0.5, len(names) - 0.5, -0.5),
        )
    matrix.set_yticks(range(len(names)), names)
    for stranded in report["stranded"]:
        row = names.index(stranded["validator"])
        matrix.plot(stranded["block"], row, marker="v", color="black", markersize=9)
        matrix.annotate(
            f"stranded from {stranded['block']}",
            (stranded["block"], row),
            xytext=(4, -8),
            textcoords="offset points",
            fontsize=8,
        )
    matrix.set_title(
        "attestations (dark green accept · light green accept, legacy · red reject · grey none)", fontsize=9, loc="left"
    )

    need = -(-2 * len(names) // 3)
    colours = ["#43a047" if b["final"] else ("#ffb300" if b["attack"] else "#c62828") for b in blocks]
    finality.bar(heights, [b["accepts"] for b in blocks], color=colours, width=1.0)
    finality.axhline(need, color="black", linestyle=":", linewidth=1)
    finality.set_ylim(0, len(names) + 0.5)
    finality.set_ylabel("accepts")
    lag = finality.twinx()
    lags = [b["finalized_at"] - b["seen_at"] if b["finalized_at"] is not None else float("nan") for b in blocks]
    lag.plot(heights, [max(0.0, x) for x in lags], color="black", linewidth=1, marker=".", markersize=3)
    lag.set_ylim(bottom=0)
    lag.set_ylabel("seconds to final (line)", fontsize=8)
    finality.set_title(
        f"finality: ≥ {need}/{len(names)} accepts (green final · red not final · amber rightly rejected attack)",
        fontsize=9,
        loc="left",
    )

    bottom = [0] * len(blocks)
    for kind, colour in KIND_COLOURS.items():
        values = [b["kinds"].get(kind, 0) for b in blocks]
        if any(values):
            kinds.bar(heights, values, bottom=bottom, color=colour, width=1.0, label=kind)
            bottom = [x + y for x, y in zip(bottom, values, strict=True)]
    kinds.set_ylabel("txs")
    kinds.legend(loc="upper left", fontsize=8, ncol=4)
    kinds.set_title("transactions per block by kind", fontsize=9, loc="left")

    samples = report["account_samples"]
    if samples:
        xs = [s["block"] for s in samples]
        series = [[s["counts"].get(state, 0) for s in samples] for state in STATE_COLOURS]
        states.stackplot(xs, series, labels=list(STATE_COLOURS), colors=list(STATE_COLOURS.values()), step="post")
        states.legend(loc="upper left", fontsize=8, ncol=4)
    states.set_ylabel("accounts")
    states.set_xlabel("block")
    states.set_title("signer accounts by state", fontsize=9, loc="left")

    _mark_events(report, axes, labels, marks, rows)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path


def _marks(report: dict[str, Any]) -> list[tuple[int, str, str, int]]:
    """(block, label, colour, row) of the activation block and every event but waits; a label close to the
    previous one goes one row lower, so none overlaps another."""
    marks = [(report["chain"]["activation_block"], "activation", "#000000")]
    for event in report["events"]:
        if event["action"] != "wait":
            colour = "#e53935" if event["action"].startswith("crash") or event["action"] == "attack" else "#37474f"
            marks.append((event["block_start"], event["phase"], colour))
    placed: list[tuple[int, str, str, int]] = []
    ends: list[float] = []  # per row: the block where its last label ends
    span = max(1, len(report["blocks"]))
    for block, label, colour in sorted(marks):
        width = len(label) * span / 150 + 1  # about how many blocks a label covers at this scale
        row = next((r for r, end in enumerate(ends) if block >= end), len(ends))
        if row == len(ends):
            ends.append(0.0)
        ends[row] = block + width
        placed.append((block, label, colour, row))
    return placed


def _mark_events(
    report: dict[str, Any], axes: Any, labels: Any, marks: list[tuple[int, str, str, int]], rows: int
) -> None:
    setup_end = report["run"]["analysed_from_block"] - 0.5
    for axis in axes:
        axis.axvspan(axis.get_xlim()[0], setup_end, color="#eceff1", alpha=0.6, zorder=0, linewidth=0)
        for block, _, colour, _ in marks:
            axis.axvline(block, color=colour, linestyle="--", linewidth=0.7, alpha=0.7)
    labels.set_ylim(rows, -0.2)
    labels.axis("off")
    labels.set_title("schedule (dashed lines below; shaded: setup)", fontsize=9, loc="left")
    for block, label, colour, row in marks:
        labels.plot([block, block], [row + 0.55, rows], color=colour, linewidth=0.6, alpha=0.6)
        labels.text(block, row + 0.45, f" {label}", fontsize=8, color=colour, va="center", ha="left")
