r"""The linear regions of a network in *input* space, exactly: every region, its vertices and its affine map.

A fully connected network :math:`f` with piecewise-linear activations is affine on each set of inputs that puts
every hidden unit in one linear piece of its activation. For inputs :math:`x \in \mathbb{R}^{d_0}` with
:math:`d_0 \in \{1, 2\}`, :func:`linear_regions` cuts a bounded domain (an interval, or an axis-aligned box) into
these *activation regions* and returns, for each one, its interval or convex polygon, its activation pattern and the
affine map :math:`f(x) = A x + c` it carries, all in exact rational arithmetic (python-flint): the float parameters
are taken at their exact binary value, as :func:`cellscape.networks.exact_params` does, so vertices, maps, areas and
counts are exact; every result also has float views for plotting.

Layer by layer, each region is an interval or convex polygon on which the layer's pre-activations
:math:`z^l_k(x) = a_k \cdot x + c_k` are affine. Each unit cuts it along the lines :math:`z^l_k(x) = p_j` of its
activation's breakpoints (exact half-plane clipping); a line that only touches a region does not cut it, so no piece
of zero length or area is ever made. On each piece, unit :math:`k` sits in piece :math:`j_k` of the activation
:math:`h(t) = s_j t + t_j`, and the map passed on to the next layer is :math:`a^l(x) = \operatorname{diag}(s_{j})
(A^l x + c^l) + t_{j}`.

Examples:
    Three lines in general position (:math:`x_1 = 0`, :math:`x_2 = 0`, :math:`x_1 + x_2 = 1`) cut the plane into
    :math:`1 + n + \binom{n}{2} = 7` regions:

    >>> from cellscape import mlp
    >>> arch = mlp(2, [3], 1)
    >>> params = [([[1, 0], [0, 1], [1, 1]], [0, 0, -1]), ([[1, 1, 1]], [0])]
    >>> regions = linear_regions(arch, params)
    >>> regions.n_regions, regions.n_affine_maps, regions.measure == regions.domain_measure
    (7, 7, True)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from fractions import Fraction
from typing import Any

import flint
import numpy as np

from cellscape._backend import fmpq_to_fraction, to_fmpq
from cellscape._validation import check_int, invalid
from cellscape.exceptions import InvalidInputError
from cellscape.networks import Architecture, as_inputs, exact_params

__all__ = ["LinearRegion", "LinearRegions", "linear_regions", "default_domain", "DEFAULT_MARGIN",
           "DEFAULT_MAX_REGIONS"]

DEFAULT_MARGIN = Fraction(1, 2)
"""The default domain's margin: each side is pushed out by this fraction of its largest side (at least 1)."""

DEFAULT_MAX_REGIONS = 200_000
"""The default cap on the number of regions (the enumeration stops with an error beyond it)."""

Point = tuple[flint.fmpq, ...]


