"""One benchmark run over one or more PQC backends: every figure against a floor measured on the same
backend in the same run, and labelled with that backend."""

from __future__ import annotations

import os
import platform
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from ..constants import PQC_BACKEND_ENV
from .envelope import envelope_ratios, sizes
from .harness import Harness, Ratio, Timing
from .keystore import UNLOCK_KEYS, UNLOCK_ROUNDS, keystore_figures
from .migration import migration_figures
from .node import node_figures
from .primitives import MLDSA_KEYGEN, MLKEM_DECAPS, Workload, primitive_ops
from .signer import signer_throughput
from .throughput import validator_throughput

SECTIONS = ("primitives", "envelope", "throughput", "keystore", "migration", "node", "signer")


@dataclass
class BackendRun:
    """Everything measured with one PQC backend in use."""

    backend: str
    description: str
    primitives: list[Timing] = field(default_factory=list)
    ratios: list[Ratio] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"backend": self.backend, "description": self.description,
                "primitives": [t.to_json() for t in self.primitives], "ratios": [r.to_json() for r in self.ratios],
                "figures": self.figures}  # fmt: skip


@dataclass
class Report:
    """Everything one ``chainplug bench`` run measured."""

    machine: dict[str, Any]
    backend_in_use: str
    """The backend chainplug runs on here (``CHAINPLUG_PQC_BACKEND``, default auto)."""
    runs: list[BackendRun] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"machine": self.machine, "backend_in_use": self.backend_in_use,
                "backends": [r.backend for r in self.runs], "runs": [r.to_json() for r in self.runs]}  # fmt: skip


def machine_info() -> dict[str, Any]:
    return {"python": platform.python_version(), "platform": platform.platform(), "cpus": os.cpu_count(),
            "processor": platform.processor() or platform.machine()}  # fmt: skip


def resolve_backends(spec: str | None) -> list[str]:
    """``None``/``in-use``: the backend in use; ``all``: every backend that loads, the one in use first;
    else a comma-separated list of names, each of which must load (else BackendUnavailable/ConfigError)."""
    from ..crypto import available_backends, get_backend
    from ..errors import ConfigError

    in_use = get_backend().name
    if spec is None or spec.strip() in ("", "in-use"):
        return [in_use]
    if spec.strip() == "all":
        return [in_use, *(name for name in available_backends() if name != in_use)]
    names = [name.strip().lower() for name in spec.split(",") if name.strip()]
    if not names:
        raise ConfigError("--backends needs 'all', 'in-use' or backend names")
    for name in names:
        get_backend(name)  # raises with the reason when it cannot load
    return list(dict.fromkeys(names))


@contextmanager
def backend_in_use(name: str) -> Iterator[None]:
    """Make ``name`` the process's PQC backend (and its worker processes') for the duration."""
    before = os.environ.get(PQC_BACKEND_ENV)
    os.environ[PQC_BACKEND_ENV] = name
    try:
        yield
    finally:
        if before is None:
            del os.environ[PQC_BACKEND_ENV]
        else:
            os.environ[PQC_BACKEND_ENV] = before


def run_backend(
    name: str, *, quick: bool, processes: int, sections: Sequence[str] = SECTIONS, progress: bool = True
) -> BackendRun:
    """Every section with backend ``name`` in use."""
    from ..crypto import get_backend

    with backend_in_use(name):
        h = Harness(quick=quick, progress=progress, backend=name)
        result = BackendRun(name, get_backend(name).description)
        work = Workload.build()
        prims = primitive_ops(name, work)
        if "primitives" in sections:
            result.primitives.extend(h.timing(label, op) for label, op in prims.items())
        if "envelope" in sections:
            result.ratios.extend(envelope_ratios(h, prims, work))
            result.figures["sizes"] = sizes(work)
        if "throughput" in sections:
            result.figures["validator_throughput"] = validator_throughput(h, prims, processes)
        if "keystore" in sections:
            unlock = keystore_figures(prims[MLKEM_DECAPS], keys=200 if quick else UNLOCK_KEYS,
                                      rounds=3 if quick else UNLOCK_ROUNDS, say=h.say)  # fmt: skip
            result.figures["keystore_unlock"] = {"backend": name, **unlock}
        if "migration" in sections:
            keys, rounds = (200, 3) if quick else (1000, 5)
            result.figures["migration"] = migration_figures(
                prims[MLDSA_KEYGEN], keys=keys, rounds=rounds, backend=name, say=h.say
            )
        if "node" in sections:
            result.figures["node"] = node_figures(h, quick=quick)
        if "signer" in sections:
            result.figures["signer_throughput"] = signer_throughput(h, prims)
    return result


def run(
    *,
    quick: bool,
    processes: int,
    backends: Sequence[str] | None = None,
    sections: Sequence[str] = SECTIONS,
    progress: bool = True,
) -> Report:
    """The whole benchmark, once per backend in ``backends`` (default: the one in use)."""
    from ..crypto import get_backend

    in_use = get_backend().name
    report = Report(machine=machine_info(), backend_in_use=in_use)
    for name in backends or [in_use]:
        report.runs.append(run_backend(name, quick=quick, processes=processes, sections=sections, progress=progress))
    if progress:
        sys.stderr.write("\r" + " " * 90 + "\r")
    return report
