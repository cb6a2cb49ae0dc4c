r"""Critical points other than interior minima: saddles inside cells and non-differentiable minima on boundaries.

The model is :math:`f(x) = \sum_k v_k h(w_k^\top \tilde x) \,(+\, c)` of :mod:`cellscape.atlas.model`, with
:math:`z_k = w_k - p\,e_D` and the mean risk :math:`R = \frac{1}{2N}\sum_n (f(x_n) - y_n)^2`; ``r`` is the residual
:math:`f(x_n) - y_n` and :math:`g_k = \frac1N \sum_n r_n s_{I_{nk}} \tilde x_n` (the slope of unit ``k``'s piece on
sample ``n``), so that :math:`\nabla_{w_k} R = v_k g_k` and :math:`\partial_{v_k} R = z_k^\top g_k` (plus
:math:`h(p)\,\overline{r}`, zero at a critical point with an output bias).

**Saddles inside a cell** (Liu 2020; theory 3.4). They need trained output weights: with fixed ones the risk is
convex in ``z`` on every cell, so every critical point inside a cell is a minimum of it. A critical point in an open
cell has ``g_k = 0`` for every unit with :math:`v_k \ne 0` and :math:`z_k^\top g_k = 0` for the units ``Z`` with
:math:`v_k = 0`; it is a saddle exactly when some :math:`g_k \ne 0`, :math:`k \in Z` (then :math:`v_k = \epsilon`,
:math:`z_k \mathrel{-}= s\,g_k` lowers the risk by about :math:`\epsilon s |g_k|^2`). :func:`cell_saddles` decides,
for every non-empty unit set ``Z`` (the choice made where Liu's statement is not available: all
:math:`2^K - 1` sets, each by its conditions):

(a) the least squares over the units outside ``Z`` (and the output bias) has a genuine solution with every such
    :math:`v_k \ne 0` (:func:`~cellscape.atlas.cell_solve.solve_cell` on the restricted model; a solution that
    needs another :math:`v_k = 0` belongs to a larger ``Z`` and is reported there); its residual is ``r``;
(b) some :math:`k \in Z` has :math:`g_k \ne 0` (relative to :math:`|r|\,\max_n |\tilde x_n|`);
(c) for every :math:`k \in Z` with :math:`g_k \ne 0` the hyperplane :math:`z^\top g_k = 0` meets the open cone
    :math:`C_k`: a largest-slack LP in a basis of :math:`g_k^\perp`.

Every point so built is critical and a saddle; the one returned has the LP's interior points, so it can be handed
to :func:`cellscape.certify.certify`, which must call it a saddle.

**Non-differentiable minima on boundaries** (theory 3.5). The risk restricted to a closed cell is a convex
quadratic :math:`G_I(z)` over a polyhedral cone (in :math:`\tilde z_k = v_k z_k` with the signs of ``v`` fixed, for
trained output weights), and near a point the risk equals the piece of whichever closed cell holds it. So a point
is a local minimum exactly when it minimises every adjacent piece over its closed cell, and for convex pieces that
is their KKT conditions, first order only. :func:`boundary_point` takes the optimum of the cell's own piece over its
closed cell (:func:`cone_least_squares`), polishes it on its face (equality-constrained least squares, so the ties
are zero to rounding), and then checks, unit by unit
(the residual is shared by every adjacent piece and unit ``k``'s ties change only its own gradient block), every
adjacent pattern: the distinct restrictions to the tied samples of the unit's cells (the cells of the central
arrangement of its tied inputs). For each, the LP :math:`\min c_S^\top u` over :math:`\sigma_S \odot \tilde X_B u
\ge 0`, :math:`|u|_\infty \le 1` is 0 exactly when the KKT conditions hold and otherwise gives a direction into
the adjacent cell along which the risk falls, which is then confirmed on the risk itself.

Verdicts: ``minimum`` (a non-differentiable local minimum), ``not_minimum`` (the cell's optimum, but an adjacent
cell descends), ``interior`` (the optimum lies inside the cell: the genuine minimum of
:func:`~cellscape.atlas.cell_solve.solve_cell`), ``inconclusive`` (the polished point is not the cell's
optimum, a descent was not confirmed, or too many adjacent patterns). Every minimum of the risk is the optimum of
each closed cell that holds it, so the cells' optima find every one when those optima are unique (full rank); with
a family of optima one point of it is examined (the one the ridge picks) and the others are not. The analysis is in
floats; ``certify`` is the independent check (the tests compare the two on random instances), and
``certify(..., arithmetic="exact")`` can prove a point it finds.

Examples:
    >>> import numpy as np
    >>> from cellscape.atlas.model import AtlasModel
    >>> X = np.array([[-2.0], [-1.0], [1.0], [2.0]]); y = np.array([1.0, 0.0, 0.0, 1.0])
    >>> point = boundary_point(X, y, [[False, False, True, True]], AtlasModel.build(width=1))
    >>> point.verdict.value, point.risk, point.W.tolist(), point.ties.astype(int).tolist()   # relu(x - 1)
    ('minimum', 0.125, [[1.0, -1.0]], [[0, 0, 1, 0]])
"""

