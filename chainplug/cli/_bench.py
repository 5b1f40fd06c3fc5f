"""``chainplug bench``: what this machine can do, as ratios against the raw primitives (chainplug.bench)."""

from __future__ import annotations

import argparse
import os
from typing import Any

from ._output import EXIT_OK, emit


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    bench = sub.add_parser(
        "bench",
        parents=[common],
        help="measure primitives and chainplug operations on this machine (ratios to the floor)",
        description=(
            "Measure the bare primitives (secp256k1, ML-DSA-87, ML-KEM-1024, keccak, AES-GCM, PBKDF2, fsync) and the "
            "chainplug operations built on them, interleaved in one run, and print each operation as a ratio to the "
            "primitives it must run, on the same PQC backend. Medians over rounds; spread shown; warm-up excluded."
        ),
    )
    bench.add_argument("--quick", action="store_true", help="fewer, shorter rounds and smaller vaults (about a minute)")
    bench.add_argument("--processes", type=int, default=min(os.cpu_count() or 1, 4),
                       help="validator throughput is measured on 1..N processes (default: cores, max 4)")  # fmt: skip
    bench.add_argument("--backends", default="in-use", metavar="in-use|all|NAME[,NAME]",
                       help="PQC backends to measure, each against its own floor (default: the one in use; "
                            "all: every backend that loads, side by side)")  # fmt: skip
    bench.add_argument("--only", default=None, metavar="SECTION[,SECTION]",
                       help="measure only these of: primitives, envelope, throughput, keystore, migration, "
                            "node (the node path end to end: chain and gateway processes, a few minutes), "
                            "signer")  # fmt: skip
    bench.set_defaults(handler=_bench)


def _sections(text: str | None) -> tuple[str, ...]:
    from ..bench import SECTIONS
    from ..errors import ConfigError

    if text is None:
        return SECTIONS
    chosen = tuple(s.strip() for s in text.split(",") if s.strip())
    unknown = [s for s in chosen if s not in SECTIONS]
    if unknown or not chosen:
        raise ConfigError(f"--only takes a comma-separated list of {', '.join(SECTIONS)}; got {text!r}")
    return chosen


def _bench(args: argparse.Namespace) -> int:
    from ..bench import resolve_backends, run
    from ..errors import ConfigError

    if args.processes < 1:
        raise ConfigError("--processes must be at least 1")
    sections = _sections(args.only)
    backends = resolve_backends(args.backends)
    report = run(quick=args.quick, processes=args.processes, backends=backends, sections=sections)
    emit({"ok": True, **report.to_json()}, render(report), as_json=args.json)
    return EXIT_OK


def render(report: Any) -> str:
    """The report as text: one column per backend."""
    machine, runs = report.machine, report.runs
    names = [r.backend for r in runs]
    lines = [f"machine: {machine['processor']}, {machine['cpus']} cpus, Python {machine['python']}",
             "PQC backend in use: " + report.backend_in_use + "; measured: "
             + "; ".join(f"{r.backend} = {r.description}" for r in runs), ""]  # fmt: skip
    width = 28
    if any(r.primitives for r in runs):
        lines.append(f"{'primitive (median, p25..p75)':<40}" + "".join(f"{n:>{width}}" for n in names))
        by_name: dict[str, dict[str, Any]] = {}
        for r in runs:
            for t in r.primitives:
                by_name.setdefault(t.name, {})[r.backend] = t
        for label, cells in by_name.items():
            row = f"{label:<40}"
            for n in names:
                t = cells.get(n)
                row += f"{_us(t.median) + f' ({_us(t.p25, 0)}..{_us(t.p75, 0)})' if t else '':>{width}}"
            lines.append(row)
        lines.append("")
    if any(r.ratios for r in runs):
        lines.append(f"{'operation (median, ratio)':<40}" + "".join(f"{n:>{width}}" for n in names)
                     + f"{'target':>9}  against")  # fmt: skip
        ratios: dict[str, dict[str, Any]] = {}
        for r in runs:
            for ratio in r.ratios:
                ratios.setdefault(ratio.name, {})[r.backend] = ratio
        for label, cells in ratios.items():
            row, first = f"{label:<40}", next(iter(cells.values()))
            for n in names:
                x = cells.get(n)
                mark = {True: " ok", False: " MISS", None: "   "}[x.meets_target] if x else ""
                row += f"{(_us(x.product.median) + f' {x.ratio:5.2f}' + mark) if x else '':>{width}}"
            target = f"<={first.target:.2f}" if first.target else ""
            lines.append(row + f"{target:>9}  " + " + ".join(t.name for t in first.floor))
        lines.append("")
    for r in runs:
        lines += _figures(r)
    sizes = next((r.figures["sizes"] for r in runs if "sizes" in r.figures), None)
    if sizes:
        lines.append(f"sizes: raw tx {sizes['raw_transaction']} B, envelope {sizes['envelope_full_key']} B full key / "
                     f"{sizes['envelope_key_id']} B key id")  # fmt: skip
    return "\n".join(lines)


