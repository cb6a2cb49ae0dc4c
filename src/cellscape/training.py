r"""Batched full-batch gradient descent: ``B`` networks of one architecture trained in one computation.

Each step updates every still-active network by :math:`\theta_b \leftarrow \theta_b - \eta \nabla R(\theta_b)`.
The gradient of :math:`\sum_b R(\theta_b)` with respect to the stacked parameters is the stack of the
per-network gradients, so one compiled call serves the whole batch. A network stops (keeps its parameters) when
its gradient norm falls to ``gtol`` (*converged*) or when a step would make its parameters or risk non-finite
(*diverged*: the last finite parameters are kept and reported as such).

Steps run in compiled chunks of ``chunk`` steps (``jax.lax.fori_loop`` under ``jax.jit``); a ``progress``
callback is called after every chunk with ``(steps_done, steps_total)``.

Examples:
    >>> import numpy as np
    >>> from cellscape import init_params, mlp
    >>> arch = mlp(1, [], 1)  # an affine model: gradient descent reaches the least-squares fit
    >>> X = np.array([[0.0], [1.0], [2.0]]); y = np.array([[1.0], [3.0], [5.0]])
    >>> result = gradient_descent(arch, init_params(arch, seed=0), X, y, lr=0.3, steps=2000)
    >>> bool(result.risk[0] < 1e-20), bool(result.converged[0])
    (True, False)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from cellscape._validation import check_float, check_int, invalid
from cellscape.conv import ConvNet, batched_conv_risk, patches
from cellscape.losses import Loss, as_targets, batched_risk, parse_loss
from cellscape.networks import Architecture, Params, as_inputs, as_params, flatten_params

__all__ = ["TrainingResult", "gradient_descent", "batched_gradient_step"]


@dataclasses.dataclass(frozen=True, eq=False)
class TrainingResult:
    """Endpoints of a batched training run.

    Attributes:
        params: final parameters (numpy, batch ``B``).
        risk: final risk of each network ``(B,)``.
        grad_norm: final Euclidean gradient norm ``(B,)``.
        steps: steps taken by each network ``(B,)``.
        converged: gradient norm reached ``gtol`` ``(B,)``.
        diverged: stopped because a step became non-finite ``(B,)``.
    """

    params: Params
    risk: np.ndarray
    grad_norm: np.ndarray
    steps: np.ndarray
    converged: np.ndarray
    diverged: np.ndarray


def _model_risk(model: Architecture | ConvNet, loss: Loss, params: Params, X: Any, y: Any) -> Any:
    """Per-network risks of an MLP, or of a CNN on its precomputed patches."""
    if isinstance(model, ConvNet):
        return batched_conv_risk(model, loss, params, X, y)
    return batched_risk(model, loss, params, X, y)


def _param_arch(model: Architecture | ConvNet) -> Architecture:
    return model.patch_net if isinstance(model, ConvNet) else model


def _risk_and_grad(arch: Architecture | ConvNet, loss: Loss, params: Params, X: Any, y: Any):
    """Per-network risks ``(B,)``, gradients (Params) and gradient norms ``(B,)``."""
    def total(p):
        r = _model_risk(arch, loss, p, X, y)
        return jnp.sum(r), r

    grads, risks = jax.grad(total, has_aux=True)(params)
    flat = flatten_params(_param_arch(arch), grads)
    return risks, grads, jnp.sqrt(jnp.sum(flat**2, axis=1))


def batched_gradient_step(arch: Architecture, loss: Loss, params: Params, X: Any, y: Any, lr: float) -> Params:
    """One plain gradient step for every network of the batch (no checks; jit it with ``static_argnums=(0, 1)``)."""
    _, grads, _ = _risk_and_grad(arch, loss, params, X, y)
    return jax.tree_util.tree_map(lambda p, g: p - lr * g, params, grads)


def _masked(mask: Any, new: Params, old: Params) -> Params:
    def pick(a, b):
        shape = (-1,) + (1,) * (a.ndim - 1)
        return jnp.where(mask.reshape(shape), a, b)

    return jax.tree_util.tree_map(pick, new, old)


def _gd_chunk(arch, loss, params, active, converged, diverged, steps, X, y, lr, gtol, n_steps):
    def body(_, state):
        params, active, converged, diverged, steps = state
        risks, grads, gnorm = _risk_and_grad(arch, loss, params, X, y)
        done = gnorm <= gtol
        converged = converged | (active & done)
        active = active & ~done
        new = jax.tree_util.tree_map(lambda p, g: p - lr * g, params, grads)
        finite = jnp.all(jnp.isfinite(flatten_params(_param_arch(arch), new)), axis=1) & jnp.isfinite(risks)
        bad = active & ~finite
        diverged = diverged | bad
        active = active & finite
        params = _masked(active, new, params)
        return params, active, converged, diverged, steps + active.astype(steps.dtype)

    return jax.lax.fori_loop(0, n_steps, body, (params, active, converged, diverged, steps))


_jit_gd_chunk = jax.jit(_gd_chunk, static_argnums=(0, 1))
_jit_risk_and_grad = jax.jit(_risk_and_grad, static_argnums=(0, 1))


def gradient_descent(
    arch: Architecture | ConvNet,
    params: Any,
    X: Any,
    y: Any,
    *,
    loss: str | Loss = "squared",
    lr: float = 0.05,
    steps: int = 1000,
    gtol: float = 0.0,
    chunk: int = 100,
    progress: Callable[[int, int], None] | None = None,
) -> TrainingResult:
    """Full-batch gradient descent on every network of the batch at once.

    Args:
        arch: the architecture, or a :class:`~cellscape.conv.ConvNet` (parameters of its ``patch_net``, signals
            ``X``). params: initial parameters (batch ``B``). X, y: the data.
        loss: the loss. lr: the step size. steps: the largest number of steps.
        gtol: a network stops once its gradient norm is at most ``gtol`` (0: never early).
        chunk: steps per compiled call (progress is reported between chunks).
        progress: called as ``progress(steps_done, steps)`` after every chunk.

    Raises:
        InvalidInputError: for bad shapes, a non-positive step size, or negative counts.

    Notes:
        Each step costs one batched forward and backward pass, :math:`O(B\\,n\\,P/B)` flops per network.
        A network whose step becomes non-finite is reported as diverged, not silently dropped.
    """
    func = "gradient_descent"
    loss = parse_loss(loss)
    P = as_params(_param_arch(arch), params, func=func)
    if isinstance(arch, ConvNet):
        Xn = patches(X, arch.kernel_size)
        if Xn.shape[1] != arch.positions:
            raise invalid("X", func, f"signals of length {arch.signal_length}", f"{np.asarray(X).shape}")
    else:
        Xn = as_inputs(arch, X, func=func)
    yn = as_targets(y, loss, arch.d_out, Xn.shape[0], func=func)
    lr = check_float(lr, name="lr", func=func, minimum=0.0, strict_minimum=True)
    steps = check_int(steps, name="steps", func=func, minimum=0)
    gtol = check_float(gtol, name="gtol", func=func, minimum=0.0)
    chunk = check_int(chunk, name="chunk", func=func, minimum=1)
    B = P.batch_size
    state = (jax.tree_util.tree_map(jnp.asarray, P), jnp.ones(B, bool), jnp.zeros(B, bool), jnp.zeros(B, bool),
             jnp.zeros(B, jnp.int64))
    done = 0
    while done < steps:
        n = min(chunk, steps - done)
        state = _jit_gd_chunk(arch, loss, *state, Xn, yn, lr, gtol, n)
        done += n
        if progress is not None:
            progress(done, steps)
        if not bool(jnp.any(state[1])):
            break
    params_out, _, converged, diverged, taken = state
    risks, _, gnorm = _jit_risk_and_grad(arch, loss, params_out, Xn, yn)
    return TrainingResult(
        params=params_out.numpy(),
        risk=np.asarray(risks),
        grad_norm=np.asarray(gnorm),
        steps=np.asarray(taken),
        converged=np.asarray(converged) | (np.asarray(gnorm) <= gtol),
        diverged=np.asarray(diverged),
    )