from __future__ import annotations

import dataclasses
import enum
import itertools
from typing import Any

import numpy as np
import scipy.optimize

from cellscape._validation import check_float, check_int, invalid
from cellscape.atlas._lp import cone_descent, largest_slack
from cellscape.atlas.cell_solve import _check, _target_scale, design_matrix, solve_cell
from cellscape.atlas.model import AtlasModel, OutputWeights
from cellscape.atlas.unit_cells import _incremental_method, scaled_rows
from cellscape.networks import Params

__all__ = ["CellSaddle", "cell_saddles", "BoundaryVerdict", "BoundaryPoint", "boundary_point", "atlas_risk"]


def atlas_risk(X: np.ndarray, y: np.ndarray, model: AtlasModel, W: np.ndarray, v: np.ndarray,
               c: float = 0.0) -> np.ndarray:
    """The mean squared risk of the model at input weights ``W`` (``(..., K, d + 1)``, bias last) and output
    weights ``v`` (``(..., K)``), evaluated directly (no cells): the reference the verdicts are confirmed on."""
    Xt = np.hstack([X, np.ones((X.shape[0], 1))])
    hidden = model.activation(np.einsum("...kd,nd->...nk", W, Xt))
    out = np.einsum("...nk,...k->...n", np.asarray(hidden), v) + (c if model.output_bias else 0.0)
    return 0.5 * np.mean((out - y) ** 2, axis=-1)


def _weights(model: AtlasModel, z: np.ndarray) -> np.ndarray:
    """Input weights ``w_k = z_k + p e_D`` from kink-shifted coordinates."""
    W = np.array(z, dtype=np.float64)
    W[..., -1] += float(model.kink)
    return W


# ---------------------------------------------------------------------------------------------- saddles
@dataclasses.dataclass(frozen=True, eq=False)
class CellSaddle:
    """A saddle inside a cell (trained output weights).

    Attributes:
        zero_units: the units with ``v_k = 0`` (``Z``). branch: per unit ``+1`` / ``-1`` (the sign of ``v_k``) or 0.
        risk: the risk at the saddle (the restricted least-squares risk).
        escape: ``|g_k|`` per unit of ``Z`` (the saddle's escape rates; at least one is non-zero).
        W: input weights ``(K, d + 1)`` (bias last), inside the cell. v: output weights. c: the output bias.
        slack: the smallest slack of ``W`` in the cell (on rows scaled by powers of two; positive: inside).
    """

    zero_units: tuple[int, ...]
    branch: tuple[int, ...]
    risk: float
    escape: tuple[float, ...]
    W: np.ndarray
    v: np.ndarray
    c: float
    slack: float

    def params(self, model: AtlasModel) -> Params:
        """The saddle as parameters of ``model.architecture(d)`` (batch of one)."""
        return model.params(self.W[None], self.v[None], np.array([self.c]))

    def to_dict(self) -> dict[str, Any]:
        return {"zero_units": list(self.zero_units), "branch": list(self.branch), "risk": self.risk,
                "escape": list(self.escape), "W": self.W.tolist(), "v": self.v.tolist(), "c": self.c,
                "slack": self.slack}


