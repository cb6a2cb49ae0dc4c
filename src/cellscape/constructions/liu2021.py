r"""CPWL functions as networks and spurious minima by groupings: Bo Liu, "Spurious Local Minima Are Common for Deep
Neural Networks with Piecewise Linear Activations" (arXiv:2102.13233, 2021).

* **Max-min representation** (Tarela-Martinez 1999, Ovchinnikov 2002). Affine pieces :math:`l_1..l_M` and an
  assignment of every sample to a piece define, for every region :math:`r` (the samples assigned to one piece),
  :math:`S_r = \{j : l_j \ge l_{j(r)} \text{ on } r\}` and :math:`F(x) = \max_r \min_{j \in S_r} l_j(x)`;
  :func:`max_min_representation` builds it, keeping only the minimal sets (a term whose set contains another's is
  dominated by it, and would tie with it), and checks in exact arithmetic that :math:`F(x_i) = l_{j(i)}(x_i)` on
  every sample.
* **Compilation** into a deep ReLU network (:func:`compile_relu`): layer 1 computes
  :math:`\operatorname{relu}(l_j + C) = l_j + C` (``C`` makes every piece positive on the data), then balanced
  trees of :math:`\min(a, b) = a - \operatorname{relu}(a - b)` (depth :math:`\lceil \log_2 \max_r |S_r| \rceil`)
  and :math:`\max(a, b) = b + \operatorname{relu}(a - b)` (depth :math:`\lceil \log_2 R \rceil`); every value stays
  positive, so :math:`\operatorname{relu}(a) = a` passes values on. :func:`compile_with_activation` turns the ReLU
  network into one with any non-linear piecewise-linear activation ``h``: with a kink ``p`` of slopes
  :math:`s_- \ne s_+` and a linear piece of slope :math:`s_c` at ``c``,
  :math:`\operatorname{relu}(t) = \frac{h(p + \epsilon t) - h(p)}{\epsilon (s_+ - s_-)} - \frac{s_-}{s_+ - s_-}
  \frac{h(c + \epsilon t) - h(c)}{s_c \epsilon}` while :math:`\epsilon t` stays in the pieces (theory 5.2).
* **Groupings** (:func:`grouping_minimum`): a partition of the samples, each group fitted by its best affine piece
  under the loss; *admissible* when the compiled network selects every sample's piece strictly (no tie anywhere) and
  every group has one activation pattern. Then on each group the network is one affine map on a neighbourhood, so its
  risk is a local minimum equal to the sum of the groups' optimal risks (certified by
  :func:`cellscape.certify.certify`'s group-affine argument).
* **CNNs** (:func:`grouping_minimum_conv`): on 1-D signals, a convolution, average pooling and the max-min head
  realise the same construction in the patch means (the architecture conditions are in ``docs/decisions.md``).
* **1-D enumeration** (:func:`enumerate_groupings_1d`): every split of sorted 1-D data into two or three contiguous
  groups, with its admissibility and risk, and the distinct risk levels.

Examples:
    >>> import numpy as np
    >>> X = np.array([[-2.0], [-1.0], [1.0], [2.0]]); y = np.array([2.0, 1.0, 1.0, 2.0])   # y = |x|
    >>> built = grouping_minimum(X, y, [0, 0, 1, 1])
    >>> built.risk_exact, built.certificate.status.value, built.admissible
    (Fraction(0, 1), 'nonstrict_minimum', True)
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from fractions import Fraction
from typing import Any

import numpy as np

from cellscape._backend import fmpq_to_fraction, to_fraction, to_numpy
from cellscape._validation import invalid
from cellscape.activations import PiecewiseLinear, parse_activation
from cellscape.affine import best_affine_fit
from cellscape.certify import Certificate, certify
from cellscape.conv import (
    ConvNet,
    certify_conv,
    conv_pattern_exact,
    conv_risk,
    conv_risk_exact,
    patch_means,
    patches,
)
from cellscape.exceptions import CellscapeError
from cellscape.losses import Loss, LossName, as_targets, parse_loss, risk, risk_exact
from cellscape.networks import Architecture, Params, as_params, mlp
from cellscape.patterns import activation_pattern_exact

__all__ = ["MaxMinFormula", "max_min_representation", "compile_relu", "compile_with_activation",
           "GroupingMinimum", "grouping_minimum", "grouping_minimum_conv", "threshold_groupings",
           "enumerate_groupings_1d"]


@dataclasses.dataclass(frozen=True)
class MaxMinFormula:
    """``F(x) = max_r min_{j in terms[r]} pieces[j](x)``, each piece ``(weights..., bias)`` exact."""

    pieces: tuple[tuple[Fraction, ...], ...]
    terms: tuple[tuple[int, ...], ...]

    def evaluate_exact(self, X: Any) -> list[Fraction]:
        values = []
        for row in X:
            x = [to_fraction(v) for v in row]
            piece_values = [sum((w * xi for w, xi in zip(p[:-1], x)), Fraction(0)) + p[-1] for p in self.pieces]
            values.append(max(min(piece_values[j] for j in term) for term in self.terms))
        return values


def _piece_values(pieces, X) -> list[list[Fraction]]:
    return [[sum((w * to_fraction(v) for w, v in zip(p[:-1], row)), Fraction(0)) + p[-1] for p in pieces]
            for row in X]


def max_min_representation(pieces: Any, assignment: Any, X: Any) -> MaxMinFormula:
    """The max-min formula of the CPWL function with these affine pieces (rows ``(weights..., bias)``) and this
    assignment of the samples to pieces; it equals the assigned piece on every sample (checked exactly).

    Raises:
        InvalidInputError: if the assignment is not realisable by a max-min formula on these samples.
    """
    func = "max_min_representation"
    pieces = tuple(tuple(to_fraction(v) for v in p) for p in pieces)
    assignment = [int(a) for a in assignment]
    values = _piece_values(pieces, X)
    regions = sorted(set(assignment))
    terms = []
    for r in regions:
        members = [i for i, a in enumerate(assignment) if a == r]
        terms.append(tuple(j for j in range(len(pieces)) if all(values[i][j] >= values[i][r] for i in members)))
    # a term whose set contains another's is dominated by it (its min is smaller everywhere) and would tie with it
    # on its own region: keep only the minimal sets, once each
    minimal = sorted({t for t in terms if not any(set(u) < set(t) for u in terms)})
    formula = MaxMinFormula(pieces, tuple(minimal))
    got = formula.evaluate_exact(X)
    bad = [i for i, a in enumerate(assignment) if got[i] != values[i][a]]
    if bad:
        raise invalid("assignment", func, "realisable by a max-min formula on the samples",
                      f"sample {bad[0]} getting {float(got[bad[0]]):.6g} where its piece gives "
                      f"{float(values[bad[0]][assignment[bad[0]]]):.6g}", raw=True)
    return formula


def compile_relu(formula: MaxMinFormula, X: Any, *, C: Any = None) -> tuple[Architecture, list]:
    """An exact ReLU network computing ``formula`` on the samples (balanced min and max trees); returns the
    architecture and exact layers. Depth ``2 + ceil(log2 max |S_r|) + ceil(log2 R)`` layers at most."""
    d = len(formula.pieces[0]) - 1
    values = _piece_values(formula.pieces, X)
    if C is None:
        lowest = min(min(row) for row in values)
        C = Fraction(math.floor(max(Fraction(0), -lowest)) + 1)
    C = to_fraction(C)
    # layer 1: relu(l_j + C) for every piece; a value is a linear form {unit: coefficient} (constant 0)
    W1 = [list(p[:-1]) for p in formula.pieces]
    b1 = [p[-1] + C for p in formula.pieces]
    layers: list[tuple[list, list]] = [(W1, b1)]
    width_prev = len(formula.pieces)
    current = [[{j: Fraction(1)} for j in term] for term in formula.terms]  # per term: values to reduce by min
    for op in ("min", "max"):
        if op == "max":
            current = [[term[0] for term in current]]  # one value per term, reduced by max
        while max(len(values_) for values_ in current) > 1:
            current, rows = _tree_level(current, op)
            layers.append(([[r.get(u, Fraction(0)) for u in range(width_prev)] for r in rows],
                           [Fraction(0)] * len(rows)))
            width_prev = len(rows)
    final = current[0][0]
    layers.append(([[final.get(u, Fraction(0)) for u in range(width_prev)]], [-C]))
    widths = [d] + [len(W) for W, _ in layers]
    arch = mlp(d, widths[1:-1], 1)
    return arch, [(W, b) for W, b in layers]


def _tree_level(groups: list[list[dict]], op: str) -> tuple[list[list[dict]], list[dict]]:
    """One level of the min (or max) trees: pair up every group's values (linear forms over the previous layer's
    units). A pair ``(a, b)`` becomes the units ``relu(a)`` (``relu(b)`` for max) and ``relu(a - b)``, and the
    value ``a - relu(a - b)`` (``b + relu(a - b)``); an odd value passes through ``relu``. All values are positive,
    so ``relu`` passes them unchanged. Returns the new values (over the new units) and the new units' forms."""
    rows: list[dict] = []
    new_groups = []
    for values_ in groups:
        out = []
        for k in range(0, len(values_) - 1, 2):
            a, b = values_[k], values_[k + 1]
            rows.append(a if op == "min" else b)
            rows.append(_sub(a, b))
            out.append({len(rows) - 2: Fraction(1), len(rows) - 1: Fraction(-1 if op == "min" else 1)})
        if len(values_) % 2:
            rows.append(values_[-1])
            out.append({len(rows) - 1: Fraction(1)})
        new_groups.append(out)
    return new_groups, rows


