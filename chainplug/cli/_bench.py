"""``chainplug bench``: what this machine can do, as ratios against the raw primitives."""

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
            "primitives it must run. Medians over rounds; spread shown; warm-up excluded."
        ),
    )
    bench.add_argument("--quick", action="store_true", help="fewer, shorter rounds (under a minute)")
    bench.add_argument("--processes", type=int, default=min(os.cpu_count() or 1, 4),
                       help="validator throughput is measured on 1..N processes (default: cores, max 4)")  # fmt: skip
    bench.set_defaults(handler=_bench)


def _bench(args: argparse.Namespace) -> int:
    from .benchmarks import run

    report = run(quick=args.quick, processes=max(1, args.processes))
    machine = report.machine
    lines = [f"machine: {machine['processor']}, {machine['cpus']} cpus, Python {machine['python']}",
             "", f"{'primitive':<40}{'median':>12}{'p25..p75':>22}"]  # fmt: skip
    for t in report.primitives:
        lines.append(f"{t.name:<40}{t.median * 1e6:>10.1f}us{t.p25 * 1e6:>11.1f}..{t.p75 * 1e6:<9.1f}")
    lines += ["", f"{'operation':<36}{'median':>12}{'ratio':>8}{'target':>9}  floor"]
    for r in report.ratios:
        target = f"<={r.target:.2f}" if r.target else ""
        mark = {True: " ok", False: " MISS", None: ""}[r.meets_target]
        floor = " + ".join(t.name for t in r.floor)
        lines.append(f"{r.name:<36}{r.product.median * 1e6:>10.1f}us{r.ratio:>8.2f}{target:>9}{mark}  {floor}")
    tp = report.figures["validator_throughput"]
    lines += ["", "validator throughput (envelope verifications/s): "
              + ", ".join(f"{p} proc: {rate:,.0f}" for p, rate in tp["verifications_per_s"].items())
              + f"; bare primitive rate {tp['bare_primitive_rate_per_s']:,.0f}/s; "
              f"1 proc = {tp['ratio_1_process_to_bare']:.2f} x bare"
              + (f"; 2 vs 1 = {tp['speedup_2_vs_1']:.2f} x" if "speedup_2_vs_1" in tp else "")]  # fmt: skip
    ks, mg = report.figures["keystore_unlock"], report.figures["migration"]
    lines.append(f"keystore vault unlock, {ks['keys']} keys: {ks['unlock_s']:.2f} s = {ks['ratio_to_floor']:.2f} x "
                 f"(one PBKDF2 {ks['pbkdf2_s']:.2f} s + {ks['floor_per_key_us']:.0f} us/key decaps+GCM; "
                 f"target <= 1.5); one PBKDF2 per key would take ~{ks['single_file_estimate_s']:.0f} s")  # fmt: skip
    lines.append(f"migration CLASSICAL->HYBRID, {mg['keys']} keys: batch {mg['batch']['keys_per_s']:.0f} keys/s, "
                 f"{mg['batch']['syncs_per_key']:.4f} syncs/key; one commit per key {mg['per_key']['keys_per_s']:.0f} "
                 f"keys/s, {mg['per_key']['syncs_per_key']:.2f} syncs/key; batch = {mg['ratio_to_primitives']:.2f} x "
                 "the primitives (target <= 1.5)")  # fmt: skip
    s = report.figures["sizes"]
    lines.append(f"sizes: raw tx {s['raw_transaction']} B, envelope {s['envelope_full_key']} B full key / "
                 f"{s['envelope_key_id']} B key id")  # fmt: skip
    emit({"ok": True, **report.to_json()}, "\n".join(lines), as_json=args.json)
    return EXIT_OK
