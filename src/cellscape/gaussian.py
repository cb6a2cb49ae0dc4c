r"""Teacher-student ReLU networks under standard Gaussian inputs, in closed form (Safran and Shamir 2018).

For :math:`x \sim \mathcal N(0, I_d)` the arc-cosine kernel gives

.. math::  f(a, b) = \mathbb E[\mathrm{relu}(a^\top x)\,\mathrm{relu}(b^\top x)]
           = \frac{|a|\,|b|}{2\pi}\bigl(\sin t + (\pi - t)\cos t\bigr), \qquad f(a, a) = \tfrac12 |a|^2,

``t`` the angle between ``a`` and ``b``. A student :math:`x \mapsto \sum_{i=1}^n \mathrm{relu}(w_i^\top x)` fitted to
a teacher :math:`x \mapsto \sum_{j=1}^k \mathrm{relu}(v_j^\top x)` (output weights 1) has the population risk

.. math::  F(W) = \tfrac12 \sum_{i,j} f(w_i, w_j) - \sum_{i,j} f(w_i, v_j) + \tfrac12 \sum_{i,j} f(v_i, v_j)

(half the expected squared error) and the gradient :math:`\nabla_{w_i} F = \sum_j g(w_i, w_j) - \sum_j g(w_i, v_j)`,
:math:`g(a, b) = \frac{1}{2\pi}\bigl(|b| \sin t\, a/|a| + (\pi - t)\, b\bigr)`, :math:`g(a, a) = a/2`.

Written in :math:`c = \cos t`, :math:`2\pi f = |a||b|\,h(c)` with :math:`h(c) = \sqrt{1 - c^2} + (\pi - \arccos c)\,c`
and :math:`h'(c) = \pi - \arccos c`, which is smooth where the naive derivative of each term is infinite
(:math:`c = \pm 1`): :func:`population_risk` differentiates through ``h`` with that rule, so ``jax.grad`` and
``jax.hessian`` are finite at parallel pairs too. :math:`h''(c) = 1/\sqrt{1 - c^2}` is infinite at :math:`c = \pm 1`;
the Hessian there is taken with :math:`h''` capped at ``1e12`` (it multiplies the squared change of ``c``, which
vanishes to second order along the pair's common direction). ``F`` is not differentiable at :math:`w_i = 0`.

Examples:
    >>> import numpy as np
    >>> V = np.eye(3)
    >>> float(population_risk(V, V)), float(population_risk(np.zeros((3, 3)) + 1e-300, V)) > 0
    (0.0, True)
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["relu_kernel", "population_risk", "population_gradient", "population_hessian", "risk_and_gradient",
           "trainable_risk"]

_H2_CAP = 1e12


@jax.custom_jvp
def _h(c: jax.Array) -> jax.Array:
    return jnp.sqrt(jnp.maximum(1.0 - c**2, 0.0)) + (jnp.pi - jnp.arccos(c)) * c


@_h.defjvp
def _h_jvp(primals, tangents):
    (c,), (dc,) = primals, tangents
    return _h(c), _h_prime(c) * dc


@jax.custom_jvp
def _h_prime(c: jax.Array) -> jax.Array:
    return jnp.pi - jnp.arccos(c)


@_h_prime.defjvp
def _h_prime_jvp(primals, tangents):
    (c,), (dc,) = primals, tangents
    return _h_prime(c), jnp.minimum(1.0 / jnp.sqrt(jnp.maximum(1.0 - c**2, 0.0)), _H2_CAP) * dc


def relu_kernel(a: Any, b: Any) -> jax.Array:
    r""":math:`\mathbb E[\mathrm{relu}(a^\top x)\,\mathrm{relu}(b^\top x)]` for :math:`x \sim \mathcal N(0, I)`,
    over the last axis (broadcasting the others).

    Examples:
        >>> round(float(relu_kernel([1.0, 0.0], [0.0, 1.0])), 12)   # orthogonal unit vectors: 1 / (2 pi)
        0.159154943092
    """
    a, b = jnp.asarray(a, dtype=jnp.float64), jnp.asarray(b, dtype=jnp.float64)
    na, nb = jnp.linalg.norm(a, axis=-1), jnp.linalg.norm(b, axis=-1)
    c = jnp.sum(a * b, axis=-1) / jnp.maximum(na * nb, 1e-300)
    c = jnp.where(c > 1.0, 1.0, jnp.where(c < -1.0, -1.0, c))  # (jnp.clip would halve the derivative at c = 1)
    return na * nb * _h(c) / (2.0 * jnp.pi)


def _gram(A: jax.Array, B: jax.Array) -> jax.Array:
    return relu_kernel(A[..., :, None, :], B[..., None, :, :])


def population_risk(W: Any, V: Any) -> jax.Array:
    """``F(W)`` (module docstring) for students ``W`` (``(..., n, d)``, batched over leading axes) and the teacher
    ``V`` (``(k, d)``)."""
    W, V = jnp.asarray(W, dtype=jnp.float64), jnp.asarray(V, dtype=jnp.float64)
    n = W.shape[-2]
    off = 1.0 - jnp.eye(n)
    self_term = 0.5 * jnp.sum(W**2, axis=(-2, -1)) / 2.0 + 0.5 * jnp.sum(_gram(W, W) * off, axis=(-2, -1))
    teacher = 0.5 * jnp.sum(V**2) / 2.0 + 0.5 * jnp.sum(_gram(V, V) * (1.0 - jnp.eye(V.shape[0])))
    return self_term - jnp.sum(_gram(W, V), axis=(-2, -1)) + teacher


def risk_and_gradient(W: Any, V: Any) -> tuple[jax.Array, jax.Array]:
    r"""``F(W)`` and :math:`\nabla_W F` in closed form, batched over the leading axes of ``W`` (``(..., n, d)``),
    in ``W``'s floating type, sharing one evaluation of the angles (the fast path of training; the slow
    per-student reference is :func:`population_gradient`).

    With :math:`u_1..u_{n+k}` the students then the teacher, signs :math:`s_{ij} = 1` for another student,
    :math:`-1` for a teacher unit and 0 for ``j = i``, and :math:`t_{ij}` the angle between :math:`w_i` and
    :math:`u_j`:

    .. math::  \nabla_{w_i} F = \frac{w_i}{2} + \frac{1}{2\pi}\Bigl(\frac{w_i}{|w_i|} \sum_j s_{ij} |u_j| \sin t_{ij}
               + \sum_j s_{ij} (\pi - t_{ij})\, u_j\Bigr).

    Examples:
        >>> W = np.array([[[1.0, 0.2], [0.1, 0.9]]]); V = np.eye(2)
        >>> F, G = risk_and_gradient(W, V)
        >>> bool(np.allclose(F[0], population_risk(W[0], V))), bool(np.allclose(G[0], population_gradient(W[0], V)))
        (True, True)
    """
    W = jnp.asarray(W)
    if not jnp.issubdtype(W.dtype, jnp.floating):
        W = W.astype(jnp.float64)
    V = jnp.asarray(V, dtype=W.dtype)
    n, k = W.shape[-2], V.shape[-2]
    U = jnp.concatenate([W, jnp.broadcast_to(V, W.shape[:-2] + V.shape)], axis=-2)
    nw, nu = jnp.linalg.norm(W, axis=-1), jnp.linalg.norm(U, axis=-1)
    c = (W @ jnp.swapaxes(U, -1, -2)) / jnp.maximum(nw[..., :, None] * nu[..., None, :], 1e-300)
    c = jnp.where(c > 1.0, 1.0, jnp.where(c < -1.0, -1.0, c))
    t, sin = jnp.arccos(c), jnp.sqrt(jnp.maximum(1.0 - c**2, 0.0))
    s = jnp.concatenate([1.0 - jnp.eye(n, dtype=W.dtype), -jnp.ones((n, k), W.dtype)], axis=1)
    f = nw[..., :, None] * nu[..., None, :] * (sin + (jnp.pi - t) * c) / (2.0 * jnp.pi)
    teacher = 0.5 * jnp.sum(_gram(V, V) * (1.0 - jnp.eye(k))) + 0.25 * jnp.sum(V**2)
    risk = (0.25 * jnp.sum(nw**2, axis=-1) + 0.5 * jnp.sum(f[..., :n] * s[:, :n], axis=(-2, -1))
            + jnp.sum(f[..., n:] * s[:, n:], axis=(-2, -1)) + teacher.astype(W.dtype))
    radial = jnp.sum(s * nu[..., None, :] * sin, axis=-1) / jnp.maximum(nw, 1e-300)
    grad = W / 2.0 + (radial[..., None] * W + (s * (jnp.pi - t)) @ U) / (2.0 * jnp.pi)
    return risk, grad


@jax.custom_vjp
def trainable_risk(W: Any, V: Any) -> jax.Array:
    """``F(W)`` whose reverse-mode derivative is the closed form of :func:`risk_and_gradient` (for training;
    use :func:`population_risk` for Hessians, which needs forward mode)."""
    return risk_and_gradient(W, V)[0]


def _trainable_fwd(W, V):
    risk, grad = risk_and_gradient(W, V)
    return risk, (grad, V)


def _trainable_bwd(residuals, cotangent):
    grad, V = residuals
    return cotangent[..., None, None] * grad, jnp.zeros_like(V)


trainable_risk.defvjp(_trainable_fwd, _trainable_bwd)


def population_gradient(W: Any, V: Any) -> np.ndarray:
    r"""The closed-form gradient :math:`\nabla_W F` (module docstring), shape of ``W`` (one student ``(n, d)``)."""
    W, V = np.asarray(W, dtype=np.float64), np.asarray(V, dtype=np.float64)

    def g(a: np.ndarray, B: np.ndarray) -> np.ndarray:  # sum_j g(a, b_j)
        na, nb = np.linalg.norm(a), np.linalg.norm(B, axis=1)
        c = np.clip(B @ a / np.maximum(na * nb, 1e-300), -1.0, 1.0)
        t = np.arccos(c)
        return ((nb * np.sin(t)).sum() * a / na + ((np.pi - t)[:, None] * B).sum(axis=0)) / (2.0 * np.pi)

    out = np.empty_like(W)
    for i, w in enumerate(W):
        others = np.delete(W, i, axis=0)
        out[i] = w / 2.0 + (g(w, others) if len(others) else 0.0) - g(w, V)
    return out


def population_hessian(W: Any, V: Any) -> np.ndarray:
    """The Hessian of ``F`` at one student ``W`` (``(n, d)``), as an ``(n d, n d)`` matrix, by float64 autodiff of
    :func:`population_risk` (module docstring for parallel pairs)."""
    W = jnp.asarray(W, dtype=jnp.float64)
    n, d = W.shape
    H = jax.hessian(lambda flat: population_risk(flat.reshape(n, d), V))(W.reshape(-1))
    return np.asarray(H)
