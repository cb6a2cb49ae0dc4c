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


def local_search(arch: Any, params: Any, X: Any, y: Any, *, loss: Any = "squared", radius: float,
                 n_starts: int = 64, steps: int = 60, seed: int = 0) -> float:
    """The smallest risk found in the Euclidean ball of ``radius`` (flat parameters) around one network (an
    :class:`~cellscape.networks.Architecture` or a :class:`~cellscape.conv.ConvNet`): random points of the ball,
    then projected normalised-gradient descent from each (a brute-force oracle, no proof)."""
    import jax
    import jax.numpy as jnp

    from cellscape.conv import ConvNet, batched_conv_risk, patches
    from cellscape.losses import as_targets, batched_risk, parse_loss
    from cellscape.networks import as_inputs, flatten_params, unflatten_params

    loss = parse_loss(loss)
    y = as_targets(y, loss, arch.d_out, np.asarray(X).shape[0])
    if isinstance(arch, ConvNet):
        net, arch = arch, arch.patch_net
        inputs = patches(np.asarray(X, dtype=np.float64), net.kernel_size)

        def batch_risk(p):
            return batched_conv_risk(net, loss, p, inputs, y)
    else:
        inputs = as_inputs(arch, X)

        def batch_risk(p):
            return batched_risk(arch, loss, p, inputs, y)
    center = np.asarray(flatten_params(arch, as_params(arch, params).numpy()))[0]
    rng = np.random.default_rng(seed)
    u = rng.normal(size=(n_starts, center.size))
    u *= (radius * rng.uniform(size=(n_starts, 1)) ** (1.0 / center.size)) / np.linalg.norm(u, axis=1,
                                                                                             keepdims=True)

    def risks(offsets):
        return batch_risk(unflatten_params(arch, center[None, :] + offsets))

    value_and_grad = jax.jit(jax.value_and_grad(lambda o: jnp.sum(risks(o))))
    evaluate = jax.jit(risks)
    offsets = jnp.asarray(u)
    best = float(np.min(np.asarray(evaluate(offsets))))
    step = radius / 4
    for _ in range(steps):
        _, g = value_and_grad(offsets)
        g = g / jnp.maximum(jnp.linalg.norm(g, axis=1, keepdims=True), 1e-300)
        offsets = offsets - step * g
        norms = jnp.linalg.norm(offsets, axis=1, keepdims=True)
        offsets = jnp.where(norms > radius, offsets * radius / norms, offsets)
        best = min(best, float(np.min(np.asarray(evaluate(offsets)))))
        step *= 0.93
    return best


def sampled_unit_patterns(X: np.ndarray, *, n_samples: int, seed: int = 0) -> np.ndarray:
    """The distinct patterns ``(X w + b > 0)`` of ``n_samples`` Gaussian ``(w, b)``: a subset of one unit's
    cells that grows to all of them (a brute-force oracle for :func:`cellscape.atlas.unit_patterns`)."""
    X = np.asarray(X, dtype=np.float64)
    Xt = np.hstack([X, np.ones((X.shape[0], 1))])
    rng = np.random.default_rng(seed)
    found = []
    for start in range(0, n_samples, 100_000):
        Z = rng.standard_normal((min(100_000, n_samples - start), Xt.shape[1]))
        found.append(np.unique(Z @ Xt.T > 0, axis=0))
    return np.unique(np.vstack(found), axis=0)
