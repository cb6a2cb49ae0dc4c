r"""The best affine predictor :math:`\hat y = W x + b`, and its risk :math:`R_{\mathrm{lin}}^*`.

Inside a cell where every hidden unit sits in one linear piece a network computes an affine map of its input,
so its risk is at least

.. math::  R_{\mathrm{lin}}^* = \min_{W, b} \frac1n \sum_{i=1}^n \ell(y_i, W x_i + b)

(theory sections 2.4-2.5). :func:`best_affine_fit` computes this baseline for every loss of
:mod:`cellscape.losses`, always as the *mean* over samples:

=============================================  ===========================================================
loss                                           method
=============================================  ===========================================================
``squared``                                    least squares on the design matrix :math:`[X, 1]`; exact
                                               rational least squares with ``exact=True``
``absolute``, ``hinge``, ``weston_watkins``,   linear program (``scipy.optimize.linprog``, HiGHS)
``crammer_singer``
``huber:DELTA``, ``logistic``,                 L-BFGS-B with JAX gradients, polished by Newton steps
``cross_entropy``
=============================================  ===========================================================

For logistic and cross-entropy the infimum is *not attained* when some margins can be pushed to infinity (the
data are separable, or partly so). A linear program finds such a recession direction; the fit then reports
``attained=False``, the infimum as ``risk`` and the direction along which the risk approaches it.

Examples:
    The 3-point set of Yun et al. (2019): the best affine fit leaves half the sum of squared errors 1/3, a
    mean risk 1/9.

    >>> fit = best_affine_fit([[1, 0], [0, 1], ["1/2", "1/2"]], [0, 0, 1], exact=True)
    >>> fit.risk_exact, 3 * fit.risk_exact, fit.rank
    (Fraction(1, 9), Fraction(1, 3), 2)
"""

from __future__ import annotations

import dataclasses
from fractions import Fraction
from typing import Any

import flint
import jax
import jax.numpy as jnp
import numpy as np
import scipy.linalg
import scipy.optimize
import scipy.sparse
import scipy.special

from cellscape._backend import fmpq_matrix, fmpq_to_fraction, is_torch_tensor, to_numpy
from cellscape._validation import check_int, invalid
from cellscape.exceptions import CellscapeError, ExactArithmeticError, InvalidInputError
from cellscape.losses import Loss, LossName, TargetKind, as_targets, parse_loss

__all__ = ["AffineFit", "best_affine_fit", "design_rank"]

#: Singular values below this fraction of the largest one count as zero (theory 7.1).
RANK_RTOL = 1e-10
# At the optimum of the recession LP every slack is 0 or 1; this threshold separates the two robustly.
_SLACK_THRESHOLD = 0.5
# Stand-in for -inf when a class is dropped from a softmax (exp underflows to exactly 0 in float64).
_DROPPED = -1e30


