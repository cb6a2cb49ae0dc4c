r"""Every activation pattern one hidden unit can realise on the data: the cells of a central arrangement.

A unit :math:`h(w^\top \tilde x)` with a two-piece activation (breakpoint ``p``) is in its upper piece on sample
``n`` when :math:`z^\top \tilde x_n > 0`, with :math:`\tilde x_n = (x_n, 1)` and :math:`z = w - p\, e_{D}` (the
bias shifted by the breakpoint). Its patterns are therefore the sign vectors of the open cells of the central
arrangement in :math:`\mathbb{R}^D` (:math:`D = d + 1`) with normals :math:`\tilde x_n`. On data in general position
(no :math:`d + 1` points on one affine hyperplane) there are Cover's

.. math::  C(N, D) = 2 \sum_{j=0}^{D-1} \binom{N-1}{j}

of them (:func:`cover_count`), the all-on and all-off patterns included.

Two exact methods, one checked against the other in the tests:

* ``vertex`` (general position, fast): in a random affine chart :math:`\{g^\top z = 1\}` the arrangement becomes
  ``N`` affine hyperplanes in :math:`\mathbb{R}^d`; every region either has a lowest vertex in a random direction
  ``c`` (one region per vertex, whose signs on the vertex's ``d`` hyperplanes are those of ``c``'s coefficients in
  their normals) or is unbounded below, and then it meets a hyperplane :math:`\{c^\top u = t\}` below every vertex,
  where the same count recurses in one dimension less. The cells the chart misses are the negatives of those it
  sees (:math:`z \mapsto -z`). Vectorised over all :math:`\binom{N}{d}` vertices; any sign of degeneracy (a
  singular vertex system, a further hyperplane through a vertex) hands over to the next method.
* ``incremental`` (any data): the samples are added one at a time, and a cell is split by the new hyperplane when
  a largest-slack LP finds a strictly interior point on its other side. Repeated samples are merged first.

Examples:
    >>> import numpy as np
    >>> X = np.random.default_rng(0).normal(size=(12, 2))
    >>> cells = unit_patterns(X)
    >>> cells.n_cells == cover_count(12, 3), cells.method
    (True, 'vertex')
"""

from __future__ import annotations

import dataclasses
import enum
import itertools
import math
from fractions import Fraction
from typing import Any

import flint
import numpy as np

from cellscape._backend import to_numpy
from cellscape._validation import check_enum, check_int, invalid
from cellscape.atlas._lp import largest_slack
from cellscape.networks import make_rng

__all__ = ["EnumerationMethod", "UnitCells", "cover_count", "unit_patterns", "pattern_is_realisable"]


class EnumerationMethod(str, enum.Enum):
    """How :func:`unit_patterns` enumerates: ``auto`` (vertex, falling back to incremental on degenerate data),
    ``vertex`` (refuses degenerate data) or ``incremental``."""

    AUTO = "auto"
    VERTEX = "vertex"
    INCREMENTAL = "incremental"


def cover_count(N: int, D: int) -> int:
    r"""Cover's number of homogeneous linear dichotomies of ``N`` points in general position in
    :math:`\mathbb{R}^D`: :math:`2 \sum_{j=0}^{D-1} \binom{N-1}{j}` (:math:`2^N` when :math:`N \le D`).

    Examples:
        >>> cover_count(4, 3), cover_count(20, 3), cover_count(3, 5)
        (14, 382, 8)
    """
    N = check_int(N, name="N", func="cover_count", minimum=0)
    D = check_int(D, name="D", func="cover_count", minimum=1)
    if N == 0:
        return 1
    return 2 * sum(math.comb(N - 1, j) for j in range(D))


@dataclasses.dataclass(frozen=True, eq=False)
class UnitCells:
    """The realisable patterns of one unit.

    Attributes:
        packed: ``(C, ceil(N / 8))`` uint8, the patterns bit-packed along the samples (``np.packbits``), sorted.
        n_samples: ``N``.
        method: ``"vertex"`` or ``"incremental"``, the method that produced them.
        general_position: whether the data were found in general position (then ``n_cells`` is Cover's count).
    """

    packed: np.ndarray
    n_samples: int
    method: str
    general_position: bool

    @property
    def n_cells(self) -> int:
        return int(self.packed.shape[0])

    @property
    def patterns(self) -> np.ndarray:
        """``(C, N)`` booleans: ``patterns[c, n]`` is True where the unit is in its upper piece on sample ``n``."""
        return np.unpackbits(self.packed, axis=1, count=self.n_samples).astype(bool)


def scaled_rows(Xt: np.ndarray) -> np.ndarray:
    """Every row divided by a power of two near its largest entry: exact, and it keeps every sign."""
    _, exponent = np.frexp(np.max(np.abs(Xt), axis=1, keepdims=True))
    return np.ldexp(Xt, -exponent)


