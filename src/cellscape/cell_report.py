"""A per-network summary of cells: risk, cell identity, ties, smallest margin and certified radius.

Examples:
    >>> from cellscape import mlp
    >>> report = cell_report(mlp(1, [1], 1), [([[1.0]], [0.0]), ([[1.0]], [0.0])], [[1.0], [2.0]], [[1.0], [2.0]])
    >>> report.rows[0].risk, report.rows[0].n_ties
    (0.0, 0)
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from cellscape.losses import Loss, as_targets, parse_loss, risk
from cellscape.networks import Architecture, as_inputs, as_params
from cellscape.patterns import DEFAULT_TIE_TOL, activation_pattern, certified_radius

__all__ = ["CellSummary", "CellReport", "cell_report"]


@dataclasses.dataclass(frozen=True)
class CellSummary:
    """One network's cell: its risk, the cell's short name, ties within ``tol``, smallest margin, radius."""

    index: int
    risk: float
    cell: str
    n_ties: int
    min_margin: float
    radius: float


@dataclasses.dataclass(frozen=True)
class CellReport:
    """Summaries of every network of a batch, with the architecture, loss and tolerance used."""

    architecture: dict[str, Any]
    loss: str
    tol: float
    rows: tuple[CellSummary, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"architecture": self.architecture, "loss": self.loss, "tol": self.tol,
                "networks": [{k: (v if np.isfinite(v) else str(v)) if isinstance(v, float) else v
                              for k, v in dataclasses.asdict(r).items()} for r in self.rows]}


def cell_report(
    arch: Architecture, params: Any, X: Any, y: Any, *, loss: str | Loss = "squared",
    tol: float = DEFAULT_TIE_TOL,
) -> CellReport:
    """Summarise the cell of every network of the batch.

    Raises:
        InvalidInputError: for bad shapes, targets or tolerance.
    """
    loss = parse_loss(loss)
    P = as_params(arch, params, func="cell_report")
    Xn = as_inputs(arch, X, func="cell_report")
    yn = as_targets(y, loss, arch.d_out, Xn.shape[0], func="cell_report")
    pattern = activation_pattern(arch, P, Xn, y=yn, loss=loss)
    radius = certified_radius(arch, P, Xn, y=yn, loss=loss, tol=tol, pattern=pattern)
    risks = np.asarray(risk(arch, P, Xn, yn, loss=loss))
    margins = pattern.min_margin()
    if pattern.loss_margins is not None:
        margins = np.minimum(margins, pattern.loss_margins.min(axis=1))
    ties = pattern.n_ties(tol=tol)
    rows = tuple(CellSummary(b, float(risks[b]), pattern.cell(b).digest, int(ties[b]), float(margins[b]),
                             float(radius[b])) for b in range(P.batch_size))
    return CellReport(arch.to_dict(), loss.spec, float(tol), rows)
