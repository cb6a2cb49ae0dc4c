r"""The complete map of a one-hidden-layer landscape: every cell, its optimum, and every genuine local minimum.

:func:`atlas` enumerates one unit's cells (:func:`~cellscape.atlas.unit_cells.unit_patterns`), forms the network
cells as multisets of unit cells (:func:`~cellscape.atlas.model.iter_cells`; their number is known in closed form
before the work starts), solves every cell's least-squares problem and decides its genuineness
(:func:`~cellscape.atlas.cell_solve.solve_cells`). Every differentiable local minimum is a genuine cell optimum
(Liu 2020), so the genuine ones, sorted by risk, are *all* the differentiable local minima up to the units'
symmetries; those above the lowest are spurious. The smallest cell-optimal risk over all cells, genuine or not, is
a lower bound on the risk everywhere (every point lies in the closure of a cell, where the risk is at least that
cell's optimum), so when it equals the lowest genuine minimum that minimum is certified global.

When the cells are too many (more than ``max_cells``, or a unit's cells beyond ``max_unit_cells``) the atlas
*samples*: network cells are drawn by Gaussian weights (so a cell's chance is its Gaussian solid angle, not
uniform), deduplicated and solved; the result says so and reports the closed-form total (Cover's count, exact for
data in general position, an upper bound otherwise).

Examples:
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(8, 1)); y = np.maximum(X[:, 0], 0.0)
    >>> result = atlas(X, y, width=1)
    >>> result.n_cells, result.sampled, result.global_certified, result.minima[0].risk < 1e-20
    (16, False, True, True)
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Callable
from typing import Any

import numpy as np

from cellscape._backend import to_numpy
from cellscape._validation import check_int, invalid
from cellscape.atlas.cell_solve import CellSolution, solve_cell, solve_cells
from cellscape.atlas.critical import BoundaryPoint, BoundaryVerdict, CellSaddle, boundary_point, cell_saddles
from cellscape.atlas.model import AtlasModel, OutputWeights, count_cells, iter_cells
from cellscape.atlas.unit_cells import cover_count, unit_patterns
from cellscape.networks import make_rng

__all__ = ["AtlasMinimum", "Atlas", "atlas"]

_BATCH_ELEMENTS = 1 << 24  # the most entries of the batched design matrices at once (128 MiB)


@dataclasses.dataclass(frozen=True, eq=False)
class AtlasMinimum:
    """A genuine cell optimum: its cell (``K`` unit patterns), its solution and whether it is spurious."""

    patterns: np.ndarray
    solution: CellSolution
    spurious: bool

    @property
    def risk(self) -> float:
        """The risk (the exact one, rounded, when it was verified in rationals)."""
        exact = self.solution.risk_exact
        return self.solution.risk if exact is None else float(exact)

    def to_dict(self) -> dict[str, Any]:
        return {"risk": self.risk, "spurious": self.spurious,
                "active_samples": [int(p.sum()) for p in self.patterns],
                "patterns": ["".join("1" if v else "0" for v in p) for p in self.patterns],
                **self.solution.to_dict()}


@dataclasses.dataclass(frozen=True, eq=False)
class Atlas:
    """The atlas of one data set and model.

    Attributes:
        model: the model. n_samples, d_in: the data's size.
        n_unit_cells: one unit's cells (enumerated, or Cover's count when sampled); unit_method: how they were
            found (``vertex``, ``incremental``, ``sampled``); general_position: whether the data are (``None``:
            not checked, when sampled).
        n_cells: the network cells up to symmetry (closed form; an estimate when sampled).
        n_examined: the cells solved. sampled: whether the cells were sampled rather than enumerated.
        n_genuine, n_rank_deficient, n_undecided: cells with a genuine minimum, with ``rank A`` below the
            number of coordinates, and whose LP gave no verdict.
        lower_bound: the smallest cell-optimal risk over the examined cells.
        global_minimum: the smallest genuine minimum's risk (``inf`` if none).
        global_certified: whether ``global_minimum`` equals ``lower_bound`` (within ``rtol``) over a complete
            enumeration: then it is the global minimum of the risk.
        minima: the genuine minima, sorted by risk (at most ``max_minima``), spurious ones marked.
        critical: whether saddles and boundary minima were sought (``critical=True``); the rest is empty or 0
            without it. n_saddle_cells: cells holding a saddle; saddles: one per such cell and unit set (at most
            ``max_minima``). boundary_minima: the non-differentiable local minima with distinct predictions on the
            data, sorted by risk (at most ``max_minima``); n_boundary_minima: how many; n_boundary_inconclusive:
            closed cells whose optimum was not decided.
    """

    model: AtlasModel
    n_samples: int
    d_in: int
    n_unit_cells: int
    unit_method: str
    general_position: bool | None
    n_cells: int
    n_examined: int
    sampled: bool
    n_genuine: int
    n_rank_deficient: int
    n_undecided: int
    lower_bound: float
    global_minimum: float
    global_certified: bool
    minima: tuple[AtlasMinimum, ...]
    critical: bool = False
    n_saddle_cells: int = 0
    saddles: tuple[CellSaddle, ...] = ()
    n_boundary_minima: int = 0
    n_boundary_inconclusive: int = 0
    boundary_minima: tuple[BoundaryPoint, ...] = ()

    @property
    def n_spurious(self) -> int:
        return sum(m.spurious for m in self.minima)

    def is_spurious(self, risk: float, rtol: float = 1e-9) -> bool:
        """Whether a minimum of risk ``risk`` lies above the global minimum found."""
        best = self.global_minimum
        return math.isfinite(best) and risk > best + rtol * max(1.0, abs(best))

    def to_dict(self) -> dict[str, Any]:
        finite = self.global_minimum if math.isfinite(self.global_minimum) else None
        return {"model": self.model.to_dict(), "n_samples": self.n_samples, "d_in": self.d_in,
                "n_unit_cells": self.n_unit_cells, "unit_method": self.unit_method,
                "general_position": self.general_position, "n_cells": self.n_cells, "n_examined": self.n_examined,
                "sampled": self.sampled, "n_genuine": self.n_genuine, "n_spurious": self.n_spurious,
                "n_rank_deficient": self.n_rank_deficient, "n_undecided": self.n_undecided,
                "lower_bound": self.lower_bound, "global_minimum": finite,
                "global_certified": self.global_certified, "minima": [m.to_dict() for m in self.minima],
                "critical": self.critical, "n_saddle_cells": self.n_saddle_cells,
                "saddles": [s.to_dict() for s in self.saddles], "n_boundary_minima": self.n_boundary_minima,
                "n_boundary_inconclusive": self.n_boundary_inconclusive,
                "boundary_minima": [{**b.to_dict(), "spurious": self.is_spurious(b.risk)}
                                    for b in self.boundary_minima]}


def _sampled_cells(X: np.ndarray, model: AtlasModel, n: int, rng: np.random.Generator) -> tuple[np.ndarray, list]:
    """Unit patterns and network cells drawn by Gaussian weights (deduplicated, units sorted within groups)."""
    Xt = np.hstack([X, np.ones((X.shape[0], 1))])
    P = rng.standard_normal((n * model.width, Xt.shape[1])) @ Xt.T > 0
    packed = np.packbits(P, axis=1)
    _, first, inverse = np.unique(packed, axis=0, return_index=True, return_inverse=True)
    units = P[first]
    inverse = np.asarray(inverse).reshape(n, model.width)
    cells = set()
    bounds = list(itertools.accumulate(model.groups, initial=0))
    for row in inverse:
        cells.add(tuple(int(i) for a, b in zip(bounds, bounds[1:]) for i in sorted(row[a:b])))
    return units, sorted(cells)


def atlas(X: Any, y: Any, *, width: int, activation: str = "relu", outputs: str = "positive", signs: Any = None,
          output_bias: bool = False, max_cells: int = 500_000, max_unit_cells: int = 3_000_000,
          sample_cells: int = 20_000, exact: bool = False, critical: bool = False, max_minima: int = 200,
          rtol: float = 1e-9,
          seed: int = 0, chunk: int = 20_000, progress: Callable[[int, int], None] | None = None) -> Atlas:
    """Map the landscape of ``f(x) = sum_k v_k h(w_k . (x, 1)) (+ c)`` on the data (module docstring).

    Args:
        X, y: inputs ``(N, d)`` and one target per sample. width, activation, outputs, signs, output_bias: the
            model (:class:`~cellscape.atlas.model.AtlasModel`).
        max_cells: enumerate completely up to this many network cells, else sample ``sample_cells`` of them.
        max_unit_cells: sample also when one unit's Cover count exceeds this (its enumeration would be too big).
        exact: re-verify the listed minima in rational arithmetic.
        critical: also find the saddles inside cells and the non-differentiable minima on boundaries
            (:mod:`cellscape.atlas.critical`; one small problem per cell and unit set, and one cone-constrained
            least squares per cell and output-sign branch, so meant for small data). The global minimum is then
            the lowest of both kinds of minima, certified against the lowest closed-cell optimum, which is the
            exact global minimum of the risk (every point lies in a closed cell, where the risk is that cell's
            convex piece).
        max_minima: how many genuine minima to list (all are counted). rtol: relative tolerance for "equal risk".
        seed: for the sampling. chunk: cells per batched solve. progress: called as ``progress(done, total)``.

    Raises:
        InvalidInputError: for bad data or options.
    """
    func = "atlas"
    model = AtlasModel.build(width=width, activation=activation, outputs=outputs, signs=signs,
                             output_bias=output_bias)
    X = to_numpy(X, name="X", func=func)
    if X.ndim != 2 or X.shape[0] == 0:
        raise invalid("X", func, "inputs of shape (N, d) with N >= 1", f"an array of shape {X.shape}", raw=True)
    y = to_numpy(y, name="y", func=func)
    if y.reshape(X.shape[0], -1).shape[1] != 1:
        raise invalid("y", func, "one target per sample", f"an array of shape {y.shape}", raw=True)
    y = y.reshape(-1)
    for name, value in (("max_cells", max_cells), ("max_unit_cells", max_unit_cells),
                        ("sample_cells", sample_cells), ("max_minima", max_minima), ("chunk", chunk)):
        check_int(value, name=name, func=func, minimum=1)
    N, D = X.shape[0], X.shape[1] + 1
    chunk = min(chunk, max(1, _BATCH_ELEMENTS // (N * (model.width * D + 1))))  # (bounded memory on large data)
    cover = cover_count(N, D)
    if cover <= max_unit_cells:
        units = unit_patterns(X, seed=seed)
        n_unit, method, general = units.n_cells, units.method, units.general_position
        total = count_cells(model, n_unit)
    else:
        n_unit, method, general, total = cover, "sampled", None, count_cells(model, cover)
    sampled = method == "sampled" or total > max_cells
    if sampled:
        P, cells = _sampled_cells(X, model, sample_cells, make_rng(seed, func=func))
        batches = [cells[i:i + chunk] for i in range(0, len(cells), chunk)]
        n_todo = len(cells)
    else:
        P = units.patterns
        it = iter_cells(model, n_unit)
        batches = iter(lambda: list(itertools.islice(it, chunk)), [])
        n_todo = total
    genuine_cells, n_genuine, n_deficient, n_undecided, done = [], 0, 0, 0, 0
    lower = math.inf
    search = _CriticalSearch(X, y, model, None if sampled else P, max_minima) if critical else None
    n_coords = model.width * D + model.output_bias
    for batch in batches:
        out = solve_cells(X, y, P, batch, model)
        lower = min(lower, float(np.min(out["risk"])))
        n_genuine += int(np.sum(out["genuine"]))
        n_deficient += int(np.sum(out["rank"] < n_coords))
        n_undecided += int(np.sum(~out["decided"]))
        for b in np.nonzero(out["genuine"])[0]:
            genuine_cells.append((float(out["risk"][b]), batch[b]))
        if search is not None:
            for cell in batch:
                search.visit(P[list(cell)])
        done += len(batch)
        if progress is not None:
            progress(done, n_todo)
    genuine_cells.sort(key=lambda item: item[0])
    solved = [(P[list(cell)], solve_cell(X, y, P[list(cell)], model, exact=exact))
              for _, cell in genuine_cells[:max_minima]]
    solved.sort(key=lambda item: (item[1].risk_exact if item[1].risk_exact is not None else item[1].risk))
    minima = [AtlasMinimum(patterns, sol, False) for patterns, sol in solved]
    best = minima[0].risk if minima else math.inf
    extra: dict[str, Any] = {}
    if search is not None:
        boundary = sorted(search.boundary.values(), key=lambda b: b.risk)
        best = min(best, boundary[0].risk if boundary else math.inf)
        if search.n_inconclusive == 0:
            lower = search.lower  # the closed cells' optima: the global minimum itself
        extra = dict(critical=True, n_saddle_cells=search.n_saddle_cells, saddles=tuple(search.saddles),
                     n_boundary_minima=len(boundary), n_boundary_inconclusive=search.n_inconclusive,
                     boundary_minima=tuple(boundary[:max_minima]))
    minima = [dataclasses.replace(m, spurious=m.risk > best + rtol * max(1.0, abs(best))) for m in minima]
    certified = (not sampled and math.isfinite(best) and n_undecided == 0
                 and best <= lower + rtol * max(1.0, abs(lower)))
    return Atlas(model, N, X.shape[1], n_unit, method, general, total, done, sampled, n_genuine, n_deficient,
                 n_undecided, lower, best, certified, tuple(minima), **extra)


class _CriticalSearch:
    """Saddles and boundary minima, cell by cell (``atlas(critical=True)``)."""

    def __init__(self, X: np.ndarray, y: np.ndarray, model: AtlasModel, unit_patterns: np.ndarray | None,
                 max_saddles: int) -> None:
        self.X, self.y, self.model, self.unit_patterns, self.max_saddles = X, y, model, unit_patterns, max_saddles
        self.Xt = np.hstack([X, np.ones((X.shape[0], 1))])
        trained = model.outputs is OutputWeights.TRAINED
        self.branches = list(itertools.product((1, -1), repeat=model.width)) if trained else [None]
        self.n_saddle_cells, self.saddles, self.n_inconclusive = 0, [], 0
        self.boundary: dict[bytes, BoundaryPoint] = {}
        self.lower = math.inf

    def visit(self, patterns: np.ndarray) -> None:
        found = cell_saddles(self.X, self.y, patterns, self.model)
        self.n_saddle_cells += bool(found)
        self.saddles.extend(found[: max(0, self.max_saddles - len(self.saddles))])
        for branch in self.branches:
            point = boundary_point(self.X, self.y, patterns, self.model, branch=branch,
                                   unit_patterns=self.unit_patterns)
            if point.verdict is BoundaryVerdict.INCONCLUSIVE:
                self.n_inconclusive += 1
                continue
            self.lower = min(self.lower, point.risk)
            if point.verdict is BoundaryVerdict.MINIMUM:
                self.boundary.setdefault(self._key(point), point)

    def _key(self, point: BoundaryPoint) -> bytes:
        """Minima are told apart by their predictions on the data (a valley's points share them)."""
        out = np.asarray(self.model.activation(self.Xt @ point.W.T)) @ point.v + point.c
        return np.round(out / max(1.0, float(np.max(np.abs(self.y)))), 9).tobytes()
