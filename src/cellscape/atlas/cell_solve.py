r"""Inside one cell of a one-hidden-layer network: the least-squares optimum, its rank and genuineness.

In a cell the mean squared risk is :math:`\frac{1}{2N}\|A z - y'\|^2` (see :mod:`cellscape.atlas.model`), so every
local minimum inside the cell is a least-squares solution: the minima of the cell's polynomial form
:math:`S = A^+ y' + \ker A`, of dimension :math:`n_z - \operatorname{rank} A` (0: an isolated point; otherwise an
affine family), all at the risk :math:`\frac{1}{2N} y'^\top (I - A A^+) y'` (Liu 2020). Such a minimum is *genuine*
when a point of ``S`` lies inside the cell: fixed output weights need :math:`z_k \in C_k` for every unit; trained
ones need :math:`\tilde z_k \in C_k` (:math:`v_k > 0`), :math:`-C_k` (:math:`v_k < 0`) or :math:`\tilde z_k = 0`
(:math:`v_k = 0`, a degenerate branch: the unit is off the output, its input weights anywhere in :math:`C_k`; such
a point is still a minimum since :math:`A^\top r = 0` makes every :math:`g_k` vanish, and it is reported with its
branch). With full rank this is a sign check of the unique solution; otherwise the bounded largest-slack LP over
:math:`z = z_0 + N t` (:math:`|t|_\infty \le` ``bound``) decides it: genuine when the smallest slack is above
``tol`` (on the targets divided by a power of two near their largest magnitude, so the verdict does not depend
on their units). ``exact=True`` recomputes the solution set in rationals and checks the strict inequalities at a
rational point of ``S`` near the LP's: inside proves genuine; a float "genuine" that fails there becomes
undecided; a unique solution outside the cell is exactly not genuine.

Examples:
    >>> import numpy as np
    >>> from cellscape.atlas.model import AtlasModel
    >>> X = np.array([[-2.0], [-1.0], [1.0], [2.0]]); y = np.array([0.0, 0.0, 1.0, 2.0])   # relu(x)
    >>> model = AtlasModel.build(width=1)
    >>> sol = solve_cell(X, y, [[False, False, True, True]], model, exact=True)
    >>> sol.genuine, sol.risk_exact, sol.dimension, sol.arithmetic
    (True, Fraction(0, 1), 0, 'exact')
"""

from __future__ import annotations

import dataclasses
import itertools
from fractions import Fraction
from typing import Any

import flint
import numpy as np

from cellscape._backend import fmpq_matrix, fmpq_null_space, fmpq_to_fraction, to_numpy
from cellscape._validation import invalid
from cellscape.atlas._lp import largest_slack
from cellscape.atlas.model import AtlasModel, OutputWeights
from cellscape.atlas.unit_cells import scaled_rows

__all__ = ["CellSolution", "design_matrix", "solve_cell", "solve_cells"]


@dataclasses.dataclass(frozen=True, eq=False)
class CellSolution:
    """The least-squares analysis of one cell.

    Attributes:
        rank: ``rank A``; n_coords: the number of coordinates of ``z`` (``K D``, plus one for an output bias);
            dimension: ``n_coords - rank``, the dimension of the set of minima (0: isolated).
        risk: the cell-optimal risk (mean, ``0.5 |r|^2``); risk_exact: exact, when computed.
        genuine: whether a minimum lies inside the cell (``None`` when the LP reported no optimum).
        slack: the smallest slack of the best point found (positive: strictly inside).
        z: a least-squares solution, inside the cell when genuine; shape ``(K, D)`` (and ``bias``).
        bias: the output bias of that solution (0 without one).
        branch: per unit ``+1`` / ``-1`` (the sign of ``v_k``, trained outputs), ``0`` (``v_k = 0``), or the
            fixed sign.
        arithmetic: ``"exact"`` when the verdict and risk were re-verified in rationals.
    """

    rank: int
    n_coords: int
    dimension: int
    risk: float
    risk_exact: Fraction | None
    genuine: bool | None
    slack: float
    z: np.ndarray
    bias: float
    branch: tuple[int, ...]
    arithmetic: str

    def to_dict(self) -> dict[str, Any]:
        return {"rank": self.rank, "dimension": self.dimension, "risk": self.risk,
                "risk_exact": None if self.risk_exact is None else str(self.risk_exact), "genuine": self.genuine,
                "slack": self.slack, "z": self.z.tolist(), "bias": self.bias, "branch": list(self.branch),
                "arithmetic": self.arithmetic}


