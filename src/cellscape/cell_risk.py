r"""The cell-restricted risk: the risk of a cell, continued as the cell's polynomial.

Inside a cell every pre-activation stays in one piece, so there :math:`h_l(z^l_k(x_i)) = s^l_{k,i} z^l_k(x_i) +
c^l_{k,i}` with the slope and intercept of that piece, and (for a piecewise loss) every sample stays in one loss
piece. Replacing each activation and each loss by the affine map (resp. polynomial) of its piece gives a function
:math:`R_{\text{cell}}` that

* equals the true risk :math:`R` on the cell (and on its closure),
* is a polynomial in the parameters, affine in each layer's block :math:`(W_l, b_l)` as far as the network outputs
  are concerned (theory.md 1.6),
* is defined on the whole parameter space, so its gradient and Hessian exist everywhere, also at points on the
  cell's boundary where :math:`R` itself is not differentiable.

Gradients and Hessians are float64 JAX autodiff; the Hessian is assembled from Hessian-vector products in chunks
(forward-over-reverse), so memory stays at ``chunk_size x n_params``. :meth:`CellRisk.risk_exact` evaluates
:math:`R_{\text{cell}}` in exact rationals.

Examples:
    >>> import numpy as np
    >>> from cellscape import mlp
    >>> arch = mlp(1, [2], 1)
    >>> params = [([[1.0], [-1.0]], [0.5, 0.5]), ([[1.0, 1.0]], [0.0])]
    >>> X, y = [[-1.0], [0.0], [1.0]], [[0.0], [1.0], [0.0]]
    >>> cr = restrict_to_cell(arch, params, X, y)
    >>> bool(np.allclose(cr(params), risk(arch, params, X, y)))
    True
    >>> cr.risk_exact(params)  # outputs (3/2, 1, 3/2): mean of r^2 / 2 = (9/8 + 0 + 9/8) / 3
    Fraction(3, 4)
"""

from __future__ import annotations

import dataclasses
from fractions import Fraction
from typing import Any

import flint
import jax
import jax.numpy as jnp
import numpy as np

from cellscape._backend import fmpq_matrix, fmpq_to_fraction
from cellscape._validation import check_int, invalid
from cellscape.losses import Loss, as_targets, parse_loss, risk  # noqa: F401  (risk: doctest)
from cellscape.networks import (
    Architecture,
    ExactParams,
    Params,
    as_inputs,
    as_params,
    exact_params,
    flatten_params,
    unflatten_params,
)
from cellscape.patterns import Pattern, activation_pattern

__all__ = ["CellRisk", "restrict_to_cell", "exact_derivatives", "exact_flat", "exact_unflat"]


def _cell_pre_activations_single(arch: Architecture, weights, biases, slopes, intercepts, X):
    """Pre-activations ``z^1..z^L`` of one network with every activation frozen to its cell's affine piece."""
    a, zs = X, []
    for l, (w, b) in enumerate(zip(weights, biases)):
        z = a @ w.T
        if b is not None:
            z = z + b
        zs.append(z)
        if l < arch.n_layers - 1:
            a = slopes[l] * z + intercepts[l]
    return tuple(zs)


def _cell_outputs_single(arch: Architecture, weights, biases, slopes, intercepts, X):
    """Outputs of one network with every activation frozen to its cell's affine piece."""
    return _cell_pre_activations_single(arch, weights, biases, slopes, intercepts, X)[-1]


def _cell_risk_single(arch: Architecture, loss: Loss, weights, biases, slopes, intercepts, loss_pieces, X, y):
    out = _cell_outputs_single(arch, weights, biases, slopes, intercepts, X)
    return jnp.mean(loss.restricted(out, y, loss_pieces))


def _batched_risk(arch, loss, params: Params, slopes, intercepts, loss_pieces, X, y):
    return jax.vmap(
        lambda w, b, s, c, lp: _cell_risk_single(arch, loss, w, b, s, c, lp, X, y)
    )(params.weights, params.biases, slopes, intercepts, loss_pieces)


def _batched_outputs(arch, params: Params, slopes, intercepts, X):
    return jax.vmap(lambda w, b, s, c: _cell_outputs_single(arch, w, b, s, c, X))(
        params.weights, params.biases, slopes, intercepts)


def _batched_grad(arch, loss, params, slopes, intercepts, loss_pieces, X, y):
    return jax.grad(lambda p: jnp.sum(_batched_risk(arch, loss, p, slopes, intercepts, loss_pieces, X, y)))(params)


def _layers_of_flat(arch: Architecture, flat):
    p = unflatten_params(arch, flat[None, :])
    return tuple(x[0] for x in p.weights), tuple(None if x is None else x[0] for x in p.biases)


