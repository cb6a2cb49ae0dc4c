"""One interface over the constructions: build, claimed risk, certificate, witness.

Every entry of :data:`CONSTRUCTIONS` turns data and an architecture description into a
:class:`ConstructionResult`: the point, the risk the paper claims for it (computed independently of the network:
the best affine risk, the fraction of dead samples), the risk of the point itself, its certificate, and a witness
point of strictly lower risk that makes it spurious (``None`` when none is known). The common tests run every entry
in float and exact arithmetic.

Examples:
    >>> from cellscape.data import load_data
    >>> data = load_data("builtin:three-point")
    >>> result = construct("linear-region", data.X_exact, data.y_exact, hidden=[2], exact=True)
    >>> result.risk_exact == result.claimed_risk_exact, result.certificate.is_minimum, result.is_spurious
    (True, True, True)
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Callable
from fractions import Fraction
from typing import Any

import numpy as np

from cellscape._validation import check_enum, check_int, invalid
from cellscape.certify import Certificate
from cellscape.constructions.he2020 import linear_region_minimum
from cellscape.constructions.laurent2018 import dead_point_minimum
from cellscape.constructions.liu2021 import (
    GroupingMinimum,
    grouping_minimum,
    grouping_minimum_conv,
    threshold_groupings,
)
from cellscape.constructions.witness import optimised_witness
from cellscape.conv import ConvNet, patch_means
from cellscape.exceptions import CellscapeError
from cellscape.losses import as_targets, parse_loss
from cellscape.networks import Architecture, Params

__all__ = ["ConstructionName", "ConstructionResult", "Construction", "CONSTRUCTIONS", "construct"]


class ConstructionName(str, enum.Enum):
    """The registered constructions."""

    LINEAR_REGION = "linear-region"
    DEAD_POINT = "dead-point"
    GROUPING = "grouping"
    GROUPING_CNN = "grouping-cnn"


@dataclasses.dataclass(frozen=True, eq=False)
class ConstructionResult:
    """A constructed point with the paper's claim about it and the evidence."""

    name: str
    paper: str
    arch: Architecture | ConvNet
    params: Params
    claimed_risk: float
    claimed_risk_exact: Fraction | None
    risk: float
    risk_exact: Fraction | None
    certificate: Certificate
    witness_params: Params | None
    witness_risk: float | None
    witness_risk_exact: Fraction | None
    message: str

    @property
    def is_spurious(self) -> bool:
        """A certified minimum with a witness of strictly lower risk (exactly, when exact risks are known)."""
        if not self.certificate.is_minimum or self.witness_risk is None:
            return False
        if self.risk_exact is not None and self.witness_risk_exact is not None:
            return self.witness_risk_exact < self.risk_exact
        return self.witness_risk < self.risk

    def to_dict(self) -> dict[str, Any]:
        def text(v: Any) -> Any:
            return None if v is None else str(v)

        return {"construction": self.name, "paper": self.paper, "architecture": self.arch.to_dict(),
                "claimed_risk": self.claimed_risk, "claimed_risk_exact": text(self.claimed_risk_exact),
                "risk": self.risk, "risk_exact": text(self.risk_exact), "certificate": self.certificate.to_dict(),
                "spurious": self.is_spurious, "witness_risk": self.witness_risk,
                "witness_risk_exact": text(self.witness_risk_exact), "message": self.message,
                "params": [[np.asarray(w)[0].tolist(), None if b is None else np.asarray(b)[0].tolist()]
                           for w, b in self.params.layers()]}


def _linear_region(X: Any, y: Any, *, hidden: list[int], activation: str, loss: str, exact: bool,
                   **_: Any) -> ConstructionResult:
    built = linear_region_minimum(X, y, hidden=hidden, activation=activation, loss=loss, exact=exact)
    w = built.witness
    return ConstructionResult(
        "linear-region", "He, Wang and Tao (ICLR 2020); Yun, Sra and Jadbabaie (ICLR 2019)", built.arch,
        built.params, built.affine_fit.risk, built.affine_fit.risk_exact, built.risk, built.risk_exact,
        built.certificate, None if w is None else w.params, None if w is None else w.risk,
        None if w is None else w.risk_exact, built.message)


def _dead_point(X: Any, y: Any, *, hidden: list[int], activation: str, loss: str, exact: bool,
                **_: Any) -> ConstructionResult:
    del exact  # always exact: the construction is rational
    if len(hidden) != 1 or activation != "relu" or loss != "hinge":
        raise invalid("construction", "construct", "one hidden layer, relu and the hinge loss for dead-point",
                      f"hidden={hidden}, activation={activation}, loss={loss}", raw=True)
    built = dead_point_minimum(X, y, width=hidden[0])
    return ConstructionResult(
        "dead-point", "Laurent and von Brecht (ICML 2018)", built.arch, built.params,
        float(Fraction(built.n_dead, len(np.asarray(X)))), Fraction(built.n_dead, len(np.asarray(X))), built.risk,
        built.risk_exact, built.certificate, built.witness_params, float(built.witness_risk), built.witness_risk,
        f"{built.n_dead} dead samples; the same weights with leaky ReLU ({built.leaky_alpha}) are "
        f"{built.leaky_certificate.status.value}")


_LIU21 = "Liu (2021), arXiv:2102.13233"


