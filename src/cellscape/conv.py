r"""One-dimensional convolutional networks with average pooling, and their certificate.

A :class:`ConvNet` convolves a signal :math:`x \in \mathbb{R}^L` with ``C`` filters of width ``k`` (stride 1, no
padding, so :math:`P = L - k + 1` positions), applies a piecewise-linear activation ``h``, averages over the
positions (global average pooling) and feeds the ``C`` pooled values to a fully-connected head:

.. math::
    f(x) = g\Big(\frac1P \sum_{p=1}^{P} h(W x_{p:p+k} + b)\Big).

It is parametrised by the MLP ``patch_net`` applied to one patch :math:`x_{p:p+k}`, whose first layer is the
convolution (``W`` of shape ``(C, k)``) and whose later layers are the head ``g``. So
:class:`~cellscape.networks.Params`, :func:`~cellscape.networks.init_params`, flattening and exact parameters of
``patch_net`` apply to the CNN unchanged; only the forward pass differs.

:func:`certify_conv` certifies a point inside a cell by Liu's group-affine argument: samples sharing one activation
pattern (every position of every channel, every head unit) see one affine map of their *pooled piece features*
:math:`\frac1P \sum_{p \in S_{c,q}} x_{p:p+k}` (the positions where channel ``c`` is in piece ``q``), so the risk
near the point is at least the sum of the groups' best affine risks in those features; equality makes the point a
local minimum. When every channel is in one piece at every position the features are the patch means
:func:`patch_means`.

Examples:
    >>> import numpy as np
    >>> net = conv_net(5, kernel_size=2, channels=3)
    >>> net.describe()
    'conv1d(L=5, k=2, C=3, relu)-avgpool(4)-3-1, biases'
    >>> from cellscape.networks import init_params
    >>> X = np.arange(10.0).reshape(2, 5)
    >>> conv_forward(net, init_params(net.patch_net, seed=0), X).shape
    (1, 2, 1)
"""

from __future__ import annotations

import dataclasses
from fractions import Fraction
from typing import Any

import flint
import jax
import jax.numpy as jnp
import numpy as np

from cellscape._backend import fmpq_matrix, fmpq_to_fraction, to_numpy
from cellscape._validation import check_enum, check_float, check_int, invalid
from cellscape.affine import best_affine_fit
from cellscape.certify import Arithmetic, Certificate, CertificateStatus
from cellscape.losses import Loss, LossName, as_targets, parse_loss
from cellscape.networks import (
    Architecture,
    ExactParams,
    Params,
    _apply_exact,
    _pre_activations_single,
    as_params,
    exact_params,
    flatten_params,
    mlp,
    pre_activations_exact,
    unflatten_params,
)

__all__ = ["ConvNet", "conv_net", "patches", "patch_means", "conv_pre_activations", "conv_forward", "conv_risk",
           "batched_conv_risk", "conv_pre_activations_exact", "conv_pattern_exact", "conv_risk_exact",
           "certify_conv"]


