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

from cellscape._validation import check_enum, invalid
from cellscape.certify import Certificate
from cellscape.constructions.he2020 import linear_region_minimum
from cellscape.constructions.laurent2018 import dead_point_minimum
from cellscape.networks import Architecture, Params

__all__ = ["ConstructionName", "ConstructionResult", "Construction", "CONSTRUCTIONS", "construct"]


class ConstructionName(str, enum.Enum):
    """The registered constructions."""

    LINEAR_REGION = "linear-region"
    DEAD_POINT = "dead-point"


@dataclasses.dataclass(frozen=True, eq=False)
class ConstructionResult:
    """A constructed point with the paper's claim about it and the evidence."""

    name: str
    paper: str
    arch: Architecture
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


def _linear_region(X: Any, y: Any, *, hidden: list[int], activation: str, loss: str,
                   exact: bool) -> ConstructionResult:
    built = linear_region_minimum(X, y, hidden=hidden, activation=activation, loss=loss, exact=exact)
    w = built.witness
    return ConstructionResult(
        "linear-region", "He, Wang and Tao (ICLR 2020); Yun, Sra and Jadbabaie (ICLR 2019)", built.arch,
        built.params, built.affine_fit.risk, built.affine_fit.risk_exact, built.risk, built.risk_exact,
        built.certificate, None if w is None else w.params, None if w is None else w.risk,
        None if w is None else w.risk_exact, built.message)


def _dead_point(X: Any, y: Any, *, hidden: list[int], activation: str, loss: str, exact: bool) -> ConstructionResult:
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
}


def construct(name: str, X: Any, y: Any, *, hidden: list[int] | None = None, activation: str | None = None,
              loss: str | None = None, exact: bool = False) -> ConstructionResult:
    """Build the registered construction ``name`` on the data (options default to the entry's).

    Raises:
        InvalidInputError: for an unknown name (the message lists them) or options the construction refuses.
        CellscapeError: when the construction does not exist for these data (with the reason).
    """
    entry = CONSTRUCTIONS[check_enum(name, ConstructionName, name="construction", func="construct").value]
    d = entry.defaults
    return entry.build(X, y, hidden=list(hidden if hidden is not None else d["hidden"]),
                       activation=activation or d["activation"], loss=loss or d["loss"], exact=exact)