def _grouping(X: Any, y: Any, *, hidden: list[int] | None, activation: str, loss: str, exact: bool,
              kernel_size: int | None = None) -> ConstructionResult:
    """The admissible two-group threshold split (:func:`~cellscape.constructions.liu2021.threshold_groupings`)
    of highest risk, compiled and certified; the witness is the lowest-risk admissible split compiled onto the
    same architecture when it is lower, else the best of a batch of training runs on that architecture."""
    del exact  # the squared loss's fits and certificate are always exact; other losses in floats
    func = "construct"
    conv = kernel_size is not None
    name = "grouping-cnn" if conv else "grouping"
    features = patch_means(np.asarray(X, dtype=float), kernel_size) if conv else np.asarray(X, dtype=float)

    def build(labels: Any, with_certificate: bool) -> GroupingMinimum:
        if conv:
            return grouping_minimum_conv(X, y, labels, kernel_size=kernel_size, loss=loss, activation=activation,
                                         with_certificate=with_certificate)
        return grouping_minimum(X, y, labels, loss=loss, activation=activation, with_certificate=with_certificate)

    admissible = []
    for labels in threshold_groupings(features):
        try:
            built = build(labels, False)
        except CellscapeError:  # no max-min formula selects these pieces
            continue
        if built.admissible:
            admissible.append(built)
    if not admissible:
        raise CellscapeError(f"{name}: no two-group threshold split of these data is admissible (the groups' "
                             "affine pieces are not selected strictly by a max-min formula)")
    chosen = max(admissible, key=lambda g: g.risk)
    widths = list((chosen.arch.patch_net if conv else chosen.arch).hidden_widths)
    if hidden is not None and list(hidden) != widths:
        raise invalid("hidden", func, f"the compiled widths {widths} of {name} (or none)", hidden)
    chosen = build(chosen.groups, True)
    key = (lambda g: g.risk_exact) if chosen.risk_exact is not None else (lambda g: g.risk)
    better = [g for g in admissible if g.arch == chosen.arch and key(g) < key(chosen)]
    loss_ = parse_loss(loss)
    yf = as_targets(np.asarray(y, dtype=float), loss_, 1, features.shape[0], func=func)
    if better:
        w = min(better, key=key)
        witness = (w.params, w.risk, w.risk_exact, f"the admissible split {_sizes(w.groups)} on the same network")
    else:
        found = optimised_witness(chosen.arch, X, yf, loss=loss_, base_risk=chosen.risk,
                                  base_exact=chosen.risk_exact, y_exact=y)
        witness = (None, None, None, "none found") if found is None else (
            found.params, found.risk, found.risk_exact, "a trained point on the same network")
    return ConstructionResult(
        name, _LIU21, chosen.arch, chosen.params, chosen.claimed_risk, chosen.claimed_risk_exact, chosen.risk,
        chosen.risk_exact, chosen.certificate, *witness[:3],
        f"groups of {_sizes(chosen.groups)} samples, each fitted by its best affine piece"
        + (f" in the patch means (k={kernel_size})" if conv else "") + f"; witness: {witness[3]}")


def _sizes(groups: tuple[int, ...]) -> str:
    return " + ".join(str(groups.count(g)) for g in sorted(set(groups)))


@dataclasses.dataclass(frozen=True)
class Construction:
    """A registry entry: its paper, what it builds, sensible defaults and the builder."""

    name: str
    paper: str
    description: str
    defaults: dict[str, Any]
    build: Callable[..., ConstructionResult]


CONSTRUCTIONS: dict[str, Construction] = {
    "linear-region": Construction(
        "linear-region", "He, Wang and Tao (ICLR 2020); Yun, Sra and Jadbabaie (ICLR 2019)",
        "every pre-activation in one linear piece: the network is the best affine predictor, a spurious minimum",
        {"data": "builtin:nonaffine", "hidden": [3], "activation": "relu", "loss": "squared"}, _linear_region),
    "dead-point": Construction(
        "dead-point", "Laurent and von Brecht (ICML 2018)",
        "ReLU units aligned with a separator: the -1 class is dead, a flat spurious minimum of the hinge loss",
        {"data": "builtin:separable", "hidden": [3], "activation": "relu", "loss": "hinge"}, _dead_point),
    "grouping": Construction(
        "grouping", _LIU21,
        "two groups of samples, each fitted by its best affine piece, selected by a compiled max-min network",
        {"data": "builtin:nonaffine", "hidden": None, "activation": "relu", "loss": "squared"}, _grouping),
    "grouping-cnn": Construction(
        "grouping-cnn", _LIU21,
        "the grouping construction on 1-D signals: convolution, average pooling, then the max-min head",
        {"data": "builtin:signals", "hidden": None, "activation": "relu", "loss": "squared", "kernel_size": 2},
        _grouping),
}


def construct(name: str, X: Any, y: Any, *, hidden: list[int] | None = None, activation: str | None = None,
              loss: str | None = None, kernel_size: int | None = None, exact: bool = False) -> ConstructionResult:
    """Build the registered construction ``name`` on the data (options default to the entry's; ``hidden=None``
    for an entry whose default is ``None`` means the widths its compilation needs; ``kernel_size`` only for the
    convolutional entries).

    Raises:
        InvalidInputError: for an unknown name (the message lists them) or options the construction refuses.
        CellscapeError: when the construction does not exist for these data (with the reason).
    """
    entry = CONSTRUCTIONS[check_enum(name, ConstructionName, name="construction", func="construct").value]
    d = entry.defaults
    options = {}
    if "kernel_size" in d:
        options["kernel_size"] = check_int(kernel_size if kernel_size is not None else d["kernel_size"],
                                           name="kernel_size", func="construct", minimum=1)
    elif kernel_size is not None:
        raise invalid("kernel_size", "construct", f"omitted (the fully-connected {entry.name} has no kernel)",
                      kernel_size)
    hidden = hidden if hidden is not None else d["hidden"]
    return entry.build(X, y, hidden=None if hidden is None else list(hidden),
                       activation=activation or d["activation"], loss=loss or d["loss"], exact=exact, **options)
