r"""The survey: train many networks from random starts, certify where they end and count the distinct minima.

``run_survey`` trains ``runs`` networks of one architecture on one dataset with batched full-batch gradient
descent, SGD or Adam (:func:`cellscape.training.train`), then reports for every endpoint its risk, gradient norm,
cell, number of ties (pre-activations within ``tie_tol`` of a breakpoint) and certified radius
(:func:`cellscape.patterns.certified_radius`), and groups the endpoints by risk level: two endpoints share a group
when their risks differ by at most ``risk_rtol`` relative (plus ``1e-12`` absolute) from the group's lowest risk.

Every endpoint is then certified (:func:`cellscape.certify.certify`) and put in one :class:`EndpointCategory`;
the certified minima are grouped into :class:`DistinctMinimum` objects, one per function computed on the training
data (see :func:`group_by_function`).

Examples:
    >>> result = run_survey(SurveyConfig(runs=4, steps=50))
    >>> len(result.runs), sum(g.count for g in result.groups), sum(result.counts.values())
    (4, 4, 4)
"""

from __future__ import annotations

import dataclasses
import enum
import json
import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from cellscape._validation import check_float, check_int, invalid
from cellscape.activations import parse_activation
from cellscape.certify import Certificate, CertificateStatus, certify
from cellscape.data import Dataset, load_data
from cellscape.exceptions import InvalidInputError
from cellscape.losses import parse_loss
from cellscape.networks import Architecture, Params, forward, init_params, mlp
from cellscape.patterns import DEFAULT_TIE_TOL, activation_pattern, certified_radius
from cellscape.statistics import Rate, rate
from cellscape.training import TrainConfig, train

__all__ = [
    "SurveyConfig",
    "EndpointCategory",
    "RunRecord",
    "RiskGroup",
    "DistinctMinimum",
    "SurveyResult",
    "run_survey",
    "group_by_function",
    "dead_units",
    "as_survey_dict",
    "load_survey",
    "config_from_dict",
]


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
        seed: seeds the data generator, the initialisation and the minibatches (results reproduce bit for bit).
        optimizer, schedule, decay_steps, decay_factor, batch_size, precision: the training method
            (:class:`cellscape.training.TrainConfig`: ``gd``, ``sgd`` or ``adam``; the step-size schedule; the
            minibatch size; ``float64`` or ``float32``).
        init: ``uniform`` (:func:`cellscape.networks.init_params`) or ``linear-region`` (the same weights with
            the hidden biases raised until every pre-activation of every sample lies inside one linear piece:
            :func:`cellscape.constructions.linear_region_start`).
        n_samples, d_in: the size of a builtin dataset (``None``: its default; see
            :func:`cellscape.data.load_data`).
        risk_rtol: relative tolerance for grouping endpoints by risk, and for calling a certified minimum
            ``global`` (see :class:`EndpointCategory`).
        tie_tol: tolerance for counting ties (also passed to :func:`cellscape.certify.certify`).
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
    optimizer: str = "gd"
    schedule: str = "constant"
    decay_steps: float = 1000.0
    decay_factor: float = 0.1
    batch_size: int | None = None
    precision: str = "float64"
    init: str = "uniform"
    n_samples: int | None = None
    d_in: int | None = None

    def __post_init__(self) -> None:
        func = "SurveyConfig"
        if self.init not in INIT_SCHEMES:
            raise invalid("init", func, f"one of {', '.join(map(repr, INIT_SCHEMES))}", self.init)
        try:
            self.train_config()
        except InvalidInputError as err:  # the same checks, named after the configuration the user wrote
            raise InvalidInputError(str(err).replace("`TrainConfig`", f"`{func}`")) from None
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


    def load_dataset(self) -> Dataset:
        """The survey's data (:func:`cellscape.data.load_data` with its seed and sizes)."""
        return load_data(self.data, seed=self.seed, n_samples=self.n_samples, d_in=self.d_in)

    def train_config(self) -> TrainConfig:
        """The :class:`~cellscape.training.TrainConfig` of this survey."""
        return TrainConfig(optimizer=self.optimizer, lr=self.lr, steps=self.steps, schedule=self.schedule,
                           decay_steps=self.decay_steps, decay_factor=self.decay_factor, gtol=self.gtol,
                           batch_size=self.batch_size, precision=self.precision, seed=self.seed,
                           chunk=max(1, min(1000, self.steps)))


