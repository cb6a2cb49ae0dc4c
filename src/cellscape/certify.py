r"""Certify what a parameter point is: a (strict or non-strict) local minimum, a saddle, not critical, or
inconclusive with the reason.

:func:`certify` returns a :class:`Certificate` per network, never a bare boolean. The analysis uses the structure of
piecewise-linear networks (theory.md sections 1-4):

**Inside a cell** (no pre-activation within ``tie_tol`` of a breakpoint, no sample at a kink of a piecewise loss)
the risk equals the cell's polynomial :math:`R_{\text{cell}}` on the certified radius.

1. A gradient of norm above ``grad_tol``: *not a critical point*; the descent direction is :math:`-\nabla R`.
2. One hidden layer, one output, any piecewise-linear activation, any (convex) loss: on the cell
   :math:`\hat y_i = \sum_k s_{ki}\, z_k^\top \tilde x_i + u_k c_{ki} + c` with :math:`z_k = v_k (w_k, b_k)`,
   :math:`u_k = v_k`, so :math:`R = G(z, u, c)` with :math:`G` convex. The point is a local minimum exactly when
   :math:`\nabla G = 0`; at a critical point a unit with :math:`v_k = 0` and
   :math:`g_k = \partial G / \partial z_k \ne 0` gives the second-order descent :math:`v_k = \epsilon,
   w_k \leftarrow w_k - s g_k` (a saddle).
3. Every hidden unit in one linear piece for every sample: the network is an affine predictor
   :math:`A(\theta)`, and the point is a local minimum when its risk equals the best affine risk
   :math:`R^*_{\text{lin}}`.
4. Otherwise second-order conditions modulo the exact invariances of the risk (positive rescaling of homogeneous
   units, weights into units that are flat on every sample, weights out of units that output 0 on every sample):
   the Hessian on the complement :math:`S^\perp` of their span decides: positive definite gives a local minimum
   (non-strict, with a valley of dimension :math:`\dim S`, when :math:`S \ne 0`), a negative eigenvalue a saddle
   with its eigenvector as descent direction, and a semi-definite Hessian with null directions is *inconclusive*
   (the order needed is higher than two).

**On cell boundaries** (``M > 0`` ties) the point is a local minimum exactly when it is one of every adjacent
smooth piece over that piece's closed cell. The ``2^M`` sign choices are enumerated (up to ``max_ties``): a choice
whose cell has empty interior is not adjacent; on each adjacent piece a largest-slack linear program looks for a
direction that enters the piece and decreases its polynomial to first order, and non-negative least squares
measures the KKT residual. The Clarke subdifferential's minimum-norm element (over the adjacent pieces'
gradients) is reported. With one hidden layer and one output each piece is a convex program in the
:math:`z`-coordinates, so first-order optimality on every piece proves a local minimum; deeper networks without a
first-order descent are *inconclusive*.

**Tolerances.** A float certificate holds up to its tolerances (recorded in the certificate): a gradient norm at
most ``grad_tol`` counts as zero, values within ``tie_tol`` of a breakpoint as ties. Descent directions are always
checked by evaluating the true risk. **Exact mode** (``arithmetic="exact"``) re-verifies, in rational arithmetic
with python-flint, the pattern, the ties, the risk and every equation of the structured cases (2 and 3 above, for
the squared and piecewise losses); a certificate says ``arithmetic="exact"`` only when its verdict was proved so,
and otherwise says which part rests on floats.

Examples:
    The best affine fit of the 3-point set (Yun, Sra, Jadbabaie 2019) realised by a 2-2-1 ReLU network is an
    exact local minimum with half the sum of squared errors 1/3 (mean risk 1/9):

    >>> from cellscape import mlp
    >>> arch = mlp(2, [2], 1)
    >>> theta = [([[0, 0], [0, 0]], ["4/3", 1]), ([[1, 0]], [-1])]
    >>> X, y = [[1, 0], [0, 1], ["1/2", "1/2"]], [0, 0, 1]
    >>> cert = certify(arch, theta, X, y, arithmetic="exact")[0]
    >>> cert.status.value, cert.arithmetic.value, cert.risk_exact
    ('nonstrict_minimum', 'exact', Fraction(1, 9))
"""

from __future__ import annotations

import dataclasses
import enum
import itertools
import math
from fractions import Fraction
from typing import Any

import flint
import jax
import jax.numpy as jnp
import numpy as np
import scipy.linalg
import scipy.optimize

from cellscape._backend import fmpq_matrix, fmpq_null_space, fmpq_to_fraction, rationalize, to_numpy
from cellscape._validation import check_enum, check_float, check_int, invalid
from cellscape.affine import best_affine_fit
from cellscape.cell_risk import (
    exact_derivatives,
    exact_flat,
    frozen_hessian,
    frozen_pre_activations,
    frozen_risk,
    frozen_risk_exact,
    piece_tables,
)
from cellscape.exceptions import InvalidInputError
from cellscape.losses import Loss, LossName, as_targets, batched_risk, parse_loss, risk_exact
from cellscape.networks import (
    Architecture,
    ExactParams,
    as_inputs,
    as_params,
    exact_params,
    flatten_params,
    unflatten_params,
)
from cellscape.patterns import Tie, activation_pattern, activation_pattern_exact, certified_radius

__all__ = ["CertificateStatus", "Arithmetic", "BoundaryMethod", "Certificate", "certify"]


class CertificateStatus(str, enum.Enum):
    """What a point was certified to be."""

    STRICT_MINIMUM = "strict_minimum"
    NONSTRICT_MINIMUM = "nonstrict_minimum"
    MINIMUM = "minimum"  # a local minimum whose strictness was not decided
    SADDLE = "saddle"
    NOT_CRITICAL = "not_critical"
    INCONCLUSIVE = "inconclusive"


class Arithmetic(str, enum.Enum):
    """How a certificate was checked."""

    FLOAT = "float"
    EXACT = "exact"


class BoundaryMethod(str, enum.Enum):
    """How adjacent pieces are examined on a boundary: every one of the ``2^M`` (``exhaustive``), unit by unit
    for one hidden layer (``per_unit``: ``sum_k 2^{M_k}`` small problems, in the manner of Yun, Sra and
    Jadbabaie 2019), or ``auto`` (per unit where it applies)."""

    AUTO = "auto"
    EXHAUSTIVE = "exhaustive"
    PER_UNIT = "per_unit"


_MINIMA = {CertificateStatus.STRICT_MINIMUM, CertificateStatus.NONSTRICT_MINIMUM, CertificateStatus.MINIMUM}