def frozen_pre_activations(arch: Architecture, flat, slopes, intercepts, X):
    """Pre-activations ``z^1..z^L`` (each ``(n, d_l)``) of one network given as a flat vector, every activation
    frozen to the pieces whose slopes and intercepts (each ``(n, d_l)`` per hidden layer) are given."""
    w, b = _layers_of_flat(arch, flat)
    return _cell_pre_activations_single(arch, w, b, slopes, intercepts, X)


def frozen_risk(arch: Architecture, loss: Loss, flat, slopes, intercepts, loss_pieces, X, y):
    """The cell polynomial risk of one network given as a flat vector (see :func:`frozen_pre_activations`)."""
    w, b = _layers_of_flat(arch, flat)
    return _cell_risk_single(arch, loss, w, b, slopes, intercepts, loss_pieces, X, y)


_flat_risk_single = frozen_risk


def _hvp_chunk(arch, loss, flat, slopes, intercepts, loss_pieces, X, y, basis):
    """Hessian-vector products of one network's flat risk with the rows of ``basis`` (chunk, P)."""
    grad_fn = jax.grad(lambda f: _flat_risk_single(arch, loss, f, slopes, intercepts, loss_pieces, X, y))
    return jax.vmap(lambda v: jax.jvp(grad_fn, (flat,), (v,))[1])(basis)


def piece_tables(arch: Architecture, pieces: tuple[np.ndarray, ...]) -> tuple[tuple[np.ndarray, ...],
                                                                          tuple[np.ndarray, ...]]:
    """Float slopes and intercepts of the given piece indices (any leading shape), per hidden layer."""
    slopes, intercepts = [], []
    for act, piece in zip(arch.activations, pieces):
        s = np.array([float(v) for v in act.slopes])
        c = np.array([float(v) for v in act.intercepts])
        slopes.append(s[piece])
        intercepts.append(c[piece])
    return tuple(slopes), tuple(intercepts)


def frozen_hessian(arch: Architecture, loss: Loss, flat, slopes, intercepts, loss_pieces, X, y, *,
                   chunk_size: int = 256) -> np.ndarray:
    """The ``(P, P)`` Hessian of :func:`frozen_risk` from chunked Hessian-vector products (symmetrised)."""
    flat = np.asarray(flat, dtype=np.float64)
    n_params = flat.shape[0]
    eye = np.eye(n_params)
    chunk = min(chunk_size, n_params)
    out = np.empty((n_params, n_params))
    for start in range(0, n_params, chunk):
        basis = eye[start:start + chunk]
        if basis.shape[0] < chunk:  # pad so every call has one shape (one compilation)
            basis = np.vstack([basis, np.zeros((chunk - basis.shape[0], n_params))])
        rows = _jit_hvp_chunk(arch, loss, flat, slopes, intercepts, loss_pieces, X, y, basis)
        stop = min(start + chunk, n_params)
        out[start:stop] = np.asarray(rows)[: stop - start]
    return 0.5 * (out + out.T)  # exact symmetry; autodiff rows agree to rounding


_jit_risk = jax.jit(_batched_risk, static_argnums=(0, 1))
_jit_outputs = jax.jit(_batched_outputs, static_argnums=0)
_jit_grad = jax.jit(_batched_grad, static_argnums=(0, 1))
_jit_hvp_chunk = jax.jit(_hvp_chunk, static_argnums=(0, 1))