def _augmented(X: Any, func: str) -> np.ndarray:
    X = to_numpy(X, name="X", func=func)
    if X.ndim != 2 or X.shape[0] == 0:
        raise invalid("X", func, "inputs of shape (N, d) with N >= 1", f"an array of shape {X.shape}", raw=True)
    return scaled_rows(np.hstack([X, np.ones((X.shape[0], 1))]))


def unit_patterns(X: Any, *, method: str | EnumerationMethod = "auto", seed: int = 0,
                  tol: float = 1e-9) -> UnitCells:
    """Every activation pattern one unit (with bias) realises on the inputs ``X`` (shape ``(N, d)``).

    Args:
        X: the inputs. method: see :class:`EnumerationMethod`. seed: the chart and direction of the vertex method
            (the result does not depend on it). tol: relative tolerance below which a determinant or a vertex's
            distance to a further hyperplane counts as degenerate, and the LP slack of the incremental method.

    Raises:
        InvalidInputError: for bad inputs, or ``method="vertex"`` on degenerate data.
    """
    func = "unit_patterns"
    method = check_enum(method, EnumerationMethod, name="method", func=func)
    Xt = _augmented(X, func)
    N = Xt.shape[0]
    if method is not EnumerationMethod.INCREMENTAL:
        packed = _vertex_method(Xt, make_rng(seed, func=func), tol)
        if packed is not None:
            return UnitCells(packed, N, "vertex", True)
        if method is EnumerationMethod.VERTEX:
            raise invalid("X", func, "data in general position for method='vertex'",
                          "degenerate data (use method='incremental' or 'auto')", raw=True)
    packed = _incremental_method(Xt, tol)
    return UnitCells(packed, N, "incremental", packed.shape[0] == cover_count(N, Xt.shape[1])
                     and len(np.unique(Xt, axis=0)) == N)


# ---------------------------------------------------------------------------------------------- vertex method
class _Degenerate(Exception):
    pass


def _integer_direction(rng: np.random.Generator, m: int) -> np.ndarray:
    c = rng.integers(-64, 65, size=m)
    c[-1] = rng.integers(1, 65)
    return c


def _complement_basis(c: np.ndarray) -> np.ndarray:
    """An integer basis of the complement of the integer vector ``c`` (columns ``c_m e_i - c_i e_m``)."""
    m = c.size
    B = np.zeros((m, m - 1), dtype=object)
    for i in range(m - 1):
        B[i, i] = int(c[-1])
        B[m - 1, i] = -int(c[i])
    return B


def _vertex_method(Xt: np.ndarray, rng: np.random.Generator, tol: float) -> np.ndarray | None:
    N, D = Xt.shape
    Xq = np.array([[flint.fmpq(*Fraction(float(v)).as_integer_ratio()) for v in row] for row in Xt], dtype=object)
    g = _integer_direction(rng, D)
    try:
        upper = _regions(Xq @ _complement_basis(g), Xq @ g.astype(object), rng, tol)
    except _Degenerate:
        return None
    lower = np.bitwise_not(upper)
    if N % 8:
        lower[:, -1] &= np.uint8((0xFF << (8 - N % 8)) & 0xFF)
    both = _unique_rows(np.vstack([upper, lower]))
    if both.shape[0] != cover_count(N, D):  # general position makes it exact; anything else is degeneracy
        return None
    return both


def _unique_rows(packed: np.ndarray) -> np.ndarray:
    """The distinct rows of a uint8 array, sorted (through a void view: one comparison per row)."""
    packed = np.ascontiguousarray(packed)
    view = packed.view(np.dtype((np.void, packed.shape[1]))).ravel()
    return np.unique(view).view(np.uint8).reshape(-1, packed.shape[1])


def _combinations(N: int, m: int, chunk: int):
    it = itertools.combinations(range(N), m)
    while True:
        block = np.fromiter(itertools.chain.from_iterable(itertools.islice(it, chunk)), dtype=np.int64)
        if block.size == 0:
            return
        yield block.reshape(-1, m)


def _exact_vertex(aq: np.ndarray, bq: np.ndarray, S: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, Any]:
    """Signs of the region above the vertex of the hyperplanes ``S``, in exact rationals (for the few vertices
    too close to degenerate for floats). Raises _Degenerate for a truly degenerate vertex."""
    m = len(S)
    M = flint.fmpq_mat(m, m, [aq[i, j] for i in S for j in range(m)])
    try:
        v = M.solve(flint.fmpq_mat(m, 1, [-bq[i] for i in S]))
        mu = M.transpose().solve(flint.fmpq_mat(m, 1, [int(x) for x in c]))
    except ZeroDivisionError:
        raise _Degenerate from None
    values = [sum((aq[n, j] * v[j, 0] for j in range(m)), flint.fmpq(0)) + bq[n] for n in range(aq.shape[0])]
    signs = np.array([val > 0 for val in values])
    others = np.ones(aq.shape[0], dtype=bool)
    others[S] = False
    if any(values[n] == 0 for n in np.nonzero(others)[0]) or any(mu[j, 0] == 0 for j in range(m)):
        raise _Degenerate
    signs[S] = [mu[j, 0] > 0 for j in range(m)]
    return signs, sum((int(c[j]) * v[j, 0] for j in range(m)), flint.fmpq(0))


