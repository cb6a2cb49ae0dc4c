r"""How likely a cell is to hold a genuine local minimum when the data are Gaussian (Liu 2020, theory 3.6).

A cell of a one-hidden-layer network holds a *genuine* minimum when a least-squares solution of its risk lies
inside it (:func:`~cellscape.atlas.cell_solve.solve_cell`). Here the data are random,

.. math::  x_n \sim \mathcal N(0, I_d), \qquad y_n = f^*(x_n) + \sigma\, \varepsilon_n, \quad
    \varepsilon_n \sim \mathcal N(0, 1),

and the cell is the one containing fixed first-layer weights :math:`W = [w_k, b_k]_k`: for each draw of the data,
unit ``k`` is in its upper piece on sample ``n`` exactly when :math:`w_k^\top \tilde x_n > p` (``p`` the kink).
:func:`genuine_probability` estimates :math:`P(\text{genuine})` by Monte Carlo with a Wilson interval
(:func:`cellscape.statistics.wilson_interval`).

**Teacher.** ``teacher`` is either the weights :math:`W^* \in \mathbb R^{K^* \times (d+1)}` of a ReLU teacher
with output weights +1, :math:`f^*(x) = \sum_k [w^{*\top}_k \tilde x]_+`, or a callable mapping an ``(n, d)``
array to ``n`` targets. The default is one unit :math:`w^* = e_1`, :math:`f^*(x) = [x_1]_+` (``relu(x)`` in 1-D).

**The exact 1-D criterion** (:func:`genuine_1d`). One ReLU unit with :math:`v = +1` on inputs :math:`(x, 1)`, cell
"active on :math:`o(x - t) > 0`" (orientation :math:`o = \pm 1`). Inside the cell the risk is the least-squares
fit of a line :math:`a x + b` to the active samples (the others predict 0), so the cell is genuine iff that line
is positive on the active samples and negative on the others. By linearity it suffices to look at the extreme
samples of each side; when both sides are non-empty and the line is unique this says exactly

.. math::  o\, a > 0 \quad\text{and}\quad x_{(j)} < -b / a < x_{(j+1)},

the zero lies in the gap :math:`(x_{(j)}, x_{(j+1)})` between the sorted samples that contains ``t``. The other
cases: no active sample (the all-off cell, flat, every point a minimum): genuine; all samples active: the line is
positive at the smallest and the largest sample; all active samples at one input :math:`x_s` (every line through
:math:`(x_s, \bar y)` is a solution, and a steep one separates the sides): genuine iff :math:`\bar y > 0`. No LP
is needed.

:func:`probability_map_1d` evaluates the criterion over a grid threshold x orientation x sample size (E2.1 of
Liu 2020 Part 2), with the same data for every cell at one sample size (common random numbers).

**Random-number protocol.** :func:`genuine_probability` draws, from ``make_rng(seed)``, first all inputs
``X = rng.normal(size=(draws, N, d))`` then all noise ``eps = rng.normal(size=(draws, N))``; draw ``b`` is
``(X[b], eps[b])``. :func:`probability_map_1d` does the same (``d = 1``) with the generator
``numpy.random.default_rng((seed, N))`` for sample size ``N``, so
``genuine_probability(W, n_samples=N, seed=np.random.default_rng((seed, N)), ...)`` sees exactly the data of
the map's column ``N``.

Examples:
    With noise-free targets the teacher's own cell is always genuine (the fit reproduces the teacher exactly):

    >>> res = probability_map_1d([0.0], [1], [10, 40], draws=50, seed=0, noise=0.0)
    >>> res.estimate.tolist()
    [[[1.0, 1.0]]]
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from fractions import Fraction
from typing import Any

import numpy as np

from cellscape._backend import to_fraction, to_numpy
from cellscape._validation import check_float, check_int, invalid
from cellscape.atlas.cell_solve import solve_cell
from cellscape.atlas.model import AtlasModel
from cellscape.networks import make_rng
from cellscape.statistics import wilson_interval

__all__ = [
    "GenuineProbability",
    "Criterion1D",
    "ProbabilityMap1D",
    "wilson_interval",
    "genuine_probability",
    "genuine_1d",
    "probability_map_1d",
]

_TOL = 1e-9  # solve_cell's default slack tolerance
Teacher = Any  # array-like (K*, d + 1) of ReLU teacher weights, a callable (n, d) -> (n,), or None


# ---------------------------------------------------------------------------------------------- data
def _teacher_function(teacher: Teacher, d: int, func: str) -> Callable[[np.ndarray], np.ndarray]:
    """``f*`` as a function of ``(..., n, d)`` inputs returning ``(..., n)``."""
    if teacher is None:
        teacher = np.eye(1, d + 1)
    if callable(teacher):
        def call(X: np.ndarray) -> np.ndarray:
            flat = X.reshape(-1, d)
            out = np.asarray(teacher(flat), dtype=np.float64).reshape(-1)
            if out.shape[0] != flat.shape[0]:
                raise invalid("teacher", func, f"a callable returning one target per row of an (n, {d}) array",
                              f"{out.shape[0]} targets for {flat.shape[0]} rows", raw=True)
            return out.reshape(X.shape[:-1])

        return call
    Ws = to_numpy(teacher, name="teacher", func=func)
    if Ws.ndim == 1:
        Ws = Ws[None, :]
    if Ws.ndim != 2 or Ws.shape[1] != d + 1:
        raise invalid("teacher", func, f"ReLU teacher weights of shape (K*, {d + 1}) or a callable",
                      f"an array of shape {Ws.shape}", raw=True)
    return lambda X: np.maximum(X @ Ws[:, :d].T + Ws[:, d], 0.0).sum(axis=-1)


def _gaussian_draws(rng: np.random.Generator, draws: int, N: int, d: int, teacher: Callable, noise: float):
    """The documented protocol: all inputs first, then all noise."""
    X = rng.normal(size=(draws, N, d))
    eps = rng.normal(size=(draws, N))
    return X, teacher(X) + noise * eps


# ---------------------------------------------------------------------------------------------- Monte Carlo
@dataclasses.dataclass(frozen=True, eq=False)
class GenuineProbability:
    """A Monte Carlo estimate of the probability that a cell holds a genuine minimum.

    Attributes:
        estimate: ``n_genuine / draws``. low, high: the Wilson interval at level ``confidence``.
        n_genuine: draws whose cell was genuine. n_undecided: draws where :func:`solve_cell` could not decide
            (counted as not genuine). draws: the number of data draws.
        confidence: the level of the interval.
        verdicts: ``(draws,)`` int8, per draw ``1`` (genuine), ``0`` (not genuine) or ``-1`` (undecided).
    """

    estimate: float
    low: float
    high: float
    n_genuine: int
    n_undecided: int
    draws: int
    confidence: float
    verdicts: np.ndarray

    def to_dict(self) -> dict[str, Any]:
        return {"estimate": self.estimate, "low": self.low, "high": self.high, "n_genuine": self.n_genuine,
                "n_undecided": self.n_undecided, "draws": self.draws, "confidence": self.confidence}


def genuine_probability(cell: Any, *, n_samples: int, d: int | None = None, model: AtlasModel | None = None,
                        teacher: Teacher = None, noise: float = 0.1, draws: int = 1000,
                        seed: int | np.random.Generator | None = 0,
                        confidence: float = 0.95) -> GenuineProbability:
    r"""Monte Carlo estimate of :math:`P(\text{the cell containing } W \text{ holds a genuine minimum})` under
    Gaussian data (module docstring).

    For each of ``draws`` data sets (``n_samples`` inputs :math:`x \sim \mathcal N(0, I_d)`, targets
    :math:`f^*(x) + \sigma \varepsilon`) the pattern :math:`I_{nk} = [w_k^\top \tilde x_n > p]` of the weights is
    formed and the cell is analysed by :func:`~cellscape.atlas.cell_solve.solve_cell` (float).

    Args:
        cell: first-layer weights ``W`` of shape ``(K, d + 1)``: row ``k`` is ``(w_k, b_k)``, the unit with output
            weight ``model.signs[k]`` (fixed signs are stored +1 first).
        n_samples: ``N``, samples per draw. d: the input dimension (optional; must match ``W``).
        model: the :class:`~cellscape.atlas.model.AtlasModel` (default: ReLU, positive output weights, width K).
        teacher: ReLU teacher weights ``(K*, d + 1)`` (output weights +1), a callable ``(n, d) -> (n,)``, or
            ``None`` for :math:`[x_1]_+`. noise: :math:`\sigma \ge 0`. draws: the number of data draws.
        seed: an int, a ``numpy.random.Generator`` or ``None`` (the protocol is in the module docstring).
        confidence: the level of the Wilson interval.

    Returns:
        A :class:`GenuineProbability`.

    Raises:
        InvalidInputError: for weights of the wrong shape, a model of another width, or bad counts.

    Notes:
        One :func:`solve_cell` per draw: an SVD of the ``N x K(d+1)`` cell matrix, plus an LP when it is rank
        deficient (parallel weights, dead units, ``N < K (d + 1)``).

    Examples:
        Two parallel co-oriented units with output weights of opposite signs: :math:`C - C = \mathbb R^D`, so
        every cell is genuine (theory 3.6):

        >>> from cellscape.atlas.model import AtlasModel
        >>> W = [[1.0, -0.3], [2.0, -0.6]]
        >>> res = genuine_probability(W, n_samples=15, model=AtlasModel.build(width=2, outputs="signs"), draws=20)
        >>> res.estimate, res.high
        (1.0, 1.0)
    """
    func = "genuine_probability"
    W = to_numpy(cell, name="cell", func=func)
    if W.ndim == 1:
        W = W[None, :]
    if W.ndim != 2 or W.shape[1] < 2:
        raise invalid("cell", func, "first-layer weights of shape (K, d + 1)", f"an array of shape {W.shape}",
                      raw=True)
    K, dim = W.shape[0], W.shape[1] - 1
    if d is not None and check_int(d, name="d", func=func, minimum=1) != dim:
        raise invalid("d", func, f"{dim} (the weights have shape {W.shape})", d)
    model = AtlasModel.build(width=K) if model is None else model
    if not isinstance(model, AtlasModel) or model.width != K:
        raise invalid("model", func, f"an AtlasModel of width {K}", model)
    N = check_int(n_samples, name="n_samples", func=func, minimum=1)
    draws = check_int(draws, name="draws", func=func, minimum=1)
    noise = check_float(noise, name="noise", func=func, minimum=0.0)
    f_star = _teacher_function(teacher, dim, func)
    rng = make_rng(seed, func=func)
    X, y = _gaussian_draws(rng, draws, N, dim, f_star, noise)
    kink = float(model.kink)
    verdicts = np.empty(draws, dtype=np.int8)
    for b in range(draws):
        patterns = (X[b] @ W[:, :dim].T + W[:, dim] > kink).T  # (K, N)
        genuine = solve_cell(X[b], y[b], patterns, model).genuine
        verdicts[b] = -1 if genuine is None else int(genuine)
    n_genuine = int(np.sum(verdicts == 1))
    low, high = wilson_interval(n_genuine, draws, confidence=confidence)
    return GenuineProbability(n_genuine / draws, low, high, n_genuine, int(np.sum(verdicts == -1)), draws,
                              float(confidence), verdicts)


# ---------------------------------------------------------------------------------------------- exact 1-D
@dataclasses.dataclass(frozen=True, eq=False)
class Criterion1D:
    r"""The closed-form 1-D verdict (:func:`genuine_1d`); scalars for one data set, ``(B,)`` arrays for a batch.

    Attributes:
        genuine: whether the cell holds a genuine minimum.
        n_active: the number of active samples, :math:`o(x_n - t) > 0`.
        slope, intercept: the least-squares line :math:`a x + b` on the active samples; ``nan`` (float) or
            ``None`` (exact) where it is not unique (fewer than two distinct active inputs).
        gap_low, gap_high: the gap between the sorted samples that contains ``t`` (``-inf`` / ``inf`` where a
            side is empty). Values are floats, or :class:`fractions.Fraction` with ``exact=True``.
    """

    genuine: Any
    n_active: Any
    slope: Any
    intercept: Any
    gap_low: Any
    gap_high: Any


def _criterion(x: np.ndarray, y: np.ndarray, t: Any, o: int, tol: float, exact: bool) -> tuple[np.ndarray, ...]:
    """The vectorised criterion over a batch ``x, y`` of shape ``(B, N)``: float64, or object arrays of Fractions
    (every operation below works on both, and no branch divides by zero)."""
    zero = Fraction(0) if exact else 0.0
    inf = np.inf
    active = (o * (x - t) > 0).astype(bool)
    N = x.shape[1]
    m = active.sum(axis=1)
    m_safe = np.maximum(m, 1)
    xbar = np.where(active, x, zero).sum(axis=1) / m_safe
    ybar = np.where(active, y, zero).sum(axis=1) / m_safe
    dx = np.where(active, x - xbar[:, None], zero)
    sxx = (dx * dx).sum(axis=1)
    sxy = (dx * y).sum(axis=1)
    unique = (sxx > 0).astype(bool)
    a = np.where(unique, sxy / np.where(unique, sxx, 1), zero)
    b = ybar - a * xbar

    def margin(points: np.ndarray, present: np.ndarray, sign: int) -> np.ndarray:
        """``sign (a x + b)`` at the points, relative to ``max(1, |x|)`` in floats (the atlas's LP slack)."""
        points = np.where(present, points, zero)
        value = sign * (a * points + b)
        scale = 1 if exact else np.maximum(1.0, np.abs(points))
        return np.where(present, value / scale, inf)

    # by linearity the sign conditions hold on a side iff they hold at its two extreme samples
    has_active, has_inactive = m > 0, m < N
    side_ok = []
    for mask, present, sign in ((active, has_active, 1), (~active, has_inactive, -1)):
        smallest = np.min(np.where(mask, x, inf), axis=1)
        largest = np.max(np.where(mask, x, -inf), axis=1)
        side_ok.append(((margin(smallest, present, sign) > tol) & (margin(largest, present, sign) > tol))
                       .astype(bool))
    genuine = np.where(~has_active, True, np.where(unique, side_ok[0] & side_ok[1], (ybar > tol).astype(bool)))
    lower = active if o < 0 else ~active  # the samples left of t
    low = np.max(np.where(lower, x, -inf), axis=1)
    high = np.min(np.where(lower, inf, x), axis=1)
    missing = None if exact else np.nan
    slope = np.where(unique, a, missing)
    intercept = np.where(unique, b, missing)
    return genuine.astype(bool), m, slope, intercept, low, high


def genuine_1d(x: Any, y: Any, t: Any, orientation: int, *, exact: bool = False, tol: float = _TOL) -> Criterion1D:
    r"""Whether the 1-D cell "one ReLU unit, :math:`v = +1`, active on :math:`o(x - t) > 0`" holds a genuine
    minimum, in closed form (module docstring):

    .. math::  o\, a > 0 \quad\text{and}\quad x_{(j)} < -b / a < x_{(j+1)},

    with :math:`a x + b` the least-squares line on the active samples and :math:`(x_{(j)}, x_{(j+1)})` the gap
    containing ``t`` (plus the one-sided and degenerate cases of the module docstring). It agrees with
    :func:`~cellscape.atlas.cell_solve.solve_cell` (width 1, positive outputs), without an LP.

    Args:
        x, y: inputs and targets, shape ``(N,)`` or a batch ``(B, N)``. t: the threshold. orientation: ``+1``
            (active on ``x > t``) or ``-1`` (active on ``x < t``).
        exact: compute in rationals (floats taken at their exact binary value; strings such as ``"1/3"`` and
            Fractions accepted); single data sets only. The inequalities are then strict (``tol`` unused).
        tol: in floats, a sample counts as on its side when :math:`\pm(a x_n + b) / \max(1, |x_n|) > ` ``tol``
            (and :math:`\bar y >` ``tol`` in the degenerate case): the slack tolerance of ``solve_cell``, so a
            zero within rounding of a sample reads as "on the boundary, not genuine".

    Returns:
        A :class:`Criterion1D` (scalars for ``(N,)`` input, ``(B,)`` arrays for a batch).

    Raises:
        InvalidInputError: for mismatched shapes, no samples, or an orientation other than +1 / -1.

    Notes:
        :math:`O(B N)`.

    Examples:
        ``y = relu(x)`` exactly: the line on :math:`x > 0.5` is :math:`y = x`, its zero 0 lies in the gap
        :math:`(-1, 1)` around ``t``:

        >>> res = genuine_1d([-2, -1, 1, 2], [0, 0, 1, 2], "1/2", +1, exact=True)
        >>> res.genuine, res.slope, res.intercept, (res.gap_low, res.gap_high)
        (True, Fraction(1, 1), Fraction(0, 1), (Fraction(-1, 1), Fraction(1, 1)))
        >>> res = genuine_1d([-2, -1, 1, 2], [0, 0, 1, 2], "-3/2", +1, exact=True)  # zero -8/9 not in (-2, -1)
        >>> res.genuine, res.slope, -res.intercept / res.slope
        (False, Fraction(9, 14), Fraction(-8, 9))
    """
    func = "genuine_1d"
    if isinstance(orientation, bool) or orientation not in (1, -1):
        raise invalid("orientation", func, "+1 (active on x > t) or -1 (active on x < t)", orientation)
    o = int(orientation)
    tol = 0.0 if exact else check_float(tol, name="tol", func=func, minimum=0.0)
    if exact:
        xa, ya = np.asarray(x, dtype=object), np.asarray(y, dtype=object)
        if xa.ndim != 1:
            raise invalid("x", func, "one data set of shape (N,) with exact=True", f"shape {xa.shape}", raw=True)
        xa = np.array([to_fraction(v) for v in xa], dtype=object)
        ya = np.array([to_fraction(v) for v in ya.reshape(-1)], dtype=object)
        tq = to_fraction(t)
    else:
        xa, ya = to_numpy(x, name="x", func=func), to_numpy(y, name="y", func=func)
        tq = check_float(t, name="t", func=func)
    if xa.shape != ya.shape or xa.ndim not in (1, 2) or xa.shape[-1] == 0:
        raise invalid("y", func, "targets of the shape of x, (N,) or (B, N) with N >= 1",
                      f"shapes {xa.shape} and {ya.shape}", raw=True)
    single = xa.ndim == 1
    genuine, m, slope, intercept, low, high = _criterion(np.atleast_2d(xa), np.atleast_2d(ya), tq, o, tol, exact)
    if not single:
        return Criterion1D(genuine, m, slope, intercept, low, high)

    def scalar(v: Any) -> Any:
        return v if exact else float(v)

    return Criterion1D(bool(genuine[0]), int(m[0]), scalar(slope[0]), scalar(intercept[0]), scalar(low[0]),
                       scalar(high[0]))


@dataclasses.dataclass(frozen=True, eq=False)
class ProbabilityMap1D:
    """The Monte Carlo probability map of :func:`probability_map_1d`.

    Attributes:
        thresholds: ``(T,)``. orientations: ``(O,)`` (+1 / -1). Ns: ``(M,)`` sample sizes.
        n_genuine: ``(T, O, M)`` counts of genuine draws. draws: draws per sample size (shared by every cell).
        estimate, low, high: ``(T, O, M)``: ``n_genuine / draws`` and its Wilson interval.
        confidence, noise, seed: the settings.
    """

    thresholds: np.ndarray
    orientations: np.ndarray
    Ns: np.ndarray
    n_genuine: np.ndarray
    draws: int
    estimate: np.ndarray
    low: np.ndarray
    high: np.ndarray
    confidence: float
    noise: float
    seed: int

    def to_dict(self) -> dict[str, Any]:
        return {"thresholds": self.thresholds.tolist(), "orientations": self.orientations.tolist(),
                "Ns": self.Ns.tolist(), "n_genuine": self.n_genuine.tolist(), "draws": self.draws,
                "estimate": self.estimate.tolist(), "low": self.low.tolist(), "high": self.high.tolist(),
                "confidence": self.confidence, "noise": self.noise, "seed": self.seed}


def probability_map_1d(thresholds: Sequence[float], orientations: Sequence[int], Ns: Sequence[int], *,
                       draws: int = 1000, seed: int = 0, noise: float = 0.1, teacher: Teacher = None,
                       confidence: float = 0.95) -> ProbabilityMap1D:
    r"""The probability that the 1-D cell (threshold ``t``, orientation ``o``) holds a genuine minimum, over a
    grid ``thresholds x orientations x Ns``, by Monte Carlo with the closed-form criterion :func:`genuine_1d`.

    Data: :math:`x \sim \mathcal N(0, 1)`, :math:`y = f^*(x) + \sigma \varepsilon` (default
    :math:`f^* = \mathrm{relu}`, the teacher of theory 3.6's template with :math:`\sigma = 0.1`). At each sample
    size the same ``draws`` data sets serve every cell, drawn from ``numpy.random.default_rng((seed, N))``
    (module docstring), so differences between cells are not Monte Carlo noise of separate draws.

    What to expect (theory 3.6; seen in the tests): in the teacher's cell (``t = 0``, ``o = +1``) the probability
    stays large over ``N = 10..80``; elsewhere it decays quickly in ``N``. In the teacher's cell it is 1 without
    noise; with noise it decays slowly (the zero of the fitted line wanders by :math:`O(\sigma / \sqrt N)`,
    the gap is :math:`O(1 / N)`: about :math:`N^{-1/2}` for large ``N``).

    Args:
        thresholds: ``t`` values. orientations: values +1 / -1. Ns: sample sizes (each >= 1).
        draws: data sets per sample size. seed: a non-negative int. noise: :math:`\sigma \ge 0`.
        teacher: 1-D ReLU teacher weights ``(K*, 2)`` (output weights +1), a callable ``(n, 1) -> (n,)``, or
            ``None`` for ``relu(x)``. confidence: the level of the Wilson intervals.

    Returns:
        A :class:`ProbabilityMap1D`.

    Raises:
        InvalidInputError: for empty grids, orientations other than +1 / -1, or bad counts.

    Notes:
        :math:`O(T\, O \sum_N \text{draws}\cdot N)`, vectorised over the draws.

    Examples:
        >>> res = probability_map_1d([-1.0, 0.0], [1], [10, 80], draws=400, seed=0)
        >>> res.estimate.shape, bool(res.estimate[1, 0, 1] > 0.3), bool(res.estimate[0, 0, 1] < 0.05)
        ((2, 1, 2), True, True)
    """
    func = "probability_map_1d"
    ts = to_numpy(thresholds, name="thresholds", func=func).reshape(-1)
    os_ = np.asarray(orientations).reshape(-1)
    if os_.size == 0 or not np.all(np.isin(os_, (1, -1))):
        raise invalid("orientations", func, "a non-empty list of +1 / -1", orientations)
    Ns_ = np.array([check_int(n, name="Ns", func=func, minimum=1) for n in np.asarray(Ns).reshape(-1).tolist()],
                   dtype=np.int64)
    if ts.size == 0 or Ns_.size == 0:
        raise invalid("thresholds", func, "non-empty grids of thresholds and sample sizes",
                      f"{ts.size} thresholds and {Ns_.size} sample sizes", raw=True)
    draws = check_int(draws, name="draws", func=func, minimum=1)
    seed = check_int(seed, name="seed", func=func, minimum=0)
    noise = check_float(noise, name="noise", func=func, minimum=0.0)
    f_star = _teacher_function(teacher, 1, func)
    counts = np.zeros((ts.size, os_.size, Ns_.size), dtype=np.int64)
    for j, N in enumerate(Ns_.tolist()):
        X, y = _gaussian_draws(np.random.default_rng((seed, N)), draws, N, 1, f_star, noise)
        x = X[..., 0]
        for i, t in enumerate(ts.tolist()):
            for k, o in enumerate(os_.tolist()):
                counts[i, k, j] = int(np.sum(_criterion(x, y, t, int(o), _TOL, False)[0]))
    low, high = wilson_interval(counts, np.full(counts.shape, draws), confidence=confidence)
    return ProbabilityMap1D(ts, os_.astype(np.int64), Ns_, counts, draws, counts / draws, low, high,
                            float(confidence), noise, seed)
