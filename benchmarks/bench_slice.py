"""A 2-D slice of the risk on a 201 x 201 grid: cellscape's batched slice against loss-landscapes' random_plane.

The work: the risk (mean of ``0.5 * (yhat - y)**2``) of a ReLU network at every point of a grid on a plane
``theta_0 + alpha d_1 + beta d_2`` through its parameters, float64. One *step* is the whole grid.

Why the sizes matter: the ``slice`` case is the issue's large network (about 10,000 parameters, ``20 -> 100 ->
78 -> 1``, on 1,000 samples), where each grid point is a forward pass of about 20 Mflop (two matrix products of
1,000 samples), so the arithmetic sets the pace; the ``slice_small`` case (about 1,000 parameters, ``10 -> 30 ->
20 -> 1``, on 200 samples) has forward passes of 0.4 Mflop, where a per-point loop is dominated by the fixed cost
of every call. ``--quick`` shrinks the grid to 21 x 21 (and the large network's data), which only checks that
everything runs.

Variants:

* ``loss-landscapes`` (baseline): ``loss_landscapes.random_plane(model, Loss(...), distance=1, steps=201,
  normalization="filter")`` on the ``torch.nn.Sequential`` float64 copy of the network: one torch forward pass per
  grid point (its own random directions; the grid and the work per point are the same).
* ``cellscape``: ``cellscape.slices.slice_2d(arch, params, X, y, resolution=201)``, filter-normalised random
  directions, the risk and the cell of every grid point (pattern codes for the cell map included).
* ``matmul floor`` (large case only): the grid's floating-point work, ``2 n sum_l d_l d_{l-1}`` flop per point
  (the forward pass's matrix products), done as float64 products of 2,048 x 2,048 matrices: the time the grid's
  arithmetic takes at this machine's large-matrix-multiply rate. ``cellscape / matmul floor`` is how close the
  slice runs to that rate (target: at most 1.5).

The check evaluates the torch network (the one the baseline times) at four points of cellscape's plane and
compares with cellscape's grid values there (float64, 1e-10 relative).
"""

from __future__ import annotations

from typing import Any

import numpy as np

import cellscape  # noqa: F401  (switches JAX to float64 before any array is made)
from cellscape.networks import init_params, mlp, unflatten_params
from cellscape.slices import slice_2d

from ._harness import Case, CheckError, Variant

RTOL = 1e-10  # the same float64 forward pass; only the order of summation differs
TARGET_SPEEDUP = {"slice": 2.0, "slice_small": 20.0}  # the targets against loss-landscapes
FLOOR_RATIO = 1.5  # cellscape within 1.5x of the matmul floor (large case; read off the table)
MATMUL_N = 2048

SIZES = {
    "slice": {"d": 20, "hidden": [100, 78], "n": 1000, "resolution": 201},
    "slice_small": {"d": 10, "hidden": [30, 20], "n": 200, "resolution": 201},
}
QUICK = {"slice": {"d": 20, "hidden": [100, 78], "n": 100, "resolution": 21},
         "slice_small": {"d": 10, "hidden": [30, 20], "n": 50, "resolution": 21}}