def _sub(a: dict, b: dict) -> dict:
    out = dict(a)
    for k, v in b.items():
        out[k] = out.get(k, Fraction(0)) - v
    return out


def compile_with_activation(arch: Architecture, layers: list, X: Any,
                            activation: str | PiecewiseLinear) -> tuple[Architecture, list]:
    """Turn an exact ReLU network into one with the activation ``h`` computing the same values on the samples
    (every ReLU unit becomes a kink unit and a linear unit; the next layer recombines them). Exact.

    Raises:
        InvalidInputError: for a linear activation or one without a piece of non-zero slope.
    """
    h = parse_activation(activation)
    kinks = [q for q in range(len(h.breakpoints)) if h.slopes[q] != h.slopes[q + 1]]
    linear = [j for j, s in enumerate(h.slopes) if s != 0]
    if not kinks or not linear:
        raise invalid("activation", "compile_with_activation", "a non-linear activation with a piece of non-zero "
                      "slope", h.spec)
    q = kinks[0]
    p, s_minus, s_plus = h.breakpoints[q], h.slopes[q], h.slopes[q + 1]
    room_p = min([p - h.breakpoints[q - 1]] if q > 0 else [Fraction(1)]
                 + ([h.breakpoints[q + 1] - p] if q + 1 < len(h.breakpoints) else [Fraction(1)]))
    j = max(linear, key=lambda k: (k in (0, len(h.breakpoints)), k))
    if j == len(h.breakpoints):
        c, room_c = h.breakpoints[-1] + 1, Fraction(1)
    elif j == 0:
        c, room_c = h.breakpoints[0] - 1, Fraction(1)
    else:
        c, room_c = (h.breakpoints[j - 1] + h.breakpoints[j]) / 2, (h.breakpoints[j] - h.breakpoints[j - 1]) / 2
    s_c = h.slopes[j]
    room = min(room_p, room_c)
    # the ReLU network's pre-activations on the samples, to choose every layer's epsilon
    zs = _exact_pre_activations(arch, layers, X)
    new_layers, prev_map = [], None  # prev_map: per ReLU unit of the previous layer, its (kink, linear) columns
    for l, (W, b) in enumerate(layers):
        W = [[to_fraction(v) for v in row] for row in W]
        b = [to_fraction(v) for v in b]
        if prev_map is not None:  # relu(t_u) = A_u H_kink + B_u H_lin + D_u
            W2, b2 = [], []
            for row, bias in zip(W, b):
                new_row = [Fraction(0)] * (2 * len(row))
                for u, w in enumerate(row):
                    eps = prev_map[u]
                    a_k = w / (eps * (s_plus - s_minus))
                    a_l = -w * s_minus / ((s_plus - s_minus) * s_c * eps)
                    new_row[2 * u] += a_k
                    new_row[2 * u + 1] += a_l
                    bias += -a_k * h.evaluate_exact(p) - a_l * h.evaluate_exact(c)
                W2.append(new_row)
                b2.append(bias)
            W, b = W2, b2
        if l == len(layers) - 1:
            new_layers.append((W, b))
            break
        biggest = max((abs(z) for z in zs[l]), default=Fraction(1)) or Fraction(1)
        eps = Fraction(1, 2 ** max(0, math.ceil(math.log2(float(2 * biggest / room)))))
        Wh, bh = [], []
        for row, bias in zip(W, b):
            Wh.append([eps * v for v in row])
            bh.append(p + eps * bias)
            Wh.append([eps * v for v in row])
            bh.append(c + eps * bias)
        new_layers.append((Wh, bh))
        prev_map = [eps] * len(W)
    widths = [arch.d_in] + [len(W) for W, _ in new_layers]
    return mlp(arch.d_in, widths[1:-1], arch.d_out, activation=h), new_layers


