"""Parameter points with known structure, for tests and benchmarks."""

from __future__ import annotations

from fractions import Fraction

import flint
import numpy as np
import scipy.linalg

from cellscape._backend import fmpq_null_space, fmpq_to_fraction
from cellscape.networks import forward, mlp

__all__ = ["boundary_point"]


def boundary_point(d: int, width: int, n: int, ties: int, seed: int = 0, *, residual: bool = False,
                   exact: bool = False):
    r"""A one-hidden-layer ReLU network on dyadic data whose first ``ties`` units each have their kink exactly on
    one sample (exact in floats and rationals): a local minimum on a boundary with ``M = ties``.

    Without ``residual`` the targets are the network's own outputs (zero risk: a global minimum). With
    ``residual`` they are the outputs plus a residual ``r`` orthogonal to every gradient block that no tie
    touches (the output bias, the output weights, each unit's input weights over its untied samples), and each
    tied unit's output weight takes the sign of ``r`` at its tied sample, which makes every adjacent piece's KKT
    conditions hold with a positive multiplier: a genuine non-differentiable minimum of positive risk. With
    ``exact`` that residual is an exact rational (``y`` is then an object array of Fractions; use small sizes).
    Returns ``(arch, theta, X, y)``.

    Examples:
        >>> arch, theta, X, y = boundary_point(2, 4, 10, 2)
        >>> from cellscape.patterns import activation_pattern
        >>> int(activation_pattern(arch, theta, X).n_ties()[0])
        2
    """
    rng = np.random.default_rng(seed)
    X = rng.integers(-8, 9, size=(n, d)) / 8
    W1 = rng.integers(-4, 5, size=(width, d)) / 8
    b1 = rng.integers(-4, 5, size=width) / 8 + 1 / 128  # w . x is a multiple of 1/64: no accidental ties
    tied = []
    for k in range(ties):  # unit k's kink passes exactly through one sample (its own, all distinct)
        scores = X @ W1[k]
        i = int(rng.integers(n))
        while i in tied or np.sum(scores == scores[i]) > 1:  # the kink passes through this sample only
            i = int(rng.integers(n))
        tied.append(i)
        b1[k] = -(X[i] @ W1[k])
    W2 = rng.integers(-4, 5, size=(1, width)) / 8
    W2[W2 == 0] = 0.5
    arch = mlp(d, [width], 1)
    theta = [(W1, b1), (W2, np.array([0.25]))]
    out = np.asarray(forward(arch, theta, X))[0]
    if not residual:
        return arch, theta, X, out
    Xt = np.hstack([X, np.ones((n, 1))])
    z = Xt @ np.vstack([W1.T, b1])
    active = (z > 0).astype(float)
    columns = [np.ones(n), *(np.maximum(z, 0).T)]
    for k in range(width):
        s = active[:, k].copy()
        if k < ties:
            s[tied[k]] = 0.0  # the tied sample's slope is what the sign choices vary
        columns.extend((s[:, None] * Xt).T)
    C = np.array(columns)  # (n_columns, n): r must be orthogonal to every row
    if exact:
        Cq = flint.fmpq_mat(C.shape[0], n, [flint.fmpq(*float(v).as_integer_ratio()) for v in C.ravel()])
        N = fmpq_null_space(Cq)  # exact null space of C: one vector per column
        null_basis = [[fmpq_to_fraction(N[i, j]) for i in range(n)] for j in range(N.ncols())]
    else:
        null_basis = scipy.linalg.null_space(C).T
    for _ in range(50):  # a random combination, until it is non-zero at every tied sample
        weights = rng.integers(-4, 5, size=len(null_basis))
        if exact:
            r = [sum((Fraction(int(w), 8) * vec[i] for w, vec in zip(weights, null_basis)), Fraction(0))
                 for i in range(n)]
        else:
            r = 0.1 * weights @ np.asarray(null_basis)
        if all(float(r[t]) != 0 for t in tied):
            break
    else:
        raise ValueError("no residual is non-zero at every tied sample; choose another seed")
    for k in range(ties):  # v_k r_t > 0: activating unit k at its tied sample moves the output with the residual
        W2[0, k] = abs(W2[0, k]) * (1 if float(r[tied[k]]) > 0 else -1)
    theta = [(W1, b1), (W2, np.array([0.25]))]
    out = np.asarray(forward(arch, theta, X))[0]
    if exact:
        y = np.array([[Fraction(*float(o).as_integer_ratio()) - r_i] for o, r_i in zip(out[:, 0], r)], dtype=object)
    else:
        y = out - np.asarray(r)[:, None]
    return arch, theta, X, y
