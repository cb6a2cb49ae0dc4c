r"""Linear-region spurious minima: He, Wang and Tao (ICLR 2020), after Yun, Sra and Jadbabaie (ICLR 2019).

At the point built here every pre-activation of every sample lies strictly inside one linear piece (slope
:math:`s \ne 0`, centre :math:`c`) of the activation, so the network computes an affine predictor, and the weights
make it the best affine predictor :math:`\bar W \tilde x`:

* layer 1: the first :math:`d_Y` units get :math:`c + \alpha \bar W \tilde x`, every other unit the constant
  :math:`c`;
* layer 2 (deep networks): the first :math:`d_Y` units get :math:`c + \rho\,\hat y` (the carried outputs), later
  layers :math:`c + (a - h(c))/|s|`;
* the output layer undoes the accumulated scale and offset.

Its risk is the best affine risk :math:`R^*_{\mathrm{lin}}`, and near it the network stays an affine predictor, so
:math:`R \ge R^*_{\mathrm{lin}}`: a local minimum for any loss whose affine optimum is attained (theory 2.4-2.5).
The scales :math:`\alpha, \rho` are free: the minima form an infinite family, joined by a valley of constant risk.

**Witness of spuriousness** (theory 2.4, "one unit at the kink plus a linear pass-through", which works for every
kink, including those whose slopes sum to zero such as ``abs``): one more unit sits at a kink :math:`p` with
pre-activation :math:`p + \alpha_k (\bar y_{ij} - \beta)`; since :math:`h(u) - h(p) - \bar s \alpha_k (\bar y -
\beta) = \tilde s \alpha_k |\bar y - \beta|` (:math:`\bar s, \tilde s` the mean and half-difference of the two
slopes), the readout can output :math:`\bar y_{ij} + \epsilon |\bar y_{ij} -
\beta|` on component :math:`j`. To first order the risk changes by :math:`\epsilon \frac1n \sum_i \ell'_{ij}
|\bar y_{ij} - \beta|`, which is non-zero for some threshold :math:`\beta` unless the data are affinely fittable in
that sense; the point with the best :math:`(j, \beta, \epsilon)` found is checked to have a strictly lower risk (in
floats, and exactly when the loss and the data allow). It needs a first hidden layer of width :math:`d_Y + 1`.
When it does not apply (all fitted values equal, as on the 3-point set, or :math:`d_1 = d_Y`) the witness is the
best of a batch of gradient-descent runs whose risk is checked to be lower.

Examples:
    >>> from cellscape.data import load_data
    >>> data = load_data("builtin:three-point")
    >>> built = linear_region_minimum(data.X_exact, data.y_exact, hidden=[2], exact=True)
    >>> built.risk_exact * 3, built.certificate.status.value, built.witness.risk_exact < built.risk_exact
    (Fraction(1, 3), 'nonstrict_minimum', True)
"""

from __future__ import annotations

import dataclasses
import math
from fractions import Fraction
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from cellscape._backend import to_fraction, to_numpy
from cellscape._validation import check_int, invalid
from cellscape.activations import PiecewiseLinear, parse_activation
from cellscape.affine import AffineFit, best_affine_fit
from cellscape.certify import Certificate, certify
from cellscape.constructions.witness import optimised_witness
from cellscape.exceptions import CellscapeError
from cellscape.losses import Loss, LossName, as_targets, parse_loss, risk, risk_exact
from cellscape.networks import Architecture, Params, as_params, mlp
from cellscape.patterns import activation_pattern

__all__ = ["LinearRegionMinimum", "SpuriousWitness", "linear_region_minimum", "linear_region_point", "valley_path",
           "linear_region_start", "CellMinimumSet", "cell_minimum_set", "KinkPairPoint", "kink_pair_point"]


@dataclasses.dataclass(frozen=True, eq=False)
class SpuriousWitness:
    """A point with strictly lower risk than the constructed minimum (so the minimum is spurious).

    Attributes:
        params: float parameters; layers: exact layers (Fractions) when built exactly, else None.
        risk, risk_exact: its risk (exact when available).
        component, beta, epsilon: the output component changed, the threshold and the step (``-1``, ``None``,
            ``None`` for a witness found by optimisation).
        kink: the breakpoint the witness unit sits on.
    """

    params: Params
    layers: list | None
    risk: float
    risk_exact: Fraction | None
    component: int
    beta: Any
    epsilon: Any
    kink: Fraction