def design_matrix(X: np.ndarray, patterns: np.ndarray, model: AtlasModel) -> tuple[np.ndarray, float]:
    """``(A, offset)`` of the cell with unit patterns ``patterns`` (``(K, N)`` booleans): the prediction is
    ``A z + offset``, ``z`` the flattened ``(K, D)`` coordinates (then the output bias)."""
    N = X.shape[0]
    Xt = np.hstack([X, np.ones((N, 1))])
    s_lo, s_hi = (float(s) for s in model.slopes)
    blocks = [model.signs[k] * np.where(patterns[k], s_hi, s_lo)[:, None] * Xt for k in range(model.width)]
    if model.output_bias:
        blocks.append(np.ones((N, 1)))
    return np.hstack(blocks), float(_offset(model))


def _offset(model: AtlasModel) -> Fraction:
    """The constant part of the prediction, ``h(p) sum_k v_k`` for fixed output weights (0 for trained ones,
    where an output bias absorbs it)."""
    if model.outputs is OutputWeights.TRAINED:
        return Fraction(0)
    return model.activation.evaluate_exact(model.kink) * sum(model.signs)


def _check(X: Any, y: Any, patterns: Any, model: AtlasModel, func: str):
    X = to_numpy(X, name="X", func=func)
    if X.ndim != 2:
        raise invalid("X", func, "inputs of shape (N, d)", f"an array of shape {X.shape}", raw=True)
    y = to_numpy(y, name="y", func=func).reshape(-1)
    if y.shape[0] != X.shape[0]:
        raise invalid("y", func, f"{X.shape[0]} targets", y.shape[0])
    patterns = np.asarray(patterns, dtype=bool).reshape(model.width, -1)
    if patterns.shape[1] != X.shape[0]:
        raise invalid("patterns", func, f"{model.width} patterns of {X.shape[0]} samples", patterns.shape)
    return X, y, patterns


def _branches(model: AtlasModel) -> list[tuple[int, ...]]:
    if model.outputs is not OutputWeights.TRAINED:
        return [model.signs]
    options = sorted(itertools.product((1, -1, 0), repeat=model.width), key=lambda b: (b.count(0), b.count(-1)))
    return options


def _genuine_lp(Xs: np.ndarray, patterns: np.ndarray, z0: np.ndarray, Nul: np.ndarray, model: AtlasModel,
                bound: float) -> tuple[float, np.ndarray, tuple[int, ...]]:
    """The best (largest smallest slack) point of ``z0 + Nul t`` inside the cell over the output-weight
    branches: ``(slack, z, branch)``."""
    K, D = model.width, Xs.shape[1]
    sigma = np.where(patterns, 1.0, -1.0)  # (K, N)
    best = (-np.inf, z0, _branches(model)[0])
    for branch in _branches(model):
        zero = [k for k in range(K) if branch[k] == 0]
        base, M = np.zeros(Nul.shape[1]), np.eye(Nul.shape[1])
        if zero:  # z_k = 0 on the zero units: t in an affine subspace
            rows = np.concatenate([np.arange(k * D, (k + 1) * D) for k in zero])
            E, e = Nul[rows], -z0[rows]
            base = np.linalg.lstsq(E, e, rcond=None)[0] if E.size else base
            if np.linalg.norm(E @ base - e) > 1e-9 * max(1.0, np.linalg.norm(e)):
                continue
            _, sv, vt = np.linalg.svd(E) if E.size else (None, np.zeros(0), np.eye(Nul.shape[1]))
            r = int(np.sum(sv > 1e-10 * max(sv.max(initial=0.0), 1e-300)))
            M = vt[r:].T
        G, h = [], []
        for k in range(K):
            if branch[k] == 0:
                continue
            cols = slice(k * D, (k + 1) * D)
            coef = (branch[k] if model.outputs is OutputWeights.TRAINED else 1) * sigma[k][:, None] * Xs
            G.append(-coef @ Nul[cols] @ M)
            h.append(coef @ (z0[cols] + Nul[cols] @ base))
        if not G:
            slack, s = 1.0, np.zeros(M.shape[1])
        elif M.shape[1] == 0:
            slack, s = float(np.min(np.concatenate(h))), np.zeros(0)
        else:
            slack, s = largest_slack(np.vstack(G), np.concatenate(h), bound=bound)
        if slack > best[0]:
            best = (slack, z0 + Nul @ (base + M @ s), branch)
        if slack > 0 and not zero:
            break
    return best


def _target_scale(target: np.ndarray) -> float:
    """A power of two near ``max |target|`` (1 for zero targets): genuineness is decided on the targets divided
    by it, so the slack tolerance does not depend on their units."""
    top = float(np.max(np.abs(target), initial=0.0))
    return float(np.ldexp(1.0, int(np.frexp(top)[1]))) if top > 0 else 1.0