@dataclasses.dataclass(frozen=True)
class ConvNet:
    """A 1-D CNN: convolution (the first layer of ``patch_net``), activation, global average pooling, then the
    rest of ``patch_net`` as a fully-connected head. ``signal_length`` is ``L``."""

    patch_net: Architecture
    signal_length: int

    def __post_init__(self) -> None:
        func = "ConvNet"
        if not isinstance(self.patch_net, Architecture) or self.patch_net.n_layers < 2:
            raise invalid("patch_net", func, "an Architecture with at least one hidden layer (the convolution)",
                          self.patch_net)
        L = check_int(self.signal_length, name="signal_length", func=func, minimum=1)
        if L < self.patch_net.d_in:
            raise invalid("signal_length", func, f"at least the kernel size {self.patch_net.d_in}", L)
        object.__setattr__(self, "signal_length", L)

    @property
    def kernel_size(self) -> int:
        return self.patch_net.d_in

    @property
    def channels(self) -> int:
        return self.patch_net.widths[1]

    @property
    def positions(self) -> int:
        """``P = L - k + 1``, the positions averaged by the pooling."""
        return self.signal_length - self.kernel_size + 1

    @property
    def d_in(self) -> int:
        return self.signal_length

    @property
    def d_out(self) -> int:
        return self.patch_net.d_out

    @property
    def n_params(self) -> int:
        return self.patch_net.n_params

    @property
    def head(self) -> Architecture:
        """The fully-connected layers after the pooling, from ``C`` inputs."""
        a = self.patch_net
        return Architecture(a.widths[1:], a.activations[1:], a.bias[1:])

    def describe(self) -> str:
        """A one-line description such as ``conv1d(L=8, k=2, C=2, relu)-avgpool(7)-2-2-1, biases``."""
        a = self.patch_net
        head = a.describe().split(" ", 1)[0].split("-", 1)[1]
        biases = "biases" if all(a.bias) else ("no biases" if not any(a.bias) else f"bias {a.bias}")
        return (f"conv1d(L={self.signal_length}, k={self.kernel_size}, C={self.channels}, {a.activations[0].spec})"
                f"-avgpool({self.positions})-{head}, {biases}")

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "conv1d-avgpool", "signal_length": self.signal_length, "kernel_size": self.kernel_size,
                "channels": self.channels, "positions": self.positions, "patch_net": self.patch_net.to_dict()}


def conv_net(signal_length: int, *, kernel_size: int, channels: int, hidden: Any = (), d_out: int = 1,
             activation: Any = "relu", bias: bool = True) -> ConvNet:
    """A :class:`ConvNet` with ``channels`` filters of width ``kernel_size`` and fully-connected ``hidden`` widths
    after the pooling (one activation for every hidden layer, the convolution's included).

    Raises:
        InvalidInputError: for widths below 1 or a kernel longer than the signal.
    """
    hidden = [hidden] if isinstance(hidden, (int, np.integer)) else list(hidden)
    k = check_int(kernel_size, name="kernel_size", func="conv_net", minimum=1)
    C = check_int(channels, name="channels", func="conv_net", minimum=1)
    return ConvNet(mlp(k, [C, *hidden], d_out, activation=activation, bias=bias), signal_length)


# ---------------------------------------------------------------------------------------------- features
def _signals(net_or_k: ConvNet | int, X: Any, func: str) -> np.ndarray:
    X = to_numpy(X, name="X", func=func)
    if X.ndim != 2:
        raise invalid("X", func, "signals of shape (n, L)", f"an array of shape {X.shape}", raw=True)
    if isinstance(net_or_k, ConvNet) and X.shape[1] != net_or_k.signal_length:
        raise invalid("X", func, f"signals of length {net_or_k.signal_length}", f"length {X.shape[1]}", raw=True)
    return X


def patches(X: Any, kernel_size: int) -> np.ndarray:
    """The patches ``x_{p:p+k}`` of every signal, shape ``(n, P, k)`` (float64).

    Raises:
        InvalidInputError: for inputs that are not 2-D or a kernel longer than the signals.

    Examples:
        >>> patches([[1.0, 2.0, 3.0]], 2).tolist()
        [[[1.0, 2.0], [2.0, 3.0]]]
    """
    X = _signals(kernel_size, X, "patches")
    k = _kernel_size(kernel_size, X.shape[1], "patches")
    return np.lib.stride_tricks.sliding_window_view(X, k, axis=1).copy()


def patch_means(X: Any, kernel_size: int, *, exact: bool = False) -> Any:
    r"""The mean patch :math:`m(x) = \frac1P \sum_p x_{p:p+k}` of every signal, shape ``(n, k)``: the features in
    which a CNN whose channels are each in one linear piece is affine. ``exact=True`` returns Fractions (floats
    taken at their binary value).

    Examples:
        >>> patch_means([[1.0, 2.0, 4.0]], 2).tolist()
        [[1.5, 3.0]]
        >>> patch_means([[1, 2, 4]], 2, exact=True)
        [[Fraction(3, 2), Fraction(3, 1)]]
    """
    if not exact:
        return patches(X, kernel_size).mean(axis=1)
    rows = _fraction_rows(X)
    k = _kernel_size(kernel_size, len(rows[0]), "patch_means")
    P = len(rows[0]) - k + 1
    return [[sum(row[p + j] for p in range(P)) / P for j in range(k)] for row in rows]


