r"""The risk along a line, exactly: its kinks and the polynomial of every piece between them.

Along :math:`\theta(t) = \theta + t \Delta` each layer's parameters move linearly in :math:`t`, so while no
pre-activation crosses a breakpoint the pre-activations of layer :math:`l` are polynomials of degree at most
:math:`l` in :math:`t` and the risk is a polynomial (degree at most :math:`2L` for the squared loss); these are the
cell polynomials of theory 1.6-1.7. :func:`line_restriction` sweeps :math:`t` from ``t_min`` to ``t_max`` in exact
rational arithmetic (python-flint): on each segment it fixes every activation piece and every loss piece, builds the
pre-activations as exact polynomials, and finds the next kink as the smallest root, beyond the segment's start, of
some pre-activation minus a breakpoint (or of a loss functional at its kink). For one hidden layer the
pre-activations are affine in :math:`t` and every kink is rational, hence exact; deeper, a kink may be irrational and
is then given by an isolating interval (``Kink.exact`` is False), found by flint's certified root isolation.

Examples:
    >>> from cellscape import mlp
    >>> arch = mlp(1, [1], 1)
    >>> theta = [([[1]], [0]), ([[1]], [0])]            # x -> relu(x)
    >>> delta = [([[0]], [1]), ([[0]], [0])]            # move the hidden bias: relu(x + t)
    >>> line = line_restriction(arch, theta, [[1], [-2]], [[0], [0]], delta, t_min=-3, t_max=3)
    >>> [k.t for k in line.kinks]                        # x + t = 0 at t = -1 (sample 1) and t = 2 (sample 2)
    [Fraction(-1, 1), Fraction(2, 1)]
    >>> line.segments[1].coefficients                    # on (-1, 2): ((1 + t)^2 / 2 + 0) / 2
    (Fraction(1, 4), Fraction(1, 2), Fraction(1, 4))
"""

from __future__ import annotations

import dataclasses
import heapq
import itertools
from fractions import Fraction
from typing import Any

import flint
import numpy as np

from cellscape._backend import fmpq_matrix, fmpq_to_fraction, to_fraction
from cellscape._validation import check_int, invalid
from cellscape.exceptions import CellscapeError
from cellscape.losses import Loss, LossName, parse_loss
from cellscape.networks import Architecture, exact_params

__all__ = ["Kink", "LineSegment", "LineRestriction", "line_restriction"]


@dataclasses.dataclass(frozen=True)
class Kink:
    """A kink of ``t -> R(theta + t Delta)``: a pre-activation reaches a breakpoint (``layer`` 1-based, ``unit``,
    ``sample``, ``breakpoint`` 0-based), or, with ``layer == L``, a sample reaches a kink of the loss (``unit`` is
    the output component). ``t`` is exact (a Fraction) when ``exact``, else the midpoint of ``interval``."""

    t: Fraction | float
    exact: bool
    interval: tuple[float, float]
    layer: int
    unit: int
    sample: int
    breakpoint: int


@dataclasses.dataclass(frozen=True)
class LineSegment:
    """A stretch ``(t_start, t_end)`` between kinks on which the risk is one polynomial in ``t``;
    ``coefficients[e]`` multiplies ``t**e`` (exact Fractions)."""

    t_start: Fraction | float
    t_end: Fraction | float
    coefficients: tuple[Fraction, ...]

    def __call__(self, t: Any) -> Fraction:
        t = to_fraction(t)
        return sum((c * t**e for e, c in enumerate(self.coefficients)), Fraction(0))


@dataclasses.dataclass(frozen=True)
class LineRestriction:
    """The risk along a line: its kinks in ``(t_min, t_max)`` and the polynomial segments between them."""

    kinks: tuple[Kink, ...]
    segments: tuple[LineSegment, ...]

    def __call__(self, t: Any) -> Fraction:
        """The exact risk at ``t`` (from the segment containing it; at a kink either neighbour agrees)."""
        t = to_fraction(t)
        for segment in self.segments:
            if t <= segment.t_end:
                return segment(t)
        return self.segments[-1](t)


def _poly(value: Any) -> flint.fmpq_poly:
    return flint.fmpq_poly([value])


def _side(poly: flint.fmpq_poly, t0: flint.fmpq) -> int:
    """Sign of ``poly`` just after ``t0``: the sign of its value, or of its first non-zero derivative."""
    p = poly
    for _ in range(p.degree() + 2):
        v = p(t0)
        if v != 0:
            return 1 if v > 0 else -1
        p = p.derivative()
        if p.degree() < 0:
            return 0
    return 0


