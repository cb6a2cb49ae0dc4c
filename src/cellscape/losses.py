r"""Losses and the empirical risk :math:`R(\theta) = \frac1n \sum_i \ell(y_i, \hat y_i(\theta))` (always the mean).

=====================  =====================================================  ============  =================
name                   :math:`\ell(y, \hat y)`                                 targets       piecewise linear
=====================  =====================================================  ============  =================
``squared``            :math:`\tfrac12 \|\hat y - y\|^2`                        real          no
``absolute``           :math:`\sum_k |\hat y_k - y_k|`                          real          yes
``huber:DELTA``        :math:`\sum_k H_\delta(\hat y_k - y_k)`                  real          no (piecewise)
``hinge``              :math:`\max(0, 1 - y \hat y)`                             -1 / +1       yes
``weston_watkins``     :math:`\sum_{j \ne y} \max(0, 1 + \hat y_j - \hat y_y)`  class index   yes
``crammer_singer``     :math:`\max(0, 1 + \max_{j \ne y} \hat y_j - \hat y_y)`  class index   yes
``logistic``           :math:`\log(1 + e^{-y \hat y})`                           -1 / +1       no
``cross_entropy``      :math:`\log \sum_j e^{\hat y_j} - \hat y_y`               class index   no
=====================  =====================================================  ============  =================

with :math:`H_\delta(r) = r^2/2` for :math:`|r| \le \delta` and :math:`\delta(|r| - \delta/2)` otherwise.
Targets are always stored as an array of shape ``(n, k)``: real targets ``(n, d_out)``, binary labels and class
indices ``(n, 1)``.

A *piecewise* loss (absolute, Huber, the hinges) has regimes in the output, its **loss pieces**; on a fixed
piece it is a polynomial in :math:`\hat y`. Cells of parameter space are refined by these pieces (see
:mod:`cellscape.patterns`), and :meth:`Loss.restricted` continues the loss of one piece as that polynomial.

Examples:
    >>> float(risk(mlp(1, [], 1), [([[0.0]], [0.0])], [[1.0], [2.0]], [[1.0], [3.0]], loss="squared")[0])
    2.5
"""

from __future__ import annotations

import dataclasses
import enum
import math
from fractions import Fraction
from typing import Any

import flint
import jax
import jax.numpy as jnp
import numpy as np

from cellscape._backend import fmpq_matrix, fmpq_to_fraction, to_fraction, to_numpy
from cellscape._validation import check_enum, invalid
from cellscape.exceptions import ExactArithmeticError, InvalidInputError
from cellscape.networks import (
    Architecture,
    as_inputs,
    as_params,
    batched_pre_activations,
    forward_exact,
    mlp,  # noqa: F401  (doctests)
    pre_activations,
)

__all__ = ["LossName", "Loss", "parse_loss", "as_targets", "risk", "risk_exact", "per_sample_losses"]

_SQRT2 = math.sqrt(2.0)


class LossName(str, enum.Enum):
    """The supported losses (see the module table)."""

    SQUARED = "squared"
    ABSOLUTE = "absolute"
    HUBER = "huber"
    HINGE = "hinge"
    WESTON_WATKINS = "weston_watkins"
    CRAMMER_SINGER = "crammer_singer"
    LOGISTIC = "logistic"
    CROSS_ENTROPY = "cross_entropy"


class TargetKind(str, enum.Enum):
    REAL = "real"
    BINARY = "binary"
    CLASS = "class"


_TARGETS = {
    LossName.SQUARED: TargetKind.REAL, LossName.ABSOLUTE: TargetKind.REAL, LossName.HUBER: TargetKind.REAL,
    LossName.HINGE: TargetKind.BINARY, LossName.LOGISTIC: TargetKind.BINARY,
    LossName.WESTON_WATKINS: TargetKind.CLASS, LossName.CRAMMER_SINGER: TargetKind.CLASS,
    LossName.CROSS_ENTROPY: TargetKind.CLASS,
}
_PIECEWISE_LINEAR = {LossName.ABSOLUTE, LossName.HINGE, LossName.WESTON_WATKINS, LossName.CRAMMER_SINGER}


def _one_hot(labels: Any, n_classes: int) -> Any:
    return jax.nn.one_hot(labels, n_classes, dtype=jnp.float64)