@dataclasses.dataclass(frozen=True, eq=False)
class Certificate:
    """The verdict on one parameter point with the evidence for it.

    Attributes:
        status: the verdict.
        message: one sentence saying why (the reason, for an inconclusive verdict).
        method: which argument decided (``gradient``, ``one_hidden_layer_convex``, ``affine_predictor``,
            ``second_order``, ``adjacent_pieces``, ``tie_limit``).
        risk: the risk (float); risk_exact: the exact risk when computed (``Fraction``).
        grad_norm: the gradient norm of the cell polynomial (inside a cell) or the norm of the minimum-norm
            element of the Clarke subdifferential (on a boundary).
        n_ties: ``M``, the number of ties (pre-activations on a breakpoint and samples at a loss kink).
        ties: the ties themselves.
        pieces_examined: adjacent sign choices enumerated; pieces_adjacent: those whose cell has an interior.
        hessian_min, hessian_max: extreme Hessian eigenvalues on the subspace that matters (``None`` if unused).
        valley_dimension: dimension of the set of equal-risk minima through the point, where known.
        descent_direction: a unit vector (flat parameter order) along which the risk decreases, or ``None``.
        descent_step, descent_decrease: a step along it and the decrease of the true risk it achieves.
        radius: the certified radius (0 on a boundary).
        arithmetic: ``exact`` when every condition of the verdict was verified in rationals.
        tolerances: the tolerances used.
    """

    status: CertificateStatus
    message: str
    method: str
    risk: float
    risk_exact: Fraction | None
    grad_norm: float
    n_ties: int
    ties: tuple[Tie, ...]
    pieces_examined: int
    pieces_adjacent: int
    hessian_min: float | None
    hessian_max: float | None
    valley_dimension: int | None
    descent_direction: np.ndarray | None
    descent_step: float | None
    descent_decrease: float | None
    radius: float
    arithmetic: Arithmetic
    tolerances: dict[str, float]

    @property
    def is_minimum(self) -> bool:
        """True for the three minimum statuses."""
        return self.status in _MINIMA

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary."""
        def num(v: Any) -> Any:
            if v is None:
                return None
            v = float(v)
            return v if math.isfinite(v) else str(v)

        return {
            "status": self.status.value, "message": self.message, "method": self.method,
            "risk": num(self.risk), "risk_exact": None if self.risk_exact is None else str(self.risk_exact),
            "grad_norm": num(self.grad_norm), "n_ties": self.n_ties,
            "ties": [t._asdict() for t in self.ties],
            "pieces_examined": self.pieces_examined, "pieces_adjacent": self.pieces_adjacent,
            "hessian_min": num(self.hessian_min), "hessian_max": num(self.hessian_max),
            "valley_dimension": self.valley_dimension,
            "descent_direction": None if self.descent_direction is None else self.descent_direction.tolist(),
            "descent_step": num(self.descent_step), "descent_decrease": num(self.descent_decrease),
            "radius": num(self.radius), "arithmetic": self.arithmetic.value, "tolerances": self.tolerances,
        }


# ---------------------------------------------------------------------------------------------- compiled kernels
_jit_frozen_risk = jax.jit(frozen_risk, static_argnums=(0, 1))
_jit_frozen_grad = jax.jit(jax.grad(frozen_risk, argnums=2), static_argnums=(0, 1))
_jit_pre_jacobian = jax.jit(jax.jacrev(frozen_pre_activations, argnums=1), static_argnums=0)
_jit_pre = jax.jit(frozen_pre_activations, static_argnums=0)


def _loss_derivative(loss: Loss, out: Any, y: Any, loss_pieces: Any) -> Any:
    """d(restricted per-sample loss)/d(output), shape (n, d_out)."""
    return jax.grad(lambda o: jnp.sum(loss.restricted(o, y, loss_pieces)))(out)


_jit_loss_derivative = jax.jit(_loss_derivative, static_argnums=0)
_jit_batched_risk = jax.jit(batched_risk, static_argnums=(0, 1))


# ---------------------------------------------------------------------------------------------- the analysis
@dataclasses.dataclass(frozen=True)
class _Options:
    """The options of :func:`certify` (which always passes every one); the defaults, the same as certify's, serve
    other modules that need a :class:`_Point` (:mod:`cellscape.spectrum`)."""

    tie_tol: float = 1e-9
    grad_tol: float = 1e-8
    eig_tol: float = 1e-8
    kkt_tol: float = 1e-8
    lp_tol: float = 1e-9
    max_ties: int = 16
    hessian_limit: int = 4000
    boundary_method: str = "auto"


@dataclasses.dataclass(frozen=True)
class _LossTie:
    """A sample at a kink of a piecewise loss: a linear functional ``coef . yhat_i`` crosses a threshold; the
    loss piece in column ``column`` is ``neg`` below and ``pos`` above."""

    sample: int
    column: int
    coef: np.ndarray
    neg: int
    pos: int


class _Point:
    """One network at one parameter point, with everything the checks share."""

    def __init__(self, arch: Architecture, loss: Loss, flat: np.ndarray, X: np.ndarray, y: np.ndarray,
                 opts: _Options):
        self.arch, self.loss, self.flat, self.X, self.y, self.opts = arch, loss, flat, X, y, opts
        params = unflatten_params(arch, flat[None, :])
        pattern = activation_pattern(arch, params, X, y=y, loss=loss)
        self.pattern = pattern
        self.pieces = tuple(p[0] for p in pattern.pieces)
        n = X.shape[0]
        self.loss_pieces = (np.zeros((n, 0), dtype=np.int64) if pattern.loss_pieces is None
                            else pattern.loss_pieces[0])
        self.act_ties = [t for t in pattern.ties(0, tol=opts.tie_tol) if t.layer < arch.n_layers]
        self.out = np.asarray(pattern.values[-1][0]) if arch.n_layers > 1 else None
        self.loss_ties, self.unsupported_loss_tie = self._loss_ties()
        self.ties = tuple(self.act_ties) + tuple(
            Tie(arch.n_layers, t.column, t.sample, -1, 0.0) for t in self.loss_ties)
        self.risk = float(_jit_frozen_risk(arch, loss, flat, *self.tables(self.pieces), self.loss_pieces, X, y))

    def tables(self, pieces: tuple[np.ndarray, ...]) -> tuple[Any, Any]:
        return piece_tables(self.arch, pieces)

    def outputs(self) -> np.ndarray:
        s, c = self.tables(self.pieces)
        return np.asarray(_jit_pre(self.arch, self.flat, s, c, self.X)[-1])

    def _loss_ties(self) -> tuple[list[_LossTie], bool]:
        loss, tol = self.loss, self.opts.tie_tol
        if not loss.is_piecewise:
            return [], False
        out, y = self.outputs(), self.y
        ties: list[_LossTie] = []
        d_out = out.shape[1]
        name = loss.name
        for i in range(out.shape[0]):
            if name is LossName.HINGE:
                if abs(1.0 - y[i, 0] * out[i, 0]) <= tol:  # functional -y f: above the kink the hinge is active
                    ties.append(_LossTie(i, 0, np.array([-y[i, 0]]), 0, 1))
            elif name is LossName.ABSOLUTE:
                for j in np.nonzero(np.abs(out[i] - y[i]) <= tol)[0]:
                    ties.append(_LossTie(i, int(j), np.eye(d_out)[j], 0, 1))
            elif name is LossName.HUBER:
                r = out[i] - y[i]
                d = float(loss.delta)
                for j in np.nonzero(np.abs(np.abs(r) - d) <= tol)[0]:
                    pair = (1, 2) if r[j] > 0 else (0, 1)
                    ties.append(_LossTie(i, int(j), np.eye(d_out)[j], *pair))
            elif name is LossName.WESTON_WATKINS:
                label = int(y[i, 0])
                for j in range(d_out):
                    if j != label and abs(1.0 + out[i, j] - out[i, label]) <= tol:
                        coef = np.eye(d_out)[j] - np.eye(d_out)[label]
                        ties.append(_LossTie(i, j, coef, 0, 1))
            elif name is LossName.CRAMMER_SINGER and self.pattern.loss_margins[0, i] <= tol:
                return ties, True
        return ties, False

    def grad(self, pieces: tuple[np.ndarray, ...] | None = None, loss_pieces: np.ndarray | None = None):
        pieces = self.pieces if pieces is None else pieces
        loss_pieces = self.loss_pieces if loss_pieces is None else loss_pieces
        return np.asarray(_jit_frozen_grad(self.arch, self.loss, self.flat, *self.tables(pieces), loss_pieces,
                                           self.X, self.y))

    def hessian(self) -> np.ndarray:
        return frozen_hessian(self.arch, self.loss, self.flat, *self.tables(self.pieces), self.loss_pieces,
                              self.X, self.y)

    def true_risks(self, thetas: np.ndarray) -> np.ndarray:
        params = unflatten_params(self.arch, jnp.asarray(thetas))
        return np.asarray(_jit_batched_risk(self.arch, self.loss, params, self.X, self.y))


def _verify_descent(point: _Point, direction: np.ndarray, *, max_step: float = 1.0):
    """Find a step along ``direction`` that lowers the true risk; returns (unit direction, step, decrease)."""
    norm = float(np.linalg.norm(direction))
    if not np.isfinite(norm) or norm == 0.0:
        return None
    d = direction / norm
    steps = max_step * 0.5 ** np.arange(0, 48)
    risks = point.true_risks(point.flat[None, :] + steps[:, None] * d[None, :])
    decrease = point.risk - risks
    noise = 64 * np.finfo(float).eps * max(1.0, abs(point.risk))
    good = np.nonzero(decrease > noise)[0]
    if good.size == 0:
        return None
    best = good[np.argmax(decrease[good])]
    return d, float(steps[best]), float(decrease[best])


def _invariance_vectors(arch: Architecture, pieces: tuple[np.ndarray, ...], values: np.ndarray) -> list[np.ndarray]:
    """Tangent vectors of the exact invariances of the cell risk at the flat parameters ``values`` (float64, or
    an object array of rationals for exact use; the vectors have the same dtype).

    Positive rescaling of every homogeneous unit; every weight into a unit that is flat (slope 0) on every sample;
    every weight out of a unit that outputs 0 on every sample; and, for two units in the same single piece on every
    sample (they act linearly on the data), adding ``t z_m`` to ``z_j`` while taking ``t W_{l+1}[:, j]`` from
    ``W_{l+1}[:, m]`` (and adding ``t W_{l+1}[:, j] c`` to ``b_{l+1}``, ``c`` the piece's intercept).
    """
    offsets, offset = [], 0
    for w_shape, b_shape in arch.layer_shapes():
        w_off = offset
        offset += w_shape[0] * w_shape[1]
        b_off = offset if b_shape is not None else None
        offset += b_shape[0] if b_shape is not None else 0
        offsets.append((w_off, b_off))
    P = values.size
    vectors: list[np.ndarray] = []

    def zeros() -> np.ndarray:
        return np.zeros(P, dtype=values.dtype)

    for l, act in enumerate(arch.activations):
        w_off, b_off = offsets[l]
        w_next, b_next = offsets[l + 1]
        d_prev, width, d_next = arch.widths[l], arch.widths[l + 1], arch.widths[l + 2]

        ins = [[w_off + k * d_prev + j for j in range(d_prev)] + ([b_off + k] if b_off is not None else [])
               for k in range(width)]
        outs = [[w_next + m * width + k for m in range(d_next)] for k in range(width)]

        for k in range(width):
            if act.is_homogeneous:
                v = zeros()
                v[ins[k]] = values[ins[k]]
                v[outs[k]] = -values[outs[k]]
                if np.any(v != 0):
                    vectors.append(v)
            unit_pieces = set(int(p) for p in pieces[l][:, k])
            flat_in = all(act.slopes[p] == 0 for p in unit_pieces)
            zero_out = flat_in and all(act.intercepts[p] == 0 for p in unit_pieces)
            for idx in (ins[k] if flat_in else []) + (outs[k] if zero_out else []):
                e = zeros()
                e[idx] = 1
                vectors.append(e)
        single = [k for k in range(width) if np.all(pieces[l][:, k] == pieces[l][0, k])]
        for j in single:
            for m in single:
                if j == m or pieces[l][0, j] != pieces[l][0, m]:
                    continue
                c_jm = act.intercepts[int(pieces[l][0, j])]
                if c_jm != 0 and b_next is None:
                    continue
                v = zeros()
                v[ins[j]] = values[ins[m]]
                v[outs[m]] = -values[outs[j]]
                if c_jm != 0:
                    scale = float(c_jm) if values.dtype != object else flint.fmpq(c_jm.numerator, c_jm.denominator)
                    v[[b_next + r for r in range(d_next)]] = values[outs[j]] * scale
                if np.any(v != 0):
                    vectors.append(v)
    return vectors


def _invariance_basis(point: _Point) -> np.ndarray:
    """Orthonormal basis (columns) of the span of the exact invariance directions of the risk at the point."""
    vectors = _invariance_vectors(point.arch, point.pieces, point.flat)
    if not vectors:
        return np.zeros((point.flat.size, 0))
    U, s, _ = np.linalg.svd(np.array(vectors).T, full_matrices=False)
    rank = int(np.sum(s > 1e-10 * max(s[0], 1e-300)))
    return U[:, :rank]


def _certificate(point: _Point, status: CertificateStatus, message: str, method: str, **fields: Any) -> Certificate:
    defaults = dict(risk=point.risk, risk_exact=None, grad_norm=float("nan"), n_ties=len(point.ties),
                    ties=point.ties, pieces_examined=0, pieces_adjacent=0, hessian_min=None, hessian_max=None,
                    valley_dimension=None, descent_direction=None, descent_step=None, descent_decrease=None,
                    radius=0.0, arithmetic=Arithmetic.FLOAT,
                    tolerances=dataclasses.asdict(point.opts))
    defaults.update(fields)
    return Certificate(status=status, message=message, method=method, **defaults)


def _descent_fields(found: tuple[np.ndarray, float, float] | None) -> dict[str, Any]:
    if found is None:
        return {}
    d, step, dec = found
    return {"descent_direction": d, "descent_step": step, "descent_decrease": dec}


# ---------------------------------------------------------------------------------------------- inside a cell
def _one_hidden_layer_terms(point: _Point, pieces: tuple[np.ndarray, ...] | None = None,
                            loss_pieces: np.ndarray | None = None):
    """g_k = dG/dz_k (K, D), gamma_k = dG/du_k (K,), g_c = dG/dc for one hidden layer with one output, on the
    piece given by ``pieces`` and ``loss_pieces`` (default: the point's own)."""
    arch = point.arch
    pieces = point.pieces if pieces is None else pieces
    loss_pieces = point.loss_pieces if loss_pieces is None else loss_pieces
    slopes, intercepts = point.tables(pieces)
    out = np.asarray(_jit_pre(arch, point.flat, slopes, intercepts, point.X)[-1])
    dl = np.asarray(_jit_loss_derivative(point.loss, jnp.asarray(out), point.y, loss_pieces))[:, 0]
    dl = dl / point.X.shape[0]
    Xt = np.hstack([point.X, np.ones((point.X.shape[0], 1))]) if arch.bias[0] else point.X
    g = (dl[:, None] * slopes[0]).T @ Xt  # (K, D)
    gamma = (dl[:, None] * intercepts[0]).sum(axis=0)
    g_c = float(dl.sum()) if arch.bias[1] else 0.0
    return g, gamma, g_c


def _hidden_and_output(point: _Point) -> tuple[np.ndarray, np.ndarray]:
    params = unflatten_params(point.arch, point.flat[None, :]).numpy()
    W1 = params.weights[0][0]
    b1 = params.biases[0][0] if params.biases[0] is not None else None
    w_in = np.hstack([W1, b1[:, None]]) if b1 is not None else W1
    return w_in, params.weights[1][0][0]


def _saddle_directions(point: _Point, k: int, g_k: np.ndarray, delta: np.ndarray | None = None) -> list[np.ndarray]:
    """Second-order descents of a unit with v_k = 0: (w_k, b_k) += delta (default -g_k / |g_k|) and
    v_k = -sign(delta . g_k) eps.

    Along such a direction the risk changes by t^2 (eps^2 H_vv / 2 - eps |delta . g_k|) to second order,
    negative for small eps; ``H_vv`` is not formed, several eps are returned instead (largest first).
    """
    arch = point.arch
    d_in, K = arch.widths[0], arch.widths[1]
    base = np.zeros(point.flat.size)
    d_w = -g_k / np.linalg.norm(g_k) if delta is None else delta / np.linalg.norm(delta)
    sign = -np.sign(d_w @ g_k) or 1.0
    base[k * d_in:(k + 1) * d_in] = d_w[:d_in]
    if arch.bias[0]:
        base[K * d_in + k] = d_w[-1]
    v_index = K * d_in + (K if arch.bias[0] else 0) + k
    out = []
    for eps in 10.0 ** -np.arange(0, 10):
        d = base.copy()
        d[v_index] = sign * eps
        out.append(d)
    return out


def _first_descent(point: _Point, directions: list[np.ndarray], max_step: float):
    for d in directions:
        found = _verify_descent(point, d, max_step=max_step)
        if found is not None:
            return found
    return None


def _has_valley(point: _Point, w_in: np.ndarray, v: np.ndarray) -> bool:
    """Whether the minima through the point form a valley: a unit with zero output weight (its input weights
    are free), or a homogeneous activation with a unit that positive rescaling moves."""
    moved = (v != 0) & np.any(w_in != 0, axis=1)
    return bool(np.any(v == 0)) or (point.arch.activations[0].is_homogeneous and bool(np.any(moved)))


def _zero_weight_descent(point: _Point, v: np.ndarray, pieces: list[tuple[Any, Any, np.ndarray | None]],
                         method: str, max_step: float, **common: Any) -> Certificate | None:
    """Units with v_k = 0 (one hidden layer): the z-coordinates are singular there. On every given piece
    ``(pieces, loss_pieces, interior direction or None)`` g_k must vanish; otherwise moving (w_k, b_k) into that
    piece and v_k against g_k descends at second order: a saddle (or inconclusive if no descent is confirmed)."""
    arch, opts = point.arch, point.opts
    d_in, K = arch.widths[0], arch.widths[1]
    tied_units = {t.unit for t in point.act_ties}
    for k in np.nonzero(v == 0)[0]:
        k = int(k)
        in_coords = list(range(k * d_in, (k + 1) * d_in)) + ([K * d_in + k] if arch.bias[0] else [])
        candidates = []
        for piece, loss_piece, interior in pieces:
            g_k = _one_hidden_layer_terms(point, piece, loss_piece)[0][k]
            if np.linalg.norm(g_k) <= opts.kkt_tol:
                continue
            delta = -g_k if interior is None or k not in tied_units else interior[in_coords]
            if abs(delta @ g_k) > 0:
                candidates.extend(_saddle_directions(point, k, g_k, delta))
        if not candidates:
            continue
        found = _first_descent(point, candidates, max_step=max_step)
        if found is None:
            return _certificate(point, CertificateStatus.INCONCLUSIVE,
                                f"unit {k} has v_{k} = 0 and g_{k} != 0 on an adjacent piece, but no descent was "
                                "confirmed", method, **common)
        return _certificate(
            point, CertificateStatus.SADDLE,
            f"first-order optimal, but unit {k} has output weight v_{k} = 0 and g_{k} = dG/dz_{k} != 0: moving its "
            f"input weights (into the piece) and v_{k} against g_{k} descends at second order", method, **common,
            **_descent_fields(found))
    return None


def _interior_one_hidden_layer(point: _Point, grad_norm: float, radius: float, H_info: dict[str, Any]):
    opts = point.opts
    g, gamma, g_c = _one_hidden_layer_terms(point)
    w_in, v = _hidden_and_output(point)
    unit_norms = np.sqrt(np.sum(g**2, axis=1) + gamma**2)
    total = float(np.sqrt(np.sum(unit_norms**2) + g_c**2))
    if total <= opts.kkt_tol:
        lam_min = H_info.get("hessian_min")
        if _has_valley(point, w_in, v):
            status = CertificateStatus.NONSTRICT_MINIMUM
            why = "valley through the point (positive rescaling or a unit with zero output weight)"
        elif lam_min is not None and lam_min > opts.eig_tol * max(1.0, abs(H_info.get("hessian_max") or 1.0)):
            status, why = CertificateStatus.STRICT_MINIMUM, "positive definite Hessian"
        else:
            status, why = CertificateStatus.MINIMUM, "strictness not decided"
        valley = None
        if point.loss.name is LossName.SQUARED and np.all(v != 0) and "nullity" in H_info:
            valley = H_info["nullity"]  # G is quadratic and z is a submersion: the minima's dimension
        return _certificate(
            point, status,
            f"inside a cell the risk is a convex function G of z_k = v_k (w_k, b_k), and |grad G| = {total:.2e} "
            f"<= {opts.kkt_tol:g}: a minimum of G, so a local minimum; {why}",
            "one_hidden_layer_convex", grad_norm=grad_norm, radius=radius, valley_dimension=valley,
            **_public(H_info))
    # not a minimum of G: only a unit with v_k = 0 and g_k != 0 can explain a vanishing gradient
    common = dict(grad_norm=grad_norm, radius=radius, **_public(H_info))
    cert = _zero_weight_descent(point, v, [(point.pieces, point.loss_pieces, None)], "one_hidden_layer_convex",
                                max(radius, 1e-3), **common)
    if cert is not None:
        return cert
    return _certificate(
        point, CertificateStatus.INCONCLUSIVE,
        f"|grad G| = {total:.2e} exceeds {opts.kkt_tol:g} while |grad R| = {grad_norm:.2e} is below "
        f"{opts.grad_tol:g}, and no descent was confirmed: the point is numerically ambiguous",
        "one_hidden_layer_convex", **common)


def _sample_groups(point: _Point) -> list[np.ndarray]:
    """Samples grouped by their activation pattern across every hidden unit (one group per distinct pattern)."""
    keys = np.concatenate([p for p in point.pieces], axis=1) if point.pieces else np.zeros((point.X.shape[0], 0))
    _, labels = np.unique(keys, axis=0, return_inverse=True)
    labels = np.asarray(labels).ravel()
    return [np.nonzero(labels == g)[0] for g in range(int(labels.max()) + 1)]


def _group_affine_case(point: _Point, grad_norm: float, radius: float,
                       H_info: dict[str, Any]) -> Certificate | None:
    r"""Liu21's argument, generalising the affine predictor: samples that share an activation pattern see one
    affine map of the input, :math:`A_g(\theta) x + c_g(\theta)`, on the whole certified radius, so
    :math:`R(\theta') \ge \sum_g \frac{n_g}{n} R^*_{g}` (each group's best affine risk); equality at the point
    makes it a local minimum. With one group this is the affine-predictor argument of HWT20."""
    opts = point.opts
    groups = _sample_groups(point)
    bound = 0.0
    for idx in groups:
        fit = best_affine_fit(point.X[idx], point.y[idx], loss=point.loss, **(
            {"n_classes": point.arch.d_out} if point.loss.target_kind.value == "class" else {}))
        if not fit.attained:
            return None
        bound += len(idx) / point.X.shape[0] * fit.risk
    gap = point.risk - bound
    if gap > opts.kkt_tol * max(1.0, abs(bound)):
        return None
    status = (CertificateStatus.NONSTRICT_MINIMUM if point.flat.size > point.arch.d_out * (point.arch.d_in + 1)
              else CertificateStatus.MINIMUM)
    if len(groups) == 1:
        return _certificate(
            point, status,
            f"every unit is in one linear piece on every sample, so the network is an affine predictor on the data; "
            f"its risk {point.risk:.10g} equals the best affine risk {bound:.10g} (gap {gap:.1e}), a lower bound "
            "on the whole certified radius", "affine_predictor", grad_norm=grad_norm, radius=radius, **H_info)
    return _certificate(
        point, status,
        f"the samples fall into {len(groups)} groups of one activation pattern each, on which the network is one "
        f"affine map; its risk {point.risk:.10g} equals the sum of the groups' best affine risks {bound:.10g} (gap "
        f"{gap:.1e}), a lower bound on the whole certified radius (Liu 2021)", "group_affine", grad_norm=grad_norm,
        radius=radius, **H_info)


def _hessian_info(point: _Point) -> dict[str, Any]:
    """Extreme eigenvalues of the Hessian on the complement of the invariance directions."""
    if point.flat.size > point.opts.hessian_limit:
        return {}
    H = point.hessian()
    if not np.all(np.isfinite(H)):
        return {}
    S = _invariance_basis(point)
    P = point.flat.size
    if S.shape[1]:
        Q = scipy.linalg.null_space(S.T)
    else:
        Q = np.eye(P)
    Hs = Q.T @ H @ Q
    try:
        eig, vec = np.linalg.eigh(Hs) if Hs.size else (np.zeros(0), np.zeros((0, 0)))
        full = np.linalg.eigvalsh(H)
    except np.linalg.LinAlgError:  # (parameters so large that the eigensolver fails)
        return {}
    scale = max(1.0, float(np.max(np.abs(full))) if full.size else 1.0)
    return {
        "hessian_min": float(eig[0]) if eig.size else None,
        "hessian_max": float(eig[-1]) if eig.size else None,
        "nullity": int(np.sum(np.abs(full) <= point.opts.eig_tol * scale)),
        "_invariance_dim": S.shape[1],
        "_min_vector": Q @ vec[:, 0] if eig.size else None,
        "_scale": scale,
    }


def _public(H_info: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in H_info.items() if k in ("hessian_min", "hessian_max")}


def _interior(point: _Point) -> Certificate:
    arch, opts = point.arch, point.opts
    radius = float(certified_radius(arch, point.flat[None, :], point.X, y=point.y, loss=point.loss)[0])
    grad = point.grad()
    grad_norm = float(np.linalg.norm(grad))
    if grad_norm > opts.grad_tol:
        found = _verify_descent(point, -grad, max_step=max(radius, 1e-8))
        return _certificate(
            point, CertificateStatus.NOT_CRITICAL,
            f"inside a cell with gradient norm {grad_norm:.3e} > {opts.grad_tol:g}", "gradient",
            grad_norm=grad_norm, radius=radius, **_descent_fields(found))
    H_info = _hessian_info(point)
    if arch.n_layers == 2 and arch.d_out == 1:
        return _interior_one_hidden_layer(point, grad_norm, radius, H_info)
    cert = _group_affine_case(point, grad_norm, radius, _public(H_info))
    if cert is not None:
        return cert
    return _second_order(point, grad_norm, radius, H_info)


def _second_order(point: _Point, grad_norm: float, radius: float, H_info: dict[str, Any]) -> Certificate:
    opts = point.opts
    if "hessian_min" not in H_info:
        reason = (f"{point.flat.size} parameters exceed hessian_limit = {opts.hessian_limit}"
                  if point.flat.size > opts.hessian_limit else "the Hessian's eigenvalues could not be computed")
        return _certificate(point, CertificateStatus.INCONCLUSIVE, reason, "second_order", grad_norm=grad_norm,
                            radius=radius)
    lam_min, scale = H_info["hessian_min"], H_info["_scale"]
    dim_s = H_info["_invariance_dim"]
    public = _public(H_info)
    if lam_min is None:  # every direction is an invariance
        return _certificate(point, CertificateStatus.NONSTRICT_MINIMUM,
                            "every direction is an exact invariance of the risk on the cell", "second_order",
                            grad_norm=grad_norm, radius=radius, valley_dimension=dim_s, **public)
    if lam_min > opts.eig_tol * scale:
        distance = grad_norm / lam_min
        if distance >= radius:
            return _certificate(
                point, CertificateStatus.INCONCLUSIVE,
                f"the Hessian is positive definite off the {dim_s} invariance directions, but the nearby minimum "
                f"(within {distance:.1e}) may lie outside the certified radius {radius:.1e}", "second_order",
                grad_norm=grad_norm, radius=radius, **public)
        status = CertificateStatus.STRICT_MINIMUM if dim_s == 0 else CertificateStatus.NONSTRICT_MINIMUM
        return _certificate(
            point, status,
            f"critical (|grad| = {grad_norm:.1e}) with the Hessian positive definite (smallest eigenvalue "
            f"{lam_min:.3e}) off the {dim_s}-dimensional span of exact invariances", "second_order",
            grad_norm=grad_norm, radius=radius, valley_dimension=dim_s, **public)
    if lam_min < -opts.eig_tol * scale:
        vec = H_info["_min_vector"]
        found = _verify_descent(point, vec, max_step=max(radius, 1e-6)) or _verify_descent(
            point, -vec, max_step=max(radius, 1e-6))
        if found is not None:
            return _certificate(
                point, CertificateStatus.SADDLE,
                f"critical (|grad| = {grad_norm:.1e}) with a negative Hessian eigenvalue {lam_min:.3e}",
                "second_order", grad_norm=grad_norm, radius=radius, **_descent_fields(found), **public)
    return _certificate(
        point, CertificateStatus.INCONCLUSIVE,
        f"critical with a positive semi-definite Hessian (smallest eigenvalue {lam_min:.1e} off the invariance "
        "directions): deciding needs terms of order higher than two", "second_order",
        grad_norm=grad_norm, radius=radius, **public)


def _zero_risk(point: _Point) -> Certificate:
    """Every sample at the loss's minimum value 0 (all but logistic and cross-entropy attain it): a global
    minimum, whatever the cell structure; non-strict when the risk has exact invariances at the point."""
    valley = bool(_invariance_vectors(point.arch, point.pieces, point.flat))
    return _certificate(
        point, CertificateStatus.NONSTRICT_MINIMUM if valley else CertificateStatus.MINIMUM,
        "the risk is 0, the smallest value the loss takes: a global minimum" + (
            " (exact invariances give a valley)" if valley else "; strictness not decided"),
        "zero_risk", grad_norm=float(np.linalg.norm(point.grad())))


# ---------------------------------------------------------------------------------------------- on boundaries
def _largest_slack(rows: np.ndarray, objective: np.ndarray | None) -> tuple[float, np.ndarray]:
    """max s subject to rows @ d >= s, (objective @ d <= -s), -1 <= d <= 1, s <= 1 (HiGHS)."""
    P = rows.shape[1]
    A = [np.hstack([-rows, np.ones((rows.shape[0], 1))])]
    if objective is not None:
        A.append(np.hstack([objective[None, :], np.ones((1, 1))]))
    A_ub = np.vstack(A)
    c = np.zeros(P + 1)
    c[-1] = -1.0
    res = scipy.optimize.linprog(c, A_ub=A_ub, b_ub=np.zeros(A_ub.shape[0]),
                                 bounds=[(-1.0, 1.0)] * P + [(None, 1.0)], method="highs")
    if res.status != 0:
        return -math.inf, np.zeros(P)
    return float(res.x[-1]), res.x[:P]


def _clarke_min_norm(gradients: np.ndarray) -> float:
    """Norm of the minimum-norm element of the convex hull of the rows of ``gradients`` (a small QP)."""
    m = gradients.shape[0]
    if m == 1:
        return float(np.linalg.norm(gradients[0]))
    weight = 1e6 * max(1.0, float(np.abs(gradients).max()))  # enforces sum(lambda) = 1 to ~1e-12
    A = np.vstack([gradients.T, weight * np.ones((1, m))])
    b = np.concatenate([np.zeros(gradients.shape[1]), [weight]])
    lam, _ = scipy.optimize.nnls(A, b, maxiter=50 * m)
    lam = lam / lam.sum()
    return float(np.linalg.norm(lam @ gradients))


def _tie_rows(point: _Point, pieces: tuple[np.ndarray, ...]) -> np.ndarray:
    """Gradients (w.r.t. the flat parameters) of the tied quantities under one adjacent piece."""
    samples = sorted({t.sample for t in point.act_ties} | {t.sample for t in point.loss_ties})
    index = {s: r for r, s in enumerate(samples)}
    slopes, intercepts = point.tables(tuple(p[samples] for p in pieces))
    jac = _jit_pre_jacobian(point.arch, point.flat, slopes, intercepts, point.X[samples])
    rows = []
    for t in point.act_ties:
        rows.append(np.asarray(jac[t.layer - 1])[index[t.sample], t.unit])
    out_jac = np.asarray(jac[-1])
    for t in point.loss_ties:
        rows.append(t.coef @ out_jac[index[t.sample]])
    return np.array(rows)


def _adjacent_choice(point: _Point, choice: tuple[int, ...]) -> tuple[tuple[np.ndarray, ...], np.ndarray]:
    """The activation and loss pieces of the sign choice ``choice`` (one 0/1 per tie of ``point.ties``: 0 puts
    the tied value in the piece left of (below) its breakpoint or kink, 1 in the piece right of (above) it)."""
    pieces = [p.copy() for p in point.pieces]
    loss_pieces = point.loss_pieces.copy()
    for t, side in zip(point.act_ties, choice[:len(point.act_ties)]):
        pieces[t.layer - 1][t.sample, t.unit] = t.breakpoint + side
    for t, side in zip(point.loss_ties, choice[len(point.act_ties):]):
        loss_pieces[t.sample, t.column] = t.pos if side else t.neg
    return tuple(pieces), loss_pieces


def _signed_tie_rows(point: _Point, pieces: tuple[np.ndarray, ...], choice: tuple[int, ...]) -> np.ndarray:
    """The tie gradients under one sign choice, each oriented into its side: ``rows @ d > 0`` for every row
    exactly when the direction ``d`` enters the choice's piece (to first order)."""
    signs = np.where(np.array(choice) == 1, 1.0, -1.0)
    return signs[:, None] * _tie_rows(point, pieces)


def _has_interior(point: _Point, choice: tuple[int, ...]) -> bool:
    """Whether the sign choice's piece has a cell with an interior next to the point (a largest-slack LP)."""
    pieces, _ = _adjacent_choice(point, choice)
    interior, _ = _largest_slack(_signed_tie_rows(point, pieces, choice), None)
    return interior > point.opts.lp_tol


def _boundary(point: _Point) -> Certificate:
    arch, opts = point.arch, point.opts
    M = len(point.ties)
    if point.unsupported_loss_tie:
        return _certificate(point, CertificateStatus.INCONCLUSIVE,
                            "a sample ties between two classes of the Crammer-Singer hinge; its adjacent pieces "
                            "are not enumerated", "adjacent_pieces")
    if not point.act_ties:
        # only loss kinks: each pattern group still sees one affine map on a neighbourhood, whatever the loss does
        radius = float(certified_radius(point.arch, point.flat[None, :], point.X)[0])
        cert = _group_affine_case(point, float("nan"), radius, {})
        if cert is not None:
            return dataclasses.replace(cert, message=cert.message + f" (the {len(point.ties)} ties are kinks of the "
                                       "loss, which do not change the argument)")
    method = opts.boundary_method
    if method == BoundaryMethod.PER_UNIT.value or (method == BoundaryMethod.AUTO.value and _per_unit_applicable(point)):
        if not _per_unit_applicable(point):
            return _certificate(point, CertificateStatus.INCONCLUSIVE,
                                "the per-unit test needs one hidden layer, one output, no loss ties and non-zero "
                                "output weights on tied units", "per_unit")
        return _boundary_per_unit(point)
    if M > opts.max_ties:
        # sampled evidence: random small moves, none of which is a proof
        rng = np.random.default_rng(0)
        moves = rng.normal(size=(256, point.flat.size))
        moves /= np.linalg.norm(moves, axis=1, keepdims=True)
        scale = 1e-6 * max(1.0, float(np.linalg.norm(point.flat)))
        risks = point.true_risks(point.flat[None, :] + scale * moves)
        best = int(np.argmin(risks))
        fields = {}
        if risks[best] < point.risk - 64 * np.finfo(float).eps * max(1.0, abs(point.risk)):
            fields = {"descent_direction": moves[best], "descent_step": scale,
                      "descent_decrease": float(point.risk - risks[best])}
        return _certificate(
            point, CertificateStatus.INCONCLUSIVE,
            f"{M} ties exceed max_ties = {opts.max_ties} (2^{M} adjacent pieces); 256 random moves of size "
            f"{scale:.0e} found {'a lower' if fields else 'no lower'} risk", "tie_limit", **fields)
    gradients, kkt_residuals, adjacent_pieces = [], [], []
    adjacent = 0
    for choice in itertools.product((0, 1), repeat=M):
        pieces, loss_pieces = _adjacent_choice(point, choice)
        rows = _signed_tie_rows(point, pieces, choice)
        interior, d_interior = _largest_slack(rows, None)
        if interior <= opts.lp_tol:
            continue  # this sign choice has no cell next to the point
        adjacent += 1
        adjacent_pieces.append((pieces, loss_pieces, d_interior))
        g = point.grad(pieces, loss_pieces)
        gradients.append(g)
        slack, d = _largest_slack(rows, g)
        if slack > opts.lp_tol:
            found = _verify_descent(point, d, max_step=1e-2)
            if found is not None:
                clarke = _clarke_min_norm(np.array(gradients))
                return _certificate(
                    point, CertificateStatus.NOT_CRITICAL if clarke > opts.grad_tol else CertificateStatus.SADDLE,
                    f"on a boundary with {M} ties: the adjacent piece {''.join(map(str, choice))} has a direction "
                    f"entering it along which its risk decreases to first order (slack {slack:.1e})",
                    "adjacent_pieces", grad_norm=clarke, pieces_examined=2**M, pieces_adjacent=adjacent,
                    **_descent_fields(found))
        lam, residual = scipy.optimize.nnls(rows.T, g, maxiter=50 * max(1, M))
        kkt_residuals.append(residual)
    clarke = _clarke_min_norm(np.array(gradients)) if gradients else float("nan")
    worst = max(kkt_residuals) if kkt_residuals else 0.0
    common = dict(grad_norm=clarke, pieces_examined=2**M, pieces_adjacent=adjacent)
    if worst > opts.kkt_tol:
        return _certificate(
            point, CertificateStatus.INCONCLUSIVE,
            f"no first-order descent was found on the {adjacent} adjacent pieces, but the largest KKT residual "
            f"{worst:.1e} exceeds {opts.kkt_tol:g}: numerically ambiguous", "adjacent_pieces", **common)
    if arch.n_layers == 2 and arch.d_out == 1:
        return _one_hidden_layer_boundary_minimum(
            point, adjacent_pieces, "adjacent_pieces",
            f"each of the {adjacent} adjacent pieces is a convex program in z_k = v_k (w_k, b_k) over a polyhedral "
            f"cone, and the point satisfies its KKT conditions (largest residual {worst:.1e})", **common)
    return _certificate(
        point, CertificateStatus.INCONCLUSIVE,
        f"first-order optimal on all {adjacent} adjacent pieces (largest KKT residual {worst:.1e}); second-order "
        "conditions on boundaries are decided only for one hidden layer with one output", "adjacent_pieces",
        **common)


def _one_hidden_layer_boundary_minimum(point: _Point, pieces: list[tuple[Any, Any, np.ndarray | None]],
                                       method: str, how: str, **common: Any) -> Certificate:
    """The end of both boundary tests for one hidden layer and one output once every adjacent piece satisfies
    its KKT conditions: rule out second-order descents through units with v_k = 0, then a minimum."""
    w_in, v = _hidden_and_output(point)
    cert = _zero_weight_descent(point, v, pieces, method, 1e-3, **common)
    if cert is not None:
        return cert
    valley = _has_valley(point, w_in, v)
    return _certificate(
        point, CertificateStatus.NONSTRICT_MINIMUM if valley else CertificateStatus.MINIMUM,
        f"on a boundary with {len(point.ties)} ties: {how}" + (
            "; the minima form a valley" if valley else "; strictness not decided"), method, **common)


def _per_unit_applicable(point: _Point) -> bool:
    if point.arch.n_layers != 2 or point.arch.d_out != 1 or point.loss_ties:
        return False
    _, v = _hidden_and_output(point)
    return all(v[t.unit] != 0 for t in point.act_ties)


def _boundary_per_unit(point: _Point) -> Certificate:
    r"""Boundary test for one hidden layer and one output, without the 2^M enumeration.

    All adjacent pieces share the outputs at the point, and a tie of unit ``k`` changes only the gradient block of
    ``(w_k, b_k)``: by :math:`v_k \ell'_t s_\pm \tilde x_t`. So the KKT conditions of the ``2^M`` pieces split
    into: the blocks that no tie touches vanish, and for every tied unit and each of its ``2^{M_k}`` sign choices
    :math:`v_k g_k^\sigma \in \operatorname{cone}\{\sigma_t \tilde x_t\}`. When the unit's tied inputs are
    linearly independent (general position) these reduce to two sign conditions per tie on the extreme rays,
    ``O(M_k)`` work; otherwise each sign choice is checked by non-negative least squares. A violated condition is
    turned into a descent direction by a largest-slack LP. The Clarke minimum-norm element is a bounded
    least-squares problem with one slope variable per tie. With a convex loss each piece is a convex program in
    the z-coordinates, so these first-order conditions suffice (YSJ-b's second-order QP is not needed).
    """
    arch, opts = point.arch, point.opts
    _, v = _hidden_and_output(point)
    d_in, K = arch.widths[0], arch.widths[1]
    act = arch.activations[0]
    slopes_tab = np.array([float(s) for s in act.slopes])
    n = point.X.shape[0]
    Xt = np.hstack([point.X, np.ones((n, 1))]) if arch.bias[0] else point.X
    out = point.outputs()
    dl = np.asarray(_jit_loss_derivative(point.loss, jnp.asarray(out), point.y, point.loss_pieces))[:, 0] / n
    slopes, _ = point.tables(point.pieces)

    def in_coords(k: int) -> list[int]:
        return list(range(k * d_in, (k + 1) * d_in)) + ([K * d_in + k] if arch.bias[0] else [])

    by_unit: dict[int, list[Tie]] = {}
    for t in point.act_ties:
        by_unit.setdefault(t.unit, []).append(t)
    largest = max(len(ts) for ts in by_unit.values())
    if largest > opts.max_ties:
        return _certificate(point, CertificateStatus.INCONCLUSIVE,
                            f"a unit has {largest} ties, more than max_ties = {opts.max_ties}", "per_unit")
    grad = point.grad()
    free = np.ones(grad.size, dtype=bool)
    for k in by_unit:
        free[in_coords(k)] = False
    rest = np.where(free, grad, 0.0)
    rest_norm = float(np.linalg.norm(rest))
    examined = sum(2 ** len(ts) for ts in by_unit.values())
    clarke_sq = rest_norm**2
    if rest_norm > opts.grad_tol:  # moving the untied blocks keeps every tie: the boundary itself descends
        found = _verify_descent(point, -rest, max_step=1e-2)
        if found is not None:
            return _certificate(
                point, CertificateStatus.NOT_CRITICAL,
                f"on a boundary with {len(point.ties)} ties, the gradient of the blocks no tie touches has norm "
                f"{rest_norm:.3e} > {opts.grad_tol:g}", "per_unit", grad_norm=rest_norm,
                pieces_examined=examined, **_descent_fields(found))
    units = []
    for k, ties in by_unit.items():
        tied_samples = [t.sample for t in ties]
        mask = np.ones(n, dtype=bool)
        mask[tied_samples] = False
        base = v[k] * ((dl * slopes[0][:, k] * mask) @ Xt)
        lower = np.array([v[k] * dl[t.sample] * slopes_tab[t.breakpoint] for t in ties])
        upper = np.array([v[k] * dl[t.sample] * slopes_tab[t.breakpoint + 1] for t in ties])
        Xk = Xt[tied_samples]  # (M_k, D)
        # Clarke: min |base + sum_t (lower_t + mu_t (upper_t - lower_t)) x_t| over mu in [0, 1]^M_k
        A = (Xk * (upper - lower)[:, None]).T
        b = -(base + lower @ Xk)
        if np.any(A):
            fit = scipy.optimize.lsq_linear(A, b, bounds=(0.0, 1.0), method="bvls")  # (exact active-set solver)
            clarke_sq += float(np.sum((A @ fit.x - b) ** 2))
        else:
            clarke_sq += float(np.sum(b**2))
        units.append((k, ties, base, lower, upper, Xk))
    clarke = math.sqrt(clarke_sq)
    adjacent, worst = 0, 0.0

    def descent_on(k: int, choice: tuple[int, ...], base, lower, upper, Xk) -> Certificate | None:
        """Largest-slack LP for a descent of unit k's input weights into the sign choice ``choice``."""
        sign = np.where(np.array(choice) == 1, 1.0, -1.0)
        rows = sign[:, None] * Xk
        g = base + np.where(np.array(choice) == 1, upper, lower) @ Xk
        slack, d = _largest_slack(rows, g)
        if slack <= opts.lp_tol:
            return None
        direction = np.zeros(point.flat.size)
        direction[in_coords(k)] = d
        found = _verify_descent(point, direction, max_step=1e-2)
        if found is None:
            return None
        return _certificate(
            point, CertificateStatus.NOT_CRITICAL if clarke > opts.grad_tol else CertificateStatus.SADDLE,
            f"on a boundary with {len(point.ties)} ties: moving unit {k}'s input weights into the piece "
            f"{''.join(map(str, choice))} of its ties decreases the risk to first order (slack {slack:.1e})",
            "per_unit", grad_norm=clarke, pieces_examined=examined, pieces_adjacent=adjacent, **_descent_fields(found))

    for k, ties, base, lower, upper, Xk in units:
        if np.linalg.matrix_rank(Xk) == len(ties):
            # independent tied inputs (general position): every sign choice is adjacent, and with
            # base = sum_t beta_t x_t + r the KKT conditions of all 2^M_k choices are r = 0 and, tie by tie,
            # beta_t + upper_t >= 0 (side +) and beta_t + lower_t <= 0 (side -): the extreme rays
            beta = np.linalg.lstsq(Xk.T, base, rcond=None)[0]
            perp = float(np.linalg.norm(base - Xk.T @ beta))
            plus, minus = beta + upper, -(beta + lower)
            violation = max(perp, float(np.max(-plus, initial=0.0)), float(np.max(-minus, initial=0.0)))
            adjacent += 2 ** len(ties)
            if violation <= opts.kkt_tol:
                worst = max(worst, violation)
                continue
            choice = tuple(0 if (plus[t] >= -opts.kkt_tol and minus[t] < -opts.kkt_tol) else 1
                           for t in range(len(ties)))
            cert = descent_on(k, choice, base, lower, upper, Xk)
            if cert is not None:
                return cert
        for choice in itertools.product((0, 1), repeat=len(ties)):  # dependent inputs, or no descent confirmed
            sign = np.where(np.array(choice) == 1, 1.0, -1.0)
            rows = sign[:, None] * Xk
            interior, _ = _largest_slack(rows, None)
            if interior <= opts.lp_tol:
                continue
            if np.linalg.matrix_rank(Xk) != len(ties):
                adjacent += 1
            cert = descent_on(k, choice, base, lower, upper, Xk)
            if cert is not None:
                return cert
            g = base + np.where(np.array(choice) == 1, upper, lower) @ Xk
            _, residual = scipy.optimize.nnls(rows.T, g, maxiter=50 * max(1, len(ties)))
            worst = max(worst, residual)
    common = dict(grad_norm=clarke, pieces_examined=examined, pieces_adjacent=adjacent)
    if rest_norm > opts.grad_tol or worst > opts.kkt_tol:
        return _certificate(
            point, CertificateStatus.INCONCLUSIVE,
            f"no descent was confirmed, but the untouched-block gradient {rest_norm:.1e} or the largest KKT "
            f"residual {worst:.1e} exceeds its tolerance: numerically ambiguous", "per_unit", **common)
    return _one_hidden_layer_boundary_minimum(  # (only untied units can have v_k = 0 here)
        point, [(point.pieces, point.loss_pieces, None)], "per_unit",
        f"unit by unit, each of the {adjacent} adjacent sign choices satisfies the KKT conditions of its convex "
        f"program in z_k = v_k (w_k, b_k) (largest residual {worst:.1e})", **common)


# ---------------------------------------------------------------------------------------------- exact mode
def _exact_loss_ties(loss: Loss, out: flint.fmpq_mat, Y: flint.fmpq_mat) -> int:
    if not loss.is_piecewise:
        return 0
    count = 0
    for i in range(out.nrows()):
        yhat = [out[i, j] for j in range(out.ncols())]
        yi = [Y[i, j] for j in range(Y.ncols())]
        if loss.name is LossName.HINGE:
            count += int(1 - yi[0] * yhat[0] == 0)
        elif loss.name is LossName.ABSOLUTE:
            count += sum(int(a == b) for a, b in zip(yhat, yi))
        elif loss.name is LossName.HUBER:
            d = flint.fmpq(loss.delta.numerator, loss.delta.denominator)
            count += sum(int(abs(a - b) == d) for a, b in zip(yhat, yi))
        else:
            label = int(yi[0].p)
            slack = [1 + yhat[j] - yhat[label] for j in range(len(yhat)) if j != label]
            count += sum(int(s == 0) for s in slack)
            if loss.name is LossName.CRAMMER_SINGER and len(slack) > 1 and sorted(slack)[-1] == sorted(slack)[-2]:
                count += 1
    return count


def _exact_check(cert: Certificate, arch: Architecture, loss: Loss, qparams: ExactParams, Xq: flint.fmpq_mat,
                 Yq: flint.fmpq_mat, point: _Point) -> Certificate:
    """Re-verify a float certificate in rationals; upgrade it to exact where every condition holds exactly."""
    exact_pattern = activation_pattern_exact(arch, qparams, Xq)
    zs, pieces = exact_pattern.values, list(exact_pattern.pieces)
    ties = len(exact_pattern.ties)
    ties += _exact_loss_ties(loss, zs[-1], Yq)
    if ties != cert.n_ties:
        return dataclasses.replace(cert, status=CertificateStatus.INCONCLUSIVE, message=(
            f"exact arithmetic finds {ties} ties where floats found {cert.n_ties}: the float verdict "
            f"({cert.status.value}) does not carry over to the exact point"))
    exact_lp = None
    if loss.is_piecewise:
        exact_lp = np.array([loss.pieces_exact([zs[-1][i, j] for j in range(zs[-1].ncols())],
                                               [Yq[i, j] for j in range(Yq.ncols())]) for i in range(Yq.nrows())],
                            dtype=np.int64).reshape(Yq.nrows(), -1)
    risk_q = frozen_risk_exact(arch, loss, qparams, tuple(pieces), exact_lp, Xq, Yq)
    cert = dataclasses.replace(cert, risk_exact=fmpq_to_fraction(risk_q))
    if cert.method == "zero_risk":
        if risk_q == 0:
            return dataclasses.replace(cert, arithmetic=Arithmetic.EXACT,
                                       message=cert.message + "; verified exactly: the exact risk is 0")
        return dataclasses.replace(cert, status=CertificateStatus.INCONCLUSIVE, message=(
            f"the float risk is 0 but the exact risk is {fmpq_to_fraction(risk_q)}: the float verdict does not "
            "carry over to the exact point"))
    if ties and cert.method == "per_unit" and (cert.is_minimum or cert.descent_direction is not None):
        return _exact_per_unit(cert, arch, loss, qparams, Xq, Yq, zs, pieces, exact_lp)
    if ties:
        note = (f"exact verification of the {cert.method} boundary argument for a {cert.status.value} verdict is "
                "not implemented yet; the verdict rests on floats")
    elif arch.n_layers == 2 and arch.d_out == 1 and cert.method in ("one_hidden_layer_convex", "gradient"):
        return _exact_one_hidden_layer(cert, arch, loss, qparams, Xq, Yq, zs, pieces, exact_lp)
    elif cert.method in ("affine_predictor", "group_affine") and loss.name is LossName.SQUARED:
        keys = np.concatenate(pieces, axis=1) if pieces else np.zeros((Xq.nrows(), 0))
        _, labels = np.unique(keys, axis=0, return_inverse=True)
        labels = np.asarray(labels).ravel()
        bound = Fraction(0)
        for g in range(int(labels.max()) + 1):
            idx = [int(i) for i in np.nonzero(labels == g)[0]]
            Xg = flint.fmpq_mat(len(idx), Xq.ncols(), [Xq[i, j] for i in idx for j in range(Xq.ncols())])
            Yg = flint.fmpq_mat(len(idx), Yq.ncols(), [Yq[i, j] for i in idx for j in range(Yq.ncols())])
            bound += Fraction(len(idx), Xq.nrows()) * best_affine_fit(Xg, Yg, exact=True).risk_exact
        if bound == fmpq_to_fraction(risk_q):
            return dataclasses.replace(cert, arithmetic=Arithmetic.EXACT, message=cert.message + "; verified "
                                       "exactly: the risk equals the exact sum of the groups' best affine risks")
        return dataclasses.replace(cert, status=CertificateStatus.INCONCLUSIVE, message=(
            f"the exact risk {fmpq_to_fraction(risk_q)} differs from the exact bound {bound}"))
    elif cert.method in ("second_order", "gradient") and point.flat.size <= _EXACT_HESSIAN_LIMIT:
        return _exact_second_order(cert, arch, loss, qparams, Xq, Yq, tuple(pieces), exact_lp)
    else:
        note = (f"exact verification of the {cert.method} argument with the {loss.spec} loss and "
                f"{point.flat.size} parameters is not implemented; the verdict rests on floats")
    return dataclasses.replace(cert, message=f"{cert.message} ({note})")


def _exact_per_unit(cert, arch, loss, qparams, Xq, Yq, zs, pieces, exact_lp) -> Certificate:
    """Re-verify a per-unit boundary certificate (one hidden layer, one output) in rationals.

    A minimum: the blocks no tie touches have zero gradient, every unit with v_k = 0 has g_k = 0, and for every
    tied unit with linearly independent tied inputs and every sign choice the KKT multipliers solve their
    equations exactly and are non-negative. A descent: the (rationalised) direction moves one unit's input
    weights strictly into one sign choice of its ties, where the exact directional derivative is negative (the
    tie constraints are linear in those weights, so the ray enters that piece); or it moves only untied blocks
    along which the exact gradient is not zero."""
    n = Xq.nrows()
    act = arch.activations[0]
    s_tab = [flint.fmpq(v.numerator, v.denominator) for v in act.slopes]
    bps = [flint.fmpq(b.numerator, b.denominator) for b in act.breakpoints]
    K, d = arch.widths[1], arch.d_in
    zero, one = flint.fmpq(0), flint.fmpq(1)
    z1, out = zs[0], zs[-1]
    v = [qparams.weights[1][0, k] for k in range(K)]
    xt = [[Xq[i, j] for j in range(d)] + ([one] if arch.bias[0] else []) for i in range(n)]
    dl = [loss.derivative_exact([out[i, 0]], [Yq[i, 0]], [] if exact_lp is None else list(exact_lp[i]))[0] / n
          for i in range(n)]
    ties = {k: [i for i in range(n) if any(z1[i, k] == b for b in bps)] for k in range(K)}
    a = [[act.evaluate_exact(fmpq_to_fraction(z1[i, k])) for k in range(K)] for i in range(n)]

    def fail(reason: str) -> Certificate:
        message = f"the float verdict ({cert.status.value}) is not confirmed exactly: {reason}"
        return dataclasses.replace(cert, status=CertificateStatus.INCONCLUSIVE, message=message)

    if not cert.is_minimum:
        dq = [flint.fmpq(*float(x).as_integer_ratio()) for x in cert.descent_direction]
        W1_size = K * d
        moved = [k for k in range(K) if any(dq[k * d + m] != 0 for m in range(d))
                 or (arch.bias[0] and dq[W1_size + k] != 0)]
        others = [x for i, x in enumerate(dq) if not any(i == k * d + m for k in moved for m in range(d))
                  and not (arch.bias[0] and any(i == W1_size + k for k in moved))]
        if len(moved) != 1 or not ties[moved[0]] or any(x != 0 for x in others):
            return dataclasses.replace(cert, message=cert.message + " (its exact verification covers descents of "
                                       "one tied unit's input weights; this one rests on floats)")
        k = moved[0]
        delta = [dq[k * d + m] for m in range(d)] + ([dq[W1_size + k]] if arch.bias[0] else [])
        derivative = zero
        for i in range(n):
            along = sum((xt[i][m] * delta[m] for m in range(len(delta))), zero)
            if i in ties[k]:
                if along == 0:
                    return fail(f"the direction stays on the tie of unit {k} at sample {i}")
                j = sum(1 for b in bps if b <= z1[i, k]) - (0 if along > 0 else 1)
            else:
                j = int(pieces[0][i, k])
            derivative += dl[i] * v[k] * s_tab[j] * along
        if derivative < 0:
            note = f"; verified exactly: the directional derivative into that piece is {float(derivative):.3e}"
            return dataclasses.replace(cert, arithmetic=Arithmetic.EXACT, message=cert.message + note)
        return fail(f"the exact directional derivative along the descent direction is {float(derivative):.3e}")

    if arch.bias[1] and sum(dl, zero) != 0:
        return fail("the output bias has a non-zero exact derivative")
    for k in range(K):
        if sum((dl[i] * flint.fmpq(a[i][k].numerator, a[i][k].denominator) for i in range(n)), zero) != 0:
            return fail(f"the derivative in v_{k} is not exactly zero")
        tied = ties[k]
        base = [zero] * len(xt[0])
        for i in range(n):
            if i in tied:
                continue
            s = s_tab[int(pieces[0][i, k])]
            for m in range(len(base)):
                base[m] += dl[i] * s * xt[i][m]
        if not tied:
            if any(v[k] * g != 0 for g in base) or (v[k] == 0 and any(g != 0 for g in base)):
                return fail(f"unit {k} has a non-zero exact gradient")
            continue
        B = flint.fmpq_mat(len(xt[0]), len(tied), [xt[i][m] for m in range(len(xt[0])) for i in tied])
        if B.rank() < len(tied):
            return fail(f"unit {k}'s tied inputs are linearly dependent: which sign choices are adjacent rests on "
                        "floats")
        for choice in itertools.product((0, 1), repeat=len(tied)):
            g = list(base)
            for side, i in zip(choice, tied):
                j = sum(1 for b in bps if b <= z1[i, k]) - (0 if side else 1)  # right piece or the one left of it
                for m in range(len(g)):
                    g[m] += dl[i] * s_tab[j] * xt[i][m]
            g = [v[k] * x for x in g]
            signs = [one if side else -one for side in choice]
            Bs = flint.fmpq_mat(B.nrows(), B.ncols(), [B[r, col] * signs[col] for r in range(B.nrows())
                                                        for col in range(B.ncols())])
            gq = flint.fmpq_mat(len(g), 1, g)
            lam = (Bs.transpose() * Bs).solve(Bs.transpose() * gq)
            if Bs * lam != gq or any(lam[t, 0] < 0 for t in range(lam.nrows())):
                return fail(f"unit {k}, sign choice {''.join(map(str, choice))}: no non-negative exact multipliers")
    return dataclasses.replace(cert, arithmetic=Arithmetic.EXACT, message=cert.message + "; verified exactly: "
                               "zero gradient off the ties and non-negative exact KKT multipliers on every piece")


_EXACT_HESSIAN_LIMIT = 60  # parameters; the exact Hessian costs O(P^2) exact risk evaluations


def _is_positive_definite_exact(M: flint.fmpq_mat) -> bool:
    """All pivots of the symmetric Gaussian elimination (LDL^T without pivoting) are positive."""
    n = M.nrows()
    A = [[M[i, j] for j in range(n)] for i in range(n)]
    for k in range(n):
        if A[k][k] <= 0:
            return False
        for i in range(k + 1, n):
            factor = A[i][k] / A[k][k]
            for j in range(k, n):
                A[i][j] -= factor * A[k][j]
    return True


def _exact_second_order(cert, arch, loss, qparams, Xq, Yq, pieces, exact_lp) -> Certificate:
    """Re-verify a gradient or second-order certificate exactly: the exact gradient, then the exact Hessian on
    the exact complement of the invariance directions."""
    need_hessian = cert.status is not CertificateStatus.NOT_CRITICAL
    grad, H, _ = exact_derivatives(arch, loss, qparams, Xq, Yq, pieces, exact_lp, hessian=need_hessian)
    if any(g != 0 for g in grad):
        if cert.status is CertificateStatus.NOT_CRITICAL:
            return dataclasses.replace(cert, arithmetic=Arithmetic.EXACT,
                                       message=cert.message + "; verified exactly: the exact gradient is not zero")
        return dataclasses.replace(
            cert, status=CertificateStatus.NOT_CRITICAL, arithmetic=Arithmetic.EXACT, valley_dimension=None,
            message=f"the float analysis found {cert.status.value} within its tolerances, but the exact gradient "
                    f"is not zero (largest entry {max(abs(float(g)) for g in grad):.1e}): not a critical point")
    values = np.array(exact_flat(qparams), dtype=object)
    vectors = _invariance_vectors(arch, pieces, values)
    P = len(grad)
    if vectors:
        S = flint.fmpq_mat(P, len(vectors), [flint.fmpq(0) + vectors[j][i] for i in range(P)
                                             for j in range(len(vectors))])
        Q = fmpq_null_space(S.transpose())
    else:
        Q = flint.fmpq_mat(P, P, [int(i == j) for i in range(P) for j in range(P)])
    Hs = Q.transpose() * H * Q
    if cert.is_minimum:
        if Hs.nrows() == 0 or _is_positive_definite_exact(Hs):
            return dataclasses.replace(cert, arithmetic=Arithmetic.EXACT, message=cert.message + "; verified "
                                       "exactly: zero gradient and a positive definite Hessian off the invariances")
        return dataclasses.replace(cert, status=CertificateStatus.INCONCLUSIVE, message=(
            "the exact gradient is zero but the exact Hessian is not positive definite off the invariance "
            "directions: the float verdict is not confirmed"))
    if cert.status is CertificateStatus.SADDLE and cert.descent_direction is not None:
        u = flint.fmpq_mat(P, 1, [flint.fmpq(*float(x).as_integer_ratio()) for x in cert.descent_direction])
        curvature = (u.transpose() * H * u)[0, 0]
        if curvature < 0:
            return dataclasses.replace(cert, arithmetic=Arithmetic.EXACT, message=cert.message + "; verified "
                                       f"exactly: zero gradient and curvature {float(curvature):.3e} < 0")
    return dataclasses.replace(cert, message=cert.message + " (not confirmed in exact arithmetic)")


def _exact_one_hidden_layer(cert, arch, loss, qparams, Xq, Yq, zs, pieces, exact_lp) -> Certificate:
    """Exact gradient of G in the z-coordinates and of R in the parameters (one hidden layer, one output)."""
    n = Xq.nrows()
    act = arch.activations[0]
    s_tab = [flint.fmpq(v.numerator, v.denominator) for v in act.slopes]
    c_tab = [flint.fmpq(v.numerator, v.denominator) for v in act.intercepts]
    out = zs[-1]
    K, d = arch.widths[1], arch.d_in
    D = d + (1 if arch.bias[0] else 0)
    zero = flint.fmpq(0)
    g = [[zero] * D for _ in range(K)]
    gamma = [zero] * K
    g_c = zero
    for i in range(n):
        dl = loss.derivative_exact([out[i, 0]], [Yq[i, 0]], [] if exact_lp is None else list(exact_lp[i]))[0] / n
        xt = [Xq[i, j] for j in range(d)] + ([flint.fmpq(1)] if arch.bias[0] else [])
        for k in range(K):
            j = int(pieces[0][i, k])
            for m in range(D):
                g[k][m] += dl * s_tab[j] * xt[m]
            gamma[k] += dl * c_tab[j]
        g_c += dl
    v = [qparams.weights[1][0, k] for k in range(K)]
    w = [[qparams.weights[0][k, m] for m in range(d)] + ([qparams.biases[0][k, 0]] if arch.bias[0] else [])
         for k in range(K)]
    grad_zero = all(v[k] * g[k][m] == 0 for k in range(K) for m in range(D)) and all(
        sum((w[k][m] * g[k][m] for m in range(D)), zero) + gamma[k] == 0 for k in range(K)) and (
        not arch.bias[1] or g_c == 0)
    G_zero = all(x == 0 for row in g for x in row) and all(x == 0 for x in gamma) and (not arch.bias[1] or g_c == 0)
    if not grad_zero:
        if cert.status is CertificateStatus.NOT_CRITICAL:
            return dataclasses.replace(cert, arithmetic=Arithmetic.EXACT,
                                       message=cert.message + "; verified exactly: the exact gradient is not zero")
        descent = _exact_gradient_descent(arch, loss, qparams, Xq, Yq, pieces, exact_lp, v, w, g, gamma, g_c)
        return dataclasses.replace(
            cert, status=CertificateStatus.NOT_CRITICAL, arithmetic=Arithmetic.EXACT, valley_dimension=None,
            message=f"the float analysis found {cert.status.value} within its tolerances, but the exact gradient "
                    "is not zero: not a critical point (exactly)" + (
                        "" if descent[2] is not None else "; no exact decrease found along -grad"),
            descent_direction=descent[0], descent_step=descent[1], descent_decrease=descent[2])
    if cert.is_minimum and G_zero:
        return dataclasses.replace(cert, arithmetic=Arithmetic.EXACT,
                                   message=cert.message + "; verified exactly: grad G = 0 in rationals")
    if cert.status is CertificateStatus.SADDLE and grad_zero and any(
            v[k] == 0 and any(x != 0 for x in g[k]) for k in range(K)):
        return dataclasses.replace(cert, arithmetic=Arithmetic.EXACT,
                                   message=cert.message + "; verified exactly: the gradient is 0 and a unit with "
                                   "v_k = 0 has g_k != 0")
    return dataclasses.replace(
        cert, status=CertificateStatus.INCONCLUSIVE,
        message=f"the float verdict ({cert.status.value}) is not confirmed in exact arithmetic: the exact gradient "
                f"is {'zero' if grad_zero else 'not zero'} and grad G is {'zero' if G_zero else 'not zero'}")


def _exact_gradient_descent(arch, loss, qparams, Xq, Yq, pieces, exact_lp, v, w, g, gamma, g_c):
    """Step along minus the exact gradient (one hidden layer, one output) until the exact cell risk decreases;
    returns (unit float direction, step, exact decrease as float) or (direction, None, None)."""
    K, D = len(v), len(w[0])
    d_in = arch.d_in
    grads_W1 = [[v[k] * g[k][m] for m in range(d_in)] for k in range(K)]
    grads_b1 = [v[k] * g[k][d_in] for k in range(K)] if arch.bias[0] else None
    grads_v = [sum((w[k][m] * g[k][m] for m in range(D)), flint.fmpq(0)) + gamma[k] for k in range(K)]
    flat = [x for row in grads_W1 for x in row] + (grads_b1 or []) + grads_v + ([g_c] if arch.bias[1] else [])
    direction = -np.array([float(x) for x in flat])
    norm = float(np.linalg.norm(direction))
    unit = direction / norm if norm > 0 else direction
    base = frozen_risk_exact(arch, loss, qparams, tuple(pieces), exact_lp, Xq, Yq)
    for k in range(0, 200, 4):
        t = flint.fmpq(1, 2**k)
        W1 = [[qparams.weights[0][i, m] - t * grads_W1[i][m] for m in range(d_in)] for i in range(K)]
        b1 = None if grads_b1 is None else [qparams.biases[0][i, 0] - t * grads_b1[i] for i in range(K)]
        W2 = [[qparams.weights[1][0, i] - t * grads_v[i] for i in range(K)]]
        b2 = None if not arch.bias[1] else [qparams.biases[1][0, 0] - t * g_c]
        moved = exact_params(arch, [(W1, b1), (W2, b2)])
        risk = risk_exact(arch, moved, Xq, Yq, loss=loss)  # the true risk, exactly
        if risk < fmpq_to_fraction(base):
            return unit, float(t) * norm, float(fmpq_to_fraction(base) - risk)
    return unit, None, None


# ---------------------------------------------------------------------------------------------- public
def certify(
    arch: Architecture,
    params: Any,
    X: Any,
    y: Any,
    *,
    loss: str | Loss = "squared",
    arithmetic: str | Arithmetic = "float",
    tie_tol: float = 1e-9,
    grad_tol: float = 1e-8,
    eig_tol: float = 1e-8,
    kkt_tol: float = 1e-8,
    lp_tol: float = 1e-9,
    max_ties: int = 16,
    boundary_method: str | BoundaryMethod = "auto",
    hessian_limit: int = 4000,
    denominator: int | None = None,
) -> tuple[Certificate, ...]:
    """Certify every network of the batch: one :class:`Certificate` per network, in batch order.

    Args:
        arch: the architecture. params: parameters (a batch, or one network; in exact mode rationals are
            accepted, see :func:`cellscape.networks.exact_params`). X, y: the data (in exact mode rationals too).
        loss: the loss.
        arithmetic: ``"float"``, or ``"exact"`` to re-verify the verdict in rational arithmetic.
        tie_tol: values within this distance of a breakpoint or loss kink are ties (on the boundary).
        grad_tol: a gradient (or Clarke) norm at most this counts as zero.
        eig_tol: relative tolerance for Hessian eigenvalues (relative to the largest in magnitude, at least 1).
        kkt_tol: tolerance for the structured first-order conditions and KKT residuals.
        lp_tol: slack below which a linear program finds no interior / no descent.
        max_ties: the most ties whose ``2^M`` adjacent pieces are enumerated (per unit: the most ties of one
            unit); above it the verdict is inconclusive with sampled evidence.
        boundary_method: ``"auto"``, ``"exhaustive"`` or ``"per_unit"`` (see :class:`BoundaryMethod`).
        hessian_limit: the most parameters for which a dense Hessian is formed.
        denominator: exact mode only: first round parameters and data to the nearest multiples of
            ``1 / denominator``; the certificate is then about that rationalised point (its message says so).
            Without it, floats are taken at their exact binary values.

    Raises:
        InvalidInputError: for bad shapes, targets or options.

    Notes:
        Inside a cell: one gradient, one Hessian from ``P`` Hessian-vector products, an eigendecomposition
        (:math:`O(P^3)`). On a boundary: two linear programs and one non-negative least squares per adjacent
        piece, :math:`2^M` pieces.
    """
    func = "certify"
    loss = parse_loss(loss)
    arithmetic = check_enum(arithmetic, Arithmetic, name="arithmetic", func=func)
    opts = _Options(
        tie_tol=check_float(tie_tol, name="tie_tol", func=func, minimum=0.0),
        grad_tol=check_float(grad_tol, name="grad_tol", func=func, minimum=0.0),
        eig_tol=check_float(eig_tol, name="eig_tol", func=func, minimum=0.0),
        kkt_tol=check_float(kkt_tol, name="kkt_tol", func=func, minimum=0.0),
        lp_tol=check_float(lp_tol, name="lp_tol", func=func, minimum=0.0),
        max_ties=check_int(max_ties, name="max_ties", func=func, minimum=0),
        hessian_limit=check_int(hessian_limit, name="hessian_limit", func=func, minimum=1),
        boundary_method=check_enum(boundary_method, BoundaryMethod, name="boundary_method", func=func).value,
    )
    exact = arithmetic is Arithmetic.EXACT
    if denominator is not None:
        denominator = check_int(denominator, name="denominator", func=func, minimum=1)
        if not exact:
            raise invalid("denominator", func, "None unless arithmetic='exact'", denominator)
        P = as_params(arch, params, func=func).numpy()
        params = [exact_params(arch, [(rationalize(w[b], denominator),
                                       None if bias is None else rationalize(bias[b], denominator))
                                      for w, bias in P.layers()]) for b in range(P.batch_size)]
        X = rationalize(to_numpy(X, name="X", func=func), denominator)
        y = rationalize(to_numpy(y, name="y", func=func), denominator)
    if exact:
        Xq = fmpq_matrix(X)
        Yq = fmpq_matrix(np.asarray(y, dtype=object).reshape(Xq.nrows(), -1) if not isinstance(y, flint.fmpq_mat)
                         else y)
        X_float = np.array([[float(Xq[i, j]) for j in range(Xq.ncols())] for i in range(Xq.nrows())])
        y_float = np.array([[float(Yq[i, j]) for j in range(Yq.ncols())] for i in range(Yq.nrows())])
        batch = _exact_batch(arch, params)
        flats = np.array([np.asarray(flatten_params(arch, q.to_params()))[0] for q in batch])
    else:
        P = as_params(arch, params, func=func)
        flats = np.asarray(flatten_params(arch, P.numpy()))
        X_float, y_float = X, y
    Xn = as_inputs(arch, X_float, func=func)
    yn = as_targets(y_float, loss, arch.d_out, Xn.shape[0], func=func)
    certificates = []
    for b, flat in enumerate(flats):
        with np.errstate(over="ignore", invalid="ignore"):
            point = _Point(arch, loss, flat, Xn, yn, opts)
            finite = np.isfinite(point.risk) and np.all(np.isfinite(point.grad()))
        if not finite:
            cert = _certificate(point, CertificateStatus.INCONCLUSIVE,
                                "the risk or its gradient overflows in float64 at this point", "gradient")
        elif point.risk == 0.0 and loss.name not in (LossName.LOGISTIC, LossName.CROSS_ENTROPY):
            cert = _zero_risk(point)
        else:
            cert = _interior(point) if not point.ties else _boundary(point)
        if exact:
            cert = _exact_check(cert, arch, loss, batch[b], Xq, Yq, point)
            if denominator is not None:
                cert = dataclasses.replace(cert, message=f"{cert.message} [parameters and data rationalised to "
                                           f"multiples of 1/{denominator}]")
        certificates.append(cert)
    return tuple(certificates)


def _exact_batch(arch: Architecture, params: Any) -> list[ExactParams]:
    if isinstance(params, ExactParams):
        return [params]
    if isinstance(params, (list, tuple)) and params and all(isinstance(p, ExactParams) for p in params):
        return list(params)
    try:
        P = as_params(arch, params, func="certify")
    except InvalidInputError:  # rationals that floats cannot hold exactly: one network given exactly
        return [exact_params(arch, params)]
    if _holds_rationals(params):
        return [exact_params(arch, params)]
    return [exact_params(arch, P, index=b) for b in range(P.batch_size)]


def _holds_rationals(params: Any) -> bool:
    if isinstance(params, (list, tuple)):
        return any(_holds_rationals(p) for p in params)
    if isinstance(params, np.ndarray):
        return params.dtype == object
    return isinstance(params, (str, Fraction, flint.fmpq))

