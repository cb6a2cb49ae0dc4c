"""Parameter points with known structure, for tests and benchmarks."""

from __future__ import annotations

import numpy as np

from cellscape.networks import forward, mlp

__all__ = ["boundary_point"]


def boundary_point(d: int, width: int, n: int, ties: int, seed: int = 0):
    """A one-hidden-layer ReLU network on dyadic data whose first ``ties`` units each have their kink exactly
    on one sample (exact in floats and rationals), with targets equal to its own outputs: a global minimum on a
    boundary with ``M = ties``. Returns ``(arch, theta, X, y)``.

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
    used = set()
    for k in range(ties):  # unit k's kink passes exactly through one sample (its own, all distinct)
        scores = X @ W1[k]
        i = int(rng.integers(n))
        while i in used or np.sum(scores == scores[i]) > 1:  # the kink passes through this sample only
            i = int(rng.integers(n))
        used.add(i)
        b1[k] = -(X[i] @ W1[k])
    W2 = rng.integers(-4, 5, size=(1, width)) / 8
    W2[W2 == 0] = 0.5
    arch = mlp(d, [width], 1)
    theta = [(W1, b1), (W2, np.array([0.25]))]
    y = np.asarray(forward(arch, theta, X))[0]
    return arch, theta, X, y
