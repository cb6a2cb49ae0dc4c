r"""Hinge loss and dead points: Laurent and von Brecht, "The Multilinear Structure of ReLU Networks" (ICML 2018).

* **Harmonic cells.** With ReLU or leaky ReLU and the hinge loss every parameter enters each cell polynomial with
  degree at most one, so every second derivative :math:`\partial^2 R / \partial \theta_j^2` vanishes and the
  Laplacian (the Hessian's trace) is exactly zero, while the Hessian itself is not: by the minimum principle a
  minimum inside a cell is flat. :func:`cell_laplacian` computes the Laplacian exactly.
* **Dead-point minima** (scenario 3, one hidden layer, ReLU, separable data, no output bias): every hidden unit is
  aligned with a separator, :math:`W x + b = \kappa (u^\top x + c) \mathbf 1`, output weights 1. The +1 class has
  margins at least 3, the -1 class is *dead* (no active unit, output 0, loss 1), so the risk is the fraction of
  dead samples, and every small perturbation keeps it: a flat local minimum, spurious since a ReLU network with
  two units realises the separator itself (risk 0). With leaky ReLU at the same weights the -1 samples have
  outputs in :math:`(-1, 0)` and growing the weights lowers their loss: not a minimum (the bifurcation).
* **Deep linear networks** (scenario 1): gradient descent on the hinge loss reaches the optimum of the linear
  program over affine classifiers (:func:`deep_linear_hinge`).

Examples:
    >>> from cellscape.data import load_data
    >>> data = load_data("builtin:separable", seed=0, n_samples=20)
    >>> built = dead_point_minimum(data.X, data.y, width=3)
    >>> built.risk == built.n_dead / 20, built.certificate.status.value, built.leaky_certificate.is_minimum
    (True, 'nonstrict_minimum', False)
"""

from __future__ import annotations

import dataclasses
from fractions import Fraction
from typing import Any

import numpy as np

from cellscape._backend import to_fraction, to_numpy
from cellscape._validation import check_int, invalid
from cellscape.activations import leaky_relu
from cellscape.affine import best_affine_fit
from cellscape.cell_risk import exact_derivatives
from cellscape.certify import Certificate, certify
from cellscape.exceptions import CellscapeError
from cellscape.losses import as_targets, parse_loss, risk, risk_exact
from cellscape.networks import Architecture, Params, as_params, exact_params, init_params, mlp
from cellscape.patterns import activation_pattern_exact
from cellscape.training import gradient_descent

__all__ = ["DeadPointMinimum", "dead_point_minimum", "cell_laplacian", "deep_linear_hinge"]


def cell_laplacian(arch: Architecture, params: Any, X: Any, y: Any, *, loss: str = "hinge") -> Fraction:
    r"""The exact Laplacian :math:`\sum_j \partial^2 R_{\text{cell}} / \partial \theta_j^2` of the cell polynomial at
    rational parameters (one network; floats taken exactly). Zero for ReLU or leaky ReLU with the hinge loss.

    Raises:
        InvalidInputError: for bad shapes.
    """
    loss_obj = parse_loss(loss)
    q = exact_params(arch, params)
    pattern = activation_pattern_exact(arch, q, X)
    Yq = np.asarray(y, dtype=object).reshape(len(pattern.pieces[0]) if pattern.pieces else len(X), -1)
    out = pattern.values[-1]
    loss_pieces = None
    if loss_obj.is_piecewise:
        loss_pieces = np.array([loss_obj.pieces_exact([out[i, j] for j in range(out.ncols())],
                                                      [_fmpq(v) for v in Yq[i]]) for i in range(out.nrows())],
                               dtype=np.int64).reshape(out.nrows(), -1)
    _, _, diagonal = exact_derivatives(arch, loss_obj, q, X, Yq, pattern.pieces, loss_pieces, hessian=False)
    return sum((Fraction(int(d.p), int(d.q)) for d in diagonal), Fraction(0))


def _fmpq(value: Any):
    import flint

    f = to_fraction(value)
    return flint.fmpq(f.numerator, f.denominator)


@dataclasses.dataclass(frozen=True, eq=False)
class DeadPointMinimum:
    """A dead-point minimum with its evidence.

    Attributes:
        arch, params, layers: the ReLU network (no output bias) and the point, float and exact.
        n_dead: the dead samples (no active hidden unit). risk, risk_exact: its risk, ``n_dead / n``.
        certificate: its certificate (a flat minimum). leaky_alpha, leaky_certificate: the same weights with leaky
            ReLU and their certificate (not a minimum).
        witness_params, witness_risk: a two-unit separator network with lower risk (0).
    """

    arch: Architecture
    params: Params
    layers: list
    n_dead: int
    risk: float
    risk_exact: Fraction
    certificate: Certificate
    leaky_alpha: Fraction
    leaky_certificate: Certificate
    witness_params: Params
    witness_risk: Fraction