@dataclasses.dataclass(frozen=True, eq=False)
class AffineFit:
    """The best affine predictor ``yhat = weights @ x + bias`` for a loss.

    Attributes:
        weights: ``(d_out, d_in)`` float64 array.
        bias: ``(d_out,)`` float64 array.
        risk: the optimal mean loss (the infimum when ``attained`` is False).
        loss: the loss specification string (e.g. ``"squared"``, ``"huber:1/2"``).
        rank: the numerical rank of the design matrix ``[X, 1]`` (the exact rank with ``exact=True``).
        attained: False when the infimum is not attained (logistic or cross-entropy on (partly) separable
            data).
        message: how the fit was obtained, or why the optimum is not attained.
        direction: when not attained, a ``(d_out, d_in + 1)`` array ``[dW, db]`` such that the risk of
            ``(weights + t dW, bias + t db)`` decreases to ``risk`` as ``t -> inf``; else None.
        risk_exact: the exact optimal risk (squared loss with ``exact=True``), else None.
        weights_exact: the exact weights as nested :class:`~fractions.Fraction` lists ``(d_out, d_in)``, or
            None.
        bias_exact: the exact bias as a list of ``d_out`` Fractions, or None.
    """

    weights: np.ndarray
    bias: np.ndarray
    risk: float
    loss: str
    rank: int
    attained: bool = True
    message: str = ""
    direction: np.ndarray | None = None
    risk_exact: Fraction | None = None
    weights_exact: list[list[Fraction]] | None = None
    bias_exact: list[Fraction] | None = None

    @property
    def d_in(self) -> int:
        return int(self.weights.shape[1])

    @property
    def d_out(self) -> int:
        return int(self.weights.shape[0])

    def predict(self, X: Any) -> np.ndarray:
        """The affine predictions ``X @ weights.T + bias``, shape ``(n, d_out)``.

        Raises:
            InvalidInputError: for inputs that are not an ``(n, d_in)`` array of finite numbers.
        """
        X = to_numpy(X, name="X", func="AffineFit.predict")
        if X.ndim != 2 or X.shape[1] != self.d_in:
            raise invalid("X", "AffineFit.predict", f"an array of shape (n_samples, {self.d_in})",
                          f"shape {X.shape}", raw=True)
        return X @ self.weights.T + self.bias

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary (exact values as strings such as ``"1/9"``)."""
        out: dict[str, Any] = {
            "loss": self.loss, "risk": self.risk, "rank": self.rank, "attained": self.attained,
            "message": self.message, "weights": self.weights.tolist(), "bias": self.bias.tolist(),
        }
        if self.direction is not None:
            out["direction"] = self.direction.tolist()
        if self.risk_exact is not None:
            out["risk_exact"] = str(self.risk_exact)
            out["weights_exact"] = [[str(v) for v in row] for row in self.weights_exact or []]
            out["bias_exact"] = [str(v) for v in self.bias_exact or []]
        return out


def design_rank(X: Any) -> int:
    """The numerical rank of the design matrix ``[X, 1]`` (singular values above ``RANK_RTOL`` times the
    largest).

    Raises:
        InvalidInputError: for inputs that are not an ``(n, d)`` array of finite numbers with ``n >= 1``.

    Examples:
        >>> design_rank([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]])  # collinear points
        2
    """
    return _numeric_rank(_design(_as_X(X, "design_rank")))


def best_affine_fit(
    X: Any,
    y: Any,
    *,
    loss: str | Loss = "squared",
    exact: bool = False,
    n_classes: int | None = None,
) -> AffineFit:
    r"""The affine map minimising the mean loss :math:`\frac1n \sum_i \ell(y_i, W x_i + b)`.

    Args:
        X: inputs of shape ``(n, d_in)``; with ``exact=True`` also ints, :class:`~fractions.Fraction` or
            strings such as ``"1/3"`` (floats are taken at their exact binary value).
        y: targets of shape ``(n,)`` or ``(n, k)`` suiting the loss: reals, labels -1/+1 (hinge, logistic) or
            class indices (multiclass losses).
        loss: a loss specification (see :func:`cellscape.losses.parse_loss`).
        exact: compute the exact rational least-squares fit (squared loss only). The float fields are then the
            rounded exact values, and ``rank`` is the exact rank.
        n_classes: the output width for class-index losses (default: the largest label plus one).

    Returns:
        An :class:`AffineFit`. For the squared loss with a rank-deficient design the predictions are unique
        but the weights are not: the float fit is the minimum-norm one, the exact fit the one supported on the
        pivot columns of ``[X, 1]``.

    Raises:
        ExactArithmeticError: for ``exact=True`` with a loss other than the squared loss.
        InvalidInputError: for inputs or targets of the wrong shape, non-finite values or labels unsuited to
            the loss.
        CellscapeError: if a linear program fails (a bug: all of them are feasible and bounded).

    Notes:
        Least squares costs :math:`O(n d^2)`; the exact solve works on the normal equations of the independent
        columns. The linear programs have :math:`O(n k)` variables and constraints.

    Examples:
        >>> fit = best_affine_fit([[0.0], [1.0], [2.0]], [1.0, 3.0, 5.0])
        >>> np.round(fit.weights, 12).tolist(), np.round(fit.bias, 12).tolist(), abs(fit.risk) < 1e-20
        ([[2.0]], [1.0], True)

        A constant input leaves only the bias, the median for the absolute loss:

        >>> round(best_affine_fit([[0.0], [0.0], [0.0]], [0.0, 1.0, 5.0], loss="absolute").risk, 9)
        1.666666667
    """
    func = "best_affine_fit"
    loss = parse_loss(loss)
    if not isinstance(exact, (bool, np.bool_)):
        raise invalid("exact", func, "a bool", exact)
    if exact and loss.name is not LossName.SQUARED:
        raise ExactArithmeticError(
            f"`exact=True` of `{func}` needs the squared loss (exact rational least squares); the "
            f"{loss.spec} loss has no exact affine fit here: use exact=False")
    if n_classes is not None:
        if loss.target_kind is not TargetKind.CLASS:
            raise invalid("n_classes", func, f"None for the {loss.spec} loss (it has no class-index targets)",
                          n_classes)
        n_classes = check_int(n_classes, name="n_classes", func=func, minimum=1)
    Xq = yq = None
    if exact:
        Xq = _exact_matrix(X, "X", func)
        yq = _exact_matrix(y, "y", func)
        X = _fmpq_to_numpy(Xq)
        y = _fmpq_to_numpy(yq)
    X = _as_X(X, func)
    n = X.shape[0]
    y_raw = to_numpy(y, name="y", func=func)
    if loss.target_kind is TargetKind.CLASS:
        d_out = n_classes if n_classes is not None else _n_classes(y_raw)
    elif loss.target_kind is TargetKind.BINARY:
        d_out = 1
    else:
        d_out = y_raw.shape[1] if y_raw.ndim == 2 else 1
    Y = as_targets(y_raw, loss, d_out, n, func=func)
    B = _design(X)
    if exact:
        return _exact_least_squares(Xq, yq, loss)
    rank = _numeric_rank(B)
    if loss.name is LossName.SQUARED:
        coef = np.linalg.lstsq(B, Y, rcond=RANK_RTOL)[0].T
        return _fit(coef, B, Y, loss, rank, message=f"least squares (design rank {rank} of {B.shape[1]})")
    if loss.name is LossName.ABSOLUTE:
        return _fit(_absolute_lp(B, Y), B, Y, loss, rank, message="linear program (HiGHS)")
    if loss.is_piecewise_linear:  # the hinges
        return _fit(_hinge_lp(B, Y, loss, d_out), B, Y, loss, rank, message="linear program (HiGHS)")
    return _smooth_fit(B, Y, loss, d_out, rank)


# ---------------------------------------------------------------------------------------------- helpers
def _as_X(X: Any, func: str) -> np.ndarray:
    X = to_numpy(X, name="X", func=func)
    if X.ndim != 2:
        raise invalid("X", func, "an array of shape (n_samples, d_in)", f"shape {X.shape}", raw=True)
    if X.shape[0] == 0:
        raise invalid("X", func, "at least one sample", "0 samples", raw=True)
    return X


def _design(X: np.ndarray) -> np.ndarray:
    """The design matrix ``[X, 1]`` of shape ``(n, d + 1)``."""
    return np.hstack([X, np.ones((X.shape[0], 1))])


def _numeric_rank(B: np.ndarray) -> int:
    sigma = np.linalg.svd(B, compute_uv=False)
    return int(np.sum(sigma > RANK_RTOL * sigma[0])) if sigma.size and sigma[0] > 0 else 0


def _n_classes(y: np.ndarray) -> int:
    """The largest label plus one (labels are checked afterwards by ``as_targets``)."""
    labels = y.ravel()
    if labels.size == 0 or not np.all(labels == np.round(labels)) or labels.max() < 0:
        return 1
    return int(labels.max()) + 1


def _fit(coef: np.ndarray, B: np.ndarray, Y: np.ndarray, loss: Loss, rank: int, **kwargs: Any) -> AffineFit:
    """Wrap coefficients ``coef = [W, b]`` of shape ``(d_out, d_in + 1)`` with their risk."""
    coef = np.asarray(coef, dtype=np.float64)
    yhat = B @ coef.T
    if loss.name is LossName.SQUARED:  # the hot path, in numpy: no JAX dispatch for every new shape
        risk = float(np.mean(0.5 * np.sum((yhat - Y) ** 2, axis=1)))
    else:
        risk = float(_mean_loss(jnp.asarray(yhat), jnp.asarray(Y), loss))
    return AffineFit(weights=coef[:, :-1].copy(), bias=coef[:, -1].copy(), risk=risk, loss=loss.spec,
                     rank=rank, **kwargs)


def _linprog(c: np.ndarray, A_ub: Any, b_ub: np.ndarray, bounds: list[tuple[float | None, float | None]],
             ) -> Any:
    """``linprog`` with HiGHS, raising when it does not find an optimum."""
    res = scipy.optimize.linprog(c, A_ub=A_ub, b_ub=b_ub, bounds=bounds, method="highs")
    if res.status != 0:
        raise CellscapeError(f"the linear program of `best_affine_fit` failed: {res.message}")
    return res


# ---------------------------------------------------------------------------------------------- exact
def _exact_matrix(values: Any, name: str, func: str) -> flint.fmpq_mat:
    if isinstance(values, flint.fmpq_mat):
        return values
    if is_torch_tensor(values):
        values = values.detach().cpu().numpy()
    if isinstance(values, (list, tuple)):  # keep Fractions, strings and ints as they are
        array = np.asarray(values, dtype=object)
    else:  # numpy or JAX arrays: numeric entries become Python numbers (floats are converted exactly later)
        array = np.asarray(values)
        array = array if array.dtype == object else array.astype(object)
    if name == "X" and array.ndim != 2:
        raise invalid(name, func, "an array of shape (n_samples, d_in)", f"shape {array.shape}", raw=True)
    if array.ndim not in (1, 2):
        raise invalid(name, func, "an array of shape (n_samples,) or (n_samples, k)", f"shape {array.shape}",
                      raw=True)
    try:
        return fmpq_matrix(array)
    except InvalidInputError:
        raise invalid(name, func, "rational numbers (ints, floats, Fractions or strings such as '1/3')",
                      f"{array.ravel()[:3].tolist()!r}...", raw=True) from None


def _fmpq_to_numpy(M: flint.fmpq_mat) -> np.ndarray:
    return np.array([[float(M[i, j]) for j in range(M.ncols())] for i in range(M.nrows())],
                    dtype=np.float64).reshape(M.nrows(), M.ncols())


def _exact_least_squares(Xq: flint.fmpq_mat, Yq: flint.fmpq_mat, loss: Loss) -> AffineFit:
    """Exact least squares: the normal equations on the pivot columns of ``[X, 1]``."""
    n, d = Xq.nrows(), Xq.ncols()
    k = Yq.ncols()
    entries = []
    for i in range(n):
        entries.extend(Xq[i, j] for j in range(d))
        entries.append(flint.fmpq(1))
    Bq = flint.fmpq_mat(n, d + 1, entries)
    reduced, rank = Bq.rref()
    pivots = [next(j for j in range(d + 1) if reduced[r, j] != 0) for r in range(rank)]
    Bp = flint.fmpq_mat(n, rank, [Bq[i, j] for i in range(n) for j in pivots])
    Bt = Bp.transpose()
    C = (Bt * Bp).solve(Bt * Yq)  # (rank, k), unique since the pivot columns are independent
    coef = [[flint.fmpq(0)] * (d + 1) for _ in range(k)]  # (k, d + 1)
    for r, j in enumerate(pivots):
        for out in range(k):
            coef[out][j] = C[r, out]
    residual = Bp * C - Yq
    sse = sum((residual[i, j] ** 2 for i in range(n) for j in range(k)), flint.fmpq(0))
    risk_q = fmpq_to_fraction(sse / (2 * n))
    weights_exact = [[fmpq_to_fraction(v) for v in row[:d]] for row in coef]
    bias_exact = [fmpq_to_fraction(row[d]) for row in coef]
    return AffineFit(
        weights=np.array([[float(v) for v in row] for row in weights_exact], dtype=np.float64).reshape(k, d),
        bias=np.array([float(v) for v in bias_exact], dtype=np.float64),
        risk=float(risk_q), loss=loss.spec, rank=rank,
        message=f"exact rational least squares (design rank {rank} of {d + 1})",
        risk_exact=risk_q, weights_exact=weights_exact, bias_exact=bias_exact,
    )


# ------------------------------------------------------------------------------------------- linear programs
def _absolute_lp(B: np.ndarray, Y: np.ndarray) -> np.ndarray:
    r"""Least absolute deviations, one LP per output:
    :math:`\min \frac1n \sum_i t_i` subject to :math:`-t \le Bw - y \le t`."""
    n, p = B.shape
    eye = scipy.sparse.identity(n, format="csr")
    Bs = scipy.sparse.csr_matrix(B)
    A_ub = scipy.sparse.vstack([scipy.sparse.hstack([Bs, -eye]), scipy.sparse.hstack([-Bs, -eye])],
                               format="csr")
    c = np.concatenate([np.zeros(p), np.full(n, 1.0 / n)])
    bounds = [(None, None)] * p + [(0.0, None)] * n
    return np.array([_linprog(c, A_ub, np.concatenate([Y[:, k], -Y[:, k]]), bounds).x[:p]
                     for k in range(Y.shape[1])])


def _margins(B: np.ndarray, Y: np.ndarray, loss: Loss, d_out: int,
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The margins as linear functions of ``vec([W, b])`` (row-major, shape ``(d_out, p)``).

    Returns ``(M, sample, other)``: row ``q`` of ``M`` gives margin ``q`` of sample ``sample[q]``; binary:
    ``y_i (w . x~_i)`` (``other = 0``); class indices: ``f_{y_i} - f_j`` for each class
    ``j = other[q] != y_i``.
    """
    n, p = B.shape
    if loss.target_kind is TargetKind.BINARY:
        return Y[:, :1] * B, np.arange(n), np.zeros(n, dtype=np.int64)
    labels = Y[:, 0].astype(np.int64)
    rows, sample, other = [], [], []
    for i in range(n):
        for j in range(d_out):
            if j == labels[i]:
                continue
            row = np.zeros((d_out, p))
            row[labels[i]] = B[i]
            row[j] = -B[i]
            rows.append(row.ravel())
            sample.append(i)
            other.append(j)
    M = np.array(rows).reshape(len(rows), d_out * p)
    return M, np.array(sample, dtype=np.int64), np.array(other, dtype=np.int64)


