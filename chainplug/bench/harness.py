"""Calibrated, interleaved timing: the measuring instrument behind every ``chainplug bench`` figure.

Each product operation is measured *interleaved* with the primitives it must run (its floor): every
round times one loop of each, so machine noise hits both alike, and the reported ratio is the median
of per-round ratios. Medians over rounds, interquartile spread shown, warm-up excluded.
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

Op = Callable[[], object]

Baseline = Literal["floor", "reference"]
"""What a ratio divides by: ``floor`` = the primitives the operation must run (targets apply);
``reference`` = another implementation of a comparable job (e.g. eth-account), for context."""


@dataclass(frozen=True, slots=True)
class Timing:
    """Seconds per operation over rounds, measured with PQC backend ``backend`` in use."""

    name: str
    median: float
    p25: float
    p75: float
    rounds: int
    backend: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "backend": self.backend, "median_us": self.median * 1e6,
                "p25_us": self.p25 * 1e6, "p75_us": self.p75 * 1e6, "rounds": self.rounds}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Ratio:
    """A product operation against its floor (sum of the primitives it must run) or a reference."""

    name: str
    product: Timing
    floor: list[Timing]
    ratio: float
    """Median of per-round ratios product / sum(floor)."""
    target: float | None = None
    """Issue target (ratio must be <= target), when there is one."""
    baseline: Baseline = "floor"
    backend: str = ""

    @property
    def meets_target(self) -> bool | None:
        return None if self.target is None else self.ratio <= self.target

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "backend": self.backend, "baseline": self.baseline, "ratio": self.ratio,
                "target": self.target, "meets_target": self.meets_target, "product": self.product.to_json(),
                "floor": [t.to_json() for t in self.floor]}  # fmt: skip


class Harness:
    """Calibrated, interleaved timing. ``quick`` trades precision for a short run. Every result is
    labelled with ``backend``, the PQC backend in use while it was measured."""

    def __init__(self, *, quick: bool = False, progress: bool = True, backend: str = "") -> None:
        self.quick = quick
        self.rounds = 7 if quick else 15
        self.round_time = 0.02 if quick else 0.08
        """Target seconds per timed loop."""
        self.progress = progress
        self.backend = backend

    def say(self, message: str) -> None:
        if self.progress:
            label = f"[{self.backend}] " if self.backend else ""
            sys.stderr.write(f"\rbench: {label}{message:<70}")
            sys.stderr.flush()

    def loops(self, op: Op) -> int:
        """Calls of ``op`` per timed loop (after one warm-up call, excluded)."""
        op()
        start = time.perf_counter()
        op()
        once = max(time.perf_counter() - start, 1e-7)
        return max(1, int(self.round_time / once))

    @staticmethod
    def time(op: Op, loops: int) -> float:
        """Seconds per call of ``op`` over ``loops`` calls."""
        start = time.perf_counter()
        for _ in range(loops):
            op()
        return (time.perf_counter() - start) / loops

    def interleaved(self, ops: Sequence[tuple[str, Op]]) -> list[list[float]]:
        """Per-op lists of seconds-per-op, one entry per round, all ops timed in every round."""
        loops = [self.loops(op) for _, op in ops]
        samples: list[list[float]] = [[] for _ in ops]
        for _ in range(self.rounds):
            for index, (_, op) in enumerate(ops):
                samples[index].append(self.time(op, loops[index]))
        return samples

    def timing(self, name: str, op: Op) -> Timing:
        self.say(name)
        return summary(name, self.interleaved([(name, op)])[0], self.backend)

    def ratio(
        self,
        name: str,
        product: Op,
        floor: Sequence[tuple[str, Op]],
        target: float | None = None,
        baseline: Baseline = "floor",
    ) -> Ratio:
        self.say(name)
        samples = self.interleaved([(name, product), *floor])
        per_round = [p / sum(f[i] for f in samples[1:]) for i, p in enumerate(samples[0])]
        floors = [summary(label, s, self.backend) for (label, _), s in zip(floor, samples[1:], strict=True)]
        product_timing = summary(name, samples[0], self.backend)
        return Ratio(name, product_timing, floors, statistics.median(per_round), target, baseline, self.backend)


def summary(name: str, samples: list[float], backend: str = "") -> Timing:
    """Median and quartiles of ``samples`` (seconds)."""
    ordered = sorted(samples)
    quartiles = statistics.quantiles(ordered, n=4) if len(ordered) > 1 else [ordered[0]] * 3
    return Timing(name, statistics.median(ordered), quartiles[0], quartiles[2], len(ordered), backend)
