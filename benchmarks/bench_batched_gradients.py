"""Gradient steps of many small networks at once: cellscape's batched step against a PyTorch loop.

The work: ``B`` one-hidden-layer ReLU networks ``d -> width -> 1`` (float64), each taking plain
gradient-descent steps ``theta <- theta - lr * grad R(theta)`` on the same ``n`` samples, with ``R`` the mean
of ``0.5 * (yhat - y)**2``. Times are per step of all ``B`` networks.

Why the input sizes matter: each network is tiny (``d = width = 10``: 121 parameters, about 50 kflop
for a forward pass over ``n = 200`` samples), so a loop over networks in PyTorch is dominated by the fixed
cost of every call (Python, module dispatch, autograd bookkeeping: microseconds per operation), not by
arithmetic. The batched step pays that fixed cost once per step for all ``B`` networks, so its advantage grows
with ``B`` and shrinks as the per-network work (``n``, ``width``, ``d``) grows and the loop's overhead becomes
a small share of its time. With a small ``B`` the one-off JIT compilation (reported separately) dominates the
batched variants instead. ``B = 1000`` with ``n = 200`` is the size of a typical survey of trained small
networks; ``--quick`` uses ``B = 20`` and ``n = 20``, which only checks that everything runs.

Variants (all start from ``cellscape.init_params(arch, batch=B, seed=0)`` and must agree after one step to
1e-10):

* ``torch loop`` (baseline): one ``nn.Sequential(nn.Linear, nn.ReLU, nn.Linear).double()`` per network with
  the same initial weights, trained one network at a time with ``loss.backward()``, an update under
  ``torch.no_grad()`` and ``zero_grad()``; torch's default thread count.
* ``jit step loop``: ``jax.jit(batched_gradient_step, static_argnums=(0, 1))`` called once per step from
  Python.
* ``gradient_descent``: ``cellscape.training.gradient_descent(..., steps=k, chunk=k)``, all ``k`` steps in one
  compiled call, including its input checks and the final risk and gradient norms.
* ``eager jax``: the same un-jitted ``batched_gradient_step`` under ``jax.disable_jit()``, op by op.

At these sizes one compiled step needs about 51 MB of temporary buffers (``B * n * width`` float64 arrays of
16 MB each). XLA allocates them anew for every call, above glibc's largest ``mmap`` threshold (32 MB), so every
call of the ``jit step loop`` page-faults fresh memory; ``gradient_descent`` runs its steps inside one call and
pays this once. (Measured on 2 cores: about 35 ms per step for the former, 15 ms with
``MALLOC_MMAP_THRESHOLD_`` and ``MALLOC_TRIM_THRESHOLD_`` raised, about the latter's time per step.)
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

import cellscape  # noqa: F401  (switches JAX to float64 before any array is made)
from cellscape.losses import parse_loss
from cellscape.networks import Params, flatten_params, init_params, mlp
from cellscape.training import batched_gradient_step, gradient_descent

from ._harness import Case, CheckError, Variant

NAME = "batched_gradients"
ATOL = 1e-10  # all variants compute the same float64 step; only the order of summation differs
TARGET_SPEEDUP = 20.0  # the target for the batched variants against the PyTorch loop

FULL = {"B": 1000, "d": 10, "width": 10, "n": 200, "lr": 0.01, "steps": 20, "repeats": 7, "budget_s": 3.0,
        "max_wall_s": 100.0}
QUICK = {"B": 20, "d": 10, "width": 10, "n": 20, "lr": 0.01, "steps": 3, "repeats": 3, "budget_s": 0.2,
         "max_wall_s": 20.0}


def _torch_variant(
    arch: Any, params0: Params, X: np.ndarray, y: np.ndarray, lr: float, steps: int
) -> Variant:
    import torch
    from torch import nn

    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    initial = [[torch.from_numpy(np.ascontiguousarray(a[b])) for a in (params0.weights[0], params0.biases[0],
                                                                      params0.weights[1], params0.biases[1])]
               for b in range(params0.weights[0].shape[0])]
    d, width = arch.widths[0], arch.widths[1]
    models = [nn.Sequential(nn.Linear(d, width), nn.ReLU(), nn.Linear(width, 1)).double() for _ in initial]

    def reset() -> None:
        with torch.no_grad():
            for model, tensors in zip(models, initial, strict=True):
                for p, t in zip(model.parameters(), tensors, strict=True):
                    p.copy_(t)
                model.zero_grad()

    def run(n_steps: int) -> list[Any]:
        for model in models:
            for _ in range(n_steps):
                loss = 0.5 * ((model(Xt) - yt) ** 2).mean()
                loss.backward()
                with torch.no_grad():
                    for p in model.parameters():
                        p -= lr * p.grad
                model.zero_grad()
        return models

    return Variant("torch loop", f"Python loop over {len(models)} torch.nn.Sequential float64 models, one "
                   "at a time: forward, loss.backward(), update under no_grad, zero_grad "
                   f"(torch threads: {torch.get_num_threads()})", run, steps, reset=reset, baseline=True)


def _flat(arch: Any, result: Any) -> np.ndarray:
    """The ``(B, n_params)`` parameters after a variant's run, as float64 numpy."""
    if isinstance(result, list):  # the torch models
        return np.stack([np.concatenate([p.detach().numpy().ravel() for p in m.parameters()])
                         for m in result])
    if hasattr(result, "params"):  # a TrainingResult
        result = result.params
    return np.asarray(flatten_params(arch, result.numpy()))