def _kernel_size(kernel_size: Any, length: int, func: str) -> int:
    k = check_int(kernel_size, name="kernel_size", func=func, minimum=1)
    if k > length:
        raise invalid("kernel_size", func, f"at most the signal length {length}", k)
    return k


def _fraction_rows(X: Any) -> list[list[Fraction]]:
    Xq = fmpq_matrix(X)
    return [[fmpq_to_fraction(Xq[i, j]) for j in range(Xq.ncols())] for i in range(Xq.nrows())]


# ---------------------------------------------------------------------------------------------- float forward
def _conv_single(net: ConvNet, weights: Any, biases: Any, Xp: Any) -> tuple[Any, ...]:
    z1 = Xp @ weights[0].T
    if biases[0] is not None:
        z1 = z1 + biases[0]
    pooled = jnp.mean(net.patch_net.activations[0](z1), axis=-2)
    return (z1, *_pre_activations_single(net.head, weights[1:], biases[1:], pooled))


def _batched_conv_pre_activations(net: ConvNet, params: Params, Xp: Any) -> tuple[Any, ...]:
    return jax.vmap(lambda w, b: _conv_single(net, w, b, Xp))(params.weights, params.biases)


_jit_conv_pre_activations = jax.jit(_batched_conv_pre_activations, static_argnums=0)


def conv_pre_activations(net: ConvNet, params: Any, X: Any) -> tuple[jax.Array, ...]:
    """Pre-activations of every network: the convolution's, shape ``(B, n, P, C)``, then the head's, each
    ``(B, n, d_l)`` (the last is the output).

    Raises:
        InvalidInputError: for parameters or signals of the wrong shape.
    """
    params = as_params(net.patch_net, params, func="conv_pre_activations")
    Xp = patches(_signals(net, X, "conv_pre_activations"), net.kernel_size)
    return _jit_conv_pre_activations(net, params, Xp)


def conv_forward(net: ConvNet, params: Any, X: Any) -> jax.Array:
    """Outputs of every network, shape ``(B, n, d_out)``, float64."""
    return conv_pre_activations(net, params, X)[-1]


def batched_conv_risk(net: ConvNet, loss: Loss, params: Params, Xp: Any, y: Any) -> Any:
    """:func:`conv_risk` on precomputed patches ``Xp`` without checks, for use inside jitted code; ``(B,)``."""
    return jnp.mean(loss.per_sample(_batched_conv_pre_activations(net, params, Xp)[-1], y), axis=-1)


_jit_conv_risk = jax.jit(batched_conv_risk, static_argnums=(0, 1))


def conv_risk(net: ConvNet, params: Any, X: Any, y: Any, *, loss: str | Loss = "squared") -> jax.Array:
    """Empirical risk (mean loss) of every network, shape ``(B,)``.

    Raises:
        InvalidInputError: for parameters, signals or targets of the wrong shape.
    """
    loss = parse_loss(loss)
    params = as_params(net.patch_net, params, func="conv_risk")
    X = _signals(net, X, "conv_risk")
    y = as_targets(y, loss, net.d_out, X.shape[0], func="conv_risk")
    return _jit_conv_risk(net, loss, params, patches(X, net.kernel_size), y)