@dataclasses.dataclass(frozen=True, eq=False)
class LinearRegionMinimum:
    """A constructed linear-region minimum with its evidence.

    Attributes:
        arch, params: the network and the point (float); layers: the exact layers when built exactly.
        piece, centre, slope: the activation piece every pre-activation lies in, its centre and slope.
        alpha, rho: the free scales (the family's parameters).
        affine_fit: the best affine fit, computed independently.
        risk, risk_exact: the point's risk (equal to the best affine risk).
        certificate: :func:`cellscape.certify.certify`'s verdict on the point.
        witness: a strictly better point, or None when none exists (then ``message`` says why).
        message: a sentence summing up.
    """

    arch: Architecture
    params: Params
    layers: list | None
    piece: int
    centre: Fraction
    slope: Fraction
    alpha: Any
    rho: Any
    affine_fit: AffineFit
    risk: float
    risk_exact: Fraction | None
    certificate: Certificate
    witness: SpuriousWitness | None
    message: str


def _carry_piece(act: PiecewiseLinear) -> tuple[int, Fraction, Fraction]:
    """The piece the point lives in: a piece of non-zero slope, unbounded if possible; its centre and half-width."""
    m = len(act.breakpoints)
    candidates = []
    for j, s in enumerate(act.slopes):
        if s == 0:
            continue
        if j == m:
            centre, room = act.breakpoints[-1] + 1, Fraction(1)
        elif j == 0:
            centre, room = act.breakpoints[0] - 1, Fraction(1)
        else:
            lo, hi = act.breakpoints[j - 1], act.breakpoints[j]
            centre, room = (lo + hi) / 2, (hi - lo) / 2
        candidates.append((j in (0, m), room, j, centre))
    if not candidates:
        raise CellscapeError("every piece of the activation has slope 0: no linear piece can carry the outputs")
    _, room, j, centre = max(candidates)
    return j, centre, room


def _pow2_below(x: float) -> Fraction:
    """The largest power of two at most x (x > 0): an exact, short rational scale."""
    return Fraction(2) ** math.floor(math.log2(x))


def _build_layers(arch: Architecture, act: PiecewiseLinear, centre, slope, first: tuple[np.ndarray, np.ndarray],
                  readout: tuple[np.ndarray, np.ndarray], rho, exact: bool) -> list[tuple[np.ndarray, np.ndarray]]:
    """Layers computing ``readout`` (an affine map of the first hidden layer's activations, ``(d_Y, d_1)`` and
    ``(d_Y,)``) and carrying it to the output through linear pieces, in Fractions (``exact``) or floats."""
    W1, b1 = first
    A, a0 = readout
    d_y = arch.d_out
    layers = [(W1, b1)]
    if arch.n_layers == 2:
        return layers + [(A, a0)]
    one = Fraction(1) if exact else 1.0
    dtype = object if exact else float
    h_c = act.evaluate_exact(centre) * one
    c = centre * one
    width = arch.widths[2]
    W = np.zeros((width, arch.widths[1]), dtype=dtype) * one
    b = np.full(width, c, dtype=dtype)
    W[:d_y] = rho * A
    b[:d_y] = c + rho * a0
    layers.append((W, b))
    scale = slope * rho
    step = one / abs(slope)
    for l in range(3, arch.n_layers):
        width, prev = arch.widths[l], arch.widths[l - 1]
        W = np.zeros((width, prev), dtype=dtype) * one
        W[:d_y, :d_y] = np.eye(d_y, dtype=int) * step
        b = np.full(width, c, dtype=dtype)
        b[:d_y] = c - step * h_c
        layers.append((W, b))
        scale = scale * slope * step
    W = np.zeros((d_y, arch.widths[-2]), dtype=dtype) * one
    W[:, :d_y] = np.eye(d_y, dtype=int) * (one / scale)
    layers.append((W, np.full(d_y, -h_c / scale, dtype=dtype)))
    return layers


def _numbers(values: Any, exact: bool) -> np.ndarray:
    if exact:
        array = np.asarray(values, dtype=object)
        out = np.empty(array.shape, dtype=object)
        for index, v in np.ndenumerate(array):
            out[index] = to_fraction(v)
        return out
    return to_numpy(values, name="X", func="linear_region_minimum")


