"""chainplug.bench — measurement: every chainplug operation as a ratio to the primitives it must run.

The top of the layer stack below the CLI (it may import any layer). ``chainplug bench`` parses its
arguments and prints a :class:`Report`; ``tests/bench`` uses the same cases, so a figure has one
definition wherever it is quoted.

* :mod:`.harness` — calibrated, interleaved timing (:class:`Harness`, :class:`Timing`, :class:`Ratio`);
* :mod:`.primitives` — the bare primitives (floors) on the PQC backend in use;
* :mod:`.envelope`, :mod:`.throughput`, :mod:`.keystore`, :mod:`.migration` — the cases;
* :mod:`.run` — one run over one or more backends, every figure labelled with its backend.
"""

from .harness import Harness, Ratio, Timing
from .run import SECTIONS, BackendRun, Report, resolve_backends, run

__all__ = ["SECTIONS", "BackendRun", "Harness", "Ratio", "Report", "Timing", "resolve_backends", "run"]
