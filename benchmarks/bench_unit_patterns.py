"""All activation patterns of one unit: the vertex method against brute-force sampling of weights.

The issue's size: N = 200 Gaussian samples in d = 3, Cover's 2,627,200 patterns; the target is under 10 s on 2
cores. The baseline draws Gaussian weights in batches of 100,000 and keeps the distinct patterns until it has
them all or has made ``max_draws`` draws; its time is then a lower bound, and the printed coverage says how many
patterns it had found.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from benchmarks._harness import Case, CheckError, Variant
from cellscape.atlas import cover_count, unit_patterns

NAME = "unit_patterns"
FULL = {"N": 200, "d": 3, "max_draws": 10_000_000, "repeats": 3, "budget_s": 200.0, "max_wall_s": 600.0}
QUICK = {"N": 30, "d": 2, "max_draws": 400_000, "repeats": 2, "budget_s": 10.0, "max_wall_s": 60.0}


def make_case(quick: bool = False) -> Case:
    cfg = QUICK if quick else FULL
    X = np.random.default_rng(0).normal(size=(cfg["N"], cfg["d"]))
    target = cover_count(cfg["N"], cfg["d"] + 1)

    def run_vertex(n_steps: int) -> Any:
        out = None
        for _ in range(n_steps):
            out = unit_patterns(X)
        return out

    def run_sampling(n_steps: int) -> Any:
        out = None
        Xt = np.hstack([X, np.ones((len(X), 1))])
        for _ in range(n_steps):
            rng = np.random.default_rng(2)
            seen: set = set()
            draws = 0
            while len(seen) < target and draws < cfg["max_draws"]:
                seen.update(map(bytes, np.packbits(rng.standard_normal((100_000, Xt.shape[1])) @ Xt.T > 0, axis=1)))
                draws += 100_000
            out = (seen, draws)
        return out

    variants = (
        Variant("sampling", f"Gaussian weights until all {target:,} patterns (at most {cfg['max_draws']:,} draws)",
                run_sampling, 1, baseline=True, reducible=False),
        Variant("vertex", "unit_patterns(): the vertex method", run_vertex, 1, reducible=False),
    )

    def check(one_step: dict[str, Any]) -> dict[str, float]:
        units = one_step["vertex"]
        seen, draws = one_step["sampling"]
        if units.n_cells != target:
            raise CheckError(f"the vertex method found {units.n_cells} patterns, Cover's count is {target}")
        if not seen <= set(map(bytes, units.packed)):
            raise CheckError("sampling found patterns the enumeration does not have")
        start = time.perf_counter()
        run_vertex(1)
        return {"patterns (Cover)": float(target), "enumeration seconds (target < 10)": time.perf_counter() - start,
                "sampling coverage": len(seen) / target, "sampling draws": float(draws)}

    return Case(name=NAME, title=f"one unit's patterns: N={cfg['N']}, d={cfg['d']}", config=cfg, variants=variants,
                check=check, repeats=cfg["repeats"], budget_s=cfg["budget_s"], max_wall_s=cfg["max_wall_s"])