def _exact_pre_activations(arch: Architecture, layers: list, X: Any) -> list[list[Fraction]]:
    """All hidden pre-activation values of the exact network on the samples, per hidden layer (flattened)."""
    pattern = activation_pattern_exact(arch, layers, X)
    return [[fmpq_to_fraction(z[i, k]) for i in range(z.nrows()) for k in range(z.ncols())]
            for z in pattern.values[:-1]]


@dataclasses.dataclass(frozen=True, eq=False)
class GroupingMinimum:
    """A grouping's network with its evidence: ``admissible`` (and ``reason`` when not), the groups' optimal
    risks and their weighted sum, the network's risk (float and exact), its certificate (``None`` when not
    admissible or not asked for), depth and widths. ``arch`` is the MLP, or the :class:`~cellscape.conv.ConvNet`
    of the convolutional variant (whose ``layers`` are those of its ``patch_net``)."""

    arch: Architecture | ConvNet
    params: Params
    layers: list
    groups: tuple[int, ...]
    group_risks: tuple[float, ...]
    claimed_risk: float
    claimed_risk_exact: Fraction | None
    risk: float
    risk_exact: Fraction | None
    admissible: bool
    reason: str
    certificate: Certificate | None


def _compile_grouping(F: list[list[Fraction]], yf: np.ndarray, labels: list[int], loss: Loss,
                      activation: str | PiecewiseLinear, extra_rows: Any = None):
    """Fit every group by its best affine piece in the features ``F`` (exact rows), and compile the max-min
    formula selecting them into a network (an MLP on the features). ``extra_rows`` are further inputs on which
    the first layer must stay in its linear piece (the patches of the convolutional variant)."""
    names = sorted(set(labels))
    index = {g: k for k, g in enumerate(names)}
    Ff = np.array([[float(v) for v in row] for row in F])
    exact_fit = loss.name is LossName.SQUARED
    fits, pieces = [], []
    for g in names:
        idx = [i for i, lab in enumerate(labels) if lab == g]
        fit = (best_affine_fit([F[i] for i in idx], yf[idx], exact=True) if exact_fit
               else best_affine_fit(Ff[idx], yf[idx], loss=loss))
        fits.append((idx, fit))
        pieces.append(tuple(fit.weights_exact[0]) + (fit.bias_exact[0],) if fit.weights_exact is not None
                      else tuple(to_fraction(v) for v in fit.weights[0]) + (to_fraction(fit.bias[0]),))
    formula = max_min_representation(pieces, [index[g] for g in labels], F)
    rows = list(F) + ([] if extra_rows is None else [[to_fraction(v) for v in row] for row in extra_rows])
    arch, layers = compile_relu(formula, rows)
    if parse_activation(activation).spec != "relu":
        arch, layers = compile_with_activation(arch, layers, rows, activation)
    n = len(labels)
    claimed = sum(len(idx) / n * fit.risk for idx, fit in fits)
    claimed_exact = (sum((Fraction(len(idx), n) * fit.risk_exact for idx, fit in fits), Fraction(0))
                     if all(fit.risk_exact is not None for _, fit in fits) else None)
    return arch, layers, tuple(fit.risk for _, fit in fits), claimed, claimed_exact


