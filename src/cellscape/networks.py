r"""Fully-connected networks with piecewise-linear activations, always as a *batch* of networks.

An :class:`Architecture` has widths :math:`d_0, \dots, d_L`, one activation per hidden layer and a bias switch per
layer. With :math:`X` of shape ``(n, d_0)`` (one sample per row) the network computes

.. math::  z^1 = X W_1^T + b_1,\quad a^l = h_l(z^l),\quad z^{l+1} = a^l W_{l+1}^T + b_{l+1},\quad \hat y = z^L,

with ``W_l`` of shape ``(d_l, d_{l-1})`` as ``torch.nn.Linear`` stores it. :class:`Params` hold a leading batch
axis everywhere: ``weights[l]`` has shape ``(B, d_l, d_{l-1})`` and ``biases[l]`` shape ``(B, d_l)`` (or ``None``
for a layer without bias). A single network is the case ``B = 1``.

The flat view orders the parameters as ``W_1, b_1, W_2, b_2, ...``, each weight row-major, which is the order of
``torch.nn.Sequential.parameters()``.

Examples:
    >>> arch = mlp(2, [3], 1)
    >>> arch.widths, arch.n_params
    ((2, 3, 1), 13)
    >>> params = init_params(arch, batch=4, seed=0)
    >>> forward(arch, params, np.zeros((5, 2))).shape
    (4, 5, 1)
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator, Mapping, Sequence
from fractions import Fraction
from typing import Any

import flint
import jax
import jax.numpy as jnp
import numpy as np

from cellscape._backend import fmpq_matrix, fmpq_to_fraction, to_numpy
from cellscape._validation import check_int, invalid
from cellscape.activations import PiecewiseLinear, parse_activation

__all__ = [
    "Architecture",
    "Params",
    "ExactParams",
    "mlp",
    "init_params",
    "as_params",
    "as_inputs",
    "flatten_params",
    "unflatten_params",
    "forward",
    "pre_activations",
    "exact_params",
    "forward_exact",
    "pre_activations_exact",
    "make_rng",
]


def make_rng(seed: int | np.random.Generator | None, *, func: str = "make_rng") -> np.random.Generator:
    """Normalise a seed (int), a ``numpy.random.Generator`` or ``None`` (fresh entropy) to a Generator.

    Raises:
        InvalidInputError: for anything else.
    """
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is None:
        return np.random.default_rng()
    if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool) and seed >= 0:
        return np.random.default_rng(int(seed))
    raise invalid("seed", func, "a non-negative int, a numpy Generator or None", seed)


@dataclasses.dataclass(frozen=True)
class Architecture:
    """A fully-connected architecture.

    Args:
        widths: ``(d_0, d_1, ..., d_L)``, input width first and output width last.
        activations: one :class:`~cellscape.activations.PiecewiseLinear` per hidden layer (``L - 1`` of them).
        bias: one flag per layer (``L`` of them): whether layer ``l`` has a bias ``b_l``.

    Use :func:`mlp` to build one from friendlier arguments.
    """

    widths: tuple[int, ...]
    activations: tuple[PiecewiseLinear, ...]
    bias: tuple[bool, ...]

    def __post_init__(self) -> None:
        func = "Architecture"
        widths = tuple(self.widths)
        if len(widths) < 2:
            raise invalid("widths", func, "at least an input and an output width", widths)
        for w in widths:
            check_int(w, name="widths", func=func, minimum=1)
        acts = tuple(self.activations)
        if len(acts) != len(widths) - 2:
            raise invalid(
                "activations", func, f"{len(widths) - 2} activations (one per hidden layer)", f"{len(acts)}",
                raw=True,
            )
        if not all(isinstance(a, PiecewiseLinear) for a in acts):
            raise invalid("activations", func, "PiecewiseLinear instances", acts)
        bias = tuple(bool(b) for b in self.bias)
        if len(bias) != len(widths) - 1:
            raise invalid("bias", func, f"{len(widths) - 1} flags (one per layer)", f"{len(bias)}", raw=True)
        object.__setattr__(self, "widths", tuple(int(w) for w in widths))
        object.__setattr__(self, "activations", acts)
        object.__setattr__(self, "bias", bias)

    @property
    def n_layers(self) -> int:
        """Number of affine layers ``L`` (hidden layers plus the output layer)."""
        return len(self.widths) - 1

    @property
    def d_in(self) -> int:
        return self.widths[0]

    @property
    def d_out(self) -> int:
        return self.widths[-1]

    @property
    def hidden_widths(self) -> tuple[int, ...]:
        return self.widths[1:-1]

    def layer_shapes(self) -> list[tuple[tuple[int, int], tuple[int, ...] | None]]:
        """``[(W_l shape, b_l shape or None), ...]`` for one network."""
        return [
            ((self.widths[l + 1], self.widths[l]), (self.widths[l + 1],) if self.bias[l] else None)
            for l in range(self.n_layers)
        ]

    @property
    def n_params(self) -> int:
        """Number of scalar parameters of one network."""
        return sum(w[0] * w[1] + (b[0] if b else 0) for w, b in self.layer_shapes())

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready description (activations as specification strings)."""
        return {"widths": list(self.widths), "activations": [a.spec for a in self.activations],
                "bias": list(self.bias)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Architecture:
        """Inverse of :meth:`to_dict`."""
        return cls(tuple(data["widths"]), tuple(parse_activation(a) for a in data["activations"]),
                   tuple(data["bias"]))

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    def describe(self) -> str:
        """A one-line human description such as ``2-16-1 relu, biases``."""
        acts = sorted({a.spec for a in self.activations}) or ["(no hidden layer)"]
        biases = "biases" if all(self.bias) else ("no biases" if not any(self.bias) else f"bias {self.bias}")
        return "-".join(map(str, self.widths)) + f" {'/'.join(acts)}, {biases}"


def mlp(
    d_in: int,
    hidden: Sequence[int] | int,
    d_out: int = 1,
    *,
    activation: str | PiecewiseLinear | Sequence[str | PiecewiseLinear] = "relu",
    bias: bool | Sequence[bool] = True,
) -> Architecture:
    """Build an :class:`Architecture` of the given hidden widths.

    Args:
        d_in: input width ``d_0``.
        hidden: hidden widths ``d_1..d_{L-1}`` (an int for one hidden layer; ``[]`` for an affine model).
        d_out: output width ``d_L``.
        activation: one activation for every hidden layer, or one per hidden layer (objects or specification
            strings, see :func:`~cellscape.activations.parse_activation`).
        bias: one flag for every layer or one per layer.

    Raises:
        InvalidInputError: for a width below 1 or mismatched per-layer lists.
    """
    func = "mlp"
    d_in = check_int(d_in, name="d_in", func=func, minimum=1)
    d_out = check_int(d_out, name="d_out", func=func, minimum=1)
    hidden = [hidden] if isinstance(hidden, (int, np.integer)) else list(hidden)
    hidden = [check_int(h, name="hidden", func=func, minimum=1) for h in hidden]
    if isinstance(activation, (str, PiecewiseLinear)):
        acts = tuple(parse_activation(activation) for _ in hidden)
    else:
        acts = tuple(parse_activation(a) for a in activation)
        if len(acts) != len(hidden):
            raise invalid("activation", func, f"{len(hidden)} activations (one per hidden layer)",
                          f"{len(acts)}", raw=True)
    n_layers = len(hidden) + 1
    if isinstance(bias, (bool, np.bool_)):
        flags = (bool(bias),) * n_layers
    else:
        flags = tuple(bool(b) for b in bias)
        if len(flags) != n_layers:
            raise invalid("bias", func, f"{n_layers} flags (one per layer)", f"{len(flags)}", raw=True)
    return Architecture((d_in, *hidden, d_out), acts, flags)


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class Params:
    """Parameters of a batch of ``B`` networks of one architecture (a JAX pytree).

    Attributes:
        weights: ``L`` arrays, ``weights[l]`` of shape ``(B, d_{l+1}, d_l)``.
        biases: ``L`` entries, an array of shape ``(B, d_{l+1})`` or ``None`` where the layer has no bias.
    """

    weights: tuple[Any, ...]
    biases: tuple[Any, ...]

    @property
    def batch_size(self) -> int:
        return int(self.weights[0].shape[0])

    def layers(self) -> Iterator[tuple[Any, Any]]:
        """Iterate over ``(W_l, b_l)`` pairs (batched)."""
        return iter(zip(self.weights, self.biases))

    def __getitem__(self, index: Any) -> Params:
        """Select networks, keeping the batch axis (an int selects a batch of one)."""
        if isinstance(index, (int, np.integer)):
            index = slice(int(index), int(index) + 1) if index != -1 else slice(-1, None)
        return Params(tuple(w[index] for w in self.weights),
                      tuple(None if b is None else b[index] for b in self.biases))

    def numpy(self) -> Params:
        """The same parameters as float64 numpy arrays."""
        return Params(tuple(np.asarray(w, dtype=np.float64) for w in self.weights),
                      tuple(None if b is None else np.asarray(b, dtype=np.float64) for b in self.biases))


def init_params(
    arch: Architecture, *, batch: int = 1, seed: int | np.random.Generator | None = 0
) -> Params:
    r"""Random parameters for ``batch`` networks, reproducible bit for bit from ``seed``.

    Every weight and bias of layer ``l`` is drawn from :math:`U(-1/\sqrt{d_{l-1}}, 1/\sqrt{d_{l-1}})`, the
    default initialisation of ``torch.nn.Linear``. The draws come from ``numpy.random.Generator`` (PCG64), one
    layer after the other, weights before biases, in batch order.

    Raises:
        InvalidInputError: for a batch size below 1 or a bad seed.
    """
    batch = check_int(batch, name="batch", func="init_params", minimum=1)
    rng = make_rng(seed, func="init_params")
    weights, biases = [], []
    for (w_shape, b_shape) in arch.layer_shapes():
        bound = 1.0 / np.sqrt(w_shape[1])
        weights.append(rng.uniform(-bound, bound, size=(batch, *w_shape)))
        biases.append(None if b_shape is None else rng.uniform(-bound, bound, size=(batch, *b_shape)))
    return Params(tuple(weights), tuple(biases))


# ---------------------------------------------------------------------------------------------- conversion
def _layer_arrays(value: Any) -> list[tuple[Any, Any]] | None:
    """Recognise the layered forms a user may pass: Params, [(W, b), ...], {'W1':..., 'b1':...}."""
    if isinstance(value, Params):
        return list(value.layers())
    if isinstance(value, Mapping):
        if "W1" not in value:
            return None
        layers, l = [], 1
        while f"W{l}" in value:
            layers.append((value[f"W{l}"], value.get(f"b{l}")))
            l += 1
        return layers
    if isinstance(value, (list, tuple)) and value and all(isinstance(v, (list, tuple)) and len(v) == 2
                                                          for v in value):
        return [tuple(v) for v in value]
    return None


def as_params(arch: Architecture, value: Any, *, name: str = "params", func: str = "as_params") -> Params:
    """Convert any accepted parameter form to float64 :class:`Params` with a batch axis, checking shapes.

    Accepted: :class:`Params`; a list of ``(W, b)`` pairs; a mapping ``{'W1': ..., 'b1': ..., ...}``; a flat
    vector of length ``n_params`` or a ``(B, n_params)`` matrix. Arrays may be numpy, JAX or torch, with or
    without the leading batch axis (all layers alike).

    Raises:
        InvalidInputError: for wrong shapes, missing or extra biases, or non-finite values.
    """
    layers = _layer_arrays(value)
    if layers is None:
        flat = to_numpy(value, name=name, func=func)
        if flat.ndim == 1:
            flat = flat[None, :]
        if flat.ndim != 2 or flat.shape[1] != arch.n_params:
            raise invalid(name, func, f"layers (W, b) or a flat vector of length {arch.n_params} "
                          "(or a (B, n_params) matrix)", f"an array of shape {flat.shape}", raw=True)
        return unflatten_params(arch, flat)
    if len(layers) != arch.n_layers:
        raise invalid(name, func, f"{arch.n_layers} layers", f"{len(layers)} layers", raw=True)
    if isinstance(value, Params) and all(isinstance(w, jax.Array) for w in value.weights):
        arrays = layers  # JAX arrays or tracers (inside jit/grad): checked for shape only, never copied
    else:
        arrays = [(to_numpy(w, name=f"{name}: W{l + 1}", func=func),
                   None if b is None else to_numpy(b, name=f"{name}: b{l + 1}", func=func))
                  for l, (w, b) in enumerate(layers)]
    batched = arrays[0][0].ndim == 3
    weights, biases = [], []
    for l, ((w, b), (w_shape, b_shape)) in enumerate(zip(arrays, arch.layer_shapes())):
        w = w if batched else w[None]
        if w.ndim != 3 or tuple(w.shape[1:]) != w_shape:
            raise invalid(f"{name}: W{l + 1}", func, f"an array of shape (B, {w_shape[0]}, {w_shape[1]}) or "
                          f"{w_shape}", f"shape {tuple(np.shape(layers[l][0]))}", raw=True)
        if b_shape is None:
            if b is not None:
                raise invalid(f"{name}: b{l + 1}", func, "None (the architecture has no bias in this layer)",
                              f"an array of shape {tuple(np.shape(b))}", raw=True)
        else:
            if b is None:
                raise invalid(f"{name}: b{l + 1}", func, f"an array of shape (B, {b_shape[0]})", "None", raw=True)
            b = b if batched else b[None]
            if b.ndim != 2 or tuple(b.shape) != (w.shape[0], b_shape[0]):
                raise invalid(f"{name}: b{l + 1}", func, f"an array of shape ({w.shape[0]}, {b_shape[0]})",
                              f"shape {tuple(np.shape(layers[l][1]))}", raw=True)
        if weights and w.shape[0] != weights[0].shape[0]:
            raise invalid(name, func, "one batch size for every layer", f"{w.shape[0]} in layer {l + 1}", raw=True)
        weights.append(w)
        biases.append(b)
    return Params(tuple(weights), tuple(biases))


def as_inputs(arch: Architecture, X: Any, *, name: str = "X", func: str = "forward") -> np.ndarray:
    """Convert inputs to a float64 ``(n, d_in)`` array, checking width and finiteness.

    Raises:
        InvalidInputError: for a wrong shape, empty data or non-finite values.
    """
    X = to_numpy(X, name=name, func=func)
    if X.ndim != 2 or X.shape[1] != arch.d_in:
        raise invalid(name, func, f"an array of shape (n_samples, {arch.d_in})", f"shape {X.shape}", raw=True)
    if X.shape[0] == 0:
        raise invalid(name, func, "at least one sample", "0 samples", raw=True)
    return X


def flatten_params(arch: Architecture, params: Params) -> Any:
    """The ``(B, n_params)`` flat view, ordered ``W_1, b_1, W_2, b_2, ...`` (weights row-major)."""
    xp = jnp if isinstance(params.weights[0], jax.Array) else np
    parts = []
    for w, b in params.layers():
        parts.append(w.reshape(w.shape[0], -1))
        if b is not None:
            parts.append(b)
    return xp.concatenate(parts, axis=1)


def unflatten_params(arch: Architecture, flat: Any) -> Params:
    """Inverse of :func:`flatten_params` (``flat`` of shape ``(B, n_params)``)."""
    B = flat.shape[0]
    weights, biases, offset = [], [], 0
    for w_shape, b_shape in arch.layer_shapes():
        size = w_shape[0] * w_shape[1]
        weights.append(flat[:, offset:offset + size].reshape(B, *w_shape))
        offset += size
        if b_shape is None:
            biases.append(None)
        else:
            biases.append(flat[:, offset:offset + b_shape[0]])
            offset += b_shape[0]
    return Params(tuple(weights), tuple(biases))


# ---------------------------------------------------------------------------------------------- float forward
def _pre_activations_single(arch: Architecture, weights: Sequence[Any], biases: Sequence[Any], X: Any):
    """Pre-activations ``z^1..z^L`` of one network (the kernel that is vmapped over the batch)."""
    zs, a = [], X
    for l, (w, b) in enumerate(zip(weights, biases)):
        z = a @ w.T
        if b is not None:
            z = z + b
        zs.append(z)
        if l < arch.n_layers - 1:
            a = arch.activations[l](z)
    return tuple(zs)


def batched_pre_activations(arch: Architecture, params: Params, X: Any) -> tuple[Any, ...]:
    """:func:`pre_activations` without conversion or checks, for use inside jitted code."""
    return jax.vmap(lambda w, b: _pre_activations_single(arch, w, b, X))(params.weights, params.biases)


_jit_pre_activations = jax.jit(batched_pre_activations, static_argnums=0)


def pre_activations(arch: Architecture, params: Any, X: Any) -> tuple[jax.Array, ...]:
    """Pre-activations ``z^1, ..., z^L`` of every network, each of shape ``(B, n, d_l)`` (the last is the output).

    Raises:
        InvalidInputError: for parameters or inputs of the wrong shape.
    """
    params = as_params(arch, params, func="pre_activations")
    X = as_inputs(arch, X, func="pre_activations")
    return _jit_pre_activations(arch, params, X)


def forward(arch: Architecture, params: Any, X: Any) -> jax.Array:
    """Outputs of every network, shape ``(B, n, d_out)``, float64.

    Raises:
        InvalidInputError: for parameters or inputs of the wrong shape.
    """
    return pre_activations(arch, params, X)[-1]


# ---------------------------------------------------------------------------------------------- exact forward
@dataclasses.dataclass(frozen=True)
class ExactParams:
    """Parameters of *one* network in exact rationals: ``weights[l]`` a ``flint.fmpq_mat`` of shape
    ``(d_l, d_{l-1})``, ``biases[l]`` an ``fmpq_mat`` of shape ``(d_l, 1)`` or ``None``."""

    weights: tuple[flint.fmpq_mat, ...]
    biases: tuple[flint.fmpq_mat | None, ...]

    def to_fractions(self) -> list[tuple[list[list[Fraction]], list[Fraction] | None]]:
        """The layers as nested lists of :class:`fractions.Fraction`."""
        out = []
        for w, b in zip(self.weights, self.biases):
            rows = [[fmpq_to_fraction(w[i, j]) for j in range(w.ncols())] for i in range(w.nrows())]
            col = None if b is None else [fmpq_to_fraction(b[i, 0]) for i in range(b.nrows())]
            out.append((rows, col))
        return out

    def to_params(self) -> Params:
        """Round to float64 :class:`Params` with a batch of one."""
        layers = self.to_fractions()
        return Params(tuple(np.array([[float(v) for v in row] for row in w], dtype=np.float64)[None]
                            for w, _ in layers),
                      tuple(None if b is None else np.array([float(v) for v in b], dtype=np.float64)[None]
                            for _, b in layers))


def exact_params(arch: Architecture, value: Any, *, index: int = 0) -> ExactParams:
    """Exact rational parameters of one network.

    ``value`` is :class:`ExactParams`, or any form :func:`as_params` accepts (floats are taken at their exact
    binary value; network ``index`` of a batch is used), or a list of ``(W, b)`` pairs holding ints, strings
    such as ``"1/3"``, :class:`fractions.Fraction` or ``flint.fmpq``.

    Raises:
        InvalidInputError: for wrong shapes or values that are not finite rationals.
    """
    if isinstance(value, ExactParams):
        return value
    layers = _layer_arrays(value)
    exact_input = layers is not None and any(
        isinstance(x, (list, tuple, flint.fmpq_mat)) or (isinstance(x, np.ndarray) and x.dtype == object)
        for pair in layers for x in pair if x is not None)
    if not exact_input:
        params = as_params(arch, value, func="exact_params").numpy()
        layers = [(w[index], None if b is None else b[index]) for w, b in params.layers()]
    if len(layers) != arch.n_layers:
        raise invalid("value", "exact_params", f"{arch.n_layers} layers", f"{len(layers)}", raw=True)
    weights, biases = [], []
    for l, ((w, b), (w_shape, b_shape)) in enumerate(zip(layers, arch.layer_shapes())):
        wm = fmpq_matrix(w)
        if (wm.nrows(), wm.ncols()) != w_shape:
            raise invalid(f"W{l + 1}", "exact_params", f"shape {w_shape}", f"({wm.nrows()}, {wm.ncols()})",
                          raw=True)
        weights.append(wm)
        if b_shape is None:
            biases.append(None)
        else:
            bm = fmpq_matrix(np.asarray(b, dtype=object).reshape(-1, 1) if not isinstance(b, flint.fmpq_mat)
                             else b)
            if (bm.nrows(), bm.ncols()) != (b_shape[0], 1):
                raise invalid(f"b{l + 1}", "exact_params", f"length {b_shape[0]}", f"{bm.nrows()}", raw=True)
            biases.append(bm)
    return ExactParams(tuple(weights), tuple(biases))


def _apply_exact(act: PiecewiseLinear, Z: flint.fmpq_mat) -> flint.fmpq_mat:
    slopes = [flint.fmpq(s.numerator, s.denominator) for s in act.slopes]
    intercepts = [flint.fmpq(c.numerator, c.denominator) for c in act.intercepts]
    bps = [flint.fmpq(p.numerator, p.denominator) for p in act.breakpoints]
    out = flint.fmpq_mat(Z.nrows(), Z.ncols())
    for i in range(Z.nrows()):
        for j in range(Z.ncols()):
            z = Z[i, j]
            k = sum(1 for p in bps if p <= z)
            out[i, j] = slopes[k] * z + intercepts[k]
    return out


def pre_activations_exact(arch: Architecture, params: Any, X: Any) -> tuple[flint.fmpq_mat, ...]:
    """Exact pre-activations ``z^1..z^L`` of one network, each an ``fmpq_mat`` of shape ``(n, d_l)``.

    ``X`` may hold floats (taken exactly), ints, strings or Fractions, or be an ``fmpq_mat``.

    Raises:
        InvalidInputError: for wrong shapes or non-rational values.
    """
    p = exact_params(arch, params)
    Xq = fmpq_matrix(X)
    if Xq.ncols() != arch.d_in:
        raise invalid("X", "pre_activations_exact", f"{arch.d_in} columns", f"{Xq.ncols()}", raw=True)
    ones = flint.fmpq_mat(1, Xq.nrows(), [1] * Xq.nrows())
    zs, a = [], Xq
    for l, (w, b) in enumerate(zip(p.weights, p.biases)):
        z = a * w.transpose()
        if b is not None:
            z = z + (b * ones).transpose()
        zs.append(z)
        if l < arch.n_layers - 1:
            a = _apply_exact(arch.activations[l], z)
    return tuple(zs)


def forward_exact(arch: Architecture, params: Any, X: Any) -> flint.fmpq_mat:
    """Exact outputs of one network, an ``fmpq_mat`` of shape ``(n, d_out)``.

    Raises:
        InvalidInputError: for wrong shapes or non-rational values.

    Examples:
        >>> arch = mlp(1, [1], 1)
        >>> forward_exact(arch, [([["1/3"]], ["0"]), ([[3]], [1])], [[2], [-2]])
        [3]
        [1]
    """
    return pre_activations_exact(arch, params, X)[-1]