def _restricted(model: AtlasModel, width: int) -> AtlasModel:
    return dataclasses.replace(model, width=width, signs=(1,) * width)


def cell_saddles(X: Any, y: Any, patterns: Any, model: AtlasModel, *, tol: float = 1e-9,
                 bound: float = 1e4) -> tuple[CellSaddle, ...]:
    """The saddles inside the cell with unit patterns ``patterns`` (``(K, N)`` booleans), one per unit set ``Z``
    that has them (module docstring); empty for fixed output weights, whose cells hold no saddles.

    Args:
        tol: the LP slack, and the relative size below which ``g_k`` counts as zero. bound: the LP's box.

    Raises:
        InvalidInputError: for shapes that do not match.

    Examples:
        >>> import numpy as np
        >>> from cellscape.atlas.model import AtlasModel
        >>> X = np.array([[-2.0], [-1.0], [1.0], [2.0]]); y = np.array([-1.0, -1.0, -1.0, 0.0])
        >>> model = AtlasModel.build(width=1, outputs="trained", output_bias=True)
        >>> [(s.zero_units, s.risk, s.W.tolist(), s.c, s.escape) for s in cell_saddles(X, y, [[True] * 4], model)]
        [((0,), 0.09375, [[0.0, 1.0]], -0.75, (0.5,))]
    """
    X, y, patterns = _check(X, y, patterns, model, "cell_saddles")
    tol = check_float(tol, name="tol", func="cell_saddles", minimum=0.0)
    if model.outputs is not OutputWeights.TRAINED:
        return ()
    K, N, D = model.width, X.shape[0], X.shape[1] + 1
    Xt = np.hstack([X, np.ones((N, 1))])
    Xs = scaled_rows(Xt)
    s_lo, s_hi = (float(s) for s in model.slopes)
    slopes = np.where(patterns, s_hi, s_lo)  # (K, N)
    sigma = np.where(patterns, 1.0, -1.0)
    row_norm = float(np.max(np.linalg.norm(Xt, axis=1)))
    out = []
    for size in range(1, K + 1):
        for Z in itertools.combinations(range(K), size):
            kept = [k for k in range(K) if k not in Z]
            W, v, c = np.zeros((K, D)), np.zeros(K), 0.0
            if kept:
                sol = solve_cell(X, y, patterns[kept], _restricted(model, len(kept)), tol=tol, bound=bound)
                if not sol.genuine or 0 in sol.branch:
                    continue
                for j, k in enumerate(kept):  # z~_k = v_k z_k with |v_k| = 1
                    v[k] = sol.branch[j]
                    W[k] = sol.branch[j] * sol.z[j]
                c, risk, slack = sol.bias, sol.risk, sol.slack
                A, _ = design_matrix(X, patterns[kept], _restricted(model, len(kept)))
                r = A @ sol.z.reshape(-1) + (c if model.output_bias else 0.0) - y
            else:
                c = float(np.mean(y)) if model.output_bias else 0.0
                r = c - y
                risk, slack = float(0.5 * np.mean(r**2)), np.inf
            g = (slopes[list(Z)] * r[None, :]) @ Xt / N  # (|Z|, D)
            norms = np.linalg.norm(g, axis=1)
            moving = norms > tol * max(float(np.linalg.norm(r)) * row_norm / N, 1e-300)
            if not np.any(moving):
                continue  # every g_k = 0: a minimum of the cell (the v_k = 0 branch of solve_cell)
            for j, k in enumerate(Z):
                basis = np.eye(D)
                if moving[j]:  # an orthonormal basis of the hyperplane g_k^perp
                    basis = np.linalg.svd(g[j][None, :])[2][1:].T
                delta, u = largest_slack(-sigma[k][:, None] * Xs @ basis, np.zeros(N), bound=1.0)
                slack = min(slack, delta)
                zk = basis @ u
                W[k] = zk / max(float(np.max(np.abs(zk))), 1e-300)
            if slack <= tol:
                continue
            out.append(CellSaddle(Z, tuple(int(b) for b in v.astype(int)), float(risk),
                                  tuple(float(x) for x in norms), _weights(model, W), v, float(c), float(slack)))
    return tuple(out)