def _admissibility(keys: np.ndarray, n_ties: int, labels: list[int]) -> str:
    """Why a grouping is not admissible (ties, or a group spanning several activation patterns), or ``""``."""
    if n_ties:
        return f"{n_ties} pre-activations sit exactly on a kink: the selection is not strict"
    for g in sorted(set(labels)):
        if len({tuple(keys[i]) for i, lab in enumerate(labels) if lab == g}) > 1:
            return f"group {g} spans several activation patterns (not pattern-uniform)"
    return ""


def _float_params(arch: Architecture, layers: list) -> Params:
    return as_params(arch, [(np.array([[float(v) for v in row] for row in W]), np.array([float(v) for v in b]))
                            for W, b in layers])


def _labels(groups: Any, n: int, func: str) -> list[int]:
    labels = [int(g) for g in groups]
    if len(labels) != n:
        raise invalid("groups", func, f"{n} labels (one per sample)", len(labels))
    return labels


def grouping_minimum(X: Any, y: Any, groups: Any, *, loss: str | Loss = "squared",
                     activation: str | PiecewiseLinear = "relu", with_certificate: bool = True) -> GroupingMinimum:
    """Fit each group by its best affine piece, build the max-min network and check admissibility and the
    certificate (one output; floats taken exactly; the squared loss's fits and certificate are exact).

    Raises:
        InvalidInputError: for bad data, a single group, or pieces no max-min formula can select.
    """
    func = "grouping_minimum"
    loss = parse_loss(loss)
    Xf = to_numpy(X, name="X", func=func)
    yf = as_targets(y, loss, 1, Xf.shape[0], func=func)
    labels = _labels(groups, Xf.shape[0], func)
    F = [[to_fraction(v) for v in row] for row in np.asarray(X, dtype=object).reshape(Xf.shape)]
    arch, layers, group_risks, claimed, claimed_exact = _compile_grouping(F, yf, labels, loss, activation)
    params = _float_params(arch, layers)
    pattern = activation_pattern_exact(arch, layers, Xf)
    keys = np.concatenate(pattern.pieces, axis=1)
    reason = _admissibility(keys, len(pattern.ties), labels)
    cert = (certify(arch, layers, Xf, yf, loss=loss, arithmetic="exact" if loss.is_exact else "float")[0]
            if with_certificate and not reason else None)
    return GroupingMinimum(arch, params, layers, tuple(labels), group_risks, claimed, claimed_exact,
                           float(risk(arch, params, Xf, yf, loss=loss)[0]),
                           risk_exact(arch, layers, Xf, yf, loss=loss) if loss.is_exact else None, not reason,
                           reason, cert)