INIT_SCHEMES = ("uniform", "linear-region")
"""The initialisations a survey can start from (see :class:`SurveyConfig`)."""


class EndpointCategory(str, enum.Enum):
    """What the certificate of an endpoint says, put in survey terms.

    ``global``: a certified minimum whose risk is within ``risk_rtol`` relative (plus ``1e-12`` absolute) of the
    lowest risk among the certified minima of the survey. This is the lowest minimum *found*; it is the global
    minimum only if some run found the global minimum. ``spurious``: a certified minimum above that level.
    ``saddle``: certified saddle. ``not_converged``: the certificate says not critical, or the run diverged.
    ``inconclusive``: the certificate could not decide (its message says why).

    A certified minimum with ties (``M > 0``, a minimum at a non-differentiable point) is still ``global`` or
    ``spurious`` by its risk; :attr:`RunRecord.on_boundary` marks it.
    """

    GLOBAL = "global"
    SPURIOUS = "spurious"
    SADDLE = "saddle"
    NOT_CONVERGED = "not_converged"
    INCONCLUSIVE = "inconclusive"


@dataclasses.dataclass(frozen=True)
class RunRecord:
    """The endpoint of one run.

    Attributes:
        index: the run (its position in the batch).
        risk, grad_norm, radius: risk, gradient norm and certified radius at the endpoint.
        n_ties: ties of the activation pattern within ``tie_tol``.
        cell: digest of the endpoint's cell. steps: gradient steps taken.
        converged, diverged: training stopped at ``gtol``; training met a non-finite step.
        group: index of the endpoint's :class:`RiskGroup`.
        status: the certificate status (a :class:`cellscape.certify.CertificateStatus` value); ``None`` for a
            diverged run, which is not certified.
        category: the endpoint's :class:`EndpointCategory`.
        on_boundary: a certified minimum with ties (``M > 0``): a minimum at a non-differentiable point.
        n_dead_units: hidden units whose pre-activation lies in a flat piece (slope 0) on every sample: they pass
            no gradient (all of them dead: a dead-point, as in Laurent and von Brecht 2018).
    """

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
    status: str | None
    category: EndpointCategory
    on_boundary: bool
    n_dead_units: int = 0


def dead_units(arch: Architecture, pieces: tuple[np.ndarray, ...]) -> np.ndarray:
    """Per network, the hidden units in a flat piece (slope 0) on every sample, from the pattern's piece
    indices (``pieces[l]`` of shape ``(B, n, d_l)``); shape ``(B,)``.

    Examples:
        >>> arch = mlp(1, [2], 1)
        >>> dead_units(arch, (np.array([[[0, 1], [0, 0]]]),)).tolist()   # unit 0 off on both samples
        [1]
    """
    total = np.zeros(pieces[0].shape[0], dtype=np.int64)
    for act, p in zip(arch.activations, pieces):
        flat = np.asarray([s == 0 for s in act.slopes])[p]
        total += np.all(flat, axis=1).sum(axis=1)
    return total


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
class DistinctMinimum:
    """Certified minima of the survey that compute the same function on the training data.

    Attributes:
        index: position in :attr:`SurveyResult.minima` (sorted by risk).
        risk: the lowest risk among its runs.
        count: the number of runs that ended in it.
        category: ``global`` or ``spurious`` (that of its lowest-risk run).
        on_boundary: some run reached it at a point with ties (a non-differentiable point).
        valley_dimension: the largest valley dimension its certificates report, ``None`` when none does.
        runs: the indices of its runs.
        representative: its lowest-risk run (the lowest index among equal risks).
        certificate: the representative's certificate (:meth:`cellscape.certify.Certificate.to_dict`, without the
            list of ties; ``n_ties`` counts them).
        params: the representative's parameters as JSON-ready layers ``[[W, b], ...]`` (``b`` ``None`` without
            bias): floats written by ``json`` read back bit for bit, so a report can slice through the minimum.
    """

    index: int
    risk: float
    count: int
    category: EndpointCategory
    on_boundary: bool
    valley_dimension: int | None
    runs: tuple[int, ...]
    representative: int = -1
    certificate: dict[str, Any] = dataclasses.field(default_factory=dict)
    params: tuple = ()