# ---------------------------------------------------------------------------------------------- boundaries
def cone_generators(rows: np.ndarray, *, tol: float = 1e-10) -> np.ndarray:
    """Generators ``R`` (columns) of the closed cone ``{z : rows z >= 0}`` in ``R^D``: its extreme rays and, for a
    cone that contains a line, both directions of a basis of that line space, so the cone is ``{R lam : lam >=
    0}``. Extreme rays are found among the null vectors of every ``D' - 1`` rows (``D'`` the rank of ``rows``):
    ``binom(N, D' - 1)`` small problems, for the few samples the atlas's boundary analysis handles.

    Examples:
        >>> R = cone_generators(np.array([[1.0, 0.0], [0.0, 1.0]]))    # the positive quadrant
        >>> sorted(map(tuple, np.round(R.T, 12).tolist()))
        [(0.0, 1.0), (1.0, 0.0)]
    """
    N, D = rows.shape
    _, sv, Vt = np.linalg.svd(rows, full_matrices=True) if N else (None, np.zeros(0), np.eye(D))
    rank = int(np.sum(sv > tol * max(sv.max(initial=0.0), 1e-300)))
    line, span = Vt[rank:].T, Vt[:rank].T  # the lineality space, and its complement
    gens = [line, -line]
    if rank == 1:  # a half-line in the complement
        direction = span[:, 0] if np.all(rows @ span[:, 0] >= -tol) else -span[:, 0]
        gens.append(direction[:, None])
    elif rank > 1:
        reduced = rows @ span  # (N, rank), of full column rank
        combos = np.array(list(itertools.combinations(range(N), rank - 1)), dtype=np.int64)
        _, sv_c, Vt_c = np.linalg.svd(reduced[combos], full_matrices=True)  # batched
        ok = sv_c[:, -1] > tol * np.maximum(sv_c[:, 0], 1e-300)
        ray = Vt_c[ok, -1]  # (C, rank): the null vector of each independent set
        values = ray @ reduced.T
        scale = tol * np.max(np.abs(reduced)) * 10
        keep = np.r_[ray[np.all(values >= -scale, axis=1)], -ray[np.all(values <= scale, axis=1)]]
        if keep.size:
            keep = np.unique(np.round(keep / np.max(np.abs(keep), axis=1, keepdims=True), 12), axis=0)
        gens.append(span @ keep.T)
    return np.hstack(gens) if gens else np.zeros((D, 0))