def _roots_after(poly: flint.fmpq_poly, t0: flint.fmpq, t_max: flint.fmpq) -> list[tuple[flint.fmpq | None,
                                                                                             float, float]]:
    """Real roots of ``poly`` in ``(t0, t_max]``: ``(exact root or None, lower, upper)``."""
    if poly.degree() < 1:
        return []
    out = []
    rational = {r for r, _ in poly.roots()}
    for r in rational:
        if t0 < r <= t_max:
            out.append((r, float(r), float(r)))
    if poly.degree() > len(rational):
        for root, _ in poly.numer().complex_roots():
            if not root.imag.is_zero():
                continue
            lo, hi = float(root.real.lower()), float(root.real.upper())
            if any(float(r) >= lo and float(r) <= hi for r in rational):
                continue  # a rational root, already exact
            if hi > float(t0) and lo <= float(t_max):
                out.append((None, lo, hi))
    return out


def _loss_functionals(loss: Loss, out: list[flint.fmpq_poly], y: list[flint.fmpq]) -> list[tuple[int, int,
                                                                                                  flint.fmpq_poly]]:
    """(output component, loss-piece column, functional) for every loss kink: the piece changes where the
    functional crosses 0 (piece value 1 above, 0 below, except Huber, handled by the caller)."""
    name = loss.name
    if not loss.is_piecewise:
        return []
    if name is LossName.HINGE:
        return [(0, 0, _poly(1) - out[0] * y[0])]
    if name is LossName.ABSOLUTE:
        return [(j, j, out[j] - y[j]) for j in range(len(out))]
    if name is LossName.HUBER:
        d = flint.fmpq(loss.delta.numerator, loss.delta.denominator)
        return [(j, j, out[j] - y[j] - d) for j in range(len(out))] + [(j, j, out[j] - y[j] + d)
                                                                      for j in range(len(out))]
    if name is LossName.WESTON_WATKINS:
        label = int(y[0].p)
        return [(j, j, _poly(1) + out[j] - out[label]) for j in range(len(out)) if j != label]
    raise CellscapeError(f"line_restriction does not follow the kinks of the {loss.spec} loss")


