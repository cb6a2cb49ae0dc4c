"""The linear programs the atlas reduces to, on one reused HiGHS instance.

``max delta`` subject to ``G u + delta <= h``, ``-bound <= u <= bound``, ``delta <= 1``: the bounded largest-slack
form, which HiGHS always resolves (a bare feasibility LP it sometimes leaves undecided). The strict system
``G u < h`` is feasible exactly when ``delta* > 0`` for a large enough bound.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import highspy
import numpy as np

_INF = 1e30
_highs: highspy.Highs | None = None


@contextlib.contextmanager
def _quiet_stdout() -> Iterator[None]:
    """Silence file descriptor 1 (HiGHS prints its banner from C++ when an instance is made)."""
    saved = os.dup(1)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 1)
            yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)


def _solver() -> highspy.Highs:
    global _highs
    if _highs is None:
        with _quiet_stdout():
            _highs = highspy.Highs()
        _highs.setOptionValue("output_flag", False)
    return _highs


def _matrix(M: np.ndarray) -> highspy.HighsSparseMatrix:
    """``M`` as a dense column-wise HiGHS matrix."""
    m, p = M.shape
    out = highspy.HighsSparseMatrix()
    out.format_ = highspy.MatrixFormat.kColwise
    out.num_row_, out.num_col_ = m, p
    out.start_ = (np.arange(p + 1) * m).astype(np.int32)
    out.index_ = np.tile(np.arange(m, dtype=np.int32), p)
    out.value_ = np.ascontiguousarray(M.T, dtype=np.float64).ravel()
    return out


def largest_slack(G: np.ndarray, h: np.ndarray, *, bound: float = 1.0) -> tuple[float, np.ndarray]:
    """``(delta*, u*)`` of the largest-slack LP above; ``(-inf, zeros)`` when HiGHS reports no optimum.

    Examples:
        >>> delta, u = largest_slack(np.array([[1.0], [-1.0]]), np.array([0.0, 0.0]))   # u < 0 and -u < 0
        >>> float(delta) <= 0
        True
    """
    m, p = G.shape
    lp = highspy.HighsLp()
    lp.num_col_ = p + 1
    lp.num_row_ = m
    lp.col_cost_ = np.r_[np.zeros(p), -1.0]
    lp.col_lower_ = np.r_[np.full(p, -bound), -_INF]
    lp.col_upper_ = np.r_[np.full(p, bound), 1.0]
    lp.row_lower_ = np.full(m, -_INF)
    lp.row_upper_ = np.asarray(h, dtype=np.float64)
    lp.a_matrix_ = _matrix(np.hstack([G, np.ones((m, 1))]))
    solver = _solver()
    solver.passModel(lp)
    solver.run()
    if solver.getModelStatus() != highspy.HighsModelStatus.kOptimal:
        return -np.inf, np.zeros(p)
    x = np.asarray(solver.getSolution().col_value)
    return float(x[-1]), x[:p]


def cone_descent(c: np.ndarray, rows: np.ndarray) -> tuple[float, np.ndarray]:
    """``min c . u`` over ``rows u >= 0``, ``|u|_inf <= 1``: ``(value, u*)``. The value is 0 exactly when ``c`` lies
    in the cone spanned by the rows (the KKT condition of a cone constraint); below 0, ``u*`` is a direction into
    the cone along which ``c . u`` decreases. ``(nan, zeros)`` when HiGHS reports no optimum.

    Examples:
        >>> value, u = cone_descent(np.array([1.0, -1.0]), np.array([[1.0, 0.0]]))   # u_1 >= 0, c . u = u_0 - u_1
        >>> float(value), [float(abs(x)) for x in u]
        (-1.0, [0.0, 1.0])
    """
    m, p = rows.shape
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = p, m
    lp.col_cost_ = np.asarray(c, dtype=np.float64)
    lp.col_lower_, lp.col_upper_ = np.full(p, -1.0), np.full(p, 1.0)
    lp.row_lower_, lp.row_upper_ = np.zeros(m), np.full(m, _INF)
    lp.a_matrix_ = _matrix(rows)
    solver = _solver()
    solver.passModel(lp)
    solver.run()
    if solver.getModelStatus() != highspy.HighsModelStatus.kOptimal:
        return float("nan"), np.zeros(p)
    u = np.asarray(solver.getSolution().col_value)
    return float(c @ u), u