def linear_region_point(arch: Architecture, fit_weights: np.ndarray, fit_bias: np.ndarray, ybar: np.ndarray, *,
                        alpha=None, rho=None, exact: bool = False) -> tuple[list, dict[str, Any]]:
    """The layers of the linear-region point computing the affine map ``W x + b`` (``fit_weights`` ``(d_Y, d_X)``,
    ``fit_bias`` ``(d_Y,)``), for training outputs ``ybar``; returns the layers and the piece information.

    ``alpha`` and ``rho`` default to exact powers of two small enough that every pre-activation stays in the
    piece; larger values that leave it raise :class:`~cellscape.exceptions.CellscapeError`.

    Raises:
        CellscapeError: for a linear activation or scales that leave the piece.
        InvalidInputError: for a hidden layer narrower than the output.
    """
    act = arch.activations[0]
    if any(a != act for a in arch.activations):
        raise invalid("arch", "linear_region_point", "one activation for every hidden layer",
                      [a.spec for a in arch.activations])
    if act.is_linear:
        raise CellscapeError(f"the activation {act.spec} is linear: the network is an affine model and has no "
                             "spurious minima (HWT20 excludes linear activations)")
    for w in arch.hidden_widths:
        if w < arch.d_out:
            raise invalid("arch", "linear_region_point", f"hidden widths of at least d_Y = {arch.d_out}", w)
    one = Fraction(1) if exact else 1.0
    j, centre, room = _carry_piece(act)
    slope = act.slopes[j] if exact else float(act.slopes[j])
    amplitude = max(float(np.max(np.abs(np.asarray(ybar, dtype=float)))), 1e-12)
    alpha = _pow2_below(float(room) / (4 * amplitude)) if alpha is None else (to_fraction(alpha) if exact else
                                                                               float(alpha))
    rho = alpha if rho is None else (to_fraction(rho) if exact else float(rho))
    h_c = act.evaluate_exact(centre) if exact else float(act.evaluate_exact(centre))
    d_y, width = arch.d_out, arch.widths[1]
    W1, b1 = _first_layer(arch, fit_weights, fit_bias, alpha, centre, one, exact)
    A = np.zeros((d_y, width), dtype=object if exact else float) * one
    A[:, :d_y] = np.eye(d_y, dtype=int) * (one / (slope * alpha))
    a0 = np.full(d_y, -h_c / (slope * alpha), dtype=object if exact else float)
    layers = _build_layers(arch, act, centre, slope, (W1, b1), (A, a0), rho, exact)
    return layers, {"piece": j, "centre": centre, "room": room, "slope": slope, "alpha": alpha, "rho": rho,
                    "h_c": h_c}


def _to_params(arch: Architecture, layers: list) -> Params:
    return as_params(arch, [(np.asarray(W, dtype=float), None if b is None else np.asarray(b, dtype=float))
                            for W, b in layers])


def _inside_piece(arch: Architecture, params: Params, X: np.ndarray, piece: int) -> bool:
    pattern = activation_pattern(arch, params, X)
    return all(np.all(p == piece) for p in pattern.pieces) and float(pattern.min_margin()[0]) > 0


def linear_region_start(arch: Architecture, params: Any, X: Any, *, margin: float = 1.0) -> Params:
    r"""Move a batch of starting points into the linear region: every hidden pre-activation of every sample inside
    the piece of the linear-region construction (:func:`linear_region_point`), by moving the hidden biases.

    Layer by layer, unit ``k`` of each network, with pre-activations :math:`z_{nk}` on the data: for an
    unbounded upper piece :math:`[p, \infty)` its bias rises by :math:`p + \mathrm{margin} - \min_n z_{nk}` (so
    :math:`\min_n z_{nk} = p + \mathrm{margin}`), for an unbounded lower piece it falls likewise; for a bounded
    piece :math:`[p, q]` the unit's weights shrink until its spread fits within half the piece, and the bias
    centres it. Output weights are kept. For ReLU this is the *high-bias* start: every unit active on every
    sample, the network affine on the data.

    Raises:
        InvalidInputError: for parameters or inputs of the wrong shape.
        CellscapeError: for an activation all of whose pieces are flat.

    Examples:
        >>> from cellscape import init_params
        >>> arch = mlp(1, [3], 1)
        >>> start = linear_region_start(arch, init_params(arch, batch=2), [[-1.0], [0.0], [2.0]])
        >>> bool(np.all(activation_pattern(arch, start, [[-1.0], [0.0], [2.0]]).pieces[0] == 1))
        True
    """
    func = "linear_region_start"
    P = as_params(arch, params, func=func).numpy()
    a = np.broadcast_to(to_numpy(X, name="X", func=func), (P.batch_size,) + np.shape(X))
    weights, biases = [w.copy() for w in P.weights], [None if b is None else b.copy() for b in P.biases]
    for layer in range(arch.n_layers - 1):
        act = arch.activations[layer]
        if biases[layer] is None:
            raise invalid("arch", func, "biases in every hidden layer", f"layer {layer + 1} without a bias",
                          raw=True)
        j, centre, room = _carry_piece(act)
        z = a @ np.swapaxes(weights[layer], 1, 2) + biases[layer][:, None, :]
        lo, hi = z.min(axis=1), z.max(axis=1)
        if j == len(act.breakpoints):
            biases[layer] += float(act.breakpoints[-1]) + margin - lo
        elif j == 0:
            biases[layer] += float(act.breakpoints[0]) - margin - hi
        else:
            shrink = np.minimum(1.0, float(room) / np.maximum(hi - lo, 1e-300))
            weights[layer] *= shrink[:, :, None]
            z = a @ np.swapaxes(weights[layer], 1, 2) + biases[layer][:, None, :]
            biases[layer] += float(centre) - (z.min(axis=1) + z.max(axis=1)) / 2
        z = a @ np.swapaxes(weights[layer], 1, 2) + biases[layer][:, None, :]
        a = np.asarray(act(z))
    return Params(tuple(weights), tuple(biases))