@dataclasses.dataclass(frozen=True)
class Loss:
    """A loss function of the output, evaluated per sample.

    Args:
        name: which loss (:class:`LossName` or its string value).
        delta: the Huber threshold (ignored by the other losses), exact rational.
    """

    name: LossName
    delta: Fraction = Fraction(1)

    def __post_init__(self) -> None:
        object.__setattr__(self, "name", check_enum(self.name, LossName, name="loss", func="Loss"))
        delta = to_fraction(self.delta)
        if delta <= 0:
            raise invalid("delta", "Loss", "a positive number", str(delta))
        object.__setattr__(self, "delta", delta)

    @property
    def spec(self) -> str:
        return f"huber:{self.delta}" if self.name is LossName.HUBER else self.name.value

    @property
    def target_kind(self) -> TargetKind:
        return _TARGETS[self.name]

    @property
    def is_piecewise_linear(self) -> bool:
        """True when the loss is itself piecewise linear in the output (absolute, hinge, multiclass hinges)."""
        return self.name in _PIECEWISE_LINEAR

    @property
    def is_piecewise(self) -> bool:
        """True when the loss has output regimes (loss pieces) that refine the cells: the piecewise-linear losses
        and Huber."""
        return self.is_piecewise_linear or self.name is LossName.HUBER

    @property
    def is_exact(self) -> bool:
        """True when the loss of rational outputs is rational (all but logistic and cross-entropy)."""
        return self.name not in (LossName.LOGISTIC, LossName.CROSS_ENTROPY)

    def output_width(self, y: Any) -> int:
        """The network output width these targets call for: ``k`` for real targets ``(n, k)``, 1 for binary
        labels, the number of classes (largest index + 1) for class indices."""
        y = np.asarray(y)
        y = y[:, None] if y.ndim == 1 else y
        if self.target_kind is TargetKind.REAL:
            return int(y.shape[1])
        if self.target_kind is TargetKind.BINARY:
            return 1
        return int(np.max(y)) + 1 if y.size else 1

    # ------------------------------------------------------------------------------------------- float, JAX
    def per_sample(self, yhat: Any, y: Any) -> Any:
        """Loss of each sample: ``yhat`` of shape ``(..., n, d_out)``, ``y`` of shape ``(n, k)``; returns
        ``(..., n)``."""
        name = self.name
        if name is LossName.SQUARED:
            return 0.5 * jnp.sum((yhat - y) ** 2, axis=-1)
        if name is LossName.ABSOLUTE:
            return jnp.sum(jnp.abs(yhat - y), axis=-1)
        if name is LossName.HUBER:
            d = float(self.delta)
            r = jnp.abs(yhat - y)
            return jnp.sum(jnp.where(r <= d, 0.5 * r**2, d * (r - 0.5 * d)), axis=-1)
        if name is LossName.HINGE:
            return jnp.maximum(0.0, 1.0 - y[:, 0] * yhat[..., 0])
        if name is LossName.LOGISTIC:
            return jnp.logaddexp(0.0, -y[:, 0] * yhat[..., 0])
        onehot = _one_hot(y[:, 0].astype(jnp.int32), yhat.shape[-1])
        f_y = jnp.sum(yhat * onehot, axis=-1)
        if name is LossName.CROSS_ENTROPY:
            return jax.nn.logsumexp(yhat, axis=-1) - f_y
        slack = (1.0 + yhat - f_y[..., None]) * (1.0 - onehot) - 1e300 * onehot  # j = y excluded
        if name is LossName.WESTON_WATKINS:
            return jnp.sum(jnp.maximum(slack, 0.0), axis=-1)
        return jnp.maximum(jnp.max(slack, axis=-1), 0.0)  # Crammer-Singer

    def pieces(self, yhat: Any, y: Any) -> np.ndarray:
        """The loss piece of each sample, an int array of shape ``(..., n, m)`` (``m = 0`` for smooth losses);
        numpy for numpy input, JAX (traceable, for jit and vmap) for JAX input.

        Encodings: absolute ``1`` where ``yhat_k >= y_k`` else ``0``; Huber ``0`` (``r < -delta``), ``1``
        (``|r| <= delta``), ``2`` (``r > delta``); hinge ``1`` when ``1 - y yhat > 0``; Weston-Watkins per class
        ``1`` when ``1 + yhat_j - yhat_y > 0`` (``0`` for ``j = y``); Crammer-Singer ``j* + 1`` when the hinge
        is active with ``j*`` the largest other class (ties to the smallest index), else ``0``.
        """
        xp = jnp if isinstance(yhat, jax.Array) else np  # JAX arrays (traced too) stay in JAX
        yhat = xp.asarray(yhat, dtype=xp.float64)
        y = xp.asarray(y, dtype=xp.float64)
        name = self.name
        if not self.is_piecewise:
            return xp.zeros(yhat.shape[:-1] + (0,), dtype=xp.int64)
        if name is LossName.ABSOLUTE:
            return (yhat >= y).astype(xp.int64)
        if name is LossName.HUBER:
            r = yhat - y
            d = float(self.delta)
            return xp.where(r < -d, 0, xp.where(r > d, 2, 1)).astype(xp.int64)
        if name is LossName.HINGE:
            return (1.0 - y[:, :1] * yhat > 0).astype(xp.int64)
        labels = y[:, 0].astype(xp.int64)
        n_classes = yhat.shape[-1]
        onehot = xp.eye(n_classes, dtype=bool)[labels]
        f_y = xp.take_along_axis(yhat, xp.broadcast_to(labels[:, None], yhat.shape[:-1] + (1,)), axis=-1)
        slack = xp.where(onehot, -xp.inf, 1.0 + yhat - f_y)
        if name is LossName.WESTON_WATKINS:
            return (slack > 0).astype(xp.int64)
        j_star = xp.argmax(slack, axis=-1)
        active = xp.max(slack, axis=-1) > 0
        return xp.where(active, j_star + 1, 0)[..., None].astype(xp.int64)

    def kink_margins(self, yhat: Any, y: Any) -> np.ndarray:
        r"""For each sample a radius :math:`\rho_i` such that every output change :math:`\|\Delta \hat y_i\|_2
        < \rho_i` keeps the sample in its loss piece; ``inf`` for smooth losses. Shape ``(..., n)``."""
        yhat = np.asarray(yhat, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        name = self.name
        if not self.is_piecewise:
            return np.full(yhat.shape[:-1], np.inf)
        if name is LossName.ABSOLUTE:
            return np.min(np.abs(yhat - y), axis=-1)
        if name is LossName.HUBER:
            return np.min(np.abs(np.abs(yhat - y) - float(self.delta)), axis=-1)
        if name is LossName.HINGE:
            return np.abs(1.0 - y[:, 0] * yhat[..., 0])
        labels = y[:, 0].astype(np.int64)
        onehot = np.eye(yhat.shape[-1], dtype=bool)[labels]
        f_y = np.take_along_axis(yhat, np.broadcast_to(labels[:, None], yhat.shape[:-1] + (1,)), axis=-1)
        slack = np.where(onehot, np.nan, 1.0 + yhat - f_y)
        if name is LossName.WESTON_WATKINS:  # each term moves by at most sqrt(2) |dyhat|
            return np.nanmin(np.abs(slack), axis=-1) / _SQRT2 if yhat.shape[-1] > 1 else np.full(yhat.shape[:-1],
                                                                                                  np.inf)
        if yhat.shape[-1] == 1:
            return np.full(yhat.shape[:-1], np.inf)
        top = np.nanmax(slack, axis=-1)
        margin = np.abs(top) / _SQRT2
        # when active, the maximising class must stay the maximiser: gaps to the other non-target classes
        gaps = top[..., None] - slack
        gaps = np.where(np.isnan(gaps) | (gaps == 0), np.inf, gaps)
        second = np.where(np.sum(slack == top[..., None], axis=-1) > 1, 0.0, np.min(gaps, axis=-1))
        return np.where(top > 0, np.minimum(margin, second / _SQRT2), margin)

    def restricted(self, yhat: Any, y: Any, pieces: Any) -> Any:
        """The loss of each sample as the polynomial of its given piece (``pieces`` from :meth:`pieces`),
        continued outside that piece; equal to :meth:`per_sample` where the pieces are the true ones."""
        name = self.name
        if not self.is_piecewise:
            return self.per_sample(yhat, y)
        if name is LossName.ABSOLUTE:
            return jnp.sum((2.0 * pieces - 1.0) * (yhat - y), axis=-1)
        if name is LossName.HUBER:
            d = float(self.delta)
            r = yhat - y
            sign = pieces - 1.0  # -1, 0, +1
            outer = d * (sign * r - 0.5 * d)
            return jnp.sum(jnp.where(pieces == 1, 0.5 * r**2, outer), axis=-1)
        if name is LossName.HINGE:
            return pieces[..., 0] * (1.0 - y[:, 0] * yhat[..., 0])
        n_classes = yhat.shape[-1]
        onehot = _one_hot(y[:, 0].astype(jnp.int32), n_classes)
        f_y = jnp.sum(yhat * onehot, axis=-1)
        if name is LossName.WESTON_WATKINS:
            return jnp.sum(pieces * (1.0 + yhat - f_y[..., None]), axis=-1)
        j_star = (pieces[..., 0] - 1).astype(jnp.int32)
        f_j = jnp.sum(yhat * _one_hot(jnp.maximum(j_star, 0), n_classes), axis=-1)
        return jnp.where(j_star >= 0, 1.0 + f_j - f_y, 0.0)

    # ------------------------------------------------------------------------------------------- exact
    def per_sample_exact(self, yhat: list[flint.fmpq], y: list[flint.fmpq]) -> flint.fmpq:
        """Exact loss of one sample (lists of rationals).

        Raises:
            ExactArithmeticError: for logistic and cross-entropy, whose values are not rational.
        """
        name = self.name
        if not self.is_exact:
            raise ExactArithmeticError(f"the {name.value} loss takes logarithms: it has no exact rational value; "
                                       "use a float computation or a piecewise-polynomial loss")
        zero = flint.fmpq(0)
        if name is LossName.SQUARED:
            return sum(((a - b) ** 2 for a, b in zip(yhat, y)), zero) / 2
        if name is LossName.ABSOLUTE:
            return sum((abs(a - b) for a, b in zip(yhat, y)), zero)
        if name is LossName.HUBER:
            d = flint.fmpq(self.delta.numerator, self.delta.denominator)
            total = zero
            for a, b in zip(yhat, y):
                r = abs(a - b)
                total += r * r / 2 if r <= d else d * (r - d / 2)
            return total
        if name is LossName.HINGE:
            return max(zero, 1 - y[0] * yhat[0])
        label = int(y[0].p)
        others = [1 + yhat[j] - yhat[label] for j in range(len(yhat)) if j != label]
        if name is LossName.WESTON_WATKINS:
            return sum((max(zero, s) for s in others), zero)
        return max([zero, *others])

    def pieces_exact(self, yhat: list[flint.fmpq], y: list[flint.fmpq]) -> list[int]:
        """The loss pieces of one sample in exact arithmetic, encoded as in :meth:`pieces`."""
        name = self.name
        if not self.is_piecewise:
            return []
        if name is LossName.ABSOLUTE:
            return [int(a >= b) for a, b in zip(yhat, y)]
        if name is LossName.HUBER:
            d = flint.fmpq(self.delta.numerator, self.delta.denominator)
            return [0 if a - b < -d else (2 if a - b > d else 1) for a, b in zip(yhat, y)]
        if name is LossName.HINGE:
            return [int(1 - y[0] * yhat[0] > 0)]
        label = int(y[0].p)
        slack = {j: 1 + yhat[j] - yhat[label] for j in range(len(yhat)) if j != label}
        if name is LossName.WESTON_WATKINS:
            return [int(j != label and slack[j] > 0) for j in range(len(yhat))]
        if not slack:
            return [0]
        top = max(slack.values())
        j_star = min(j for j, s in slack.items() if s == top)
        return [j_star + 1 if top > 0 else 0]

    def restricted_exact(self, yhat: list[flint.fmpq], y: list[flint.fmpq], pieces: list[int]) -> flint.fmpq:
        """Exact counterpart of :meth:`restricted` for one sample.

        Raises:
            ExactArithmeticError: for logistic and cross-entropy.
        """
        name = self.name
        if not self.is_piecewise:
            return self.per_sample_exact(yhat, y)
        zero = flint.fmpq(0)
        if name is LossName.ABSOLUTE:
            return sum(((2 * p - 1) * (a - b) for a, b, p in zip(yhat, y, pieces)), zero)
        if name is LossName.HUBER:
            d = flint.fmpq(self.delta.numerator, self.delta.denominator)
            total = zero
            for a, b, p in zip(yhat, y, pieces):
                r = a - b
                total += r * r / 2 if p == 1 else d * ((p - 1) * r - d / 2)
            return total
        if name is LossName.HINGE:
            return pieces[0] * (1 - y[0] * yhat[0])
        label = int(y[0].p)
        if name is LossName.WESTON_WATKINS:
            return sum((p * (1 + yhat[j] - yhat[label]) for j, p in enumerate(pieces)), zero)
        j_star = pieces[0] - 1
        return 1 + yhat[j_star] - yhat[label] if j_star >= 0 else zero

    def derivative_exact(self, yhat: list[flint.fmpq], y: list[flint.fmpq], pieces: list[int]) -> list[flint.fmpq]:
        """Exact derivative of :meth:`restricted_exact` with respect to each output component (one sample).

        Raises:
            ExactArithmeticError: for logistic and cross-entropy.
        """
        name = self.name
        if not self.is_exact:
            raise ExactArithmeticError(f"the {name.value} loss takes logarithms: its derivative is not rational")
        zero = flint.fmpq(0)
        if name is LossName.SQUARED:
            return [a - b for a, b in zip(yhat, y)]
        if name is LossName.ABSOLUTE:
            return [flint.fmpq(2 * p - 1) for p in pieces]
        if name is LossName.HUBER:
            d = flint.fmpq(self.delta.numerator, self.delta.denominator)
            return [a - b if p == 1 else (p - 1) * d for a, b, p in zip(yhat, y, pieces)]
        if name is LossName.HINGE:
            return [-y[0] * pieces[0]]
        label = int(y[0].p)
        out = [zero] * len(yhat)
        if name is LossName.WESTON_WATKINS:
            for j, p in enumerate(pieces):
                if p:
                    out[j] += 1
                    out[label] -= 1
            return out
        j_star = pieces[0] - 1
        if j_star >= 0:
            out[j_star] += 1
            out[label] -= 1
        return out

    def check_targets(self, y: np.ndarray, d_out: int, *, name: str = "y", func: str = "risk") -> None:
        """Check that targets suit this loss and an output width ``d_out``.

        Raises:
            InvalidInputError: e.g. hinge targets other than -1/+1, or class indices out of range.
        """
        kind = self.target_kind
        if kind is TargetKind.REAL:
            if y.shape[1] != d_out:
                raise invalid(name, func, f"targets of shape (n_samples, {d_out}) for the {self.spec} loss",
                              f"shape {y.shape}", raw=True)
            return
        if y.shape[1] != 1:
            raise invalid(name, func, f"one label per sample (shape (n_samples,) or (n_samples, 1)) for the "
                          f"{self.spec} loss", f"shape {y.shape}", raw=True)
        if kind is TargetKind.BINARY:
            if d_out != 1:
                raise invalid("d_out", func, f"1 for the {self.spec} loss", d_out)
            bad = ~np.isin(y[:, 0], (-1.0, 1.0))
            if bad.any():
                raise invalid(name, func, f"labels -1 or +1 for the {self.spec} loss",
                              f"{y[bad][0, 0]!r} at sample {int(np.argmax(bad))}", raw=True)
            return
        labels = y[:, 0]
        bad = (labels != np.round(labels)) | (labels < 0) | (labels >= d_out)
        if bad.any():
            raise invalid(name, func, f"class indices in 0..{d_out - 1} for the {self.spec} loss",
                          f"{labels[bad][0]!r} at sample {int(np.argmax(bad))}", raw=True)


def parse_loss(spec: str | Loss | LossName, *, name: str = "loss") -> Loss:
    """A :class:`Loss` from its name, ``huber:DELTA``, or a :class:`Loss`.

    Raises:
        InvalidInputError: for an unknown name.

    Examples:
        >>> parse_loss("huber:0.5").delta
        Fraction(1, 2)
    """
    if isinstance(spec, Loss):
        return spec
    if isinstance(spec, LossName):
        return Loss(spec)
    if not isinstance(spec, str):
        raise invalid(name, "parse_loss", "a loss name", spec)
    head, _, arg = spec.strip().partition(":")
    loss_name = check_enum(head.strip().lower().replace("-", "_"), LossName, name=name, func="parse_loss")
    if arg and loss_name is not LossName.HUBER:
        raise invalid(name, "parse_loss", f"no parameter for the {loss_name.value} loss", spec)
    try:
        return Loss(loss_name, arg.strip()) if arg else Loss(loss_name)
    except InvalidInputError:
        raise invalid(name, "parse_loss", "huber:DELTA with DELTA > 0", spec) from None


def as_targets(y: Any, loss: Loss, d_out: int, n: int, *, name: str = "y", func: str = "risk") -> np.ndarray:
    """Targets as a float64 ``(n, k)`` array, checked against the loss and the sample count.

    Raises:
        InvalidInputError: for a wrong shape, a sample count different from the inputs', or bad labels.
    """
    y = to_numpy(y, name=name, func=func)
    if y.ndim == 1:
        y = y[:, None]
    if y.ndim != 2:
        raise invalid(name, func, "an array of shape (n_samples,) or (n_samples, k)", f"shape {y.shape}", raw=True)
    if y.shape[0] != n:
        raise invalid(name, func, f"{n} targets (one per input sample)", f"{y.shape[0]}", raw=True)
    loss.check_targets(y, d_out, name=name, func=func)
    return y


def batched_risk(arch: Architecture, loss: Loss, params: Any, X: Any, y: Any) -> Any:
    """:func:`risk` without conversion or checks, for use inside jitted code; shape ``(B,)``."""
    return jnp.mean(loss.per_sample(batched_pre_activations(arch, params, X)[-1], y), axis=-1)


_jit_risk = jax.jit(batched_risk, static_argnums=(0, 1))


def per_sample_losses(arch: Architecture, params: Any, X: Any, y: Any, *, loss: str | Loss = "squared") -> Any:
    """The loss of every sample for every network, shape ``(B, n)``.

    Raises:
        InvalidInputError: for inputs, targets or parameters of the wrong shape.
    """
    loss = parse_loss(loss)
    P = as_params(arch, params, func="per_sample_losses")
    X = as_inputs(arch, X, func="per_sample_losses")
    y = as_targets(y, loss, arch.d_out, X.shape[0], func="per_sample_losses")
    return loss.per_sample(pre_activations(arch, P, X)[-1], y)


def risk(arch: Architecture, params: Any, X: Any, y: Any, *, loss: str | Loss = "squared") -> jax.Array:
    """Empirical risk (mean loss) of every network in the batch, shape ``(B,)``, float64.

    Raises:
        InvalidInputError: for inputs, targets or parameters of the wrong shape.
    """
    loss = parse_loss(loss)
    P = as_params(arch, params, func="risk")
    X = as_inputs(arch, X, func="risk")
    y = as_targets(y, loss, arch.d_out, X.shape[0], func="risk")
    return _jit_risk(arch, loss, P, X, y)


def risk_exact(arch: Architecture, params: Any, X: Any, y: Any, *, loss: str | Loss = "squared") -> Fraction:
    """Exact empirical risk of one network in rational arithmetic.

    Raises:
        ExactArithmeticError: for a loss without rational values (logistic, cross-entropy).
        InvalidInputError: for bad shapes or non-rational values.

    Examples:
        >>> arch = mlp(1, [1], 1)
        >>> risk_exact(arch, [([[1]], [0]), ([[1]], [0])], [[1], [-1]], [[0], [0]])
        Fraction(1, 4)
    """
    loss = parse_loss(loss)
    out = forward_exact(arch, params, X)
    Y = fmpq_matrix(np.asarray(y, dtype=object).reshape(out.nrows(), -1) if not isinstance(y, flint.fmpq_mat)
                    else y)
    if Y.nrows() != out.nrows():
        raise invalid("y", "risk_exact", f"{out.nrows()} targets", f"{Y.nrows()}", raw=True)
    loss.check_targets(np.array([[float(Y[i, j]) for j in range(Y.ncols())] for i in range(Y.nrows())]),
                       arch.d_out, func="risk_exact")
    total = flint.fmpq(0)
    for i in range(out.nrows()):
        total += loss.per_sample_exact([out[i, j] for j in range(out.ncols())],
                                       [Y[i, j] for j in range(Y.ncols())])
    return fmpq_to_fraction(total / out.nrows())

