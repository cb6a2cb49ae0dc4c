"""Certifying a point on cell boundaries: every adjacent piece (exhaustive) against the per-unit test.

The sizes are the issue's: a one-hidden-layer ReLU network with under 1,000 parameters (d = 20, width 40:
881 parameters) on n = 1,000 samples, with M = 10 ties (ten hidden units whose kink passes exactly through one
sample each; the data and weights are dyadic, so the ties are exact in floats). The targets leave a residual
orthogonal to every untied gradient block, with each tied unit's output weight of the residual's sign at its tie
(`cellscape.testing.instances.boundary_point(..., residual=True)`): a non-differentiable local minimum of
positive risk, so every adjacent piece goes through the full check (interior LP, descent LP, KKT residual)
rather than stopping at a first descent.

The exhaustive test examines 2^M = 1,024 adjacent pieces, each with two linear programs over all parameters; the
per-unit test (Yun, Sra and Jadbabaie 2019) examines sum_k 2^{M_k} = 20 small problems. The issue's target is at
most 1 s median for the certificate; the ratio printed is exhaustive time / per-unit time.
"""

from __future__ import annotations

import time
from typing import Any

from benchmarks._harness import Case, CheckError, Variant
from cellscape.certify import certify
from cellscape.testing.instances import boundary_point

NAME = "certify"
FULL = {"d": 20, "width": 40, "n": 1000, "ties": 10, "repeats": 3, "budget_s": 120.0, "max_wall_s": 240.0}
QUICK = {"d": 3, "width": 6, "n": 60, "ties": 3, "repeats": 2, "budget_s": 10.0, "max_wall_s": 20.0}


def make_case(quick: bool = False) -> Case:
    """The benchmark at full size, or small with ``quick``."""
    cfg = QUICK if quick else FULL
    arch, theta, X, y = boundary_point(cfg["d"], cfg["width"], cfg["n"], cfg["ties"], residual=True)

    def run(method: str):
        def go(n_steps: int) -> Any:
            out = None
            for _ in range(n_steps):
                out = certify(arch, theta, X, y, boundary_method=method, max_ties=max(16, cfg["ties"]))[0]
            return out
        return go

    variants = (
        Variant("exhaustive", f"certify(..., boundary_method='exhaustive'): all 2^{cfg['ties']} adjacent pieces",
                run("exhaustive"), 1, baseline=True, reducible=False),
        Variant("per_unit", "certify(..., boundary_method='per_unit'): sum_k 2^M_k small problems",
                run("per_unit"), 1, reducible=False),
    )

    def check(one_step: dict[str, Any]) -> dict[str, float]:
        ex, pu = one_step["exhaustive"], one_step["per_unit"]
        if ex.n_ties != cfg["ties"] or pu.n_ties != cfg["ties"]:
            raise CheckError(f"Expected {cfg['ties']} ties, found {ex.n_ties} and {pu.n_ties}.")
        if ex.status != pu.status or not ex.is_minimum:
            raise CheckError(f"The two tests disagree or miss the minimum: {ex.status.value} vs {pu.status.value}")
        if abs(ex.grad_norm - pu.grad_norm) > 1e-8 * max(1.0, ex.grad_norm):
            raise CheckError(f"The Clarke norms differ: {ex.grad_norm:.3e} (exhaustive) vs {pu.grad_norm:.3e}.")
        start = time.perf_counter()
        again = run("exhaustive")(1)
        per_piece = (time.perf_counter() - start) / max(again.pieces_adjacent, 1)
        start = time.perf_counter()
        run("per_unit")(1)
        per_unit_s = time.perf_counter() - start
        return {"parameters": float(arch.n_params), "ties M": float(ex.n_ties),
                "adjacent pieces (exhaustive)": float(ex.pieces_adjacent),
                "sign choices (per unit)": float(pu.pieces_examined),
                "exhaustive seconds per adjacent piece": per_piece,
                "per-unit certificate seconds (target <= 1 s)": per_unit_s,
                "|Clarke (exhaustive) - Clarke (per unit)|": abs(ex.grad_norm - pu.grad_norm)}

    return Case(name=NAME, title=f"certify a boundary point: {arch.describe()}, {arch.n_params} parameters, "
                f"n={cfg['n']}, M={cfg['ties']} ties",
                config={**cfg, "arch": arch.describe(), "n_params": arch.n_params},
                variants=variants, check=check, repeats=cfg["repeats"], budget_s=cfg["budget_s"],
                max_wall_s=cfg["max_wall_s"])
