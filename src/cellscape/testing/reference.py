"""Slow, obviously-correct reference implementations kept for tests (every fast path is checked against one).

Examples:
    >>> import numpy as np
    >>> from cellscape import mlp
    >>> forward_loop(mlp(1, [1], 1), [([[2.0]], [-1.0]), ([[3.0]], [1.0])], np.array([[1.0], [0.0]]))
    array([[[4.],
            [1.]]])
"""

from __future__ import annotations

from typing import Any

import numpy as np

from cellscape.networks import Architecture, as_params


def forward_loop(arch: Architecture, params: Any, X: np.ndarray) -> np.ndarray:
    """Outputs ``(B, n, d_out)`` computed with explicit Python loops over networks, samples and units, each
    activation evaluated piece by piece from its slopes and intercepts."""
    P = as_params(arch, params).numpy()
    B, n = P.batch_size, X.shape[0]
    out = np.zeros((B, n, arch.d_out))
    for b in range(B):
        for i in range(n):
            a = [float(v) for v in X[i]]
            for l in range(arch.n_layers):
                W = P.weights[l][b]
                bias = P.biases[l]
                z = []
                for k in range(W.shape[0]):
                    s = sum(W[k, j] * a[j] for j in range(W.shape[1]))
                    z.append(s + (bias[b, k] if bias is not None else 0.0))
                if l == arch.n_layers - 1:
                    out[b, i] = z
                else:
                    act = arch.activations[l]
                    slopes = [float(v) for v in act.slopes]
                    intercepts = [float(v) for v in act.intercepts]
                    a = []
                    for v in z:
                        j = sum(1 for p in act.breakpoints if float(p) <= v)
                        a.append(slopes[j] * v + intercepts[j])
    return out