def line_restriction(
    arch: Architecture,
    params: Any,
    X: Any,
    y: Any,
    direction: Any,
    *,
    loss: str | Loss = "squared",
    t_min: Any = -1,
    t_max: Any = 1,
    max_kinks: int = 100_000,
) -> LineRestriction:
    """The exact restriction of the risk to the line ``theta + t * direction``, ``t_min <= t <= t_max``.

    ``params`` and ``direction`` are parameters of one network (floats taken exactly, or rationals); the data
    likewise. Logistic and cross-entropy have no exact values and are refused.

    Raises:
        CellscapeError: for a loss whose kinks are not followed (Crammer-Singer) or without exact values, or more
            than ``max_kinks`` kinks.
        InvalidInputError: for bad shapes or an empty interval.

    Notes:
        One exact polynomial forward pass per sample at the start, and one more for each sample at each of its own
        kinks (the other samples' polynomials do not change there): :math:`O((n + K) \\sum_l d_l d_{l-1})`
        polynomial products of degree at most ``L`` for :math:`K` kinks, a root isolation per pre-activation
        and breakpoint of each such pass, and a heap of pending kinks.
    """
    func = "line_restriction"
    loss = parse_loss(loss)
    if not loss.is_exact:
        raise CellscapeError(f"the {loss.spec} loss has no exact values: use a float evaluation along the line")
    max_kinks = check_int(max_kinks, name="max_kinks", func=func, minimum=1)
    lo = flint.fmpq(*to_fraction(t_min).as_integer_ratio())
    hi = flint.fmpq(*to_fraction(t_max).as_integer_ratio())
    if not lo < hi:
        raise invalid("t_max", func, f"larger than t_min = {t_min}", t_max)
    theta, delta = exact_params(arch, params), exact_params(arch, direction)
    Xq = fmpq_matrix(X)
    Yq = fmpq_matrix(np.asarray(y, dtype=object).reshape(Xq.nrows(), -1) if not isinstance(y, flint.fmpq_mat) else y)
    n = Xq.nrows()
    layers = []
    for (W, b), (dW, db) in zip(zip(theta.weights, theta.biases), zip(delta.weights, delta.biases)):
        Wp = [[flint.fmpq_poly([W[i, j], dW[i, j]]) for j in range(W.ncols())] for i in range(W.nrows())]
        bp = None if b is None else [flint.fmpq_poly([b[i, 0], db[i, 0]]) for i in range(b.nrows())]
        layers.append((Wp, bp))
    acts = arch.activations
    tables = [([flint.fmpq(p.numerator, p.denominator) for p in a.breakpoints],
               [flint.fmpq(s.numerator, s.denominator) for s in a.slopes],
               [flint.fmpq(c.numerator, c.denominator) for c in a.intercepts]) for a in acts]

    def sweep_sample(i: int, t0: flint.fmpq):
        """Sample ``i``'s loss polynomial with the pieces holding just after t0, and its kinks after t0."""
        candidates = []
        a = [_poly(Xq[i, j]) for j in range(Xq.ncols())]
        for l, (Wp, bp) in enumerate(layers):
            z = []
            for k in range(len(Wp)):
                acc = bp[k] if bp is not None else _poly(0)
                for j, w in enumerate(Wp[k]):
                    acc = acc + w * a[j]
                z.append(acc)
            if l == len(layers) - 1:
                a = z
                break
            bps, slopes, intercepts = tables[l]
            nxt = []
            for k, zk in enumerate(z):
                piece = 0
                for q, p in enumerate(bps):
                    shifted = zk - p
                    if _side(shifted, t0) > 0:
                        piece = q + 1
                    for root in _roots_after(shifted, t0, hi):
                        candidates.append((root, l + 1, k, i, q))
                nxt.append(zk * slopes[piece] + intercepts[piece])
            a = nxt
        yi = [Yq[i, j] for j in range(Yq.ncols())]
        pieces = [0] * max(1, len(a)) if loss.is_piecewise else []
        if loss.name is LossName.HUBER:
            d = flint.fmpq(loss.delta.numerator, loss.delta.denominator)
            for j in range(len(a)):
                r = a[j] - yi[j]
                pieces[j] = 0 if _side(r + d, t0) < 0 else (2 if _side(r - d, t0) > 0 else 1)
        for unit, column, functional in _loss_functionals(loss, a, yi):
            if loss.name is not LossName.HUBER:
                if loss.name is LossName.CRAMMER_SINGER:
                    raise CellscapeError("line_restriction does not follow Crammer-Singer kinks")
                pieces[column] = 1 if _side(functional, t0) > 0 else 0
            for root in _roots_after(functional, t0, hi):
                candidates.append((root, arch.n_layers, unit, i, -1))
        return loss.restricted_exact(a, yi, pieces), candidates

    # Only the samples that cross a kink change their polynomials there, so each sample is swept once at the start
    # and again only after its own kinks; the pending kinks of all samples wait in a heap (lower bound first),
    # entries of an older sweep of their sample skipped.
    polys: list[flint.fmpq_poly] = []
    version = [0] * n
    heap: list[tuple[float, float, int, int, int, tuple]] = []
    order = itertools.count()

    def push(i: int, candidates: list) -> None:
        for c in candidates:
            heapq.heappush(heap, (c[0][1], c[0][2], next(order), i, version[i], c))

    for i in range(n):
        poly, candidates = sweep_sample(i, lo)
        polys.append(poly)
        push(i, candidates)
    total = sum(polys, _poly(0))
    kinks: list[Kink] = []
    segments: list[LineSegment] = []
    start: Fraction | float = fmpq_to_fraction(lo)
    while True:
        poly = total / n
        coefficients = tuple(fmpq_to_fraction(poly[e]) for e in range(poly.degree() + 1)) or (Fraction(0),)
        while heap and heap[0][4] != version[heap[0][3]]:
            heapq.heappop(heap)
        if not heap:
            segments.append(LineSegment(start, fmpq_to_fraction(hi), coefficients))
            break
        first = heap[0][5]
        (exact_root, low, high), layer, unit, sample, breakpoint = first
        at = fmpq_to_fraction(exact_root) if exact_root is not None else 0.5 * (low + high)
        same = []  # every crossing at this t (its interval meets the first's)
        while heap and heap[0][0] <= high:
            entry = heapq.heappop(heap)
            if entry[4] == version[entry[3]]:
                same.append(entry[5])
        for (r, l2, h2), layer2, unit2, sample2, bp2 in same:
            kinks.append(Kink(fmpq_to_fraction(r) if r is not None else 0.5 * (l2 + h2), r is not None,
                              (l2, h2), layer2, unit2, sample2, bp2))
        segments.append(LineSegment(start, at, coefficients))
        if len(kinks) > max_kinks:
            raise CellscapeError(f"more than max_kinks = {max_kinks} kinks on the line")
        if exact_root is not None:
            t0 = exact_root
        else:  # a rational point past this root and before the next one
            later = [e[0] for e in heap if e[4] == version[e[3]]]
            upper = flint.fmpq(*Fraction(high).limit_denominator(10**12).as_integer_ratio())
            while upper <= flint.fmpq(*Fraction(high).as_integer_ratio()):
                upper += flint.fmpq(1, 10**12)
            if later and float(upper) >= min(later):
                raise CellscapeError("two kinks of the line are too close to separate at 1e-12")
            t0 = upper
        for i in sorted({c[3] for c in same}):
            version[i] += 1
            poly_i, candidates = sweep_sample(i, t0)
            total = total - polys[i] + poly_i
            polys[i] = poly_i
            push(i, candidates)
        start = at
    return LineRestriction(tuple(sorted(kinks, key=lambda k: (float(k.t), k.layer, k.unit, k.sample))),
                           tuple(segments))