def _hinge_lp(B: np.ndarray, Y: np.ndarray, loss: Loss, d_out: int) -> np.ndarray:
    r"""Hinge-type losses as one LP: :math:`\min \frac1n \sum \xi`, :math:`\xi \ge 0`,
    :math:`\xi \ge 1 - m_q(w)`, with one slack per margin (hinge, Weston-Watkins) or per sample
    (Crammer-Singer)."""
    n, p = B.shape
    n_vars = d_out * p
    M, sample, _ = _margins(B, Y, loss, d_out)
    if M.shape[0] == 0:  # a single class: every loss is 0
        return np.zeros((d_out, p))
    per_sample = loss.name is LossName.CRAMMER_SINGER
    n_slack = n if per_sample else M.shape[0]
    slack_of = sample if per_sample else np.arange(M.shape[0])
    S = scipy.sparse.csr_matrix((np.ones(M.shape[0]), (np.arange(M.shape[0]), slack_of)),
                                shape=(M.shape[0], n_slack))
    A_ub = scipy.sparse.hstack([scipy.sparse.csr_matrix(-M), -S], format="csr")
    c = np.concatenate([np.zeros(n_vars), np.full(n_slack, 1.0 / n)])
    bounds = [(None, None)] * n_vars + [(0.0, None)] * n_slack
    res = _linprog(c, A_ub, -np.ones(M.shape[0]), bounds)
    return res.x[:n_vars].reshape(d_out, p)