# ---------------------------------------------------------------------------------------------- exact forward
def conv_pre_activations_exact(net: ConvNet, params: Any, X: Any) -> tuple[flint.fmpq_mat, ...]:
    """Exact pre-activations of one network: the convolution's as an ``fmpq_mat`` of shape ``(n P, C)`` (rows
    sample-major: row ``i P + p`` is sample ``i`` at position ``p``), then the head's, each ``(n, d_l)``.

    Raises:
        InvalidInputError: for parameters or signals of the wrong shape, or values that are not rational.
    """
    func = "conv_pre_activations_exact"
    p = exact_params(net.patch_net, params)
    rows = _fraction_rows(X)
    if len(rows[0]) != net.signal_length:
        raise invalid("X", func, f"signals of length {net.signal_length}", f"length {len(rows[0])}", raw=True)
    k, P = net.kernel_size, net.positions
    Pq = fmpq_matrix([row[q:q + k] for row in rows for q in range(P)])
    z1 = pre_activations_exact(mlp(k, [], net.channels, bias=net.patch_net.bias[0]),
                               ExactParams(p.weights[:1], p.biases[:1]), Pq)[0]
    a1 = _apply_exact(net.patch_net.activations[0], z1)
    n, C = len(rows), net.channels
    pooled = flint.fmpq_mat(n, C, [sum((a1[i * P + q, c] for q in range(P)), flint.fmpq(0)) / P
                                  for i in range(n) for c in range(C)])
    return (z1, *pre_activations_exact(net.head, ExactParams(p.weights[1:], p.biases[1:]), pooled))


def conv_risk_exact(net: ConvNet, params: Any, X: Any, y: Any, *, loss: str | Loss = "squared") -> Fraction:
    """Exact empirical risk of one network in rationals.

    Raises:
        ExactArithmeticError: for a loss without rational values (logistic, cross-entropy).
    """
    loss = parse_loss(loss)
    out = conv_pre_activations_exact(net, params, X)[-1]
    Y = fmpq_matrix(np.asarray(y, dtype=object).reshape(out.nrows(), -1))
    total = flint.fmpq(0)
    for i in range(out.nrows()):
        total += loss.per_sample_exact([out[i, j] for j in range(out.ncols())],
                                       [Y[i, j] for j in range(Y.ncols())])
    return fmpq_to_fraction(total / out.nrows())


# ---------------------------------------------------------------------------------------------- certificate
def _piece_features(net: ConvNet, X: Any, conv_pieces: np.ndarray, *, exact: bool) -> Any:
    """For samples sharing one pattern: per channel and non-flat piece, the pooled patches over the positions in
    that piece, ``(1/P) sum_{p in S_{c,q}} x_{p:p+k}`` (channels with the same position sets give one feature)."""
    act, P, k = net.patch_net.activations[0], net.positions, net.kernel_size
    sets = []
    for c in range(net.channels):
        for q in np.unique(conv_pieces[:, c]):
            S = tuple(int(p) for p in np.nonzero(conv_pieces[:, c] == q)[0])
            if act.slopes[int(q)] != 0 and S not in sets:
                sets.append(S)
    if exact:  # X: rows of Fractions
        return [[sum((row[p + j] for p in S), Fraction(0)) / P for S in sets for j in range(k)] for row in X]
    Xp = patches(X, k)
    cols = [Xp[:, list(S), :].sum(axis=1) / P for S in sets]
    return np.concatenate(cols, axis=1) if cols else np.zeros((X.shape[0], 0))


