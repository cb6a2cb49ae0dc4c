r"""Slices of the risk landscape with their true cells: lines, paths and planes through parameter space.

A slice restricts the risk :math:`R(\theta)` to an affine subspace. Along a line
:math:`\theta(t) = \theta_0 + t \Delta` every pre-activation is a polynomial in :math:`t` between kinks, so the
risk is piecewise polynomial: :func:`slice_1d` gives its kinks and the polynomial of each piece exactly
(:func:`cellscape.lines.line_restriction`, rational arithmetic) next to a float curve on a grid, between two points,
along a path of points (a valley path, say) or along a direction. On a plane

.. math::  \theta(\alpha, \beta) = \theta_0 + \alpha\, d_1 + \beta\, d_2

:func:`slice_2d` evaluates the risk and the cell of every grid point (:mod:`cellscape.plane_grid`). The first
layer's pre-activations are affine in :math:`(\alpha, \beta)`, :math:`Z(\alpha, \beta) = (Z_0 + \beta Z_2) + \alpha
Z_1` with :math:`Z_i = X W_i^\top + b_i`, so the cell boundaries they cause are exact straight lines
(:attr:`Slice2D.lines`). For one or two hidden layers the grid is swept a row at a time: along a row each
first-layer unit changes piece at most once per breakpoint, and between such events the second layer's
pre-activations are a quadratic in :math:`\alpha` whose coefficients are updated per event, so a grid point costs
far less than a forward pass; deeper networks take a forward pass per point (BLAS products in threads). The cell
of a point is its activation pattern (and loss pattern, for a piecewise loss), given by a 128-bit code: points
with equal codes are one cell (a code depends on the pattern alone, not on the threads or batches; two different
patterns share one with probability about :math:`2^{-128}`).

Directions are random and *filter-normalised* (Li, Xu, Taylor, Studer, Goldstein, NeurIPS 2018): each row of
each weight matrix (a filter: the weights into one unit) of a Gaussian direction is rescaled to the norm of the
same row of :math:`\theta_0`, and bias directions are zero (their ``biasbn`` option, used for their figures), or
chosen, or the plane through three points, with an orthonormal basis so that distances are true distances.

Examples:
    >>> import numpy as np
    >>> from cellscape import mlp
    >>> arch = mlp(1, [1], 1)
    >>> theta = [([[1.0]], [0.0]), ([[1.0]], [0.0])]                  # x -> relu(x)
    >>> end = [([[1.0]], [3.0]), ([[1.0]], [0.0])]                    # x -> relu(x + 3)
    >>> line = slice_1d(arch, [theta, end], [[1.0], [-2.0]], [[0.0], [0.0]], resolution=7)
    >>> [float(k.t) for k in line.kinks]   # bias 3s: x + 3s = 0 at s = 2/3 for x = -2, distance 2 of 3
    [2.0]
    >>> line.pieces[1].coefficients        # on s in (2/3, 1): ((1 + 3s)^2 + (3s - 2)^2) / 4
    (Fraction(5, 4), Fraction(-3, 2), Fraction(9, 2))
    >>> plane = slice_2d(arch, theta, [[1.0], [-2.0]], [[0.0], [0.0]], resolution=5, seed=0)
    >>> plane.risk.shape, plane.n_cells >= 1
    ((5, 5), True)
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Sequence
from typing import Any

import numpy as np

from cellscape._backend import to_fraction
from cellscape._validation import check_enum, check_float, check_int, invalid
from cellscape.lines import Kink, LineSegment, line_restriction
from cellscape.losses import Loss, as_targets, parse_loss
from cellscape.networks import Architecture, as_inputs, as_params, flatten_params, make_rng, unflatten_params
from cellscape.plane_grid import blocks, evaluate_grid, first_layer, labels

__all__ = ["Normalization", "random_direction", "Slice1D", "slice_1d", "Mark", "Slice2D", "slice_2d"]


class Normalization(str, enum.Enum):
    """How a random direction is scaled to the point it starts from.

    ``filter`` (Li et al. 2018): each row of each weight matrix is rescaled to the norm of the same row of the
    point; ``layer``: each weight matrix to the norm of the point's; ``model``: the whole direction to the norm of
    the whole point; ``none``: the Gaussian draw as it is. Bias directions are zero unless ``include_biases``
    (then a bias entry joins its unit's row, a matrix or the whole vector).
    """

    FILTER = "filter"
    LAYER = "layer"
    MODEL = "model"
    NONE = "none"


def _flat(arch: Architecture, params: Any, *, name: str, func: str) -> np.ndarray:
    """One network's parameters as a float64 vector ``(n_params,)``."""
    P = as_params(arch, params, name=name, func=func)
    if P.batch_size != 1:
        raise invalid(name, func, "the parameters of one network", f"a batch of {P.batch_size}", raw=True)
    return np.asarray(flatten_params(arch, P), dtype=np.float64)[0]


def random_direction(arch: Architecture, params: Any, *, normalization: Normalization | str = "filter",
                     include_biases: bool = False, seed: int | np.random.Generator | None = 0) -> np.ndarray:
    r"""A random direction in parameter space, normalised to the point ``params`` (Li et al. 2018).

    Draws :math:`d \sim \mathcal N(0, I)` (flat order of :func:`cellscape.networks.flatten_params`) and rescales
    it by ``normalization`` (:class:`Normalization`): for ``filter``, row :math:`k` of layer :math:`l` becomes
    :math:`d_{lk} \|\theta_{lk}\| / \|d_{lk}\|`. Bias entries are zeroed unless ``include_biases``.

    Args:
        arch: the architecture. params: the point (one network).
        normalization: a :class:`Normalization`. include_biases: keep (and normalise) the bias entries.
        seed: an int, a ``numpy.random.Generator`` (drawn from, so successive calls give new directions) or
            ``None``.

    Returns:
        The direction, a float64 vector ``(n_params,)``.

    Raises:
        InvalidInputError: for bad parameters or options.

    Examples:
        >>> from cellscape import mlp
        >>> arch = mlp(2, [2], 1)
        >>> theta = [([[3.0, 4.0], [0.0, 1.0]], [1.0, 1.0]), ([[1.0, 1.0]], [0.0])]
        >>> d = random_direction(arch, theta, seed=0)
        >>> [round(float(np.linalg.norm(d[i:i + 2])), 12) for i in (0, 2)], d[4:6].tolist()  # rows 5 and 1
        ([5.0, 1.0], [0.0, 0.0])
    """
    func = "random_direction"
    normalization = check_enum(normalization, Normalization, name="normalization", func=func)
    theta = _flat(arch, params, name="params", func=func)
    d = make_rng(seed, func=func).normal(size=theta.shape)
    groups = []  # index arrays that are normalised together
    for w_at, rows, cols, b_at in blocks(arch):
        if normalization is Normalization.FILTER:
            for k in range(rows):
                row = list(range(w_at + k * cols, w_at + (k + 1) * cols))
                groups.append(row + ([b_at + k] if include_biases and b_at is not None else []))
        elif normalization is Normalization.LAYER:
            block = list(range(w_at, w_at + rows * cols))
            groups.append(block + (list(range(b_at, b_at + rows)) if include_biases and b_at is not None else []))
        if b_at is not None and not include_biases:
            d[b_at:b_at + rows] = 0.0
    if normalization is Normalization.MODEL:
        keep = d != 0.0
        groups.append(np.flatnonzero(keep).tolist())
    for group in groups:
        idx = np.asarray(group, dtype=np.int64)
        norm = np.linalg.norm(d[idx])
        d[idx] = d[idx] * (np.linalg.norm(theta[idx]) / norm) if norm > 0 else 0.0
    return d


# ------------------------------------------------------------------------------------------------------ 1-D
@dataclasses.dataclass(frozen=True)
class Slice1D:
    r"""The risk along a line or a path of segments, exactly where possible.

    Attributes:
        t: ``(M,)`` positions of the float curve: along a path, the distance in parameter space from its first
            point (segment :math:`i` runs from ``breaks[i]`` to ``breaks[i + 1]``); along a direction, the
            coefficient of the direction.
        risk: ``(M,)`` the risk at ``t`` (float64, one batched computation).
        cells: ``(M,)`` cell labels (equal labels: the same activation and loss pattern), numbered from 0 in order
            of appearance.
        breaks: the positions of the path's points (``(t_min, t_max)`` along a direction).
        kinks: the kinks (:class:`cellscape.lines.Kink`) with ``t`` on the axis of :attr:`t`: along a direction
            the exact rational ``t``; along a path a float distance (the exact position on segment :math:`i` is
            :math:`s = (t - \text{breaks}[i]) / (\text{breaks}[i+1] - \text{breaks}[i])`, rational when
            ``exact``); ``None`` when the exact restriction was not computed (``exact=False``).
        pieces: the polynomial of each piece between kinks (:class:`cellscape.lines.LineSegment`, exact
            coefficients in the segment's own parameter :math:`s \in [0, 1]` along a path, in :math:`t` along a
            direction), or ``None``.
        piece_segment: for each piece, the index of the path segment it lies on.
        loss: the loss's specification.
        along_path: through given points (``t`` a distance) rather than along a direction (``t`` its
            coefficient).
    """

    t: np.ndarray
    risk: np.ndarray
    cells: np.ndarray
    breaks: tuple[float, ...]
    kinks: tuple[Kink, ...] | None
    pieces: tuple[LineSegment, ...] | None
    piece_segment: tuple[int, ...] | None
    loss: str
    along_path: bool

    @property
    def n_cells(self) -> int:
        """The number of distinct cells seen on the grid."""
        return int(self.cells.max()) + 1


def slice_1d(arch: Architecture, path: Any, X: Any, y: Any, *, direction: Any = None, t_range: tuple = (-1.0, 1.0),
             loss: str | Loss = "squared", resolution: int = 401, exact: bool = True,
             max_kinks: int = 100_000) -> Slice1D:
    r"""The risk along a path of points (two points: the segment between them) or along a direction.

    Args:
        arch: the architecture.
        path: a sequence of at least two parameter points (one network each), or one point with ``direction``.
        X: inputs ``(n, d_in)``. y: targets.
        direction: a direction (parameters of one network, e.g. :func:`random_direction`); the line is then
            ``path + t * direction`` for ``t`` in ``t_range``.
        t_range: ``(t_min, t_max)`` along a direction.
        loss: the loss specification.
        resolution: float curve points per path segment (or along the direction).
        exact: also compute the exact kinks and pieces (:func:`cellscape.lines.line_restriction`, in rationals;
            its cost grows with the samples plus the kinks, see its Notes).
        max_kinks: passed to ``line_restriction``.

    Returns:
        A :class:`Slice1D`.

    Raises:
        InvalidInputError: for bad points, data or options.
        CellscapeError: from the exact restriction (a loss without exact values: pass ``exact=False``).
    """
    func = "slice_1d"
    resolution = check_int(resolution, name="resolution", func=func, minimum=2)
    loss_obj = parse_loss(loss)
    Xn = as_inputs(arch, X, func=func)
    yn = as_targets(y, loss_obj, arch.d_out, Xn.shape[0], func=func)
    if direction is not None:
        start = _flat(arch, path, name="path", func=func)
        delta = _flat(arch, direction, name="direction", func=func)
        t_min, t_max = (check_float(v, name="t_range", func=func) for v in t_range)
        if not t_min < t_max:
            raise invalid("t_range", func, "(t_min, t_max) with t_min < t_max", t_range)
        segments = [(start, delta, t_min, t_max)]
        breaks = (t_min, t_max)
    else:
        if isinstance(path, (str, bytes)) or not isinstance(path, Sequence) or len(path) < 2:
            raise invalid("path", func, "a sequence of at least two parameter points (or one with direction)",
                          path)
        points = [_flat(arch, p, name=f"path[{i}]", func=func) for i, p in enumerate(path)]
        segments = [(a, b - a, 0.0, 1.0) for a, b in zip(points, points[1:])]
        lengths = [float(np.linalg.norm(delta)) for _, delta, _, _ in segments]
        if min(lengths) == 0.0:
            raise invalid("path", func, "consecutive points that differ", "two equal consecutive points", raw=True)
        breaks = tuple(float(v) for v in np.concatenate([[0.0], np.cumsum(lengths)]))

    def position(i: int, s: Any) -> Any:
        """Where the segment's own parameter ``s`` lies on the slice's axis (the identity along a direction)."""
        return s if direction is not None else breaks[i] + (breaks[i + 1] - breaks[i]) * s

    ts, risks, codes = [], [], []
    for i, (origin, delta, lo, hi) in enumerate(segments):  # each segment is the line origin + s delta
        s = np.linspace(lo, hi, resolution)[(1 if i else 0):]
        ts.append(position(i, s))
        r, c = evaluate_grid(arch, loss_obj, origin, delta, np.zeros_like(delta), Xn, yn, s, np.zeros(1))
        risks.append(r[0])
        codes.append(c[0])
    t, risk = np.concatenate(ts), np.concatenate(risks)
    kinks = pieces = piece_segment = None
    if exact:
        kinks_list, pieces_list, owner = [], [], []
        for i, (origin, delta, lo, hi) in enumerate(segments):
            restriction = line_restriction(arch, unflatten_params(arch, origin[None]), Xn, yn,
                                           unflatten_params(arch, delta[None]), loss=loss_obj,
                                           t_min=to_fraction(lo), t_max=to_fraction(hi), max_kinks=max_kinks)
            kinks_list += [k if direction is not None else dataclasses.replace(k, t=position(i, float(k.t)))
                           for k in restriction.kinks]
            pieces_list += list(restriction.segments)
            owner += [i] * len(restriction.segments)
        kinks, pieces, piece_segment = tuple(kinks_list), tuple(pieces_list), tuple(owner)
    return Slice1D(t=t, risk=risk, cells=labels(np.concatenate(codes)), breaks=breaks, kinks=kinks, pieces=pieces,
                   piece_segment=piece_segment, loss=loss_obj.spec, along_path=direction is None)


# ------------------------------------------------------------------------------------------------------ 2-D
@dataclasses.dataclass(frozen=True)
class Mark:
    """A parameter point shown on a plane: its label, plane coordinates ``(alpha, beta)`` of its projection, and
    its distance from the plane (0 for points the plane was built through)."""

    label: str
    alpha: float
    beta: float
    off_plane: float


@dataclasses.dataclass(frozen=True)
class Slice2D:
    r"""The risk and the cells on a grid of the plane :math:`\theta_0 + \alpha d_1 + \beta d_2`.

    Attributes:
        alpha: ``(C,)`` grid coordinates along :math:`d_1`. beta: ``(R,)`` along :math:`d_2`.
        risk: ``(R, C)`` the risk, row ``i`` at ``beta[i]``.
        cells: ``(R, C)`` cell labels, numbered from 0 in row-major order of first appearance.
        origin, d1, d2: the plane (flat parameter vectors ``(n_params,)``).
        basis: ``random`` (filter-normalised, not orthogonalised), ``directions`` (as given) or ``points``
            (orthonormal, through three points).
        lines: ``(n_lines, 3)`` rows ``(c, c_alpha, c_beta)``: the first layer's cell boundaries
            :math:`c + c_\alpha \alpha + c_\beta \beta = 0`, one per unit, sample and breakpoint (exact straight
            lines; deeper layers' boundaries are curves, seen in :attr:`cells`).
        lines_are_all_boundaries: one hidden layer and a smooth loss: the lines are every cell boundary.
        marks: the points shown (:class:`Mark`).
        loss: the loss's specification.
    """

    alpha: np.ndarray
    beta: np.ndarray
    risk: np.ndarray
    cells: np.ndarray
    origin: np.ndarray
    d1: np.ndarray
    d2: np.ndarray
    basis: str
    lines: np.ndarray
    lines_are_all_boundaries: bool
    marks: tuple[Mark, ...]
    loss: str

    @property
    def n_cells(self) -> int:
        """The number of distinct cells seen on the grid."""
        return int(self.cells.max()) + 1

    def boundary_mask(self) -> np.ndarray:
        """``(R, C)`` booleans: grid points whose right or upper neighbour lies in another cell."""
        mask = np.zeros(self.cells.shape, dtype=bool)
        mask[:, :-1] |= self.cells[:, 1:] != self.cells[:, :-1]
        mask[:-1, :] |= self.cells[1:, :] != self.cells[:-1, :]
        return mask

    def point(self, alpha: float, beta: float) -> np.ndarray:
        """The flat parameter vector at plane coordinates ``(alpha, beta)``."""
        return self.origin + alpha * self.d1 + beta * self.d2


def _span(value: Any, func: str) -> tuple[float, float, float, float]:
    if not isinstance(value, Sequence) or len(value) != 4:
        raise invalid("span", func, "(alpha_min, alpha_max, beta_min, beta_max)", value)
    a0, a1, b0, b1 = (check_float(v, name="span", func=func) for v in value)
    if not (a0 < a1 and b0 < b1):
        raise invalid("span", func, "alpha_min < alpha_max and beta_min < beta_max", value)
    return a0, a1, b0, b1


def slice_2d(arch: Architecture, params: Any, X: Any, y: Any, *, directions: Any = None, points: Any = None,
             span: Any = None, resolution: int | tuple[int, int] = 201, loss: str | Loss = "squared",
             normalization: Normalization | str = "filter", include_biases: bool = False, marks: Any = (),
             seed: int | np.random.Generator | None = 0, chunk: int | None = None) -> Slice2D:
    r"""The risk and the cell of every point of a grid on a plane through ``params``.

    The plane is :math:`\theta_0 + \alpha d_1 + \beta d_2` with :math:`\theta_0` = ``params`` and

    * two random directions (default): :func:`random_direction` twice from one generator seeded by ``seed``;
    * ``directions=(d1, d2)``: as given (parameters of one network each), not normalised;
    * ``points=(theta_1, theta_2)``: the plane through ``params``, ``theta_1`` and ``theta_2``, with the
      orthonormal basis :math:`d_1 = (\theta_1 - \theta_0)/\|\cdot\|`, :math:`d_2` the normalised part of
      :math:`\theta_2 - \theta_0` orthogonal to :math:`d_1`; the three points are marked.

    Args:
        arch: the architecture. params: :math:`\theta_0` (one network). X: inputs ``(n, d_in)``. y: targets.
        directions, points: the plane (at most one of them).
        span: ``(alpha_min, alpha_max, beta_min, beta_max)``; default ``(-1, 1, -1, 1)``, or for ``points`` the
            box around the three points enlarged by a quarter of its size on every side.
        resolution: grid points per axis, or ``(columns, rows)``.
        loss: the loss specification. normalization, include_biases: of the random directions.
        marks: further points to show: a sequence of ``(label, params)``; each is projected onto the plane.
        seed: seeds the random directions.
        chunk: grid points per batch of the kernel (the sweep: points of a row whose outputs go to the loss at
            once; the forward pass: points per task); the default keeps a batch's buffers to a few MB. Results do
            not depend on it.

    Returns:
        A :class:`Slice2D`.

    Raises:
        InvalidInputError: for bad points, data or options, or three points on one line.

    Notes:
        With one or two hidden layers (:func:`cellscape.plane_grid.evaluate_grid`'s row sweep) a grid point costs
        :math:`O(n d_2 d_{out})` plus :math:`O(d_2)` for each first-layer unit that changes piece since the
        previous point of its row, and a row :math:`O(n d_1 d_2)` (BLAS); deeper networks take a forward pass per
        point. Rows, or points, are shared by up to ``min(cores, 8)`` threads. The sweep sums in another order
        than a forward pass: the values agree with :func:`cellscape.losses.risk` to rounding (tested at 1e-12).
    """
    func = "slice_2d"
    loss_obj = parse_loss(loss)
    theta = _flat(arch, params, name="params", func=func)
    Xn = as_inputs(arch, X, func=func)
    yn = as_targets(y, loss_obj, arch.d_out, Xn.shape[0], func=func)
    if isinstance(resolution, Sequence):
        if len(resolution) != 2:
            raise invalid("resolution", func, "an int or (columns, rows)", resolution)
        cols, rows = (check_int(r, name="resolution", func=func, minimum=2) for r in resolution)
    else:
        cols = rows = check_int(resolution, name="resolution", func=func, minimum=2)
    shown: list[tuple[str, np.ndarray]] = []
    if directions is not None and points is not None:
        raise invalid("points", func, "None when directions are given", "both", raw=True)
    if points is not None:
        if not isinstance(points, Sequence) or len(points) != 2:
            raise invalid("points", func, "two parameter points (with params, the plane's three points)", points)
        p1, p2 = (_flat(arch, p, name=f"points[{i}]", func=func) for i, p in enumerate(points))
        u = p1 - theta
        if np.linalg.norm(u) == 0:
            raise invalid("points", func, "points[0] different from params", "the same point", raw=True)
        d1 = u / np.linalg.norm(u)
        v = (p2 - theta) - ((p2 - theta) @ d1) * d1
        if np.linalg.norm(v) <= 1e-12 * max(1.0, float(np.linalg.norm(p2 - theta))):
            raise invalid("points", func, "three points not on one line", "collinear points", raw=True)
        d2 = v / np.linalg.norm(v)
        basis = "points"
        shown = [("params", theta), ("points[0]", p1), ("points[1]", p2)]
    elif directions is not None:
        if not isinstance(directions, Sequence) or len(directions) != 2:
            raise invalid("directions", func, "two directions (parameters of one network each)", directions)
        d1, d2 = (_flat(arch, d, name=f"directions[{i}]", func=func) for i, d in enumerate(directions))
        basis = "directions"
    else:
        rng = make_rng(seed, func=func)
        d1, d2 = (random_direction(arch, theta[None], normalization=normalization, include_biases=include_biases,
                                   seed=rng) for _ in range(2))
        basis = "random"
    if isinstance(marks, (str, bytes)) or not isinstance(marks, Sequence):
        raise invalid("marks", func, "a sequence of (label, params) pairs", marks)
    for i, mark in enumerate(marks):
        if not isinstance(mark, Sequence) or len(mark) != 2 or not isinstance(mark[0], str):
            raise invalid(f"marks[{i}]", func, "a (label, params) pair", mark)
        shown.append((mark[0], _flat(arch, mark[1], name=f"marks[{i}]", func=func)))
    gram = np.array([[d1 @ d1, d1 @ d2], [d2 @ d1, d2 @ d2]])
    if abs(np.linalg.det(gram)) <= 1e-24 * max(1.0, gram[0, 0] * gram[1, 1]):
        raise invalid("directions", func, "two independent directions", "parallel (or zero) directions", raw=True)
    placed = []
    for label, point in shown:
        coords = np.linalg.solve(gram, [d1 @ (point - theta), d2 @ (point - theta)])
        residual = (point - theta) - coords[0] * d1 - coords[1] * d2
        placed.append(Mark(label, float(coords[0]), float(coords[1]), float(np.linalg.norm(residual))))
    if span is None:
        if basis == "points":
            a = [m.alpha for m in placed[:3]]
            b = [m.beta for m in placed[:3]]
            pad_a, pad_b = 0.25 * (max(a) - min(a)), 0.25 * (max(b) - min(b))
            span = (min(a) - pad_a, max(a) + pad_a, min(b) - pad_b, max(b) + pad_b)
        else:
            span = (-1.0, 1.0, -1.0, 1.0)
    a0, a1, b0, b1 = _span(span, func)
    alpha, beta = np.linspace(a0, a1, cols), np.linspace(b0, b1, rows)
    if chunk is not None:
        chunk = check_int(chunk, name="chunk", func=func, minimum=1)
    risk, codes = evaluate_grid(arch, loss_obj, theta, d1, d2, Xn, yn, alpha, beta, chunk=chunk)
    return Slice2D(alpha=alpha, beta=beta, risk=risk, cells=labels(codes.reshape(-1, 2)).reshape(rows, cols),
                   origin=theta, d1=d1, d2=d2, basis=basis, lines=_first_layer_lines(arch, theta, d1, d2, Xn),
                   lines_are_all_boundaries=arch.n_layers == 2 and not loss_obj.is_piecewise, marks=tuple(placed),
                   loss=loss_obj.spec)


def _first_layer_lines(arch: Architecture, theta, d1, d2, X) -> np.ndarray:
    """Rows ``(c, c_alpha, c_beta)``: where a first-layer pre-activation meets a breakpoint on the plane."""
    Z = [first_layer(arch, v, X) for v in (theta, d1, d2)]
    bps = [float(p) for p in arch.activations[0].breakpoints] if arch.activations else []
    rows = [np.stack([(Z[0] - p).ravel(), Z[1].ravel(), Z[2].ravel()], axis=1) for p in bps]
    out = np.concatenate(rows) if rows else np.zeros((0, 3))
    return out[(out[:, 1] != 0) | (out[:, 2] != 0)]