def _regions(aq: np.ndarray, bq: np.ndarray, rng: np.random.Generator, tol: float,
             chunk: int = 1 << 15) -> np.ndarray:
    """Packed sign vectors of ``sign(a u + b)`` over the regions of the affine arrangement in R^m (``aq``, ``bq``
    exact rationals; computed in floats, with every vertex that floats cannot decide redone exactly)."""
    N, m = aq.shape
    b = bq.astype(np.float64)
    if m == 0:
        if any(x == 0 for x in bq):
            raise _Degenerate
        return np.packbits(b > 0)[None, :]
    a = aq.astype(np.float64)
    norms = np.linalg.norm(a, axis=1)
    c = _integer_direction(rng, m)
    cf = c.astype(np.float64)
    out, lowest = [], math.inf
    if N >= m:
        for S in _combinations(N, m, chunk):
            AS = a[S]  # (k, m, m): rows are the normals of the vertex's hyperplanes
            rows = np.arange(len(S))[:, None]
            det = np.abs(np.linalg.det(AS)) / np.prod(norms[S], axis=1)
            doubtful = det <= 1e3 * tol
            AS[doubtful] = np.eye(m)
            v = np.linalg.solve(AS, -b[S][..., None])[..., 0]
            mu = np.linalg.solve(np.swapaxes(AS, 1, 2), np.broadcast_to(cf, (len(S), m))[..., None])[..., 0]
            values = v @ a.T + b
            scale = 1.0 + np.abs(b) + norms * np.linalg.norm(v, axis=1, keepdims=True)
            near = np.abs(values) <= tol * scale
            near[rows, S] = False
            doubtful |= np.any(near, axis=1) | np.any(np.abs(mu) <= tol * np.linalg.norm(mu, axis=1,
                                                                                             keepdims=True), axis=1)
            signs = values > 0
            signs[rows, S] = mu > 0
            levels = v @ cf
            for r in np.nonzero(doubtful)[0]:
                signs[r], level = _exact_vertex(aq, bq, S[r], c)
                levels[r] = float(level)
            out.append(np.packbits(signs, axis=1))
            lowest = min(lowest, float(np.min(levels)))
    t = 0 if lowest == math.inf else math.floor(lowest) - 1
    cq = c.astype(object)
    shifted = bq + t * (aq @ cq) / int(c @ c)  # the hyperplane {c . u = t} through the point t c / |c|^2
    out.append(_regions(aq @ _complement_basis(c), shifted, rng, tol, chunk))
    return np.vstack(out)


# ---------------------------------------------------------------------------------------------- incremental
def _incremental_method(Xt: np.ndarray, tol: float) -> np.ndarray:
    unique, inverse = np.unique(Xt, axis=0, return_inverse=True)
    inverse = np.asarray(inverse).ravel()
    D = unique.shape[1]
    cells: list[tuple[np.ndarray, np.ndarray]] = [(np.zeros(0, dtype=bool), np.zeros(D))]
    for n in range(unique.shape[0]):
        x = unique[n]
        seen = unique[:n]
        grown = []
        for signs, w in cells:
            s = float(x @ w)
            for side in (True, False):
                if (s > tol) if side else (s < -tol):  # the cell's interior point already lies on this side
                    grown.append((np.r_[signs, side], w))
                    continue
                sigma = np.where(np.r_[signs, side], 1.0, -1.0)[:, None]
                delta, z = largest_slack(-sigma * np.vstack([seen, x]), np.zeros(n + 1))
                if delta > tol:
                    grown.append((np.r_[signs, side], z))
        cells = grown
    patterns = np.array([signs[inverse] for signs, _ in cells], dtype=bool).reshape(len(cells), -1)
    return _unique_rows(np.packbits(patterns, axis=1))


def pattern_is_realisable(X: Any, pattern: Any, *, tol: float = 1e-9) -> tuple[bool, np.ndarray]:
    """Whether one unit realises ``pattern`` (booleans, one per sample) strictly, with an interior point ``z``
    (``z . (x_n, 1) > 0`` exactly where the pattern is True), by the largest-slack LP.

    Examples:
        >>> import numpy as np
        >>> X = np.array([[0.0], [1.0], [2.0]])
        >>> pattern_is_realisable(X, [True, False, True])[0], pattern_is_realisable(X, [False, True, True])[0]
        (False, True)
    """
    Xt = _augmented(X, "pattern_is_realisable")
    sigma = np.where(np.asarray(pattern, dtype=bool), 1.0, -1.0)[:, None]
    delta, z = largest_slack(-sigma * Xt, np.zeros(Xt.shape[0]))
    return delta > tol, z