def grouping_minimum_conv(X: Any, y: Any, groups: Any, *, kernel_size: int, loss: str | Loss = "squared",
                          activation: str | PiecewiseLinear = "relu",
                          with_certificate: bool = True) -> GroupingMinimum:
    r"""The convolutional variant of :func:`grouping_minimum` on 1-D signals ``X`` of shape ``(n, L)``.

    Each group is fitted by its best affine piece in the patch means :math:`m(x)` (:func:`cellscape.conv.
    patch_means`); the max-min network on those features is compiled as before, and its first layer becomes the
    convolution: with every pre-activation positive on *every patch* (the shift ``C`` is chosen over the
    patches), :math:`rac1P \sum_p \mathrm{relu}(l_j(x_p) + C) = l_j(m(x)) + C`, so the average pooling hands the
    head exactly the values the MLP's first layer computes, and the head's max and min trees select the pieces.
    Architecture: ``conv1d(k, M channels) - avgpool(P) - head`` (twice the channels for a general activation).
    Certified by :func:`cellscape.conv.certify_conv`: on each pattern-uniform group the CNN is affine in
    :math:`m(x)` near the point, so its risk, the sum of the groups' optimal risks in those features, is a local
    minimum.

    Raises:
        InvalidInputError: for bad signals, a kernel longer than the signals, a single group, or pieces no max-min
            formula can select.

    Examples:
        >>> import numpy as np
        >>> X = np.array([[-2.0, -2, -2], [-1, -1, -1], [1, 1, 1], [2, 2, 2]]); y = np.array([2.0, 1, 1, 2])
        >>> built = grouping_minimum_conv(X, y, [0, 0, 1, 1], kernel_size=2)
        >>> built.arch.describe(), built.risk_exact, built.certificate.status.value
        ('conv1d(L=3, k=2, C=2, relu)-avgpool(2)-2-2-1, biases', Fraction(0, 1), 'nonstrict_minimum')
    """
    func = "grouping_minimum_conv"
    loss = parse_loss(loss)
    Xf = to_numpy(X, name="X", func=func)
    if Xf.ndim != 2:
        raise invalid("X", func, "signals of shape (n, L)", f"an array of shape {Xf.shape}", raw=True)
    yf = as_targets(y, loss, 1, Xf.shape[0], func=func)
    labels = _labels(groups, Xf.shape[0], func)
    F = patch_means(X, kernel_size, exact=True)
    arch, layers, group_risks, claimed, claimed_exact = _compile_grouping(
        F, yf, labels, loss, activation, extra_rows=patches(Xf, kernel_size).reshape(-1, kernel_size))
    net = ConvNet(arch, Xf.shape[1])
    params = _float_params(arch, layers)
    reason = _admissibility(*conv_pattern_exact(net, layers, X), labels)
    cert = (certify_conv(net, layers, X, yf if not loss.is_exact else y, loss=loss,
                         arithmetic="exact" if loss.is_exact else "float")
            if with_certificate and not reason else None)
    return GroupingMinimum(net, params, layers, tuple(labels), group_risks, claimed, claimed_exact,
                           float(conv_risk(net, params, Xf, yf, loss=loss)[0]),
                           conv_risk_exact(net, layers, X, y, loss=loss) if loss.is_exact else None, not reason,
                           reason, cert)