def cone_least_squares(A: np.ndarray, t: np.ndarray, blocks: list[np.ndarray], *,
                       ridge: float = 1e-7) -> np.ndarray:
    """A minimiser of ``|A z - t|`` over the product of the closed cones ``{z_k : blocks[k] z_k >= 0}`` (``z`` the
    concatenated ``z_k``, then any free coordinates of ``A``): non-negative least squares (Lawson and Hanson's
    active-set method, scipy) in the cones' generators, with a ridge ``ridge * max |A R|`` on their weights, so that
    the point is an approximation, on the right face, for :func:`boundary_point` to polish. (HiGHS's QP solver
    reports these homogeneous, degenerate problems unbounded at times, so it is not used here.)

    Examples:
        >>> z = cone_least_squares(np.eye(2), np.array([1.0, -1.0]), [np.array([[0.0, 1.0]])])   # z_1 >= 0
        >>> np.round(z, 12).tolist()
        [1.0, 0.0]
    """
    gens = [cone_generators(rows) for rows in blocks]
    n_cone = sum(rows.shape[1] for rows in blocks)
    free = A.shape[1] - n_cone
    R = np.zeros((A.shape[1], sum(g.shape[1] for g in gens) + 2 * free))
    row = col = 0
    for g in gens:
        R[row:row + g.shape[0], col:col + g.shape[1]] = g
        row, col = row + g.shape[0], col + g.shape[1]
    R[n_cone:, col:col + free] = np.eye(free)
    R[n_cone:, col + free:] = -np.eye(free)
    if R.shape[1] == 0:  # every cone is the origin alone
        return np.zeros(A.shape[1])
    M = A @ R  # with a small ridge on lam, so a family of minimisers gives a bounded one, not a far vertex
    ridge = ridge * max(float(np.max(np.abs(M), initial=0.0)), 1e-300)
    lam, _ = scipy.optimize.nnls(np.vstack([M, ridge * np.eye(R.shape[1])]), np.r_[t, np.zeros(R.shape[1])],
                                 maxiter=50 * R.shape[1])
    return R @ lam


class BoundaryVerdict(str, enum.Enum):
    """What the optimum of a closed cell is (module docstring)."""

    MINIMUM = "minimum"
    NOT_MINIMUM = "not_minimum"
    INTERIOR = "interior"
    INCONCLUSIVE = "inconclusive"


@dataclasses.dataclass(frozen=True, eq=False)
class BoundaryPoint:
    """The optimum of one closed cell and what it is.

    Attributes:
        verdict: the :class:`BoundaryVerdict`. message: why, in one sentence.
        risk: the risk there (the optimum of the cell's piece over its closed cell).
        branch: the signs of the output weights (fixed, or chosen for trained ones).
        W, v, c: the point as input weights ``(K, d + 1)`` (bias last), output weights and output bias.
        ties: ``(K, N)`` booleans, the samples on unit ``k``'s kink.
        adjacent: the adjacent patterns examined (over all tied units).
        descent: for ``not_minimum``, ``(unit, adjacent pattern of its tied samples, direction of its input
            weights, first-order rate)``.
    """

    verdict: BoundaryVerdict
    message: str
    risk: float
    branch: tuple[int, ...]
    W: np.ndarray
    v: np.ndarray
    c: float
    ties: np.ndarray
    adjacent: int
    descent: tuple[int, str, np.ndarray, float] | None = None

    def params(self, model: AtlasModel) -> Params:
        """The point as parameters of ``model.architecture(d)`` (batch of one)."""
        return model.params(self.W[None], self.v[None], np.array([self.c]))

    def to_dict(self) -> dict[str, Any]:
        return {"verdict": self.verdict.value, "message": self.message, "risk": self.risk,
                "branch": list(self.branch), "W": self.W.tolist(), "v": self.v.tolist(), "c": self.c,
                "ties": [[int(n) for n in np.nonzero(t)[0]] for t in self.ties], "adjacent": self.adjacent,
                "descent": None if self.descent is None else
                {"unit": self.descent[0], "pattern": self.descent[1], "direction": self.descent[2].tolist(),
                 "rate": self.descent[3]}}


def _adjacent_patterns(rows: np.ndarray, tied: np.ndarray, unit_patterns: np.ndarray | None) -> np.ndarray:
    """The sign patterns of the tied rows over the cells next to the point: the cells of their central
    arrangement, read off the unit's cells when they are known, else enumerated by LP."""
    if unit_patterns is not None:
        return np.unique(unit_patterns[:, tied], axis=0)
    packed = _incremental_method(rows, 1e-9)
    return np.unpackbits(packed, axis=1, count=rows.shape[0]).astype(bool)