# ---------------------------------------------------------------------------------------------- results
@dataclasses.dataclass(frozen=True)
class LinearRegion:
    r"""One activation region: a closed interval (1-D input) or convex polygon (2-D input) with its affine map.

    Attributes:
        vertices: exact points (tuples of :class:`~fractions.Fraction` of length ``d_in``): the two endpoints
            ``((lo,), (hi,))`` of an interval, or a polygon's vertices in counter-clockwise order (no repeated or
            collinear vertices).
        pattern: for each hidden layer, the piece index of every unit's activation on the region's interior
            (piece 0 lies left of the first breakpoint, as in :class:`~cellscape.activations.PiecewiseLinear`).
        A: the ``(d_out, d_in)`` matrix and ``c`` the ``(d_out,)`` vector with :math:`f(x) = A x + c` on the
            region (rows of Fractions).
        c: see ``A``.
        measure: the region's length (1-D) or area (2-D), a positive Fraction.
        interior_point: a point in the region's interior (the mean of its vertices).
    """

    vertices: tuple[tuple[Fraction, ...], ...]
    pattern: tuple[tuple[int, ...], ...]
    A: tuple[tuple[Fraction, ...], ...]
    c: tuple[Fraction, ...]
    measure: Fraction
    interior_point: tuple[Fraction, ...]

    @property
    def d_in(self) -> int:
        return len(self.vertices[0])

    @property
    def interval(self) -> tuple[Fraction, Fraction]:
        """``(lo, hi)`` of a 1-D region.

        Raises:
            InvalidInputError: for a 2-D region.
        """
        if self.d_in != 1:
            raise invalid("region", "LinearRegion.interval", "a region of a network with 1-D input",
                          f"a {self.d_in}-D region", raw=True)
        return self.vertices[0][0], self.vertices[1][0]

    @property
    def vertices_float(self) -> np.ndarray:
        """The vertices as a float64 array of shape ``(n_vertices, d_in)``."""
        return np.array([[float(v) for v in p] for p in self.vertices], dtype=np.float64)

    @property
    def A_float(self) -> np.ndarray:
        """``A`` as a float64 array of shape ``(d_out, d_in)``."""
        return np.array([[float(v) for v in row] for row in self.A], dtype=np.float64)

    @property
    def c_float(self) -> np.ndarray:
        """``c`` as a float64 array of shape ``(d_out,)``."""
        return np.array([float(v) for v in self.c], dtype=np.float64)

    def evaluate(self, X: Any) -> np.ndarray:
        """The region's affine map at float inputs ``X`` of shape ``(n, d_in)``: ``(n, d_out)`` float64 (the
        network's output wherever ``X`` lies in the region)."""
        return np.asarray(X, dtype=np.float64) @ self.A_float.T + self.c_float

    def evaluate_exact(self, x: Sequence[Any]) -> tuple[Fraction, ...]:
        """The region's affine map at one rational point ``x`` (floats taken exactly), in Fractions."""
        point = [fmpq_to_fraction(to_fmpq(v)) for v in x]
        return tuple(sum((a * v for a, v in zip(row, point)), ci) for row, ci in zip(self.A, self.c))

    def contains(self, x: Sequence[Any], *, interior: bool = False) -> bool:
        """Whether the rational point ``x`` (floats taken exactly) lies in the closed region, or, with
        ``interior=True``, in its interior; decided exactly."""
        point = [fmpq_to_fraction(to_fmpq(v)) for v in x]
        if self.d_in == 1:
            lo, hi = self.interval
            return lo < point[0] < hi if interior else lo <= point[0] <= hi
        verts = self.vertices
        for (ax, ay), (bx, by) in zip(verts, verts[1:] + verts[:1]):
            cross = (bx - ax) * (point[1] - ay) - (by - ay) * (point[0] - ax)
            if cross < 0 or (interior and cross == 0):
                return False
        return True

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready description: floats for plotting, and exact values as strings."""
        return {"vertices": self.vertices_float.tolist(), "A": self.A_float.tolist(), "c": self.c_float.tolist(),
                "pattern": [list(p) for p in self.pattern], "measure": float(self.measure),
                "exact": {"vertices": [[str(v) for v in p] for p in self.vertices],
                          "A": [[str(v) for v in row] for row in self.A], "c": [str(v) for v in self.c],
                          "measure": str(self.measure)}}


@dataclasses.dataclass(frozen=True)
class LinearRegions:
    """Every activation region of one network within a domain.

    Attributes:
        arch: the architecture.
        domain: one exact ``(lo, hi)`` pair per input coordinate (an interval, or the box
            ``((x_lo, x_hi), (y_lo, y_hi))``).
        regions: the regions, in the order the enumeration produced them.
        layer_counts: the number of regions after the cuts of hidden layers ``1, ..., L - 1`` (nondecreasing;
            the last is ``n_regions``; empty for a network without hidden layer).
        n_affine_maps: the number of distinct affine maps ``(A, c)`` among the regions (regions with one map need
            not be adjacent, and adjacent regions may share one, e.g. across the line of a unit whose output weight
            is zero).
    """

    arch: Architecture
    domain: tuple[tuple[Fraction, Fraction], ...]
    regions: tuple[LinearRegion, ...]
    layer_counts: tuple[int, ...]
    n_affine_maps: int

    @property
    def n_regions(self) -> int:
        return len(self.regions)

    @property
    def d_in(self) -> int:
        return len(self.domain)

    @property
    def domain_measure(self) -> Fraction:
        """The domain's length or area."""
        out = Fraction(1)
        for lo, hi in self.domain:
            out *= hi - lo
        return out

    @property
    def measure(self) -> Fraction:
        """The regions' lengths or areas summed (equal to :attr:`domain_measure`: the regions tile the domain)."""
        return sum((r.measure for r in self.regions), Fraction(0))

    @property
    def domain_float(self) -> np.ndarray:
        """The domain as a float64 array of shape ``(d_in, 2)``."""
        return np.array([[float(lo), float(hi)] for lo, hi in self.domain], dtype=np.float64)

    def locate(self, x: Sequence[Any]) -> int | None:
        """The index of the first region whose closure holds the rational point ``x`` (``None`` outside the
        domain); exact."""
        for i, region in enumerate(self.regions):
            if region.contains(x):
                return i
        return None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready description of the domain, the counts and every region."""
        return {"architecture": self.arch.to_dict(), "domain": self.domain_float.tolist(),
                "domain_exact": [[str(lo), str(hi)] for lo, hi in self.domain], "n_regions": self.n_regions,
                "n_affine_maps": self.n_affine_maps, "layer_counts": list(self.layer_counts),
                "regions": [r.to_dict() for r in self.regions]}


# ---------------------------------------------------------------------------------------------- geometry
def _values(points: Sequence[Point], a: Sequence[flint.fmpq], c: flint.fmpq) -> list[flint.fmpq]:
    """``a . x + c`` at every point."""
    if len(a) == 1:
        return [a[0] * p[0] + c for p in points]
    return [a[0] * p[0] + a[1] * p[1] + c for p in points]


def _cut(points: list[Point], values: list[flint.fmpq]) -> tuple[list[Point], list[Point]]:
    """Cut an interval or convex polygon along the zero set of an affine function with the given values at its
    vertices (negative somewhere, positive somewhere): the parts where it is ``<= 0`` and ``>= 0``."""
    below: list[Point] = []
    above: list[Point] = []
    n = len(points)
    closing = n > 2  # a polygon's last edge closes it; an interval has one edge
    for i in range(n if closing else 1):
        j = (i + 1) % n
        p, q, vp, vq = points[i], points[j], values[i], values[j]
        if vp <= 0:
            below.append(p)
        if vp >= 0:
            above.append(p)
        if (vp < 0 < vq) or (vq < 0 < vp):
            t = vp / (vp - vq)
            crossing = tuple(pi + t * (qi - pi) for pi, qi in zip(p, q))
            below.append(crossing)
            above.append(crossing)
    if not closing:  # the interval's second endpoint
        (below if values[1] < 0 else above).append(points[1])
    return below, above


def _split(points: list[Point], a: Sequence[flint.fmpq], c: flint.fmpq,
           breakpoints: Sequence[flint.fmpq]) -> list[tuple[list[Point], int]]:
    """Cut a region by every breakpoint line ``a . x + c = p`` that crosses its interior; each part with the
    activation piece it lies in."""
    values = _values(points, a, c)
    lo, hi = min(values), max(values)
    piece = sum(1 for p in breakpoints if p <= lo)  # the piece of the interior values just above lo
    out = []
    rest = points
    for p in breakpoints:
        if lo < p < hi:
            below, rest = _cut(rest, [v - p for v in _values(rest, a, c)])
            out.append((below, piece))
            piece += 1
    out.append((rest, piece))
    return out


def _measure(points: Sequence[Point]) -> flint.fmpq:
    if len(points[0]) == 1:
        return points[1][0] - points[0][0]
    twice = flint.fmpq(0)
    for (ax, ay), (bx, by) in zip(points, list(points[1:]) + [points[0]]):
        twice += ax * by - ay * bx
    return twice / 2


def _box(domain: Sequence[tuple[flint.fmpq, flint.fmpq]]) -> list[Point]:
    if len(domain) == 1:
        return [(domain[0][0],), (domain[0][1],)]
    (x0, x1), (y0, y1) = domain
    return [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]  # counter-clockwise


# ---------------------------------------------------------------------------------------------- domain
def _first_layer_points(arch: Architecture, params: Any) -> list[Point]:
    """Exact points every first-layer breakpoint line (point, in 1-D) passes through the box of: the kinks in
    1-D; in 2-D every pairwise intersection of the lines and the foot of the perpendicular from the origin to
    each line."""
    p = exact_params(arch, params)
    W, b = p.weights[0], p.biases[0]
    breakpoints = [to_fmpq(t) for t in arch.activations[0].breakpoints] if arch.n_layers > 1 else []
    lines = []  # (a, c) with a . x = c
    for k in range(W.nrows()):
        a = [W[k, i] for i in range(W.ncols())]
        if all(v == 0 for v in a):
            continue
        for t in breakpoints:
            lines.append((a, t - (b[k, 0] if b is not None else 0)))
    if arch.d_in == 1:
        return [(rhs / a[0],) for a, rhs in lines]
    points = [tuple(rhs * ai / (a[0] ** 2 + a[1] ** 2) for ai in a) for a, rhs in lines]
    for i, (a, r) in enumerate(lines):
        for e, s in lines[i + 1:]:
            det = a[0] * e[1] - a[1] * e[0]
            if det != 0:
                points.append(((r * e[1] - a[1] * s) / det, (a[0] * s - r * e[0]) / det))
    return points


def default_domain(
    arch: Architecture, params: Any, *, X: Any = None, margin: Any = DEFAULT_MARGIN, index: int = 0
) -> tuple[tuple[Fraction, Fraction], ...]:
    r"""The default domain of :func:`linear_regions`: a box around the first layer's arrangement.

    The smallest box (interval in 1-D) holding the origin, every given input ``X``, and the first hidden layer's
    arrangement (in 1-D its kinks :math:`x = (p_j - b_k) / w_k`; in 2-D every pairwise intersection of the lines
    :math:`w_k \cdot x + b_k = p_j` and the point of each line nearest the origin, so that every line crosses
    the box), pushed out on every side by ``margin`` times its largest side (or by ``margin`` if that side is
    below 1). With a positive margin every region of a one-hidden-layer network meets the box's interior, so
    the count within the box is the count in the whole input space; deeper layers' regions are counted within
    the box only.

    Args:
        arch: the architecture (input width 1 or 2).
        params: the parameters, see :func:`linear_regions`.
        X: optional inputs of shape ``(n, d_in)`` the box must hold.
        margin: a positive rational (default ``1/2``).
        index: which network of a batch.

    Returns:
        One exact ``(lo, hi)`` pair per input coordinate.

    Raises:
        InvalidInputError: for a bad architecture, parameters, inputs or margin.

    Examples:
        >>> from cellscape import mlp
        >>> default_domain(mlp(1, [1], 1), [([[2]], [-1]), ([[1]], [0])])   # one kink at 1/2 and the origin
        ((Fraction(-1, 2), Fraction(1, 1)),)
    """
    func = "default_domain"
    _check_arch(arch, func)
    box = _default_box(arch, _exact(arch, params, index, func), X=X, pad=_check_margin(margin, func), func=func)
    return tuple((fmpq_to_fraction(lo), fmpq_to_fraction(hi)) for lo, hi in box)


def _default_box(arch: Architecture, exact: Any, *, X: Any, pad: flint.fmpq, func: str) -> tuple[
        tuple[flint.fmpq, flint.fmpq], ...]:
    points = _first_layer_points(arch, exact)
    points.append(tuple(flint.fmpq(0) for _ in range(arch.d_in)))
    if X is not None:
        Xn = as_inputs(arch, X, func=func)
        points.extend(tuple(to_fmpq(float(v)) for v in row) for row in Xn)
    lows = [min(p[i] for p in points) for i in range(arch.d_in)]
    highs = [max(p[i] for p in points) for i in range(arch.d_in)]
    span = max(max(h - lo for lo, h in zip(lows, highs)), flint.fmpq(1))
    return tuple((lo - pad * span, h + pad * span) for lo, h in zip(lows, highs))


# ---------------------------------------------------------------------------------------------- checks
def _check_arch(arch: Any, func: str) -> None:
    if not isinstance(arch, Architecture):
        raise invalid("arch", func, "an Architecture (see cellscape.mlp)", type(arch).__name__, raw=True)
    if arch.d_in not in (1, 2):
        raise invalid("arch", func, "an architecture with input width 1 or 2", f"input width {arch.d_in}",
                      raw=True)


def _check_margin(margin: Any, func: str) -> flint.fmpq:
    try:
        value = to_fmpq(margin)
    except InvalidInputError:
        raise invalid("margin", func, "a positive finite rational number", margin) from None
    if not value > 0:
        raise invalid("margin", func, "a positive finite rational number", margin)
    return value


def _exact(arch: Architecture, params: Any, index: int, func: str) -> Any:
    index = check_int(index, name="index", func=func, minimum=0)
    try:
        return exact_params(arch, params, index=index)
    except IndexError:
        raise invalid("index", func, "the index of a network in the batch of params", index) from None


def _check_domain(domain: Any, d_in: int, func: str) -> tuple[tuple[flint.fmpq, flint.fmpq], ...]:
    shape = "(lo, hi)" if d_in == 1 else "(x_lo, x_hi, y_lo, y_hi) or ((x_lo, x_hi), (y_lo, y_hi))"
    expected = f"{shape} with finite lo < hi"
    if isinstance(domain, np.ndarray):
        domain = domain.tolist()
    if isinstance(domain, (str, bytes)) or not isinstance(domain, Sequence):
        raise invalid("domain", func, expected, domain)
    flat = list(domain)
    if flat and all(isinstance(v, (Sequence, np.ndarray)) and not isinstance(v, str) for v in flat):
        if any(len(v) != 2 for v in flat):
            raise invalid("domain", func, expected, domain)
        flat = [x for pair in flat for x in pair]
    if len(flat) != 2 * d_in:
        raise invalid("domain", func, expected, f"{len(flat)} numbers", raw=True)
    try:
        values = [to_fmpq(v) for v in flat]
    except (InvalidInputError, TypeError):
        raise invalid("domain", func, expected, domain) from None
    pairs = tuple((values[2 * i], values[2 * i + 1]) for i in range(d_in))
    for lo, hi in pairs:
        if not lo < hi:
            raise invalid("domain", func, expected, f"an empty side [{lo}, {hi}]", raw=True)
    return pairs


# ---------------------------------------------------------------------------------------------- enumeration
@dataclasses.dataclass
class _Work:
    """A region during the enumeration: its points and the map ``x -> M x + m`` into the current layer."""

    points: list[Point]
    pattern: tuple[tuple[int, ...], ...]
    M: flint.fmpq_mat
    m: flint.fmpq_mat


def linear_regions(
    arch: Architecture,
    params: Any,
    *,
    domain: Any = None,
    X: Any = None,
    margin: Any = DEFAULT_MARGIN,
    index: int = 0,
    max_regions: int = DEFAULT_MAX_REGIONS,
    progress: Callable[[int, int], None] | None = None,
) -> LinearRegions:
    r"""Every linear region of a network with 1-D or 2-D input within a bounded domain, exactly.

    A region is an *activation region*: the closure of a maximal set of domain points on which every hidden unit
    sits in one linear piece of its activation (one activation pattern). It is convex (an interval, or a convex
    polygon) and the network is affine on it, :math:`f(x) = A x + c`. Regions tile the domain and overlap only on
    their boundaries. Two regions, adjacent or not, may carry the same affine map (a unit whose outgoing weights
    are zero, a cancellation), so ``n_affine_maps`` may be below ``n_regions``; merging regions of one map is not
    done.

    Args:
        arch: the architecture: input width 1 or 2, any depth, any
            :class:`~cellscape.activations.PiecewiseLinear` activations (several breakpoints, as hard-tanh,
            included).
        params: the parameters, in any form :func:`~cellscape.networks.exact_params` accepts (floats are taken at
            their exact binary value; ints, strings such as ``"1/3"`` and Fractions are exact).
        domain: an interval ``(lo, hi)`` for 1-D input; for 2-D input the box ``(x_lo, x_hi, y_lo, y_hi)`` or
            ``((x_lo, x_hi), (y_lo, y_hi))``; numbers, strings such as ``"1/3"`` or Fractions, taken exactly.
            ``None`` (default) takes :func:`default_domain`: a box around the origin, ``X`` and every vertex of the
            first hidden layer's arrangement, with a margin; then a one-hidden-layer network has no region outside
            it, while the regions of deeper layers are counted within it only.
        X: inputs of shape ``(n, d_in)`` the default domain must hold (ignored when ``domain`` is given).
        margin: the default domain's margin (a positive rational, default ``1/2``).
        index: which network of a batch of parameters.
        max_regions: stop with an error when more regions than this appear.
        progress: called as ``progress(layers_done, n_hidden_layers)`` after each hidden layer.

    Returns:
        The :class:`LinearRegions`: the exact domain, every :class:`LinearRegion` (vertices, pattern, exact
        ``A`` and ``c``, length or area, interior point), the counts after each hidden layer and the number of
        distinct affine maps.

    Raises:
        InvalidInputError: naming ``arch`` for an input width other than 1 or 2, and ``params``, ``domain``,
            ``X``, ``margin``, ``index`` or ``max_regions`` for bad values (``max_regions`` also when the regions
            outnumber it).

    Notes:
        With hidden widths :math:`d_1, \dots, d_{L-1}`, :math:`m_l` breakpoints in layer :math:`l`'s activation,
        and :math:`R_l` the number of regions after layer :math:`l` (:math:`R_0 = 1`), layer :math:`l` evaluates
        :math:`d_l` affine functions at the vertices of each of its at most :math:`R_l` growing regions, so the
        work is :math:`O(\sum_l d_l R_l V)` exact operations, :math:`V` the largest number of vertices of a
        region (a polygon cut by :math:`k` lines has at most :math:`k + 4`). For one hidden layer on 2-D input
        :math:`R_1 \le 1 + n + \binom{n}{2}` with :math:`n = d_1 m_1` lines, hence :math:`O(n^3)` overall; deeper,
        :math:`R_l` can grow like :math:`\prod_{i \le l} (d_i m_i)^2` in the worst case. The maps' entries stay
        dyadic rationals (products of float parameters); a vertex's numerator and denominator have
        :math:`O(l)` times as many bits as a parameter at depth :math:`l`.

    Examples:
        :math:`f(x) = \operatorname{relu}(x) - \operatorname{relu}(x - 1/2)` has kinks at 0 and 1/2 and is
        :math:`0`, :math:`x` and :math:`1/2` on the three regions of the default domain :math:`[-1/2, 1]`:

        >>> from cellscape import mlp
        >>> params = [([[1], [1]], [0, "-1/2"]), ([[1, -1]], [0])]
        >>> regions = linear_regions(mlp(1, [2], 1), params)
        >>> [r.interval for r in regions.regions]
        [(Fraction(-1, 2), Fraction(0, 1)), (Fraction(0, 1), Fraction(1, 2)), (Fraction(1, 2), Fraction(1, 1))]
        >>> [(r.A[0][0], r.c[0]) for r in regions.regions]
        [(Fraction(0, 1), Fraction(0, 1)), (Fraction(1, 1), Fraction(0, 1)), (Fraction(0, 1), Fraction(1, 2))]
        >>> [r.pattern for r in regions.regions]
        [((0, 0),), ((1, 0),), ((1, 1),)]
    """
    func = "linear_regions"
    _check_arch(arch, func)
    max_regions = check_int(max_regions, name="max_regions", func=func, minimum=1)
    if progress is not None and not callable(progress):
        raise invalid("progress", func, "a callable progress(done, total) or None", progress)
    exact = _exact(arch, params, index, func)
    if domain is None:
        box = _default_box(arch, exact, X=X, pad=_check_margin(margin, func), func=func)
    else:
        box = _check_domain(domain, arch.d_in, func)
    d = arch.d_in
    identity = flint.fmpq_mat(d, d, [1 if i == j else 0 for i in range(d) for j in range(d)])
    work = [_Work(_box(box), (), identity, flint.fmpq_mat(d, 1))]
    n_hidden = arch.n_layers - 1
    counts = []
    for l in range(n_hidden):
        W, b = exact.weights[l], exact.biases[l]
        act = arch.activations[l]
        breakpoints = [to_fmpq(t) for t in act.breakpoints]
        slopes = [to_fmpq(s) for s in act.slopes]
        intercepts = [to_fmpq(t) for t in act.intercepts]
        width = W.nrows()
        split: list[_Work] = []
        for region in work:
            M = W * region.M
            m = W * region.m if b is None else W * region.m + b
            parts: list[tuple[list[Point], tuple[int, ...]]] = [(region.points, ())]
            for k in range(width):
                a = [M[k, i] for i in range(d)]
                parts = [(sub, pattern + (j,)) for points, pattern in parts
                         for sub, j in _split(points, a, m[k, 0], breakpoints)]
            for points, pattern in parts:
                M_next = flint.fmpq_mat(width, d, [slopes[pattern[k]] * M[k, i] for k in range(width)
                                                   for i in range(d)])
                m_next = flint.fmpq_mat(width, 1, [slopes[pattern[k]] * m[k, 0] + intercepts[pattern[k]]
                                                   for k in range(width)])
                split.append(_Work(points, region.pattern + (pattern,), M_next, m_next))
            if len(split) > max_regions:
                raise invalid("max_regions", func, "at least the number of regions",
                              f"{max_regions} (more regions after hidden layer {l + 1})", raw=True)
        work = split
        counts.append(len(work))
        if progress is not None:
            progress(l + 1, n_hidden)
    W, b = exact.weights[-1], exact.biases[-1]
    regions, maps = [], set()
    for region in work:
        M = W * region.M
        m = W * region.m if b is None else W * region.m + b
        A = tuple(tuple(fmpq_to_fraction(M[r, i]) for i in range(d)) for r in range(M.nrows()))
        c = tuple(fmpq_to_fraction(m[r, 0]) for r in range(m.nrows()))
        maps.add((A, c))
        points = region.points
        centre = tuple(sum((p[i] for p in points), flint.fmpq(0)) / len(points) for i in range(d))
        regions.append(LinearRegion(
            vertices=tuple(tuple(fmpq_to_fraction(v) for v in p) for p in points),
            pattern=region.pattern,
            A=A,
            c=c,
            measure=fmpq_to_fraction(_measure(points)),
            interior_point=tuple(fmpq_to_fraction(v) for v in centre),
        ))
    domain_out = tuple((fmpq_to_fraction(lo), fmpq_to_fraction(hi)) for lo, hi in box)
    return LinearRegions(arch, domain_out, tuple(regions), tuple(counts), len(maps))