def threshold_groupings(F: Any, *, min_size: int = 2) -> list[np.ndarray]:
    """Two-group splits of the samples by a threshold along every coordinate axis of the features ``F`` and
    along their first principal direction (each split once, groups of at least ``min_size``): the candidates
    the registry tries.

    Examples:
        >>> [g.tolist() for g in threshold_groupings([[0.0], [2.0], [1.0], [3.0]])]
        [[0, 1, 0, 1]]
    """
    F = np.asarray(F, dtype=float)
    n = F.shape[0]
    centred = F - F.mean(axis=0)
    directions = list(np.eye(F.shape[1]))
    if F.shape[1] > 1 and np.any(centred):
        directions.append(np.linalg.svd(centred, full_matrices=False)[2][0])
    seen, out = set(), []
    for u in directions:
        order = np.argsort(F @ u, kind="stable")
        for cut in range(min_size, n - min_size + 1):
            labels = np.zeros(n, dtype=int)
            labels[order[cut:]] = 1
            key = tuple(labels) if labels[0] == 0 else tuple(1 - labels)
            if key not in seen:
                seen.add(key)
                out.append(np.array(key))
    return out


def enumerate_groupings_1d(x: Any, y: Any, *, n_groups: int = 2, loss: str | Loss = "squared",
                           min_size: int = 2) -> list[dict[str, Any]]:
    """Every split of 1-D data (sorted by ``x``) into ``n_groups`` (2 or 3) contiguous groups of at least
    ``min_size`` samples: its split points, admissibility (with the reason), risk and certificate status.

    Raises:
        InvalidInputError: for ``n_groups`` other than 2 or 3 or non-1-D inputs.
    """
    func = "enumerate_groupings_1d"
    if n_groups not in (2, 3):
        raise invalid("n_groups", func, "2 or 3", n_groups)
    xs = to_numpy(x, name="x", func=func).reshape(-1)
    order = np.argsort(xs, kind="stable")
    Xs = xs[order][:, None]
    ys = np.asarray(y, dtype=float).reshape(len(xs), -1)[order]
    n = len(xs)
    out = []
    for cuts in itertools.combinations(range(min_size, n - min_size + 1), n_groups - 1):
        bounds = (0, *cuts, n)
        if any(b - a < min_size for a, b in zip(bounds, bounds[1:])):
            continue
        labels = np.zeros(n, dtype=int)
        for g, (a, b) in enumerate(zip(bounds, bounds[1:])):
            labels[a:b] = g
        try:
            built = grouping_minimum(Xs, ys, labels, loss=loss)
        except CellscapeError as err:  # a grouping no max-min formula selects is simply inadmissible
            out.append({"cuts": cuts, "admissible": False, "reason": str(err), "risk": None})
            continue
        out.append({"cuts": cuts, "admissible": built.admissible, "reason": built.reason, "risk": built.risk,
                    "risk_exact": built.risk_exact, "claimed_risk": built.claimed_risk,
                    "status": None if built.certificate is None else built.certificate.status.value})
    return out
