"""Witnesses of spuriousness found by optimisation: the fallback when a construction has no explicit better point.

Batched gradient descent from seeded random starts on the construction's own architecture (an MLP or a
:class:`~cellscape.conv.ConvNet`); a candidate counts only when its risk is strictly below the constructed
minimum's, re-checked in exact rationals (the float parameters taken at their binary values) whenever the loss has
rational values.
"""

from __future__ import annotations

import dataclasses
from fractions import Fraction
from typing import Any

import numpy as np

from cellscape.conv import ConvNet, conv_risk_exact
from cellscape.losses import Loss, risk_exact
from cellscape.networks import Architecture, Params, init_params
from cellscape.training import gradient_descent

__all__ = ["TrainedWitness", "optimised_witness"]


@dataclasses.dataclass(frozen=True, eq=False)
class TrainedWitness:
    """A trained point of strictly lower risk: float parameters (batch of one), its risk and exact risk."""

    params: Params
    risk: float
    risk_exact: Fraction | None


def optimised_witness(model: Architecture | ConvNet, X: Any, y: np.ndarray, *, loss: Loss, base_risk: float,
                      base_exact: Fraction | None, X_exact: Any = None, y_exact: Any = None, runs: int = 64,
                      steps: int = 4000, lr: float = 0.05, seed: int = 0) -> TrainedWitness | None:
    """The best of ``runs`` gradient-descent runs whose risk is strictly below ``base_risk`` (and exactly below
    ``base_exact`` when given and the loss is rational), or None. ``X_exact``/``y_exact`` default to ``X``/``y``."""
    arch = model.patch_net if isinstance(model, ConvNet) else model
    Xf = np.asarray(X, dtype=float)
    trained = gradient_descent(model, init_params(arch, batch=runs, seed=seed), Xf, y, loss=loss, lr=lr,
                               steps=steps)
    Xq = X if X_exact is None else X_exact
    yq = y if y_exact is None else y_exact
    for b in np.argsort(trained.risk)[:8]:
        value = float(trained.risk[b])
        if not value < base_risk - 64 * np.finfo(float).eps * max(1.0, abs(base_risk)):
            break
        params = trained.params[int(b)]
        value_q = None
        if base_exact is not None and loss.is_exact:
            value_q = (conv_risk_exact(model, params, Xq, yq, loss=loss) if isinstance(model, ConvNet)
                       else risk_exact(model, params, Xq, yq, loss=loss))
            if not value_q < base_exact:
                continue
        return TrainedWitness(params, value, value_q)
    return None