@dataclasses.dataclass(frozen=True)
class SurveyResult:
    """Everything a survey found; :meth:`to_dict` gives the JSON form (with config, seed and version).

    Attributes:
        config: the configuration. dataset, architecture: their JSON summaries.
        runs: one record per run. groups: the endpoints grouped by risk.
        best_risk: the lowest risk of any endpoint (certified or not).
        minima: the distinct certified minima, lowest risk first.
        counts: the number of runs per :class:`EndpointCategory` value (every category present; they add up to
            the number of runs).
        n_on_boundary: the number of certified minima with ties (counted apart: these runs are also ``global``
            or ``spurious``).
        rates: the :class:`~cellscape.statistics.Rate` (with its 95% Wilson interval) of every category and of
            ``on_boundary``, over the runs.
        constructed: the theory's spurious minima built on the same data and architecture (see
            :func:`constructed_minima`), each with the number of runs that ended at its risk.
    """

    config: SurveyConfig
    dataset: dict[str, Any]
    architecture: dict[str, Any]
    runs: tuple[RunRecord, ...]
    groups: tuple[RiskGroup, ...]
    best_risk: float
    minima: tuple[DistinctMinimum, ...]
    counts: dict[str, int]
    n_on_boundary: int
    constructed: tuple[dict[str, Any], ...] = ()
    rates: dict[str, Rate] = dataclasses.field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        from cellscape import __version__

        def clean(value: Any) -> Any:
            if isinstance(value, float) and not math.isfinite(value):
                return str(value)
            if isinstance(value, enum.Enum):
                return value.value
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
            "counts": self.counts,
            "n_on_boundary": self.n_on_boundary,
            "rates": {name: r.to_dict() for name, r in self.rates.items()},
            "minima": [dataclasses.asdict(m) for m in self.minima],
            "constructed": list(self.constructed),
            "runs": [dataclasses.asdict(r) for r in self.runs],
        })


def as_survey_dict(survey: Any, *, name: str = "survey", func: str = "as_survey_dict") -> dict[str, Any]:
    """The JSON form of a survey: a :class:`SurveyResult`'s :meth:`~SurveyResult.to_dict`, or a mapping that is
    one already (what ``cellscape survey --json`` writes), checked to say ``"command": "survey"``.

    Raises:
        InvalidInputError: naming ``name`` for anything else.

    Examples:
        >>> as_survey_dict({"command": "atlas"})
        Traceback (most recent call last):
        ...
        cellscape.exceptions.InvalidInputError: `survey` of `as_survey_dict` must be a survey result or its JSON \
form (cellscape survey --json). Got a JSON object with command 'atlas' instead.
    """
    if isinstance(survey, SurveyResult):
        return survey.to_dict()
    if not isinstance(survey, dict) or survey.get("command") != "survey":
        got = (f"a JSON object with command {survey.get('command')!r}" if isinstance(survey, dict)
               else type(survey).__name__)
        raise invalid(name, func, "a survey result or its JSON form (cellscape survey --json)", got, raw=True)
    return survey


def load_survey(path: str | os.PathLike[str], *, name: str = "path", func: str = "load_survey") -> dict[str, Any]:
    """Read the JSON file that ``cellscape survey --json`` wrote (checked as in :func:`as_survey_dict`).

    Raises:
        InvalidInputError: naming ``name`` for a missing or unreadable file, bad JSON or another command's
            output.
    """
    try:
        text = Path(path).read_text()
    except OSError as err:
        raise invalid(name, func, "a readable survey JSON file", f"{str(path)!r} ({err.strerror})",
                      raw=True) from None
    try:
        payload = json.loads(text)
    except ValueError as err:
        raise invalid(name, func, "a survey JSON file", f"{str(path)!r}, which is not JSON ({err})",
                      raw=True) from None
    return as_survey_dict(payload, name=name, func=func)