def _confirm(X: np.ndarray, y: np.ndarray, model: AtlasModel, W: np.ndarray, v: np.ndarray, c: float, k: int,
             direction: np.ndarray, risk: float) -> bool:
    """Whether moving unit ``k``'s input weights along ``direction`` lowers the risk for some step."""
    steps = 10.0 ** -np.arange(1, 12)
    moved = np.repeat(W[None], steps.size, axis=0)
    moved[:, k] += steps[:, None] * direction[None, :]
    risks = atlas_risk(X, y, model, moved, v, c)
    return bool(np.any(risks < risk - 64 * np.finfo(float).eps * max(1.0, abs(risk))))


def boundary_point(X: Any, y: Any, patterns: Any, model: AtlasModel, *, branch: Any = None,
                   unit_patterns: np.ndarray | None = None, kkt_tol: float = 1e-9, tie_tol: float = 1e-7,
                   max_adjacent: int = 4096) -> BoundaryPoint:
    """The optimum of the closed cell with unit patterns ``patterns`` (``(K, N)`` booleans) and what it is: a
    non-differentiable local minimum, not one, or inside the cell (module docstring).

    Args:
        branch: trained output weights only: the sign of each ``v_k`` (+1 or -1; default all +1).
        unit_patterns: every pattern one unit realises (``(C, N)``), if known: the adjacent patterns are read off
            it; otherwise they are enumerated by LP.
        kkt_tol: relative size below which a first-order rate counts as zero. tie_tol: relative slack below
            which the cell optimum's point counts as on a kink. max_adjacent: the most adjacent patterns of one unit.

    Raises:
        InvalidInputError: for shapes that do not match, or a bad branch.
    """
    func = "boundary_point"
    X, y, patterns = _check(X, y, patterns, model, func)
    max_adjacent = check_int(max_adjacent, name="max_adjacent", func=func, minimum=1)
    K, N, D = model.width, X.shape[0], X.shape[1] + 1
    if model.outputs is OutputWeights.TRAINED:
        branch = (1,) * K if branch is None else tuple(int(b) for b in branch)
        if len(branch) != K or any(b not in (1, -1) for b in branch):
            raise invalid("branch", func, f"{K} signs, each +1 or -1", branch)
    elif branch is not None:
        raise invalid("branch", func, "omitted for fixed output weights", branch)
    else:
        branch = model.signs
    trained = model.outputs is OutputWeights.TRAINED
    side = np.array(branch if trained else (1,) * K, dtype=float)  # the cone of z_k is side_k * C_k
    A, offset = design_matrix(X, patterns, model)
    scale = _target_scale(y - offset)
    t = (y - offset) / scale
    Xt = np.hstack([X, np.ones((N, 1))])
    Xs = scaled_rows(Xt)
    sigma = np.where(patterns, 1.0, -1.0)  # (K, N)
    n_z = A.shape[1]
    cones = [side[k] * sigma[k][:, None] * Xs for k in range(K)]
    G = np.zeros((K * N, n_z))
    for k in range(K):
        G[k * N:(k + 1) * N, k * D:(k + 1) * D] = cones[k]
    v = side.copy() if trained else np.asarray(model.signs, dtype=float)  # |v_k| = 1

    def point(verdict: BoundaryVerdict, message: str, z: np.ndarray, ties: np.ndarray, adjacent: int = 0,
              descent: tuple | None = None) -> BoundaryPoint:
        zz = z[: K * D].reshape(K, D) * scale
        W = _weights(model, side[:, None] * zz if trained else zz)
        c = float(z[-1] * scale) if model.output_bias else 0.0
        risk = float(atlas_risk(X, y, model, W, v, c))
        return BoundaryPoint(verdict, message, risk, tuple(int(b) for b in branch), W, v, c, ties, adjacent, descent)

    z_qp = cone_least_squares(A, t, cones)
    size = max(1.0, float(np.max(np.abs(z_qp[: K * D]))))
    ties = (G @ z_qp <= tie_tol * size).reshape(K, N)
    # polish on the face: least squares with the tied constraints as equalities, nearest the first point
    E = G[ties.reshape(-1)]
    face = np.linalg.svd(E)[2][np.linalg.matrix_rank(E):].T if E.size else np.eye(n_z)
    AF = A @ face
    U, sv, Vt = np.linalg.svd(AF, full_matrices=True)
    rank = int(np.sum(sv > 1e-10 * max(float(np.linalg.norm(A, 2)), 1e-300)))  # (relative to A, not to AF)
    u_ls = Vt[:rank].T @ ((U[:, :rank].T @ t) / sv[:rank])
    free = Vt[rank:].T
    u = u_ls + free @ (free.T @ (face.T @ z_qp - u_ls))
    z = face @ u
    slack = (G @ z).reshape(K, N)
    if np.any(slack[~ties] <= 0):
        return point(BoundaryVerdict.INCONCLUSIVE, "the cone least squares' point did not polish onto its face "
                     "inside the cell", z_qp, ties)
    if not ties.any():
        return point(BoundaryVerdict.INTERIOR, "the cell's optimum lies inside it: a genuine minimum", z, ties)
    r = A @ z - t  # shared by every adjacent piece: tied samples add nothing
    if float(np.linalg.norm(r)) <= 1e-12 * max(float(np.linalg.norm(t)), 1e-300):
        return point(BoundaryVerdict.MINIMUM, "the risk is zero there: a global minimum", z, ties)
    s_lo, s_hi = (float(s) for s in model.slopes)
    out_sign = np.asarray(model.signs, dtype=float)
    reference = float(np.linalg.norm(r)) * float(np.max(np.linalg.norm(Xt, axis=1))) / N
    adjacent = 0
    for k in range(K):
        B = np.nonzero(ties[k])[0]
        if B.size == 0:
            continue
        rows = side[k] * Xs[B]
        options = _adjacent_patterns(rows, B, unit_patterns)
        if options.shape[0] > max_adjacent:
            return point(BoundaryVerdict.INCONCLUSIVE, f"unit {k} has {options.shape[0]} adjacent patterns, more "
                         f"than max_adjacent = {max_adjacent}", z, ties, adjacent)
        for S in options:
            adjacent += 1
            slope = np.where(patterns[k], s_hi, s_lo)
            slope[B] = np.where(S, s_hi, s_lo)
            c_S = out_sign[k] * ((r * slope) @ Xt) / N  # the piece's gradient in z_k
            rate, u_dir = cone_descent(c_S, np.where(S, 1.0, -1.0)[:, None] * rows)
            if rate != rate:
                return point(BoundaryVerdict.INCONCLUSIVE, f"HiGHS gave no optimum for unit {k}'s adjacent pattern",
                             z, ties, adjacent)
            if rate >= -kkt_tol * max(reference, 1e-300):
                continue
            own = bool(np.array_equal(S, patterns[k, B]))
            direction = side[k] * u_dir  # in the input weights w_k
            label = "".join("1" if s else "0" for s in S)
            found = point(BoundaryVerdict.NOT_MINIMUM, "", z, ties, adjacent, (k, label, direction, rate * scale))
            if own:
                return dataclasses.replace(
                    found, verdict=BoundaryVerdict.INCONCLUSIVE, descent=None,
                    message="the polished point is not the optimum of its own cell (its face was missed)")
            if not _confirm(X, y, model, found.W, found.v, found.c, k, direction, found.risk):
                return dataclasses.replace(
                    found, verdict=BoundaryVerdict.INCONCLUSIVE, descent=None,
                    message=f"unit {k}'s adjacent pattern {label} has a first-order descent that was not confirmed "
                            "on the risk")
            return dataclasses.replace(
                found, message=f"the optimum of the closed cell, but moving unit {k}'s input weights into the adjacent "
                               f"pattern {label} of its tied samples lowers the risk (rate {rate * scale:.2e})")
    return point(BoundaryVerdict.MINIMUM, f"on the kinks of {int(ties.sum())} (sample, unit) pairs, it satisfies the "
                 f"KKT conditions of every one of the {adjacent} adjacent convex pieces: a non-differentiable local "
                 "minimum", z, ties, adjacent)