def dead_point_minimum(X: Any, y: Any, *, width: int = 3, leaky_alpha: Any = None) -> DeadPointMinimum:
    """Build and certify LvB18's dead-point minimum on linearly separable data with labels -1/+1.

    The separator is the hinge-loss LP fit (risk 0 on separable data), taken at its exact float values.

    Raises:
        CellscapeError: if the data are not linearly separable.
        InvalidInputError: for bad labels or a width below 2.
    """
    func = "dead_point_minimum"
    width = check_int(width, name="width", func=func, minimum=2)
    Xf = to_numpy(X, name="X", func=func)
    loss = parse_loss("hinge")
    yf = as_targets(y, loss, 1, Xf.shape[0], func=func)
    fit = best_affine_fit(Xf, yf, loss="hinge")
    u = [to_fraction(v) for v in fit.weights[0]]
    c = to_fraction(fit.bias[0])
    Xq = [[to_fraction(v) for v in row] for row in Xf]
    scores = [sum((a * b for a, b in zip(u, row)), Fraction(0)) + c for row in Xq]
    labels = [int(v) for v in yf[:, 0]]
    margins = [lab * s for lab, s in zip(labels, scores)]
    m = min(margins)
    if m <= 0:
        raise CellscapeError("the data are not linearly separable (the hinge LP leaves a sample on the wrong side): "
                             "LvB18's dead-point construction needs separable data")
    if all(lab > 0 for lab in labels) or all(lab < 0 for lab in labels):
        raise invalid("y", func, "both classes -1 and +1", "a single class", raw=True)
    kappa = Fraction(3) / (width * m)  # +1 outputs width * kappa * score >= 3: margins >= 3, no hinge kink
    arch = mlp(Xf.shape[1], [width], 1, bias=[True, False])
    layers = [([[kappa * a for a in u]] * width, [kappa * c] * width), ([[1] * width], None)]
    params = as_params(arch, [(np.array(W, dtype=float), np.array(b, dtype=float)) for W, b in [layers[0]]]
                       + [(np.ones((1, width)), None)])
    n_dead = sum(1 for s in scores if s < 0)
    value = float(risk(arch, params, Xf, yf, loss="hinge")[0])
    value_exact = risk_exact(arch, layers, Xq, [[v] for v in labels], loss="hinge")
    if value_exact != Fraction(n_dead, len(labels)):
        raise CellscapeError(f"internal check failed: risk {value_exact} != {n_dead}/{len(labels)}")
    cert = certify(arch, layers, Xq, [[v] for v in labels], loss="hinge", arithmetic="exact")[0]
    # leaky ReLU at the same weights: -1 outputs in (-1, 0) when alpha * width * kappa * |score| < 1
    spread = max(abs(s) for s in scores)
    alpha = to_fraction(leaky_alpha) if leaky_alpha is not None else Fraction(1, 2 ** max(
        0, int(np.ceil(np.log2(float(2 * width * kappa * spread))))))
    leaky_arch = mlp(Xf.shape[1], [width], 1, activation=leaky_relu(alpha), bias=[True, False])
    leaky_cert = certify(leaky_arch, layers, Xq, [[v] for v in labels], loss="hinge")[0]
    # the witness: two opposite units realise the separator, f = kappa' (u x + c), margins >= 1
    k2 = 1 / m
    W1 = [[k2 * a for a in u], [-k2 * a for a in u]] + [[Fraction(0)] * len(u)] * (width - 2)
    b1 = [k2 * c, -k2 * c] + [Fraction(0)] * (width - 2)
    W2 = [[Fraction(1), Fraction(-1)] + [Fraction(0)] * (width - 2)]
    witness_layers = [(W1, b1), (W2, None)]
    witness_risk = risk_exact(arch, witness_layers, Xq, [[v] for v in labels], loss="hinge")
    witness_params = as_params(arch, [(np.array(W1, dtype=float), np.array(b1, dtype=float)),
                                      (np.array(W2, dtype=float), None)])
    return DeadPointMinimum(arch, params, layers, n_dead, value, value_exact, cert, alpha, leaky_cert,
                            witness_params, witness_risk)


def deep_linear_hinge(X: Any, y: Any, *, hidden: list[int] | tuple[int, ...] = (3, 3), runs: int = 8,
                      steps: int = 20000, lr: float = 0.01, seed: int = 0) -> tuple[np.ndarray, float]:
    """Train deep *linear* networks (identity activations) with the hinge loss from ``runs`` random starts;
    returns their final risks and the optimum of the LP over affine classifiers (LvB18 scenario 1: every local
    minimum is global, so training should reach the LP optimum).

    Raises:
        InvalidInputError: for bad data.
    """
    Xf = to_numpy(X, name="X", func="deep_linear_hinge")
    yf = as_targets(y, parse_loss("hinge"), 1, Xf.shape[0], func="deep_linear_hinge")
    arch = mlp(Xf.shape[1], list(hidden), 1, activation="identity")
    trained = gradient_descent(arch, init_params(arch, batch=runs, seed=seed), Xf, yf, loss="hinge", lr=lr,
                               steps=steps)
    return trained.risk, best_affine_fit(Xf, yf, loss="hinge").risk