def linear_region_minimum(
    X: Any,
    y: Any,
    *,
    hidden: list[int] | tuple[int, ...],
    activation: str | PiecewiseLinear = "relu",
    loss: str | Loss = "squared",
    alpha: Any = None,
    rho: Any = None,
    exact: bool = False,
    witness: bool = True,
) -> LinearRegionMinimum:
    """Build, check and certify the linear-region minimum for the given data and architecture.

    Args:
        X, y: the data (rationals accepted with ``exact``).
        hidden: hidden widths (each at least ``d_Y``; the witness needs ``d_1 >= d_Y + 1``).
        activation: any non-linear piecewise-linear activation (the same in every hidden layer).
        loss: any loss whose affine optimum is attained.
        alpha, rho: the family's scales (defaults: exact powers of two that keep every value in its piece).
        exact: build with exact rationals (squared loss: exact least squares) and certify exactly.
        witness: also build the witness of spuriousness.

    Raises:
        CellscapeError: when the affine optimum is not attained, the activation is linear or the scales leave
            the piece.
        InvalidInputError: for bad data or widths.
    """
    func = "linear_region_minimum"
    loss = parse_loss(loss)
    act = parse_activation(activation)
    Xq = _numbers(X, exact)
    Xf = np.asarray(Xq, dtype=float)
    if Xf.ndim != 2:
        raise invalid("X", func, "an array of shape (n_samples, d_in)", f"shape {Xf.shape}", raw=True)
    yf_raw = np.asarray(_numbers(y, exact), dtype=float)
    d_out = loss.output_width(yf_raw)
    arch = mlp(Xf.shape[1], [check_int(h, name="hidden", func=func, minimum=1) for h in hidden], d_out,
               activation=act)
    yf = as_targets(yf_raw, loss, d_out, Xf.shape[0], func=func)
    exact_fit = exact and loss.name is LossName.SQUARED
    fit = best_affine_fit(Xq if exact_fit else Xf, _numbers(y, exact) if exact_fit else yf, loss=loss,
                          exact=exact_fit, **({"n_classes": d_out} if loss.target_kind.value == "class" else {}))
    if not fit.attained:
        raise CellscapeError(f"the best affine {loss.spec} risk is not attained on these data ({fit.message}): "
                             "there is no linear-region minimum to build")
    if exact_fit:
        Wbar = np.array(fit.weights_exact, dtype=object)
        bbar = np.array(fit.bias_exact, dtype=object)
    else:
        Wbar, bbar = fit.weights, fit.bias
        if exact:  # the float optimum, taken exactly: the construction is exact, its optimality float
            Wbar, bbar = _numbers(Wbar, True), _numbers(bbar, True)
    ybar = Xq @ Wbar.T + bbar
    layers, info = linear_region_point(arch, Wbar, bbar, ybar, alpha=alpha, rho=rho, exact=exact)
    params = _to_params(arch, layers)
    if not _inside_piece(arch, params, Xf, info["piece"]):
        raise CellscapeError(f"with alpha = {info['alpha']} and rho = {info['rho']} some pre-activation leaves the "
                             f"piece {info['piece']} of {act.spec}: choose smaller scales")
    risk_float = float(risk(arch, params, Xf, yf, loss=loss)[0])
    risk_q = risk_exact(arch, layers, Xq, _numbers(y, True).reshape(len(Xf), -1) if exact else yf,
                        loss=loss) if exact and loss.is_exact else None
    cert = certify(arch, params if not exact else layers, Xq if exact else Xf,
                   _numbers(y, True).reshape(len(Xf), -1) if exact else yf, loss=loss,
                   arithmetic="exact" if exact and loss.is_exact else "float")[0]
    yq = _numbers(y, True).reshape(len(Xf), -1) if exact else None
    found = None
    if witness:
        found = _witness(arch, act, loss, Xq, yf, yq, Wbar, bbar, ybar, info, risk_float, risk_q, exact)
        if found is None:
            found = _optimised_witness(arch, loss, Xq, yf, yq, risk_float, risk_q, exact)
    if found is None:
        message = ("a linear-region minimum at the best affine risk; no strictly better point was found (the data "
                   "may be affinely fittable for this loss)" if witness else "a linear-region minimum")
    else:
        message = (f"a linear-region minimum at the best affine risk {risk_float:.6g}, spurious: the witness has "
                   f"risk {found.risk:.6g}")
    return LinearRegionMinimum(arch, params, layers if exact else None, info["piece"], info["centre"], info["slope"],
                               info["alpha"], info["rho"], fit, risk_float, risk_q, cert, found, message)