@dataclasses.dataclass(frozen=True, eq=False)
class CellRisk:
    r"""The polynomial risk :math:`R_{\text{cell}}` of the cells of a batch of networks (see the module docstring).

    Build it with :func:`restrict_to_cell`. Calling it on parameters of the same architecture and batch size
    evaluates network ``b``'s parameters with network ``b``'s cell.

    Attributes:
        arch: the architecture. loss: the loss.
        pattern: the activation (and loss) pattern that defines the cells.
        X, y: the data (float64).
    """

    arch: Architecture
    loss: Loss
    pattern: Pattern
    X: np.ndarray
    y: np.ndarray

    @property
    def batch_size(self) -> int:
        return self.pattern.batch_size

    def _tables(self) -> tuple[tuple[np.ndarray, ...], tuple[np.ndarray, ...], np.ndarray]:
        slopes, intercepts = piece_tables(self.arch, self.pattern.pieces)
        lp = self.pattern.loss_pieces
        if lp is None:
            lp = np.zeros((self.batch_size, self.X.shape[0], 0), dtype=np.int64)
        return slopes, intercepts, lp.astype(np.float64)

    def _params(self, params: Any, func: str) -> Params:
        P = as_params(self.arch, params, func=func)
        if P.batch_size != self.batch_size:
            raise invalid("params", func, f"a batch of {self.batch_size} networks (one per cell)",
                          f"{P.batch_size}", raw=True)
        return P

    def outputs(self, params: Any) -> jax.Array:
        """Network outputs with every unit frozen to its cell's piece, shape ``(B, n, d_out)``.

        Raises:
            InvalidInputError: for parameters of another shape or batch size.
        """
        s, c, _ = self._tables()
        return _jit_outputs(self.arch, self._params(params, "CellRisk.outputs"), s, c, self.X)

    def __call__(self, params: Any) -> jax.Array:
        """:math:`R_{\\text{cell}}` of every network, shape ``(B,)``."""
        s, c, lp = self._tables()
        return _jit_risk(self.arch, self.loss, self._params(params, "CellRisk"), s, c, lp, self.X, self.y)

    def grad(self, params: Any) -> Params:
        """Gradient of :math:`R_{\\text{cell}}` for every network, as :class:`Params`."""
        s, c, lp = self._tables()
        return _jit_grad(self.arch, self.loss, self._params(params, "CellRisk.grad"), s, c, lp, self.X, self.y)

    def grad_flat(self, params: Any) -> np.ndarray:
        """Gradient in the flat view, shape ``(B, n_params)``."""
        return np.asarray(flatten_params(self.arch, self.grad(params)))

    def hessian(self, params: Any, *, chunk_size: int = 256) -> np.ndarray:
        """Hessian of :math:`R_{\\text{cell}}` in the flat view, shape ``(B, n_params, n_params)``.

        Built from Hessian-vector products, ``chunk_size`` basis vectors at a time, so memory stays at
        ``chunk_size x n_params`` per network.

        Raises:
            InvalidInputError: for a chunk size below 1 or parameters of another shape.

        Notes:
            ``ceil(P / chunk_size)`` compiled calls per network, each costing about ``chunk_size`` gradient
            evaluations.
        """
        chunk_size = check_int(chunk_size, name="chunk_size", func="CellRisk.hessian", minimum=1)
        P = self._params(params, "CellRisk.hessian")
        flat = np.asarray(flatten_params(self.arch, P.numpy()))
        s, c, lp = self._tables()
        return np.stack([
            frozen_hessian(self.arch, self.loss, flat[b], tuple(x[b] for x in s), tuple(x[b] for x in c), lp[b],
                           self.X, self.y, chunk_size=chunk_size)
            for b in range(self.batch_size)
        ])

    def risk_exact(self, params: Any, *, index: int = 0) -> Fraction:
        """:math:`R_{\\text{cell}}` of network ``index``'s cell, in exact rationals.

        ``params`` as for :func:`cellscape.networks.exact_params`: exact parameters of one network, or float
        parameters (taken at their exact binary values) of one network or of a batch, from which network
        ``index`` is taken. The data are taken at their exact float values.

        Raises:
            ExactArithmeticError: for a loss without rational values.
            InvalidInputError: for bad shapes or non-rational values.
        """
        if isinstance(params, Params) and params.batch_size > 1:
            p = exact_params(self.arch, params, index=index)
        else:
            p = exact_params(self.arch, params)
        lp = None if self.pattern.loss_pieces is None else self.pattern.loss_pieces[index]
        total = frozen_risk_exact(self.arch, self.loss, p, tuple(x[index] for x in self.pattern.pieces), lp,
                                  self.X, self.y)
        return fmpq_to_fraction(total)


def frozen_risk_exact(arch: Architecture, loss: Loss, params: Any, pieces: tuple[np.ndarray, ...],
                      loss_pieces: np.ndarray | None, X: Any, y: Any) -> flint.fmpq:
    """Exact cell polynomial risk of one network with activations frozen to ``pieces`` (per hidden layer
    ``(n, d_l)`` piece indices) and losses to ``loss_pieces`` (``(n, m)`` or ``None``); ``X`` and ``y`` in any
    form :func:`cellscape._backend.fmpq_matrix` accepts (floats exactly)."""
    p = exact_params(arch, params)
    a = fmpq_matrix(X)
    n = a.nrows()
    ones = flint.fmpq_mat(1, n, [1] * n)
    for l, (w, b) in enumerate(zip(p.weights, p.biases)):
        z = a * w.transpose()
        if b is not None:
            z = z + (b * ones).transpose()
        if l == arch.n_layers - 1:
            a = z
            break
        act = arch.activations[l]
        s = [flint.fmpq(v.numerator, v.denominator) for v in act.slopes]
        c = [flint.fmpq(v.numerator, v.denominator) for v in act.intercepts]
        nxt = flint.fmpq_mat(z.nrows(), z.ncols())
        for i in range(z.nrows()):
            for k in range(z.ncols()):
                j = int(pieces[l][i, k])
                nxt[i, k] = s[j] * z[i, k] + c[j]
        a = nxt
    Y = fmpq_matrix(y)
    total = flint.fmpq(0)
    for i in range(n):
        yhat = [a[i, j] for j in range(a.ncols())]
        yi = [Y[i, j] for j in range(Y.ncols())]
        total += loss.restricted_exact(yhat, yi, [] if loss_pieces is None else [int(v) for v in loss_pieces[i]])
    return total / n


