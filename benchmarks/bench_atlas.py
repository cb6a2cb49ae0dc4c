"""The atlas against brute-force sampling of weights for the same coverage.

The issue's size: every cell of a one-hidden-layer ReLU network (K = 2 units, positive output weights) on N = 20
  Gaussian samples in d = 2 enumerated and solved (least squares, rank, genuineness LP): the issue's target is at
  least 100,000 cells per minute on 2 cores. The baseline draws Gaussian weights in batches of 100,000, keeps the
  distinct cells they fall in, and stops when it has as many as the enumeration (or after ``max_draws`` draws),
  then solves those cells the same way. Its time is a lower bound when it stops at the cap: the printed coverage
  says how many cells it had found. (One unit's patterns are benchmarked in ``bench_unit_patterns``.)
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from benchmarks._harness import Case, CheckError, Variant
from cellscape.atlas import atlas, cover_count, solve_cells
from cellscape.atlas.model import AtlasModel, count_cells

NAME = "atlas"
FULL = {"N": 20, "d": 2, "K": 2, "max_draws": 5_000_000, "repeats": 3, "budget_s": 200.0, "max_wall_s": 600.0}
QUICK = {"N": 10, "d": 2, "K": 2, "max_draws": 400_000, "repeats": 2, "budget_s": 10.0, "max_wall_s": 60.0}


def _sample_until(X: np.ndarray, K: int, target: int, max_draws: int, rng: np.random.Generator) -> tuple[set, int]:
    """Distinct cells (tuples of K unit patterns as bytes, sorted) hit by Gaussian weights, until ``target``."""
    Xt = np.hstack([X, np.ones((X.shape[0], 1))])
    seen: set = set()
    draws = 0
    while len(seen) < target and draws < max_draws:
        W = rng.standard_normal((100_000, K, Xt.shape[1]))
        P = np.packbits(np.einsum("bkd,nd->bkn", W, Xt) > 0, axis=2)
        for row in np.unique(P.reshape(100_000, -1), axis=0):
            seen.add(tuple(sorted(bytes(u) for u in row.reshape(K, -1))))
        draws += 100_000
    return seen, draws


def make_case(quick: bool = False) -> Case:
    cfg = QUICK if quick else FULL
    rng = np.random.default_rng(0)
    X = rng.normal(size=(cfg["N"], cfg["d"]))
    y = np.sin(2 * X[:, 0]) + 0.5 * X[:, 1] + 0.05 * rng.normal(size=cfg["N"])
    model = AtlasModel.build(width=cfg["K"])

    def run_atlas(n_steps: int) -> Any:
        out = None
        for _ in range(n_steps):
            out = atlas(X, y, width=cfg["K"], max_cells=10**9)
        return out

    def run_sampling(n_steps: int) -> Any:
        out = None
        for _ in range(n_steps):
            target = count_cells(model, cover_count(cfg["N"], cfg["d"] + 1))
            seen, draws = _sample_until(X, cfg["K"], target, cfg["max_draws"], np.random.default_rng(1))
            units = sorted({u for cell in seen for u in cell})
            index = {u: i for i, u in enumerate(units)}
            P = np.unpackbits(np.frombuffer(b"".join(units), dtype=np.uint8).reshape(len(units), -1), axis=1,
                              count=cfg["N"]).astype(bool)
            solved = solve_cells(X, y, P, [tuple(index[u] for u in cell) for cell in seen], model)
            out = (len(seen), draws, solved)
        return out

    variants = (
        Variant("sampling", f"Gaussian weights until the enumeration's coverage (at most {cfg['max_draws']:,} "
                "draws), then solve the cells found", run_sampling, 1, baseline=True, reducible=False),
        Variant("atlas", f"atlas(): enumerate and solve every cell, N={cfg['N']}, d={cfg['d']}, K={cfg['K']}",
                run_atlas, 1, reducible=False),
    )

    def check(one_step: dict[str, Any]) -> dict[str, float]:
        result = one_step["atlas"]
        found, draws, _ = one_step["sampling"]
        if result.sampled or result.n_examined != result.n_cells:
            raise CheckError("the atlas did not enumerate every cell")
        if found > result.n_cells:
            raise CheckError("sampling found cells the enumeration does not have")
        start = time.perf_counter()
        run_atlas(1)
        seconds = time.perf_counter() - start
        return {"cells": float(result.n_cells), "cells per minute (target >= 100,000)": 60 * result.n_cells / seconds,
                "sampling coverage of the cells": found / result.n_cells, "sampling draws": float(draws)}

    return Case(name=NAME, title=f"one-hidden-layer atlas: N={cfg['N']}, d={cfg['d']}, K={cfg['K']}", config=cfg,
                variants=variants, check=check,
                repeats=cfg["repeats"], budget_s=cfg["budget_s"], max_wall_s=cfg["max_wall_s"])
