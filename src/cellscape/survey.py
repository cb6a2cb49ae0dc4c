r"""The survey: train many networks from random starts and look at where they end.

``run_survey`` trains ``runs`` networks of one architecture on one dataset with batched full-batch gradient
descent (:func:`cellscape.training.gradient_descent`), then reports for every endpoint its risk, gradient norm,
cell, number of ties (pre-activations within ``tie_tol`` of a breakpoint) and certified radius
(:func:`cellscape.patterns.certified_radius`), and groups the endpoints by risk level: two endpoints share a group
when their risks differ by at most ``risk_rtol`` relative (plus ``1e-12`` absolute) from the group's lowest risk.

Examples:
    >>> result = run_survey(SurveyConfig(runs=4, steps=50))
    >>> len(result.runs), sum(g.count for g in result.groups)
    (4, 4)
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any

import numpy as np

from cellscape._validation import check_float, check_int, invalid
from cellscape.activations import parse_activation
from cellscape.data import Dataset, load_data
from cellscape.losses import parse_loss
from cellscape.networks import init_params, mlp
from cellscape.patterns import DEFAULT_TIE_TOL, activation_pattern, certified_radius
from cellscape.training import gradient_descent

__all__ = ["SurveyConfig", "RunRecord", "RiskGroup", "SurveyResult", "run_survey"]


@dataclasses.dataclass(frozen=True)
class SurveyConfig:
    """What to survey.

    Attributes:
        data: a dataset specification for :func:`cellscape.data.load_data` (default: the built-in data that no
            affine map fits).
        hidden: hidden widths (default one hidden layer of 3 units).
        activation: the hidden activation specification.
        loss: the loss specification.
        runs: number of networks trained (each from its own random start).
        steps: the most gradient-descent steps. lr: step size.
        gtol: a run stops once its gradient norm is at most ``gtol`` (it then counts as converged).
        seed: seeds the data generator and the initialisation (results reproduce bit for bit).
        risk_rtol: relative tolerance for grouping endpoints by risk.
        tie_tol: tolerance for counting ties.
    """

    data: str = "builtin:nonaffine"
    hidden: tuple[int, ...] = (3,)
    activation: str = "relu"
    loss: str = "squared"
    runs: int = 64
    steps: int = 40000
    lr: float = 0.1
    gtol: float = 1e-10
    seed: int = 0
    risk_rtol: float = 1e-3
    tie_tol: float = DEFAULT_TIE_TOL

    def __post_init__(self) -> None:
        func = "SurveyConfig"
        object.__setattr__(self, "hidden", tuple(check_int(h, name="hidden", func=func, minimum=1)
                                                 for h in self.hidden))
        check_int(self.runs, name="runs", func=func, minimum=1)
        check_int(self.steps, name="steps", func=func, minimum=0)
        check_int(self.seed, name="seed", func=func, minimum=0)
        check_float(self.lr, name="lr", func=func, minimum=0.0, strict_minimum=True)
        check_float(self.gtol, name="gtol", func=func, minimum=0.0)
        check_float(self.risk_rtol, name="risk_rtol", func=func, minimum=0.0)
        check_float(self.tie_tol, name="tie_tol", func=func, minimum=0.0)
        parse_activation(self.activation)
        parse_loss(self.loss)
        if not isinstance(self.data, str) or not self.data:
            raise invalid("data", func, "a dataset specification (a file or builtin:NAME)", self.data)


@dataclasses.dataclass(frozen=True)
class RunRecord:
    """The endpoint of one run."""

    index: int
    risk: float
    grad_norm: float
    radius: float
    n_ties: int
    cell: str
    steps: int
    converged: bool
    diverged: bool
    group: int


@dataclasses.dataclass(frozen=True)
class RiskGroup:
    """Endpoints whose risks agree within the grouping tolerance."""

    index: int
    risk_min: float
    risk_max: float
    count: int
    n_converged: int
    n_cells: int
    median_grad_norm: float
    min_radius: float
    runs: tuple[int, ...]


@dataclasses.dataclass(frozen=True)
class SurveyResult:
    """Everything a survey found; :meth:`to_dict` gives the JSON form (with config, seed and version)."""

    config: SurveyConfig
    dataset: dict[str, Any]
    architecture: dict[str, Any]
    runs: tuple[RunRecord, ...]
    groups: tuple[RiskGroup, ...]
    best_risk: float

    def to_dict(self) -> dict[str, Any]:
        from cellscape import __version__

        def clean(value: Any) -> Any:
            if isinstance(value, float) and not math.isfinite(value):
                return str(value)
            if isinstance(value, dict):
                return {k: clean(v) for k, v in value.items()}
            if isinstance(value, (list, tuple)):
                return [clean(v) for v in value]
            return value

        return clean({
            "cellscape_version": __version__,
            "command": "survey",
            "config": dataclasses.asdict(self.config),
            "dataset": self.dataset,
            "architecture": self.architecture,
            "best_risk": self.best_risk,
            "groups": [dataclasses.asdict(g) for g in self.groups],
            "runs": [dataclasses.asdict(r) for r in self.runs],
        })


def _group_by_risk(risks: np.ndarray, rtol: float) -> np.ndarray:
    """Group label of each risk: sorted risks start a new group when more than rtol above the group's first."""
    order = np.argsort(risks, kind="stable")
    labels = np.empty(risks.size, dtype=np.int64)
    group, start = -1, None
    for i in order:
        r = risks[i]
        if start is None or not (r <= start * (1 + rtol) + 1e-12) or not math.isfinite(r):
            group += 1
            start = r
        labels[i] = group
    return labels