def restrict_to_cell(
    arch: Architecture, params: Any, X: Any, y: Any, *, loss: str | Loss = "squared"
) -> CellRisk:
    """The cell-restricted risk of the cells containing ``params`` (one cell per network of the batch).

    Pieces are assigned with the convention of :mod:`cellscape.activations` (a value exactly on a breakpoint
    belongs to the piece on its right), so at a tie the result is the polynomial of *one* adjacent piece; use
    :mod:`cellscape.patterns` to see the ties.

    Raises:
        InvalidInputError: for bad shapes or targets that do not suit the loss.
    """
    loss = parse_loss(loss)
    P = as_params(arch, params, func="restrict_to_cell")
    Xn = as_inputs(arch, X, func="restrict_to_cell")
    yn = as_targets(y, loss, arch.d_out, Xn.shape[0], func="restrict_to_cell")
    pattern = activation_pattern(arch, P, Xn, y=yn, loss=loss)
    return CellRisk(arch, loss, pattern, Xn, yn)


def exact_flat(params: ExactParams) -> list[flint.fmpq]:
    """The flat view (order of :func:`cellscape.networks.flatten_params`) of exact parameters."""
    out = []
    for w, b in zip(params.weights, params.biases):
        out.extend(w[i, j] for i in range(w.nrows()) for j in range(w.ncols()))
        if b is not None:
            out.extend(b[i, 0] for i in range(b.nrows()))
    return out


def exact_unflat(arch: Architecture, flat: list[flint.fmpq]) -> ExactParams:
    """Inverse of :func:`exact_flat`."""
    layers, offset = [], 0
    for (rows, cols), b_shape in arch.layer_shapes():
        W = [flat[offset + i * cols: offset + (i + 1) * cols] for i in range(rows)]
        offset += rows * cols
        b = None
        if b_shape is not None:
            b = flat[offset: offset + rows]
            offset += rows
        layers.append((W, b))
    return exact_params(arch, layers)


def exact_derivatives(arch: Architecture, loss: Loss, qparams: ExactParams, Xq: Any, Yq: Any, pieces, exact_lp, *,
                      hessian: bool) -> tuple[list[flint.fmpq], flint.fmpq_mat | None, list[flint.fmpq]]:
    """Exact gradient, Hessian (if asked) and Hessian diagonal of the cell polynomial (activations frozen to
    ``pieces``, losses to ``exact_lp``) at rational parameters, by exact interpolation of the polynomial
    ``t -> R_cell(theta + t u)`` (degree at most ``2L``) along coordinate directions and their pairwise sums.

    Notes:
        ``P (2L + 1)`` exact risk evaluations for the gradient and diagonal, ``P^2 (2L + 1) / 2`` with the Hessian.
    """
    theta = exact_flat(qparams)
    P = len(theta)
    degree = 2 * arch.n_layers
    nodes = [flint.fmpq(j - degree // 2) for j in range(degree + 1)]
    vandermonde_inv = flint.fmpq_mat(degree + 1, degree + 1, [t**e for t in nodes for e in range(degree + 1)]).inv()

    def coefficients(u: dict[int, int]) -> flint.fmpq_mat:
        values = []
        for t in nodes:
            moved = list(theta)
            for a, scale in u.items():
                moved[a] = moved[a] + t * scale
            values.append(frozen_risk_exact(arch, loss, exact_unflat(arch, moved), pieces, exact_lp, Xq, Yq))
        return vandermonde_inv * flint.fmpq_mat(degree + 1, 1, values)

    single = [coefficients({a: 1}) for a in range(P)]
    grad = [single[a][1, 0] for a in range(P)]
    diagonal = [2 * single[a][2, 0] for a in range(P)]
    if not hessian:
        return grad, None, diagonal
    H = flint.fmpq_mat(P, P)
    for a in range(P):
        H[a, a] = 2 * single[a][2, 0]
        for b in range(a + 1, P):
            H[a, b] = H[b, a] = coefficients({a: 1, b: 1})[2, 0] - single[a][2, 0] - single[b][2, 0]
    return grad, H, diagonal