def certify_conv(net: ConvNet, params: Any, X: Any, y: Any, *, loss: str | Loss = "squared",
                 arithmetic: str | Arithmetic = "float", tie_tol: float = 1e-9, grad_tol: float = 1e-8,
                 kkt_tol: float = 1e-8) -> Certificate:
    r"""Certify one CNN point (the first network of ``params``).

    Inside a cell (no pre-activation within ``tie_tol`` of a breakpoint) a gradient above ``grad_tol`` with a
    confirmed decrease gives ``not_critical``. Otherwise the samples are grouped by activation pattern; on each
    group the network is one affine map of the pooled piece features (module docstring) on a neighbourhood, so
    :math:`R(\theta') \ge \sum_g \frac{n_g}{n} R^*_g`. Equality (within ``kkt_tol``, or exactly with
    ``arithmetic="exact"`` and the squared loss) proves a local minimum: ``nonstrict_minimum`` when the activation
    is positively homogeneous and some channel can be rescaled, else ``minimum``. Anything else, and every point
    on a boundary, is ``inconclusive`` with the reason (second-order and boundary analysis of CNNs is not
    implemented).

    Raises:
        InvalidInputError: for bad shapes or options.
    """
    func = "certify_conv"
    loss = parse_loss(loss)
    arithmetic = check_enum(arithmetic, Arithmetic, name="arithmetic", func=func)
    for name, value in (("tie_tol", tie_tol), ("grad_tol", grad_tol), ("kkt_tol", kkt_tol)):
        check_float(value, name=name, func=func, minimum=0.0)
    exact = arithmetic is Arithmetic.EXACT
    if exact:
        qparams = exact_params(net.patch_net, params)
        params = as_params(net.patch_net, qparams.to_params(), func=func)
    else:
        params = as_params(net.patch_net, params, func=func)[0]
    Xf = _signals(net, X, func)
    yf = as_targets(np.asarray(y, dtype=float) if exact else y, loss, net.d_out, Xf.shape[0], func=func)
    n = Xf.shape[0]
    value = float(conv_risk(net, params, Xf, yf, loss=loss)[0])
    value_exact = None
    if exact:
        keys, n_ties = conv_pattern_exact(net, qparams, X)
        value_exact = conv_risk_exact(net, qparams, X, y, loss=loss) if loss.is_exact else None
        rows = _fraction_rows(X)
        Yq = np.asarray(y, dtype=object).reshape(n, -1)
    else:
        keys, n_ties = _pattern_keys(net, [np.asarray(z)[0] for z in conv_pre_activations(net, params, Xf)],
                                     tie_tol)
    tols = {"tie_tol": tie_tol, "grad_tol": grad_tol, "kkt_tol": kkt_tol}
    common = dict(risk=value, risk_exact=value_exact, grad_norm=float("nan"), n_ties=n_ties, ties=(),
                  pieces_examined=0, pieces_adjacent=0, hessian_min=None, hessian_max=None, valley_dimension=None,
                  descent_direction=None, descent_step=None, descent_decrease=None, radius=0.0,
                  arithmetic=Arithmetic.FLOAT, tolerances=tols)

    def verdict(status: CertificateStatus, message: str, method: str, **fields: Any) -> Certificate:
        return Certificate(status=status, message=message, method=method, **{**common, **fields})

    if n_ties:
        return verdict(CertificateStatus.INCONCLUSIVE, f"{n_ties} pre-activations on a breakpoint: the CNN "
                       "certificate covers points inside a cell only", "group_affine")
    flat = np.asarray(flatten_params(net.patch_net, params.numpy()))[0]
    Xp = patches(Xf, net.kernel_size)

    def risk_of(v):
        return batched_conv_risk(net, loss, unflatten_params(net.patch_net, v[None, :]), Xp, yf)[0]

    g = np.asarray(jax.grad(risk_of)(jnp.asarray(flat)))
    g_norm = float(np.linalg.norm(g))
    if g_norm > grad_tol:
        d = -g / g_norm
        for step in 10.0 ** -np.arange(1, 13):
            decrease = value - float(risk_of(jnp.asarray(flat + step * d)))
            if decrease > 0:
                return verdict(CertificateStatus.NOT_CRITICAL, f"|grad R| = {g_norm:.2e} > {grad_tol:g}; the risk "
                               f"decreases by {decrease:.2e} along -grad", "gradient", grad_norm=g_norm,
                               descent_direction=d, descent_step=float(step), descent_decrease=decrease)
        return verdict(CertificateStatus.INCONCLUSIVE, f"|grad R| = {g_norm:.2e} > {grad_tol:g} but no decrease "
                       "along -grad was confirmed: numerically ambiguous", "gradient", grad_norm=g_norm)
    _, labels = np.unique(keys, axis=0, return_inverse=True)
    labels = np.asarray(labels).ravel()
    conv_keys = keys[:, : net.positions * net.channels].reshape(n, net.positions, net.channels)
    bound, bound_exact, attained = 0.0, Fraction(0), True
    exact_bound = exact and loss.name is LossName.SQUARED
    for g in range(int(labels.max()) + 1):
        idx = np.nonzero(labels == g)[0]
        F = _piece_features(net, Xf[idx], conv_keys[idx[0]], exact=False)
        fit = best_affine_fit(F, yf[idx], loss=loss, **(
            {"n_classes": net.d_out} if loss.target_kind.value == "class" else {}))
        attained = attained and fit.attained
        bound += len(idx) / n * fit.risk
        if exact_bound:
            Fq = _piece_features(net, [rows[i] for i in idx], conv_keys[idx[0]], exact=True)
            Yg = [Yq[i].tolist() for i in idx]
            bound_exact += Fraction(len(idx), n) * best_affine_fit(Fq, Yg, exact=True).risk_exact
    gap = value - bound
    n_groups = int(labels.max()) + 1
    if attained and gap <= kkt_tol * max(1.0, abs(bound)):
        W1, v_next = np.asarray(params.weights[0][0]), np.asarray(params.weights[1][0])
        movable = np.any(W1 != 0, axis=1) & np.any(v_next != 0, axis=0)
        homogeneous = net.patch_net.activations[0].is_homogeneous and bool(np.any(movable))
        status = CertificateStatus.NONSTRICT_MINIMUM if homogeneous else CertificateStatus.MINIMUM
        why = ("positive rescaling of a channel is a valley through it" if homogeneous
               else "strictness not decided")
        message = (f"inside a cell, the samples fall into {n_groups} groups of one activation pattern each, on "
                   f"which the CNN is one affine map of the pooled piece features; its risk {value:.10g} equals the "
                   f"sum of the groups' best affine risks {bound:.10g} (gap {gap:.1e}), a lower bound near the "
                   f"point (Liu 2021): a local minimum; {why}")
        if exact_bound:
            if bound_exact != value_exact:
                return verdict(CertificateStatus.INCONCLUSIVE, f"the exact risk {value_exact} differs from the "
                               f"exact bound {bound_exact}", "group_affine")
            return verdict(status, message + "; verified exactly: no exact ties, and the exact risk equals the "
                           "exact bound", "group_affine", arithmetic=Arithmetic.EXACT, grad_norm=g_norm)
        if exact:
            message += " (the exact risk is computed; the groups' optimal risks rest on floats)"
        return verdict(status, message, "group_affine", grad_norm=g_norm)
    reason = ("a group's best affine risk is not attained" if not attained else
              f"the risk exceeds the group-affine bound by {gap:.2e}")
    return verdict(CertificateStatus.INCONCLUSIVE, f"critical (|grad R| = {g_norm:.2e}) but {reason}; second-order "
                   "analysis of CNNs is not implemented", "group_affine", grad_norm=g_norm)