def _recession(M: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    r"""Margins that can be pushed to infinity: :math:`\max \sum_q s_q`, :math:`0 \le s_q \le 1`,
    :math:`s \le M w`. At the optimum :math:`s_q = 1` exactly for the margins that some direction ``w`` with
    :math:`M w \ge 0` makes positive, and 0 for the others; returns ``(those margins as a mask, w)``."""
    m, q = M.shape
    if m == 0:
        return np.zeros(0, dtype=bool), np.zeros(q)
    A_ub = scipy.sparse.hstack([scipy.sparse.csr_matrix(-M), scipy.sparse.identity(m, format="csr")],
                               format="csr")
    c = np.concatenate([np.zeros(q), -np.ones(m)])
    res = _linprog(c, A_ub, np.zeros(m), [(None, None)] * q + [(0.0, 1.0)] * m)
    return res.x[q:] > _SLACK_THRESHOLD, res.x[:q]


# ---------------------------------------------------------------------------------------------- smooth losses
def _objective(w: Any, B: Any, Y: Any, keep: Any, loss: Loss) -> Any:
    """The mean loss of ``w = vec([W, b])``; ``keep`` (``(n, d_out)`` bools) drops the margins that escape to
    infinity: classes leave the softmax (cross-entropy), samples leave the mean's sum (logistic)."""
    yhat = B @ w.reshape(keep.shape[1], B.shape[1]).T
    if loss.name is LossName.CROSS_ENTROPY:
        return jnp.mean(loss.per_sample(jnp.where(keep, yhat, _DROPPED), Y))
    if loss.name is LossName.LOGISTIC:  # dropped samples have loss 0 at the infimum
        return jnp.mean(jnp.where(keep[:, 0], loss.per_sample(yhat, Y), 0.0))
    return jnp.mean(loss.per_sample(yhat, Y))


# module level, so that fits of one shape and loss share the compilation
_objective_and_grad = jax.jit(jax.value_and_grad(_objective), static_argnums=4)
_mean_loss = jax.jit(lambda yhat, Y, loss: jnp.mean(loss.per_sample(yhat, Y)), static_argnums=2)


def _hessian(w: np.ndarray, B: np.ndarray, Y: np.ndarray, keep: np.ndarray, loss: Loss) -> np.ndarray:
    """The Hessian of :func:`_objective` in closed form (numpy; cheaper than compiling ``jax.hessian``)."""
    n, p = B.shape
    k = keep.shape[1]
    yhat = B @ w.reshape(k, p).T
    if loss.name is LossName.HUBER:  # curvature 1 on the quadratic piece, per output
        inside = (np.abs(yhat - Y) <= float(loss.delta)).astype(np.float64)
        blocks = [B.T @ (inside[:, [o]] * B) for o in range(k)]
        return scipy.linalg.block_diag(*blocks) / n
    if loss.name is LossName.LOGISTIC:  # sigma (1 - sigma) of the margin, y^2 = 1
        sigma = scipy.special.expit(Y[:, 0] * yhat[:, 0]) * keep[:, 0]
        return B.T @ ((sigma * (1.0 - sigma))[:, None] * B) / n
    z = np.where(keep, yhat, -np.inf)
    prob = np.exp(z - z.max(axis=1, keepdims=True))
    prob /= prob.sum(axis=1, keepdims=True)
    curvature = np.einsum("ia,ab->iab", prob, np.eye(k)) - np.einsum("ia,ib->iab", prob, prob)
    return np.einsum("iab,ij,il->ajbl", curvature, B, B).reshape(k * p, k * p) / n


def _smooth_fit(B: np.ndarray, Y: np.ndarray, loss: Loss, d_out: int, rank: int) -> AffineFit:
    """Huber, logistic and cross-entropy: L-BFGS-B, then Newton steps; infimum handling for separable data."""
    n, p = B.shape
    keep = np.ones((n, d_out), dtype=bool)  # softmax classes (cross-entropy) or samples (logistic) kept
    direction, n_margins = None, 0
    if loss.name is not LossName.HUBER:
        M, sample, other = _margins(B, Y, loss, d_out)
        n_margins = M.shape[0]
        escaping, w_dir = _recession(M)
        if escaping.any():
            keep[sample[escaping], other[escaping]] = False
            direction = w_dir.reshape(d_out, p) / np.max(np.abs(w_dir))
    args = (jnp.asarray(B), jnp.asarray(Y), jnp.asarray(keep))

    def fun(w: np.ndarray) -> tuple[float, np.ndarray]:
        value, grad = _objective_and_grad(jnp.asarray(w), *args, loss)
        return float(value), np.asarray(grad, dtype=np.float64)

    res = scipy.optimize.minimize(fun, np.zeros(d_out * p), jac=True, method="L-BFGS-B",
                                  options={"maxiter": 20_000, "ftol": 1e-15, "gtol": 1e-12})
    w, value = res.x, fun(res.x)[0]
    for _ in range(30):  # damped Newton polish (pseudo-inverse: the design may be rank deficient)
        grad = fun(w)[1]
        if np.max(np.abs(grad)) < 1e-15:
            break
        H = _hessian(w, B, Y, keep, loss)
        step = np.linalg.lstsq(H, grad, rcond=RANK_RTOL)[0]
        for t in 0.5 ** np.arange(21):
            candidate = w - t * step
            candidate_value = fun(candidate)[0]
            if candidate_value <= value:
                w, value = candidate, candidate_value
                break
        else:
            break
    coef = w.reshape(d_out, p)
    if direction is None:
        return _fit(coef, B, Y, loss, rank, message=f"convex solve (L-BFGS-B, then Newton): {res.message}")
    n_escaping = int((~keep).sum())
    kind = "separable" if n_escaping == n_margins else "partly separable"
    message = (f"infimum not attained: the data are {kind}, {n_escaping} of {n_margins} margins can grow "
               "without bound; the risk of [weights, bias] + t * direction tends to `risk` as t -> inf")
    return AffineFit(weights=coef[:, :-1].copy(), bias=coef[:, -1].copy(), risk=max(value, 0.0),
                     loss=loss.spec, rank=rank, attained=False, message=message, direction=direction)
