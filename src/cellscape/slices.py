r"""Slices of the risk landscape with their true cells: lines, paths and planes through parameter space.

A slice restricts the risk :math:`R(\theta)` to an affine subspace. Along a line
:math:`\theta(t) = \theta_0 + t \Delta` every pre-activation is a polynomial in :math:`t` between kinks, so the
risk is piecewise polynomial: :func:`slice_1d` gives its kinks and the polynomial of each piece exactly
(:func:`cellscape.lines.line_restriction`, rational arithmetic) next to a float curve on a grid, between two points,
along a path of points (a valley path, say) or along a direction. On a plane

.. math::  \theta(\alpha, \beta) = \theta_0 + \alpha\, d_1 + \beta\, d_2

:func:`slice_2d` evaluates the risk and the cell of every grid point. The first layer's pre-activations are affine
in :math:`(\alpha, \beta)`, :math:`Z(\alpha, \beta) = (Z_0 + \beta Z_2) + \alpha Z_1` with :math:`Z_i = X W_i^\top +
b_i`, so they are computed once per plane (the bracket once per grid row) and combined per point (the cell
boundaries they cause are exact straight lines, :attr:`Slice2D.lines`); each later layer is one float64 matrix
product per point with its weights there, :math:`(M_0 + \beta M_2) + \alpha M_1` for :math:`M = [W^\top; b]` (the
bias row met by a column of ones). The points are shared, a task at a time, by a few threads: numpy and BLAS
release the GIL, and every product is cut into blocks small enough that BLAS runs each on the calling thread. The
cell of a point is its activation pattern (and loss pattern, for a piecewise loss): the kernel packs the pattern's
bits and hashes them with SHA-256, and points with equal 128-bit codes are one cell (a code depends on the pattern
alone, not on the tasks or threads; two different patterns share one with probability about :math:`2^{-128}`).

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

import concurrent.futures
import dataclasses
import enum
import functools
import hashlib
import os
import threading
from collections.abc import Sequence
from typing import Any

import jax
import numpy as np

from cellscape._backend import to_fraction
from cellscape._validation import check_enum, check_float, check_int, invalid
from cellscape.lines import Kink, LineSegment, line_restriction
from cellscape.losses import Loss, as_targets, parse_loss
from cellscape.networks import Architecture, as_inputs, as_params, flatten_params, make_rng, unflatten_params

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


def _blocks(arch: Architecture) -> list[tuple[int, int, int, int | None]]:
    """Per layer: ``(offset of W, rows, columns, offset of b or None)`` in the flat vector."""
    out, offset = [], 0
    for (rows, cols), b_shape in arch.layer_shapes():
        w_at = offset
        offset += rows * cols
        b_at = None
        if b_shape is not None:
            b_at = offset
            offset += b_shape[0]
        out.append((w_at, rows, cols, b_at))
    return out


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
    for w_at, rows, cols, b_at in _blocks(arch):
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
        r, c = _evaluate_plane(arch, loss_obj, origin, delta, np.zeros_like(delta), Xn, yn, s, np.zeros_like(s),
                               chunk=None)
        risks.append(r)
        codes.append(c)
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
    return Slice1D(t=t, risk=risk, cells=_labels(np.concatenate(codes)), breaks=breaks, kinks=kinks, pieces=pieces,
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
        chunk: grid points per task of the kernel (default: as many as keep a task's largest layer of
            pre-activations near 2 MB); results do not depend on it.

    Returns:
        A :class:`Slice2D`.

    Raises:
        InvalidInputError: for bad points, data or options, or three points on one line.

    Notes:
        Per grid point :math:`O(n \sum_{l \ge 2} d_l d_{l-1})` for the deeper layers (BLAS products) plus
        :math:`O(n \sum_l d_l)` for the first layer's combination, the activations and the pattern's hash; the
        points are shared by up to ``min(cores, 8)`` threads.
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
    A, B = np.meshgrid(alpha, beta)
    if chunk is not None:
        chunk = check_int(chunk, name="chunk", func=func, minimum=1)
    risk, codes = _evaluate_plane(arch, loss_obj, theta, d1, d2, Xn, yn, A.ravel(), B.ravel(), chunk=chunk)
    return Slice2D(alpha=alpha, beta=beta, risk=risk.reshape(rows, cols), cells=_labels(codes).reshape(rows, cols),
                   origin=theta, d1=d1, d2=d2, basis=basis, lines=_first_layer_lines(arch, theta, d1, d2, Xn),
                   lines_are_all_boundaries=arch.n_layers == 2 and not loss_obj.is_piecewise, marks=tuple(placed),
                   loss=loss_obj.spec)


def _first_layer_lines(arch: Architecture, theta, d1, d2, X) -> np.ndarray:
    """Rows ``(c, c_alpha, c_beta)``: where a first-layer pre-activation meets a breakpoint on the plane."""
    Z = [_first_layer(arch, v, X) for v in (theta, d1, d2)]
    bps = [float(p) for p in arch.activations[0].breakpoints] if arch.activations else []
    rows = [np.stack([(Z[0] - p).ravel(), Z[1].ravel(), Z[2].ravel()], axis=1) for p in bps]
    out = np.concatenate(rows) if rows else np.zeros((0, 3))
    return out[(out[:, 1] != 0) | (out[:, 2] != 0)]


def _first_layer(arch: Architecture, flat: np.ndarray, X: np.ndarray) -> np.ndarray:
    """``X W_1^T + b_1`` of a flat vector, ``(n, d_1)`` (a direction's bias enters like any parameter: the
    pre-activations are linear in the parameters)."""
    w_at, rows, cols, b_at = _blocks(arch)[0]
    Z = X @ flat[w_at:w_at + rows * cols].reshape(rows, cols).T
    return Z + flat[b_at:b_at + rows] if b_at is not None else Z


# ----------------------------------------------------------------------------------------------- the kernel
_BLAS_BLOCK = 1 << 19  # m k n of one matrix product: OpenBLAS runs smaller ones on the calling thread only
_GROUP_ELEMENTS = 1 << 18  # pre-activations per task (n * widest layer * points): 2 MB, cache-sized buffers
_MAX_WORKERS = 8
_LOSS_BATCH = 1 << 20  # outputs (points * n * d_out) per call of the compiled loss


def _labels(codes: np.ndarray) -> np.ndarray:
    """Cell labels from ``(G, 2)`` pattern codes: 0, 1, ... in order of first appearance."""
    _, first, inverse = np.unique(codes, axis=0, return_index=True, return_inverse=True)
    rank = np.empty(first.size, dtype=np.int64)
    rank[np.argsort(first)] = np.arange(first.size)
    return rank[inverse.reshape(-1)]


@functools.lru_cache(maxsize=32)
def _loss_kernel(loss: Loss):
    """The compiled per-sample losses and loss pieces of a batch of outputs: ``(yhat (P, n, d_out), y) -> (losses
    (P, n), pieces (P, n, m))``."""
    return jax.jit(lambda yhat, y: (loss.per_sample(yhat, y), loss.pieces(yhat, y)))


@dataclasses.dataclass(frozen=True)
class _Plane:
    r"""What every grid point of a plane shares, read-only.

    ``Z``: the first layer's :math:`Z_0, Z_1, Z_2`. ``M``: the later layers' matrices
    :math:`M_i = [W_i^\top; b_i]` (the bias as the last row, zero without one) of the origin and the two directions,
    raveled one after the other into a vector per ``i`` (``shapes``: each layer's ``(rows, columns)``). Every hidden
    layer carries one more column that is 1 at every point (1 in :math:`Z_0`, 0 in :math:`Z_1, Z_2`; a last column
    :math:`e` of :math:`M_0`, 0 in :math:`M_1, M_2`), so the next product adds the bias: :math:`[h, 1] M =
    h W^\top + b`. ``acts``: each hidden layer's activation as ``(c_0, s_0, ((p_j, s_j - s_{j-1}), ...))``."""

    Z: tuple[np.ndarray, np.ndarray, np.ndarray]
    M: tuple[np.ndarray, np.ndarray, np.ndarray]
    shapes: tuple[tuple[int, int], ...]
    acts: tuple[tuple[float, float, tuple[tuple[float, float], ...]], ...]
    breakpoints: tuple[tuple[float, ...], ...]
    widths: tuple[int, ...]
    n: int


def _plane(arch: Architecture, theta, d1, d2, X) -> _Plane:
    """The shared arrays of the plane ``theta + alpha d1 + beta d2`` (flat vectors) on inputs ``X``."""
    hidden = arch.n_layers > 1
    Z = []
    for i, v in enumerate((theta, d1, d2)):
        first = _first_layer(arch, v, X)
        Z.append(np.ascontiguousarray(np.hstack([first, np.full((X.shape[0], 1), 1.0 if i == 0 else 0.0)])
                                      if hidden else first))
    M: list[list[np.ndarray]] = [[], [], []]
    shapes = []
    for l, (w_at, rows, cols, b_at) in enumerate(_blocks(arch)[1:]):
        last = l == arch.n_layers - 2
        for i, v in enumerate((theta, d1, d2)):
            m = np.zeros((cols + 1, rows + (0 if last else 1)))
            m[:cols, :rows] = v[w_at:w_at + rows * cols].reshape(rows, cols).T
            if b_at is not None:
                m[cols, :rows] = v[b_at:b_at + rows]
            if not last and i == 0:
                m[cols, rows] = 1.0
            M[i].append(m.ravel())
        shapes.append((cols + 1, rows + (0 if last else 1)))
    flat = tuple(np.concatenate(m) if m else np.zeros(0) for m in M)
    acts = tuple((float(act.intercepts[0]), float(act.slopes[0]),
                  tuple((float(p), float(s1 - s0)) for p, s0, s1 in zip(act.breakpoints, act.slopes, act.slopes[1:])
                        if s1 != s0)) for act in arch.activations)
    bps = tuple(tuple(float(p) for p in act.breakpoints) for act in arch.activations)
    return _Plane(Z=tuple(Z), M=flat, shapes=tuple(shapes), acts=acts, breakpoints=bps, widths=tuple(arch.widths),
                  n=X.shape[0])


def _is_relu(act: tuple) -> bool:
    return act == (0.0, 0.0, ((0.0, 1.0),))


def _activate(act: tuple, z: np.ndarray, scratch: tuple[np.ndarray, np.ndarray] | None) -> None:
    r"""``z = h(z)`` in place (but its last column, ones) for a piecewise-linear ``h = (c_0, s_0, ((p_j, s_j -
    s_{j-1}), ...))``, the formula of its ``__call__``: :math:`h(z) = c_0 + s_0 z + \sum_j (s_j - s_{j-1})
    [z - p_j]_+`. ReLU takes one pass, ``max(z, 0)`` (which keeps the ones); another function two scratch arrays
    of ``z``'s shape."""
    if _is_relu(act):
        np.fmax(z, 0.0, out=z)
        return
    c0, s0, kinks = act
    total, term = scratch
    total.fill(c0)
    for p, jump in kinks:
        np.subtract(z, p, out=term)
        np.maximum(term, 0.0, out=term)
        if jump != 1.0:
            term *= jump
        total += term
    z *= s0
    z += total
    z[..., -1] = 1.0  # the column of ones


def _product(h: np.ndarray, M: np.ndarray, out: np.ndarray) -> None:
    """``out[q] = h[q] @ M[q]`` for every point ``q`` of a task. One stacked product when each is small, else
    blocks of rows with fewer than ``_BLAS_BLOCK`` multiply-adds each (a stacked product: one BLAS call per block):
    every BLAS call then runs on the calling thread and the tasks run in parallel (a threaded BLAS would make the
    two compete for the cores)."""
    n, k, m = h.shape[1], h.shape[2], M.shape[2]
    if n * k * m < _BLAS_BLOCK:
        np.matmul(h, M, out=out)
        return
    rows = max(1, (_BLAS_BLOCK - 1) // (k * m))
    rows -= rows % 8 if rows > 8 else 0  # whole blocks of the 4 x 8 (or 8 x 4) kernel run faster
    whole = n - n % rows
    for q in range(h.shape[0]):
        np.matmul(h[q, :whole].reshape(-1, rows, k), M[q], out=out[q, :whole].reshape(-1, rows, m))
        if whole < n:
            np.dot(h[q, whole:], M[q], out=out[q, whole:])


def _plane_worker(plane: _Plane, loss: Loss, y: np.ndarray, A: np.ndarray, B: np.ndarray, size: int,
                  take: Any, risk: np.ndarray, codes: np.ndarray) -> None:
    """Evaluate tasks (``size`` consecutive points each) until ``take()`` gives ``None``, writing ``risk`` and
    ``codes``; the buffers are this worker's own. The outputs of many tasks (up to ``_LOSS_BATCH`` numbers) are
    gathered for one call of the compiled loss (a call costs about 0.1 ms)."""
    n, widths = plane.n, plane.widths
    n_hidden = len(widths) - 2
    # hidden pre-activations with their column of ones, then (in place) activations
    z = [np.empty((size, n, w + 1)) for w in widths[1:-1]]
    scratch = [None if _is_relu(act) else (np.empty_like(zl), np.empty_like(zl)) for act, zl in zip(plane.acts, z)]
    M_all = np.empty((size, plane.M[0].size))  # the later layers' matrices at each point of a task
    M, at = [], 0
    for rows, cols in plane.shapes:
        M.append(M_all[:, at:at + rows * cols].reshape(size, rows, cols))
        at += rows * cols
    bits = [np.empty((size, n, w + 1), dtype=bool) for l, w in enumerate(widths[1:-1]) for _ in plane.breakpoints[l]]
    # the outputs of the tasks since the last call of the compiled loss: a batch of a fixed shape (whatever the
    # tasks), so that every point's loss is computed by the same code
    yhat = np.zeros((max(size, min(4096, _LOSS_BATCH // (n * widths[-1]))), n, widths[-1]))
    pending: list[tuple[int, int, list]] = []  # (start, points, hashes) of the tasks in yhat
    filled = 0
    kernel = _loss_kernel(loss)
    Z0, Z1, Z2 = plane.Z
    M0, M1, M2 = plane.M
    cached_b = None
    Zb, Mb = np.empty_like(Z0), np.empty_like(M0)  # Z0 + b Z2 and M0 + b M2 at that b

    def finish() -> None:
        """The risk and loss pieces of the gathered outputs; the codes of their points."""
        losses, pieces = (np.asarray(v) for v in kernel(yhat, y))
        row = 0
        for start, p, hashes in pending:
            risk[start:start + p] = np.mean(losses[row:row + p], axis=1)  # every row summed alike
            digests = bytearray()
            for q, digest in enumerate(hashes):
                if pieces.shape[-1]:
                    digest.update(np.ascontiguousarray(pieces[row + q]))
                digests += digest.digest()[:16]
            codes[start:start + p] = np.frombuffer(bytes(digests), dtype="<u8").reshape(p, 2)
            row += p
        pending.clear()

    while (task := take()) is not None:
        start = task * size
        a, b = A[start:start + size], B[start:start + size]
        p = a.shape[0]
        if filled + p > yhat.shape[0]:
            finish()
            filled = 0
        out = yhat[filled:filled + p]
        filled += p
        # the first layer (Z0 + b Z2) + a Z1 and the later layers' matrices (M0 + b M2) + a M1, the brackets once
        # per value of b (a grid row)
        z0 = z[0][:p] if n_hidden else out
        np.multiply(Z1, a[:, None, None], out=z0)
        np.multiply(M1, a[:, None], out=M_all[:p])
        b_list = b.tolist()
        lo = 0
        while lo < p:
            hi = lo + 1
            while hi < p and b_list[hi] == b_list[lo]:
                hi += 1
            if b_list[lo] != cached_b:
                cached_b = b_list[lo]
                np.multiply(Z2, cached_b, out=Zb)
                Zb += Z0
                np.multiply(M2, cached_b, out=Mb)
                Mb += M0
            z0[lo:hi] += Zb
            M_all[lo:hi] += Mb
            lo = hi
        slot = 0
        for l in range(n_hidden):
            zl = z[l][:p]
            for bp in plane.breakpoints[l]:
                np.greater_equal(zl, bp, out=bits[slot][:p])
                slot += 1
            _activate(plane.acts[l], zl, None if scratch[l] is None else (scratch[l][0][:p], scratch[l][1][:p]))
            _product(zl, M[l][:p], z[l + 1][:p] if l + 1 < n_hidden else out)
        packed = [np.packbits(bit[:p].reshape(p, -1), axis=1) for bit in bits]
        hashes = [hashlib.sha256() for _ in range(p)]
        for q, digest in enumerate(hashes):
            for row in packed:
                digest.update(row[q])
        pending.append((start, p, hashes))
    if pending:
        finish()


def _evaluate_plane(arch: Architecture, loss: Loss, theta, d1, d2, X, y, A, B, *, chunk: int | None):
    """Risk ``(G,)`` and pattern codes ``(G, 2)`` (uint64) at the plane points ``(A[g], B[g])``: tasks of ``chunk``
    consecutive points, shared by a few threads (numpy and BLAS release the GIL); every point is computed by the
    same operations whatever its task, so neither the chunking nor the threads change a result."""
    plane = _plane(arch, theta, d1, d2, np.asarray(X, dtype=np.float64))
    y = np.asarray(y)
    A = np.ascontiguousarray(A, dtype=np.float64)
    B = np.ascontiguousarray(B, dtype=np.float64)
    G = A.shape[0]
    if chunk is None:
        chunk = max(1, min(256, _GROUP_ELEMENTS // (plane.n * max(plane.widths[1:]))))
    size = min(chunk, G)
    n_tasks = -(-G // size)
    risk = np.empty(G)
    codes = np.empty((G, 2), dtype=np.uint64)
    counter, lock = iter(range(n_tasks)), threading.Lock()

    def take() -> int | None:
        with lock:
            return next(counter, None)

    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on every platform
        cpus = os.cpu_count() or 1
    workers = max(1, min(cpus, n_tasks, _MAX_WORKERS))
    args = (plane, loss, y, A, B, size, take, risk, codes)
    if workers == 1:
        _plane_worker(*args)
    else:
        with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
            for future in [pool.submit(_plane_worker, *args) for _ in range(workers)]:
                future.result()
    return risk, codes