def _least_squares(A: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    U, sv, Vt = np.linalg.svd(A, full_matrices=True)
    r = int(np.sum(sv > 1e-10 * max(sv.max(initial=0.0), 1e-300)))
    z0 = Vt[:r].T @ ((U[:, :r].T @ target) / sv[:r])
    return z0, Vt[r:].T, r


def solve_cell(X: Any, y: Any, patterns: Any, model: AtlasModel, *, exact: bool = False, tol: float = 1e-9,
               bound: float = 1e4) -> CellSolution:
    """Analyse the cell with unit patterns ``patterns`` (``(K, N)`` booleans, True where unit ``k`` is in its upper
    piece on sample ``n``); see the module docstring.

    Raises:
        InvalidInputError: for shapes that do not match.
    """
    X, y, patterns = _check(X, y, patterns, model, "solve_cell")
    N, D = X.shape[0], X.shape[1] + 1
    A, offset = design_matrix(X, patterns, model)
    target = y - offset
    scale = _target_scale(target)
    z0, Nul, rank = _least_squares(A, target / scale)
    Xs = scaled_rows(np.hstack([X, np.ones((N, 1))]))
    slack, z, branch = _genuine_lp(Xs, patterns, z0, Nul, model, bound)
    z = z * scale
    risk = float(0.5 * np.mean((A @ z0 * scale - target) ** 2))
    genuine = None if slack == -np.inf else bool(slack > tol)
    solution = CellSolution(rank, A.shape[1], A.shape[1] - rank, risk, None, genuine, float(slack),
                            z[: model.width * D].reshape(model.width, D),
                            float(z[-1]) if model.output_bias else 0.0, tuple(branch), "float")
    return _exact_check(solution, X, y, patterns, model, z) if exact else solution


def _exact_check(sol: CellSolution, X: np.ndarray, y: np.ndarray, patterns: np.ndarray, model: AtlasModel,
                 z: np.ndarray) -> CellSolution:
    """Re-verify the rank, the risk and the genuineness verdict in rationals (module docstring)."""
    N = X.shape[0]
    K, D = model.width, X.shape[1] + 1
    s_lo, s_hi = model.slopes
    Xq = [[Fraction(float(v)) for v in row] + [Fraction(1)] for row in X]
    cols = []
    for k in range(K):
        for j in range(D):
            cols.append([model.signs[k] * (s_hi if patterns[k, n] else s_lo) * Xq[n][j] for n in range(N)])
    if model.output_bias:
        cols.append([Fraction(1)] * N)
    offset = _offset(model)
    Aq = fmpq_matrix(np.array(cols, dtype=object).T)
    tq = fmpq_matrix([[Fraction(float(v)) - offset] for v in y])
    n_z = Aq.ncols()
    # a particular least-squares solution: the normal equations on the pivot columns
    AtA, Atb = Aq.transpose() * Aq, Aq.transpose() * tq
    R, rank = flint.fmpq_mat(n_z, n_z + 1, [v for i in range(n_z) for v in
                                            [AtA[i, j] for j in range(n_z)] + [Atb[i, 0]]]).rref()
    zq = flint.fmpq_mat(n_z, 1)
    col = 0
    for row in range(rank):
        while R[row, col] == 0:
            col += 1
        zq[col, 0] = R[row, n_z]
        col += 1
    Nq = fmpq_null_space(Aq)
    if Nq.ncols():  # move to the rational point of S nearest the float one
        Nf = np.array([[float(Nq[i, j]) for j in range(Nq.ncols())] for i in range(n_z)])
        shift = np.linalg.lstsq(Nf, z - np.array([float(zq[i, 0]) for i in range(n_z)]), rcond=None)[0]
        zq = zq + Nq * fmpq_matrix([[Fraction(float(v)).limit_denominator(1 << 40)] for v in shift])
    residual = Aq * zq - tq
    risk_q = fmpq_to_fraction(sum((residual[i, 0] ** 2 for i in range(N)), flint.fmpq(0)) / (2 * N))
    Xf = [[flint.fmpq(v.numerator, v.denominator) for v in row] for row in Xq]
    inside = True
    for k in range(K):
        if sol.branch[k] == 0:
            inside &= all(zq[k * D + j, 0] == 0 for j in range(D))
            continue
        sign = sol.branch[k] if model.outputs is OutputWeights.TRAINED else 1
        for n in range(N):
            value = sum((Xf[n][j] * zq[k * D + j, 0] for j in range(D)), flint.fmpq(0)) * sign
            inside &= (value > 0) if patterns[k, n] else (value < 0)
    if inside:  # a rational point of S strictly inside the cell: genuine, proven
        genuine, arithmetic = True, "exact"
    elif sol.genuine:  # floats found a point inside, but its rational neighbour is not: undecided
        genuine, arithmetic = None, "float"
    elif rank == n_z and model.outputs is not OutputWeights.TRAINED:
        genuine, arithmetic = False, "exact"  # the unique solution is outside the cell, exactly
    else:
        genuine, arithmetic = sol.genuine, "float"  # the LP's verdict over the whole solution set stands
    z_out = np.array([float(zq[i, 0]) for i in range(n_z)])
    return dataclasses.replace(sol, rank=rank, dimension=n_z - rank, risk_exact=risk_q, genuine=genuine,
                               z=z_out[: K * D].reshape(K, D) if inside else sol.z,
                               bias=float(z_out[-1]) if inside and model.output_bias else sol.bias,
                               arithmetic=arithmetic)


def solve_cells(X: Any, y: Any, unit_patterns: np.ndarray, cells: list[tuple[int, ...]], model: AtlasModel, *,
                tol: float = 1e-9, bound: float = 1e4) -> dict[str, np.ndarray]:
    """Many cells at once (float): ``unit_patterns`` is ``(C, N)``, ``cells`` lists ``K`` unit-cell indices each.
    Full-rank cells are solved by one batched SVD and a vectorised sign check; the rest by the LP one at a time.
    Returns arrays ``risk``, ``rank``, ``genuine`` (bool; undecided counts as False with ``decided`` False),
    ``decided``, ``slack`` and ``branch`` (``(B, K)``), in the order of ``cells``."""
    X = to_numpy(X, name="X", func="solve_cells")
    y = to_numpy(y, name="y", func="solve_cells").reshape(-1)
    N, D = X.shape[0], X.shape[1] + 1
    idx = np.asarray(cells, dtype=np.int64).reshape(len(cells), model.width)
    P = unit_patterns[idx]  # (B, K, N)
    Xt = np.hstack([X, np.ones((N, 1))])
    Xs = scaled_rows(Xt)
    s_lo, s_hi = (float(s) for s in model.slopes)
    signs = np.asarray(model.signs, dtype=float)
    F = signs[None, :, None] * np.where(P, s_hi, s_lo)  # (B, K, N)
    A = (F[..., None] * Xt[None, None]).transpose(0, 2, 1, 3).reshape(len(cells), N, model.width * D)
    if model.output_bias:
        A = np.concatenate([A, np.ones((len(cells), N, 1))], axis=2)
    offset = float(_offset(model))
    scale = _target_scale(y - offset)
    target = (y - offset) / scale
    U, sv, Vt = np.linalg.svd(A, full_matrices=False)
    cut = 1e-10 * np.maximum(sv[:, :1], 1e-300)
    rank = np.sum(sv > cut, axis=1)
    inv = np.where(sv > cut, 1.0 / np.where(sv > cut, sv, 1.0), 0.0)
    z0 = np.einsum("bji,bj,bkj,k->bi", Vt, inv, U, target)
    resid = np.einsum("bnk,bk->bn", A, z0) - target
    risk = 0.5 * np.mean(resid**2, axis=1) * scale**2
    n_z = A.shape[2]
    margins = np.einsum("bkd,nd->bkn", z0[:, : model.width * D].reshape(-1, model.width, D), Xs)
    sigma = np.where(P, 1.0, -1.0)
    if model.outputs is OutputWeights.TRAINED:
        unit_slack = np.maximum(np.min(sigma * margins, axis=2), np.min(-sigma * margins, axis=2))
        branch = np.where(np.min(sigma * margins, axis=2) > 0, 1, -1)
    else:
        unit_slack = np.min(sigma * margins, axis=2)
        branch = np.broadcast_to(np.asarray(model.signs), (len(cells), model.width)).copy()
    slack = np.min(unit_slack, axis=1)
    decided = np.ones(len(cells), dtype=bool)
    for b in np.nonzero(rank < n_z)[0]:
        z_b, Nul_b, _ = _least_squares(A[b], target)
        s, _, br = _genuine_lp(Xs, P[b], z_b, Nul_b, model, bound)
        slack[b] = s
        branch[b] = br
        decided[b] = s != -np.inf
    return {"risk": risk, "rank": rank, "genuine": decided & (slack > tol), "decided": decided, "slack": slack,
            "branch": branch}