def config_from_dict(config: dict[str, Any], *, func: str = "config_from_dict") -> SurveyConfig:
    """The :class:`SurveyConfig` of a survey's JSON ``config`` (keys it does not know are ignored).

    Raises:
        InvalidInputError: for a bad configuration.
    """
    if not isinstance(config, dict):
        raise invalid("config", func, "the JSON object of a survey's configuration", type(config).__name__,
                      raw=True)
    known = {f.name for f in dataclasses.fields(SurveyConfig)}
    values = {k: v for k, v in config.items() if k in known}
    if "hidden" in values:
        values["hidden"] = tuple(values["hidden"])
    return SurveyConfig(**values)


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


FUNCTION_RTOL = 1e-6
"""Two networks compute the same function on the data when their outputs differ by at most this, relative."""


def _group_by_predictions(yhat: np.ndarray, rtol: float) -> np.ndarray:
    """Label of each network (rows of ``yhat``, shape ``(B, n, d_out)``): in order, a network joins the first label
    whose first network it matches within ``rtol * (1 + max |yhat|)``, else it starts a new label."""
    labels = np.empty(yhat.shape[0], dtype=np.int64)
    representatives: list[int] = []
    for b in range(yhat.shape[0]):
        for label, r in enumerate(representatives):
            scale = 1.0 + max(float(np.max(np.abs(yhat[b]), initial=0.0)),
                              float(np.max(np.abs(yhat[r]), initial=0.0)))
            if float(np.max(np.abs(yhat[b] - yhat[r]), initial=0.0)) <= rtol * scale:
                labels[b] = label
                break
        else:
            labels[b] = len(representatives)
            representatives.append(b)
    return labels


def group_by_function(arch: Architecture, params: Any, X: Any, *, rtol: float = FUNCTION_RTOL) -> np.ndarray:
    r"""Label networks by the function they compute on the data: equal labels for equal predictions.

    Networks ``a`` and ``b`` match when :math:`\max_{i,j} |\hat y^a_{ij} - \hat y^b_{ij}| \le
    \mathrm{rtol}\,(1 + \max(|\hat y^a|, |\hat y^b|))`. This identifies parameter points up to the network's
    symmetries: a permutation of hidden units or a positive rescaling of a homogeneous unit computes the same
    function, and the minima along a valley of equal risk share their outputs on the training data (He et al.
    2020), while the risk sees the parameters only through these outputs. Matching is not transitive, so labels
    are given greedily: in batch order, a network takes the label of the first earlier *representative* (the
    first network of a label) it matches, else a new label. Give the networks lowest risk first to make the
    representatives the best points.

    Args:
        arch: the architecture. params: a batch of ``B`` networks. X: inputs ``(n, d_in)``.
        rtol: the relative tolerance.

    Returns:
        Labels ``0, 1, ...`` of shape ``(B,)``, numbered in order of first appearance.

    Raises:
        InvalidInputError: for parameters or inputs of the wrong shape, or a negative ``rtol``.

    Examples:
        Swapping the two hidden units and rescaling one of them changes the parameters, not the function:

        >>> from cellscape import mlp
        >>> arch = mlp(1, [2], 1)
        >>> a = [([[1.0], [-1.0]], [0.0, 0.5]), ([[2.0, 3.0]], [0.0])]
        >>> b = [([[-2.0], [1.0]], [1.0, 0.0]), ([[1.5, 2.0]], [0.0])]
        >>> c = [([[1.0], [1.0]], [0.0, 0.5]), ([[2.0, 3.0]], [0.0])]
        >>> stacked = [tuple(np.stack([p[l][i] for p in (a, b, c)]) for i in range(2)) for l in range(2)]
        >>> group_by_function(arch, stacked, [[-1.0], [0.0], [1.0]]).tolist()
        [0, 0, 1]

    References:
        F. He, B. Wang, D. Tao. Piecewise linear activations substantially shape the loss surfaces of neural
        networks. ICLR 2020.

    Notes:
        One forward pass, then :math:`O(B\,G\,n\,d_{out})` comparisons for ``G`` labels.
    """
    rtol = check_float(rtol, name="rtol", func="group_by_function", minimum=0.0)
    return _group_by_predictions(np.asarray(forward(arch, params, X)), rtol)