def _figures(r: Any) -> list[str]:
    lines: list[str] = []
    tp, ks, mg, nd, sg = (r.figures.get(k) for k in ("validator_throughput", "keystore_unlock", "migration", "node",
                                                      "signer_throughput"))  # fmt: skip
    if tp:
        lines.append(f"[{r.backend}] validator throughput (verifications/s): "
                     + ", ".join(f"{p} proc {rate:,.0f}" for p, rate in tp["verifications_per_s"].items())
                     + f"; bare primitive rate {tp['bare_primitive_rate_per_s']:,.0f}/s; 1 proc = "
                     f"{tp['ratio_1_process_to_bare']:.2f} x bare (target >= {tp['target_1_process_to_bare']}; "
                     f"unchunked {tp['unchunked_1_process_to_bare']:.2f})"
                     + (f"; 2 vs 1 = {tp['speedup_2_vs_1']:.2f} x (target >= {tp['target_speedup_2_vs_1']})"
                        if "speedup_2_vs_1" in tp else ""))  # fmt: skip
    if ks:
        lines.append(f"[{r.backend}] vault unlock, {ks['keys']:,} keys ({ks['mode']} mode): {ks['unlock_s']:.2f} s = "
                     f"{ks['ratio_to_floor']:.2f} x the floor (one PBKDF2 {ks['pbkdf2_s']:.2f} s + "
                     f"{ks['floor_per_key_us']:.0f} us/key decaps+GCM; target <= {ks['target']}); one PBKDF2 per key "
                     f"would take ~{ks['single_file_estimate_s']:.0f} s")  # fmt: skip
    if mg:
        lines.append(f"[{r.backend}] migration CLASSICAL->HYBRID, {mg['keys']} keys: batch "
                     f"{mg['batch']['keys_per_s']:.0f} keys/s, {mg['batch']['syncs_per_key']:.4f} syncs/key = "
                     f"{mg['ratio_to_primitives']:.2f} x the primitives (target <= {mg['target_ratio']}); one "
                     f"commit per key {mg['per_key']['keys_per_s']:.0f} keys/s, "
                     f"{mg['per_key']['syncs_per_key']:.2f} syncs/key")  # fmt: skip
    if nd:
        lines += _node_lines(r.backend, nd)
    if sg:
        load = ", ".join(f"{x:.1f}" for x in sg["load_average_before"])
        gil = ", ".join(f"{name} {share:.0%}" for name, share in sg["gil_released"].items())
        lines.append(f"[{r.backend}] signer, {sg['method']}, floor {sg['floor_us']:.0f} us (load average {load}); "
                     f"another thread ran during: {gil} of calls:")  # fmt: skip
        modes = [("one process", sg["clients"], sg.get("speedup_2_vs_1"))]
        if "with_front" in sg:
            front = sg["with_front"]
            modes.append((f"--fronts {front['fronts']}", front["clients"], front["speedup_2_vs_1"]))
        for mode, clients, speedup in modes:
            lines.append(f"  {mode}:")
            for n, c in clients.items():
                lines.append(f"    {n} client(s): {c['requests_per_s']:,.0f} req/s = {c['normalised']:.2f} x the floor "
                             f"rate (ideal {c['ideal']}), {c['speedup_vs_1']:.2f} x one client; p50 {c['p50_ms']:.1f} "
                             f"ms, p99 {c['p99_ms']:.1f} ms; CPU per request: signer "
                             f"{c['signer_cpu_us_per_request'] or 0:.0f} us, clients "
                             f"{c['client_cpu_us_per_request']:.0f} us; cores used "
                             f"{c['cores_used'] or 0:.2f}")  # fmt: skip
            if speedup is not None:
                lines.append(f"    2 vs 1 client = {speedup:.2f} x (target >= {sg['target_speedup_2_vs_1']})")
    return lines


def _node_lines(backend: str, nd: dict[str, Any]) -> list[str]:
    composite, bare, engine = nd["composite"], nd["bare"], nd["engine"]
    fast = ""
    if "floor_fast_keccak_per_s" in engine["bare"]:
        rates = [engine[path]["floor_fast_keccak_per_s"] for path in ("composite", "bare")]
        fast = f"; py-evm alone on the {engine['keccak']} keccak: {rates[0]:,.0f} / {rates[1]:,.0f} tx/s"

    def cpu(path: dict[str, Any]) -> str:
        runs = path["runs"]
        names = sorted({name for run in runs for name in run["cpu_ms_per_tx"]})
        return ", ".join(f"{name} {sum(run['cpu_ms_per_tx'].get(name, 0) for run in runs) / len(runs):.2f}"
                         for name in names)  # fmt: skip

    mark = "ok" if composite["ratio"] >= nd["target_ratio"] else "MISS"
    return [
        f"[{backend}] node path ({nd['rounds']} round(s), {nd['senders']} senders x {nd['per_sender']} transfers, "
        f"block time {nd['block_time_s']:g} s), accepted and mined:",
        f"    composite via the upgraded gateway {composite['mined_per_s']:,.0f} tx/s vs floor "
        f"{composite['floor_per_s']:,.0f} tx/s = {composite['ratio']:.2f} x (target >= {nd['target_ratio']}) {mark};"
        f" CPU ms/tx: {cpu(composite)}",
        f"    bare raw transactions to the chain {bare['mined_per_s']:,.0f} tx/s vs floor {bare['floor_per_s']:,.0f} "
        f"tx/s = {bare['ratio']:.2f} x; CPU ms/tx: {cpu(bare)}",
        f"    chain engine in process (pool and block building, no HTTP): composite {engine['composite']['per_s']:,.0f}"
        f" tx/s = {engine['composite']['ratio']:.2f} x, bare {engine['bare']['per_s']:,.0f} tx/s = "
        f"{engine['bare']['ratio']:.2f} x py-evm's own block building{fast}",
    ]


def _us(seconds: float, digits: int = 1) -> str:
    value = seconds * 1e6
    if value >= 100_000:
        return f"{value / 1e6:.2f}s"
    return f"{value:,.{digits}f}us"