def _pattern_keys(net: ConvNet, zs: list[np.ndarray], tie_tol: float) -> tuple[np.ndarray, int]:
    """Per sample, the piece of every pre-activation (convolution positions and head units) as one key row, and
    the number of ties: pre-activations within ``tie_tol`` of a breakpoint."""
    n = zs[-1].shape[0]
    keys, ties = [], 0
    for z, act in zip(zs[:-1], net.patch_net.activations):
        z = z.reshape(n, -1)
        keys.append(act.piece_index(z))
        ties += int(np.sum(act.margin(z) <= tie_tol))
    return np.concatenate(keys, axis=1), ties


def conv_pattern_exact(net: ConvNet, params: Any, X: Any) -> tuple[np.ndarray, int]:
    """The exact activation pattern of one network: per sample, the piece of every pre-activation (the
    convolution's, position-major, then the head's) as one key row ``(n, P C + sum of head widths)``, and the
    number of pre-activations exactly on a breakpoint."""
    zs = conv_pre_activations_exact(net, params, X)
    n = zs[-1].nrows()
    keys, ties = [], 0
    for z, act in zip(zs[:-1], net.patch_net.activations):
        values = [fmpq_to_fraction(v) for v in z.entries()]
        keys.append(np.array([act.piece_index_exact(v) for v in values], dtype=np.int64).reshape(n, -1))
        ties += sum(1 for v in values if v in act.breakpoints)
    return np.concatenate(keys, axis=1), ties