def _categorize(certificates: list[Certificate | None], risks: np.ndarray, rtol: float) -> list[EndpointCategory]:
    """The category of each endpoint; ``None`` stands for a diverged run (not certified)."""
    level = min((float(risks[b]) for b, c in enumerate(certificates) if c is not None and c.is_minimum),
                default=math.nan)
    categories = []
    for b, cert in enumerate(certificates):
        if cert is None or cert.status is CertificateStatus.NOT_CRITICAL:
            categories.append(EndpointCategory.NOT_CONVERGED)
        elif cert.is_minimum:
            lowest = float(risks[b]) <= level * (1 + rtol) + 1e-12
            categories.append(EndpointCategory.GLOBAL if lowest else EndpointCategory.SPURIOUS)
        elif cert.status is CertificateStatus.SADDLE:
            categories.append(EndpointCategory.SADDLE)
        else:
            categories.append(EndpointCategory.INCONCLUSIVE)
    return categories


def _layers_of(params: Params, b: int) -> tuple:
    """Network ``b`` of a batch as JSON-ready layers ``[[W, b], ...]``."""
    return tuple([np.asarray(W[b]).tolist(), None if bias is None else np.asarray(bias[b]).tolist()]
                 for W, bias in params.numpy().layers())


def _distinct_minima(runs: tuple[RunRecord, ...], certificates: list[Certificate | None],
                     yhat: np.ndarray, params: Params) -> tuple[DistinctMinimum, ...]:
    """Group the certified minima (lowest risk first) by the function they compute on the data."""
    order = sorted((r.index for r in runs if r.category in (EndpointCategory.GLOBAL, EndpointCategory.SPURIOUS)),
                   key=lambda b: (runs[b].risk, b))
    labels = _group_by_predictions(yhat[order], FUNCTION_RTOL)
    minima = []
    for label in range(int(labels.max(initial=-1)) + 1):
        members = [order[i] for i in np.nonzero(labels == label)[0]]
        valleys = [v for b in members if (v := certificates[b].valley_dimension) is not None]
        minima.append(DistinctMinimum(
            index=label,
            risk=runs[members[0]].risk,
            count=len(members),
            category=runs[members[0]].category,
            on_boundary=any(runs[b].on_boundary for b in members),
            valley_dimension=max(valleys) if valleys else None,
            runs=tuple(sorted(members)),
            representative=members[0],
            certificate={k: v for k, v in certificates[members[0]].to_dict().items() if k != "ties"},
            params=_layers_of(params, members[0]),
        ))
    return tuple(minima)