def _torch_model(arch: Any, params: Any) -> Any:
    import torch
    from torch import nn

    layers: list[Any] = []
    for l, (W, b) in enumerate(params.layers()):
        linear = nn.Linear(W.shape[2], W.shape[1]).double()
        with torch.no_grad():
            linear.weight.copy_(torch.from_numpy(np.asarray(W[0])))
            linear.bias.copy_(torch.from_numpy(np.asarray(b[0])))
        layers.append(linear)
        if l < arch.n_layers - 1:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def _case(name: str, quick: bool) -> Case:
    import loss_landscapes
    import loss_landscapes.metrics
    import torch

    cfg = (QUICK if quick else SIZES)[name]
    arch = mlp(cfg["d"], cfg["hidden"], 1)
    rng = np.random.default_rng(1)
    X = rng.standard_normal((cfg["n"], cfg["d"]))
    y = rng.standard_normal((cfg["n"], 1))
    params = init_params(arch, seed=0)
    res = cfg["resolution"]
    model = _torch_model(arch, params)
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    metric = loss_landscapes.metrics.Loss(lambda out, target: 0.5 * ((out - target) ** 2).sum(dim=1).mean(), Xt, yt)

    def run_baseline(n_steps: int) -> Any:
        torch.manual_seed(0)
        out = None
        for _ in range(n_steps):
            out = loss_landscapes.random_plane(model, metric, distance=1, steps=res, normalization="filter",
                                               deepcopy_model=True)
        return out

    def run_cellscape(n_steps: int) -> Any:
        out = None
        for _ in range(n_steps):
            out = slice_2d(arch, params, X, y, resolution=res, seed=0)
        return out

    flop_per_point = 2 * cfg["n"] * sum(a * b for a, b in zip(arch.widths[:-1], arch.widths[1:]))
    grid_flop = flop_per_point * res * res
    variants = [
        Variant("loss-landscapes", f"loss_landscapes.random_plane(steps={res}, normalization='filter') on the "
                f"torch float64 copy: one forward pass per grid point (torch threads: {torch.get_num_threads()})",
                run_baseline, 1, baseline=True, reducible=False),
        Variant("cellscape", f"cellscape.slices.slice_2d(resolution={res}): risk and cell of every grid point, "
                "row sweep (numba), rows in threads", run_cellscape, 1, reducible=False),
    ]
    if name == "slice":
        import jax
        import jax.numpy as jnp

        A = jnp.asarray(np.random.default_rng(2).standard_normal((MATMUL_N, MATMUL_N)))
        products = max(1, round(grid_flop / (2 * MATMUL_N**3)))
        matmul = jax.jit(lambda a: a @ a)

        def run_floor(n_steps: int) -> Any:
            out = None
            for _ in range(n_steps * products):
                out = matmul(A)
            return jax.block_until_ready(out)

        variants.append(Variant("matmul floor", f"{products} float64 products of {MATMUL_N} x {MATMUL_N} "
                                f"matrices ({products * 2 * MATMUL_N**3:.3g} flop; the grid's forward passes: "
                                f"{grid_flop:.3g})", run_floor, 1, reducible=False))

    def check(one_step: dict[str, Any]) -> dict[str, float]:
        plane = one_step["cellscape"]
        grid = np.asarray(one_step["loss-landscapes"])
        if grid.shape != (res, res):
            raise CheckError(f"loss-landscapes returned a grid of shape {grid.shape}, not ({res}, {res})")
        worst = 0.0
        for i, j in ((0, 0), (res // 2, res // 2), (res - 1, 3), (7 % res, res - 1)):
            theta = unflatten_params(arch, plane.point(plane.alpha[j], plane.beta[i])[None])
            with torch.no_grad():
                value = metric(loss_landscapes.model_interface.model_wrapper.wrap_model(_torch_model(arch, theta)))
            worst = max(worst, abs(value - plane.risk[i, j]) / abs(value))
        if not worst < RTOL:
            raise CheckError(f"cellscape's grid differs from the torch network by {worst:.3g} relative "
                             f"(expected < {RTOL:g})")
        return {"max relative |cellscape - torch| at 4 grid points": worst, "cells on the grid": plane.n_cells,
                "grid flop (forward passes)": float(grid_flop)}

    config = {**cfg, "arch": arch.describe(), "n_params": arch.n_params, "loss": "squared: mean of 0.5*(yhat-y)^2",
              "dtype": "float64", "grid": f"{res} x {res}", "data": "standard normal X, y (seed 1)"}
    return Case(
        name=name,
        title=f"{res} x {res} slice of {arch.describe()} ({arch.n_params} parameters), n={cfg['n']}, float64",
        config=config,
        variants=variants,
        check=check,
        repeats=1 if quick else 3,
        budget_s=1.0,
        max_wall_s=None,
        targets={} if quick else {"cellscape": TARGET_SPEEDUP[name]},
    )


def make_case(quick: bool = False) -> Case:
    """The large-network slice (10,000 parameters, 1,000 samples)."""
    return _case("slice", quick)


def make_small_case(quick: bool = False) -> Case:
    """The small-network slice (1,000 parameters, 200 samples)."""
    return _case("slice_small", quick)