def make_case(quick: bool = False) -> Case:
    """The benchmark at full size, or small with ``quick``."""
    cfg = QUICK if quick else FULL
    B, n, lr, steps = cfg["B"], cfg["n"], cfg["lr"], cfg["steps"]
    arch = mlp(cfg["d"], [cfg["width"]], 1)
    loss = parse_loss("squared")
    rng = np.random.default_rng(1)
    X = rng.standard_normal((n, cfg["d"]))
    y = rng.standard_normal((n, 1))
    params0 = init_params(arch, batch=B, seed=0)

    Xj, yj = jnp.asarray(X), jnp.asarray(y)
    pj = jax.tree_util.tree_map(jnp.asarray, params0)
    jit_step = jax.jit(batched_gradient_step, static_argnums=(0, 1))

    def run_jit(n_steps: int) -> Params:
        p = pj
        for _ in range(n_steps):
            p = jit_step(arch, loss, p, Xj, yj, lr)
        return jax.block_until_ready(p)

    def run_gd(n_steps: int) -> Any:
        return gradient_descent(arch, params0, X, y, loss=loss, lr=lr, steps=n_steps, chunk=n_steps)

    def run_eager(n_steps: int) -> Params:
        p = pj
        with jax.disable_jit():
            for _ in range(n_steps):
                p = batched_gradient_step(arch, loss, p, Xj, yj, lr)
        return jax.block_until_ready(p)

    variants = (
        _torch_variant(arch, params0, X, y, lr, steps),
        Variant("jit step loop", "jax.jit(batched_gradient_step) called once per step on all networks, "
                "block_until_ready at the end", run_jit, steps),
        Variant("gradient_descent", "cellscape.training.gradient_descent(steps=k, chunk=k): k steps in one "
                "compiled call, with input checks and final risk/gradient norms", run_gd, steps,
                reducible=False),
        Variant("eager jax", "batched_gradient_step un-jitted, under jax.disable_jit()", run_eager, steps),
    )
    flat0 = np.asarray(flatten_params(arch, params0))

    def check(one_step: dict[str, Any]) -> dict[str, float]:
        flats = {name: _flat(arch, out) for name, out in one_step.items()}
        reference = flats["torch loop"]
        facts = {"max |one step - initial| (torch)": float(np.max(np.abs(reference - flat0)))}
        if not facts["max |one step - initial| (torch)"] > 0:
            raise CheckError("The PyTorch step left the parameters unchanged: nothing would be measured.")
        for name, flat in flats.items():
            if name == "torch loop":
                continue
            diff = float(np.max(np.abs(flat - reference)))
            facts[f"max |{name} - torch loop| after one step"] = diff
            if not diff < ATOL:
                raise CheckError(f"After one step, {name!r} differs from the PyTorch loop by {diff:.3g} "
                                 f"(expected < {ATOL:g}); the variants do not compute the same step.")
        return facts

    config = {**cfg, "arch": arch.describe(), "loss": "squared: mean of 0.5*(yhat-y)^2", "dtype": "float64",
              "init": "cellscape.init_params(arch, batch=B, seed=0)", "data": "standard normal X, y (seed 1)",
              "atol": ATOL}
    return Case(
        name=NAME,
        title=f"one gradient step of B={B} {arch.describe()} networks, n={n} samples, float64",
        config=config,
        variants=variants,
        check=check,
        repeats=cfg["repeats"],
        budget_s=cfg["budget_s"],
        max_wall_s=cfg["max_wall_s"],
        # the target is about B = 1000; at the quick sizes compilation and call overheads dominate
        targets={} if quick else {"jit step loop": TARGET_SPEEDUP, "gradient_descent": TARGET_SPEEDUP},
    )