def run_survey(
    config: SurveyConfig = SurveyConfig(),
    *,
    dataset: Dataset | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> SurveyResult:
    """Train ``config.runs`` networks at once, certify their endpoints and group them by risk and by function.

    Every endpoint of a run that did not diverge is certified with :func:`cellscape.certify.certify` (the
    survey's loss and data, default tolerances except ``tie_tol=config.tie_tol``), and every endpoint is given an
    :class:`EndpointCategory` (a diverged run is ``not_converged``). The certified minima
    are then grouped into distinct minima by :func:`group_by_function` (lowest risk first): two minima are the
    same when their predictions on the training data agree, which identifies points related by the network's
    symmetries and points of one valley.

    Args:
        config: the survey configuration.
        dataset: use these data instead of loading ``config.data``.
        progress: called as ``progress(steps_done, steps_total)`` during training.

    Raises:
        InvalidInputError: for a bad configuration or dataset.

    Notes:
        Training costs ``steps`` batched gradient steps; certifying costs, per endpoint inside a cell, one
        Hessian (:math:`O(P^3)` for ``P`` parameters) and on a boundary :math:`2^M` small linear programs (see
        :func:`cellscape.certify.certify`); grouping the minima costs one forward pass.
    """
    data = dataset if dataset is not None else config.load_dataset()
    loss = parse_loss(config.loss)
    arch = mlp(data.X.shape[1], list(config.hidden), loss.output_width(data.y), activation=config.activation)
    params = init_params(arch, batch=config.runs, seed=config.seed)
    if config.init == "linear-region":
        from cellscape.constructions import linear_region_start

        params = linear_region_start(arch, params, data.X)
    trained = train(arch, params, data.X, data.y, loss=loss, config=config.train_config(), progress=progress)
    pattern = activation_pattern(arch, trained.params, data.X, y=data.y, loss=loss)
    radius = certified_radius(arch, trained.params, data.X, y=data.y, loss=loss, tol=config.tie_tol,
                              pattern=pattern)
    ties = pattern.n_ties(tol=config.tie_tol)
    dead = dead_units(arch, pattern.pieces)
    cells = [c.digest for c in pattern.cells()]
    labels = _group_by_risk(trained.risk, config.risk_rtol)
    certificates: list[Certificate | None] = [None] * config.runs  # None: a diverged run, not certified
    finite = np.nonzero(~trained.diverged)[0]
    if finite.size:
        found = certify(arch, trained.params[finite], data.X, data.y, loss=loss, tie_tol=config.tie_tol)
        for b, cert in zip(finite, found):
            certificates[b] = cert
    categories = _categorize(certificates, trained.risk, config.risk_rtol)
    records = []
    for b, (cert, category) in enumerate(zip(certificates, categories)):
        minimum = category in (EndpointCategory.GLOBAL, EndpointCategory.SPURIOUS)
        records.append(RunRecord(
            index=b, risk=float(trained.risk[b]), grad_norm=float(trained.grad_norm[b]), radius=float(radius[b]),
            n_ties=int(ties[b]), cell=cells[b], steps=int(trained.steps[b]), converged=bool(trained.converged[b]),
            diverged=bool(trained.diverged[b]), group=int(labels[b]),
            status=None if cert is None else cert.status.value, category=category,
            on_boundary=minimum and cert is not None and cert.n_ties > 0, n_dead_units=int(dead[b]),
        ))
    runs = tuple(records)
    counts = {c.value: sum(r.category is c for r in runs) for c in EndpointCategory}
    minima = _distinct_minima(runs, certificates, np.asarray(forward(arch, trained.params, data.X)), trained.params)
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
    constructed = constructed_minima(data, config, np.array([r.risk for r in runs]))
    return SurveyResult(
        config=config,
        dataset=data.to_dict(),
        architecture=arch.to_dict(),
        runs=runs,
        groups=tuple(groups),
        best_risk=float(np.min(trained.risk)),
        minima=minima,
        counts=counts,
        n_on_boundary=sum(r.on_boundary for r in runs),
        constructed=constructed,
        rates={**{name: rate(count, len(runs)) for name, count in counts.items()},
               "on_boundary": rate(sum(r.on_boundary for r in runs), len(runs))},
    )


def constructed_minima(data: Dataset, config: SurveyConfig, risks: np.ndarray) -> tuple[dict[str, Any], ...]:
    """The registered constructions that apply to the survey's data, architecture, activation and loss, each as
    ``{name, risk, status, spurious, witness_risk, runs_at_risk, message}`` (``runs_at_risk``: the runs whose risk
    is within ``risk_rtol`` of the construction's), or ``{name, refused}`` with the reason it does not apply."""
    from cellscape.constructions import CONSTRUCTIONS, construct
    from cellscape.exceptions import CellscapeError

    out = []
    for name, entry in CONSTRUCTIONS.items():
        if entry.defaults["loss"] != parse_loss(config.loss).spec or entry.defaults["hidden"] is None:
            continue  # another loss, or a network of its own (not comparable with the survey's endpoints)
        try:
            result = construct(name, data.X, data.y, hidden=list(config.hidden), activation=config.activation,
                               loss=config.loss)
        except CellscapeError as err:
            out.append({"name": name, "refused": str(err)})
            continue
        near = np.abs(risks - result.risk) <= config.risk_rtol * abs(result.risk) + 1e-12
        out.append({"name": name, "risk": result.risk, "status": result.certificate.status.value,
                    "spurious": result.is_spurious, "witness_risk": result.witness_risk,
                    "runs_at_risk": int(np.sum(near)), "message": result.message})
    return tuple(out)