def run_survey(
    config: SurveyConfig = SurveyConfig(),
    *,
    dataset: Dataset | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> SurveyResult:
    """Train ``config.runs`` networks at once and report their endpoints grouped by risk.

    Args:
        config: the survey configuration.
        dataset: use these data instead of loading ``config.data``.
        progress: called as ``progress(steps_done, steps_total)`` during training.

    Raises:
        InvalidInputError: for a bad configuration or dataset.
    """
    data = dataset if dataset is not None else load_data(config.data, seed=config.seed)
    loss = parse_loss(config.loss)
    arch = mlp(data.X.shape[1], list(config.hidden), loss.output_width(data.y), activation=config.activation)
    params = init_params(arch, batch=config.runs, seed=config.seed)
    trained = gradient_descent(arch, params, data.X, data.y, loss=loss, lr=config.lr, steps=config.steps,
                               gtol=config.gtol, chunk=max(1, min(1000, config.steps)), progress=progress)
    pattern = activation_pattern(arch, trained.params, data.X, y=data.y, loss=loss)
    radius = certified_radius(arch, trained.params, data.X, y=data.y, loss=loss, tol=config.tie_tol,
                              pattern=pattern)
    ties = pattern.n_ties(tol=config.tie_tol)
    cells = [c.digest for c in pattern.cells()]
    labels = _group_by_risk(trained.risk, config.risk_rtol)
    runs = tuple(
        RunRecord(b, float(trained.risk[b]), float(trained.grad_norm[b]), float(radius[b]), int(ties[b]),
                  cells[b], int(trained.steps[b]), bool(trained.converged[b]), bool(trained.diverged[b]),
                  int(labels[b]))
        for b in range(config.runs)
    )
    groups = []
    for g in range(int(labels.max()) + 1):
        members = [r for r in runs if r.group == g]
        groups.append(RiskGroup(
            index=g,
            risk_min=min(r.risk for r in members),
            risk_max=max(r.risk for r in members),
            count=len(members),
            n_converged=sum(r.converged for r in members),
            n_cells=len({r.cell for r in members}),
            median_grad_norm=float(np.median([r.grad_norm for r in members])),
            min_radius=min(r.radius for r in members),
            runs=tuple(r.index for r in members),
        ))
    return SurveyResult(
        config=config,
        dataset=data.to_dict(),
        architecture=arch.to_dict(),
        runs=runs,
        groups=tuple(groups),
        best_risk=float(np.min(trained.risk)),
    )