def _loss_gradient(loss: Loss, ybar: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.asarray(jax.grad(lambda o: jnp.sum(loss.per_sample(o, y)))(jnp.asarray(ybar, dtype=float)))


def _witness(arch, act, loss, Xq, yf, yq, Wbar, bbar, ybar, info, base_risk, base_exact, exact):
    """The kink-unit witness (module docstring), or None."""
    d_y = arch.d_out
    if arch.widths[1] < d_y + 1:
        return None
    kinks = [q for q in range(len(act.breakpoints)) if act.slopes[q] != act.slopes[q + 1]]
    if not kinks:
        return None
    one = Fraction(1) if exact else 1.0
    ybar_f = np.asarray(ybar, dtype=float)
    grad = _loss_gradient(loss, ybar_f, yf)
    best = None
    for j in range(d_y):
        levels = np.unique(ybar_f[:, j])
        for lo, hi in zip(levels, levels[1:]):
            beta = (lo + hi) / 2
            first_order = float(np.sum(grad[:, j] * np.abs(ybar_f[:, j] - beta)))
            if best is None or abs(first_order) > abs(best[0]):
                best = (first_order, j, beta)
    if best is None or best[0] == 0:
        return None
    first_order, j, beta = best
    beta = _numbers(beta, True)[()] if exact else beta
    q = kinks[0]
    p, s_minus, s_plus = act.breakpoints[q], act.slopes[q], act.slopes[q + 1]
    left = p - act.breakpoints[q - 1] if q > 0 else Fraction(1)
    right = act.breakpoints[q + 1] - p if q + 1 < len(act.breakpoints) else Fraction(1)
    spread = float(np.max(np.abs(ybar_f[:, j] - float(beta)))) or 1.0
    alpha_k = _pow2_below(float(min(left, right)) / (4 * spread))
    if not exact:
        p, s_minus, s_plus, alpha_k = float(p), float(s_minus), float(s_plus), float(alpha_k)
    s_mean, s_half = (s_plus + s_minus) / 2, (s_plus - s_minus) / 2
    slope, alpha, h_c = info["slope"], info["alpha"], info["h_c"]
    h_p = act.evaluate_exact(act.breakpoints[q]) * one
    # the readout's amplitude must stay inside the carry piece in deeper layers: |eps| <= 1 keeps it below 3x
    best_witness = None
    for k in range(0, 40):
        eps = -np.sign(first_order) * one / 2**k
        W1, b1 = _first_layer(arch, Wbar, bbar, alpha, info["centre"], one, exact)
        W1[d_y] = alpha_k * Wbar[j]
        b1[d_y] = p + alpha_k * (bbar[j] - beta)
        A = np.zeros((d_y, arch.widths[1]), dtype=object if exact else float) * one
        A[:, :d_y] = np.eye(d_y, dtype=int) * (one / (slope * alpha))
        a0 = np.full(d_y, -h_c / (slope * alpha), dtype=object if exact else float)
        # component j: + eps (a_kink - h(p) - s_mean alpha_k (ybar_j - beta)) / (s_half alpha_k), with
        # ybar_j = (a_j - h(c)) / (slope alpha)
        coef = eps / (s_half * alpha_k)
        A[j, d_y] = coef
        A[j, j] = A[j, j] - coef * s_mean * alpha_k / (slope * alpha)
        a0[j] = a0[j] + coef * (-h_p + s_mean * alpha_k * (h_c / (slope * alpha) + beta))
        layers = _build_layers(arch, act, info["centre"], slope, (W1, b1), (A, a0), info["rho"], exact)
        params = _to_params(arch, layers)
        pattern = activation_pattern(arch, params, np.asarray(Xq, dtype=float))
        if float(pattern.min_margin()[0]) <= 0:
            continue
        value = float(risk(arch, params, np.asarray(Xq, dtype=float), yf, loss=loss)[0])
        if value < base_risk - 64 * np.finfo(float).eps * max(1.0, abs(base_risk)):
            value_q = risk_exact(arch, layers, Xq, yq, loss=loss) if exact and loss.is_exact else None
            if value_q is not None and base_exact is not None and not value_q < base_exact:
                continue
            best_witness = SpuriousWitness(params, layers if exact else None, value, value_q, j, beta, eps,
                                           act.breakpoints[q])
            break
    return best_witness


def _optimised_witness(arch, loss, Xq, yf, yq, base_risk, base_exact, exact):
    """A better point found by batched gradient descent (:func:`~cellscape.constructions.witness.
    optimised_witness`): the fallback when the kink witness does not apply (all fitted values equal, or
    d_1 = d_Y)."""
    found = optimised_witness(arch, Xq, yf, loss=loss, base_risk=base_risk,
                              base_exact=base_exact if exact else None, y_exact=yq)
    return None if found is None else SpuriousWitness(found.params, None, found.risk, found.risk_exact, -1, None,
                                                      None, Fraction(0))


def _first_layer(arch, Wbar, bbar, alpha, centre, one, exact):
    d_y, width = arch.d_out, arch.widths[1]
    centre_n = centre if exact else float(centre)
    W1 = np.zeros((width, arch.d_in), dtype=object if exact else float) * one
    b1 = np.full(width, centre_n, dtype=object if exact else float)
    W1[:d_y] = alpha * Wbar
    b1[:d_y] = centre_n + alpha * bbar
    return W1, b1


def valley_path(built: LinearRegionMinimum, alphas: Any) -> list[list]:
    """Points of the valley through a constructed minimum: the same construction with other scales ``alpha``
    (``rho`` kept). All lie in one cell and share the outputs, hence the risk; returns their layers (exact when
    the minimum was built exactly).

    Raises:
        CellscapeError: when a scale leaves the piece.
    """
    exact = built.layers is not None
    fit = built.affine_fit
    if exact and fit.weights_exact is not None:
        Wbar, bbar = np.array(fit.weights_exact, dtype=object), np.array(fit.bias_exact, dtype=object)
    elif exact:
        Wbar, bbar = _numbers(fit.weights, True), _numbers(fit.bias, True)
    else:
        Wbar, bbar = fit.weights, fit.bias
    out = []
    for alpha in alphas:
        layers, _ = linear_region_point(built.arch, Wbar, bbar, np.zeros((1, built.arch.d_out)) + 1.0,
                                        alpha=alpha, rho=built.rho, exact=exact)
        out.append(layers)
    return out


# ---------------------------------------------------------------------------------------------- one hidden layer
@dataclasses.dataclass(frozen=True, eq=False)
class CellMinimumSet:
    r"""The minimising set of the cell polynomial of a one-hidden-layer network with one output (HWT20 2.6, Liu20).

    On the cell, :math:`\hat y = F z + c` with features ``F`` (per unit ``k``: :math:`s_{ik} \tilde x_i` and, for
    activations with intercepts, :math:`c_{ik}`) and :math:`z_k = v_k (w_k, b_k)` (and :math:`u_k = v_k`), so the
    cell polynomial is :math:`G(z, c) = \frac1n \sum_i \ell(y_i, F_i z + c)`, convex: its minimum
    :math:`R^*_{\text{cell}}` is the best affine fit on the features (closed form for the squared loss,
    :math:`\frac1{2n} \|(I - A A^+) y\|^2`, exact in rationals), and every local minimum inside the cell attains it.
    For the squared loss the minimisers form the affine set :math:`z^* + \operatorname{null}(A)`; its points inside
    the cell (with the output weights' signs kept) form a convex set, so the straight path in :math:`z` (and in
    :math:`v`) between two of them keeps the risk constant: the valley.

    Attributes:
        arch, params: the network and the point whose cell this is (one network).
        risk_star, risk_star_exact: the cell-optimal risk (exact for the squared loss).
        outputs_star: the training outputs at the optimum (unique for the squared loss).
        null_basis: a basis (columns) of the minimisers' directions in the coordinates ``(z, c)``, ``c`` the
            output bias last (squared loss; empty otherwise).
        attained_here: whether the given point attains the cell optimum (up to 1e-10 relative).
    """

    arch: Architecture
    params: Params
    X: np.ndarray
    features: np.ndarray
    risk_star: float
    risk_star_exact: Fraction | None
    outputs_star: np.ndarray
    null_basis: np.ndarray
    attained_here: bool

    def _z_of(self, params: Params) -> tuple[np.ndarray, np.ndarray, float]:
        P = params.numpy()
        W1, b1 = P.weights[0][0], P.biases[0][0]
        v = P.weights[1][0][0]
        z = (np.hstack([W1, b1[:, None]]) * v[:, None]).ravel()
        if self.features.shape[1] > z.size:  # intercept features: u_k = v_k
            z = np.concatenate([z, v])
        return z, v, float(P.biases[1][0][0])

    def _params_of(self, z: np.ndarray, v: np.ndarray, c: float) -> Params:
        K, D = self.arch.widths[1], self.arch.d_in + 1
        zk = z[:K * D].reshape(K, D)
        wb = zk / v[:, None]
        return as_params(self.arch, [(wb[:, :-1], wb[:, -1]), (v[None, :], np.array([c]))])

    def sample(self, n_points: int, *, seed: int = 0, scale: float = 1e-2) -> list[Params]:
        """Points of the minimising set inside the cell near the given point: moves along ``null_basis`` and
        positive rescalings of the units, each kept only if its pattern is the cell's.

        Raises:
            CellscapeError: when the given point does not attain the cell optimum (nothing to sample around).
        """
        if not self.attained_here:
            raise CellscapeError("the given point does not attain the cell optimum: there is no minimiser to sample "
                                 "around")
        rng = np.random.default_rng(seed)
        z0, v0, c0 = self._z_of(self.params)
        zc0 = np.append(z0, c0)
        cell = activation_pattern(self.arch, self.params, self.X).cell(0)
        out = []
        for _ in range(50 * n_points):
            zc = zc0 + (self.null_basis @ rng.normal(size=self.null_basis.shape[1]) * scale
                        if self.null_basis.shape[1] else 0.0)
            v = v0 * np.exp(rng.normal(size=v0.size) * 0.3)  # positive rescalings of the units
            candidate = self._params_of(zc[:-1], v, float(zc[-1]))
            if activation_pattern(self.arch, candidate, self.X).cell(0) == cell:
                out.append(candidate)
                if len(out) == n_points:
                    break
        return out

    def path(self, a: Params, b: Params, n_points: int = 11) -> list[Params]:
        """The straight path between two minimisers of the cell in (z, v)-coordinates (signs of v kept)."""
        za, va, ca = self._z_of(a)
        zb, vb, cb = self._z_of(b)
        if np.any(np.sign(va) != np.sign(vb)):
            raise CellscapeError("the two points have output weights of different signs: no straight path")
        return [self._params_of((1 - t) * za + t * zb, (1 - t) * va + t * vb, (1 - t) * ca + t * cb)
                for t in np.linspace(0.0, 1.0, n_points)]


def cell_minimum_set(arch: Architecture, params: Any, X: Any, y: Any, *, loss: str | Loss = "squared",
                     exact: bool = False) -> CellMinimumSet:
    """The minimising set of the cell of ``params`` (one hidden layer, one output, output bias on).

    Raises:
        InvalidInputError: for another architecture or a point on a cell boundary.
    """
    func = "cell_minimum_set"
    if arch.n_layers != 2 or arch.d_out != 1 or not arch.bias[1] or not arch.bias[0]:
        raise invalid("arch", func, "one hidden layer with biases and one output", arch.describe())
    loss = parse_loss(loss)
    P = as_params(arch, params, func=func)[0].numpy()
    Xf = to_numpy(X, name="X", func=func)
    yf = as_targets(y, loss, 1, Xf.shape[0], func=func)
    pattern = activation_pattern(arch, P, Xf)
    if float(pattern.min_margin()[0]) <= 1e-9:
        raise invalid("params", func, "a point inside a cell (no pre-activation on a breakpoint)", "a tie", raw=True)
    act = arch.activations[0]
    piece = pattern.pieces[0][0]  # (n, K)
    slopes = np.array([float(s) for s in act.slopes])[piece]
    intercepts = np.array([float(c) for c in act.intercepts])[piece]
    Xt = np.hstack([Xf, np.ones((Xf.shape[0], 1))])
    features = np.concatenate([(slopes[:, :, None] * Xt[:, None, :]).reshape(Xf.shape[0], -1)]
                              + ([intercepts] if np.any(intercepts) else []), axis=1)
    fit = best_affine_fit(features, yf, loss=loss, exact=exact and loss.name is LossName.SQUARED)
    outputs_star = features @ fit.weights[0] + fit.bias[0]
    A = np.hstack([features, np.ones((features.shape[0], 1))])
    null_basis = np.zeros((features.shape[1], 0))
    if loss.name is LossName.SQUARED:
        u, s, vt = np.linalg.svd(A)
        rank = int(np.sum(s > 1e-10 * s[0]))
        null_basis = vt[rank:].T
    here = float(risk(arch, P, Xf, yf, loss=loss)[0])
    return CellMinimumSet(arch, P, Xf, features, fit.risk, fit.risk_exact, outputs_star, null_basis,
                          abs(here - fit.risk) <= 1e-10 * max(1.0, abs(fit.risk)))


@dataclasses.dataclass(frozen=True)
class KinkPairPoint:
    """YSJ-a Theorem 1, step 2: the better point of the kink pair, with the quantities of the exact formula
    ``sum-loss = l0 - 2 c gamma S + m c^2 gamma^2 / 2`` (theory 2.3)."""

    layers: list
    beta: Fraction
    gamma: Fraction
    j0: int
    S: Fraction
    c: Fraction
    predicted_sum_loss: Fraction


def kink_pair_point(X: Any, y: Any, *, activation: str | PiecewiseLinear = "relu", width: int = 2) -> KinkPairPoint:
    r"""YSJ-a's kink-pair point for one hidden layer, one output and a two-piece homogeneous activation
    :math:`h_{s_+, s_-}` (ReLU, leaky ReLU), squared loss, exact rationals.

    With :math:`\bar y` the least-squares fit sorted increasingly, :math:`j_0` the smallest index with
    :math:`S = \sum_{i \le j_0} (\bar y_i - y_i) \ne 0` and :math:`\bar y_{j_0} < \bar y_{j_0 + 1}`,
    :math:`\beta` the midpoint of that gap and :math:`|\gamma|` a quarter of it (sign of :math:`c S`,
    :math:`c = (s_+ - s_-)/(s_+ + s_-)`), the pair of units outputs :math:`\bar y_i \mp c \gamma`, so the summed
    half squared error is exactly :math:`l_0 - 2 c \gamma S + \tfrac12 m c^2 \gamma^2 < l_0`.

    Raises:
        CellscapeError: for another activation, or when no such ``j0`` exists (YSJ-a's rarer case J empty).
    """
    act = parse_activation(activation)
    if len(act.breakpoints) != 1 or act.breakpoints[0] != 0 or act.offset != 0 or act.is_linear:
        raise CellscapeError(f"the kink pair needs a two-piece activation with its kink at 0, h(0) = 0; got {act.spec}")
    s_minus, s_plus = act.slopes
    if s_plus + s_minus == 0:
        raise CellscapeError(f"the kink pair needs s+ + s- != 0 (got {s_plus} and {s_minus}): use the kink-unit "
                             "witness of linear_region_minimum instead")
    Xq = _numbers(X, True)
    yq = _numbers(y, True).reshape(len(Xq))
    fit = best_affine_fit(Xq, yq, exact=True)
    Wbar = [Fraction(v) for v in fit.weights_exact[0]]
    bbar = Fraction(fit.bias_exact[0])
    ybar = [sum((w * x for w, x in zip(Wbar, row)), Fraction(0)) + bbar for row in Xq]
    order = sorted(range(len(ybar)), key=lambda i: ybar[i])
    partial = Fraction(0)
    for rank, i in enumerate(order[:-1]):
        partial += ybar[i] - yq[i]
        nxt = order[rank + 1]
        if partial != 0 and ybar[i] < ybar[nxt]:
            j0, S, beta = rank, partial, (ybar[i] + ybar[nxt]) / 2
            gap = ybar[nxt] - ybar[i]
            break
    else:
        raise CellscapeError("no threshold separates a non-zero partial sum of residuals (YSJ-a's case J empty)")
    c = (s_plus - s_minus) / (s_plus + s_minus)
    gamma = gap / 4 * (1 if c * S > 0 else -1)
    d = len(Wbar)
    W1 = [list(Wbar), [-w for w in Wbar]] + [[Fraction(0)] * d for _ in range(width - 2)]
    b1 = [bbar - beta + gamma, -bbar + beta + gamma] + [Fraction(0)] * (width - 2)
    W2 = [[1 / (s_plus + s_minus), -1 / (s_plus + s_minus)] + [Fraction(0)] * (width - 2)]
    l0 = sum(((a - b) ** 2 / 2 for a, b in zip(ybar, yq)), Fraction(0))
    predicted = l0 - 2 * c * gamma * S + Fraction(len(yq)) * c**2 * gamma**2 / 2
    return KinkPairPoint([(W1, b1), (W2, [beta])], beta, gamma, j0, S, c, predicted)
