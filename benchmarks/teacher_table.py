"""The Safran-Shamir table as a benchmark: ``python -m benchmarks.teacher_table [--quick] [--json FILE]``.

Runs the protocol of :mod:`cellscape.teacher` for k = n = 6..20 with 1,000 runs each (the issue's target: at most
60 minutes on 2 cores) and reports, per size and in total, the wall time and the network-steps per second. The
baseline, measured side by side in the same run for every size, is the per-run loop over the slow reference
gradient (:func:`cellscape.gaussian.population_gradient`, numpy, one student unit at a time) doing plain gradient
steps; its network-steps per second give the speed-up of the batched engine and the time the loop would take for
the same number of steps. ``--quick`` runs k = 6..7 with 40 runs (a smoke run).

The first size's time includes JIT compilation (about a second per size and batch shape).
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np

import cellscape  # noqa: F401  (float64)
from cellscape.gaussian import population_gradient
from cellscape.teacher import TeacherConfig, run_teacher

TARGET_S = 3600.0
LOOP_SECONDS = 2.0  # wall time given to the baseline loop per size


def loop_steps_per_second(k: int, n: int, *, seconds: float = LOOP_SECONDS) -> float:
    """Network-steps per second of the per-run reference loop (gradient steps of size 0.1 on random starts)."""
    rng = np.random.default_rng(0)
    V = np.eye(k)
    W = rng.standard_normal((n, k)) / np.sqrt(k)
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        W = W - 0.1 * population_gradient(W, V)
        done += 1
    return done / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.teacher_table", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="k = 6..7, 40 runs")
    parser.add_argument("--extra-neurons", type=int, default=0)
    parser.add_argument("--json", metavar="FILE")
    args = parser.parse_args(argv)
    ks, runs = (range(6, 8), 40) if args.quick else (range(6, 21), 1000)
    rows, total_wall, total_steps = [], 0.0, 0
    print(f"{'k':>3} {'n':>3} {'spurious %':>11} {'95% CI':>14} {'wall s':>8} {'net-steps/s':>12} "
          f"{'loop steps/s':>12} {'speed-up':>9}", flush=True)
    for k in ks:
        result = run_teacher(TeacherConfig(k=k, extra_neurons=args.extra_neurons, runs=runs))
        loop = loop_steps_per_second(k, k + args.extra_neurons)
        r = result.spurious
        total_wall += result.wall_s
        total_steps += result.network_steps
        rows.append({"k": k, "n": k + args.extra_neurons, "runs": runs, "spurious": r.to_dict(),
                     "wall_s": result.wall_s, "network_steps": result.network_steps,
                     "network_steps_per_s": result.steps_per_second, "loop_steps_per_s": loop,
                     "speedup": result.steps_per_second / loop})
        print(f"{k:>3} {k + args.extra_neurons:>3} {100 * r.estimate:>11.1f} "
              f"{f'[{100 * r.low:.1f}, {100 * r.high:.1f}]':>14} {result.wall_s:>8.1f} "
              f"{result.steps_per_second:>12.3g} {loop:>12.3g} {result.steps_per_second / loop:>9.1f}", flush=True)
    loop_total = sum(row["network_steps"] / row["loop_steps_per_s"] for row in rows)
    print(f"total: {total_wall:.0f} s ({total_wall / 60:.1f} min; target {TARGET_S / 60:.0f} min for the full "
          f"table), {total_steps:.3g} network-steps, {total_steps / total_wall:.3g} network-steps/s; the per-run "
          f"loop would take {loop_total:.0f} s ({loop_total / total_wall:.1f}x)")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"rows": rows, "total_wall_s": total_wall, "total_network_steps": total_steps,
                       "loop_estimate_s": loop_total, "quick": args.quick}, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
