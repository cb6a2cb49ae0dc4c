r"""Activation patterns, cells, margins, ties and the certified radius.

The **pattern** of parameters :math:`\theta` on data :math:`X` is, for every hidden layer :math:`l`, unit :math:`k`
and sample :math:`i`, the index of the activation piece containing :math:`z^l_k(x_i)`; when the loss is piecewise
(absolute, Huber, the hinges) the loss piece of every sample is part of it too. A **cell** is a connected set of
parameters with one pattern; :class:`Cell` is its hashable identity.

The **margin** of a pre-activation is its distance to the nearest breakpoint. A pre-activation whose margin is at
most a tolerance ``tol`` is a **tie**: the point lies on (or numerically at) a cell boundary.

The **certified radius** (theory.md 1.7.2) is a radius :math:`r` such that every perturbation with
:math:`\|\Delta W_l\|_2 \le r` and :math:`\|\Delta b_l\|_2 \le r` for all layers keeps the pattern. With
:math:`S_l` the Lipschitz constant of layer :math:`l`'s activation, the change of :math:`z^l(x_i)` is bounded by

.. math::
    e^1_i = r (\|x_i\| + 1), \qquad e^{l+1}_i = (\|W_{l+1}\|_2 + r) S_l e^l_i + r (\|a^l(x_i)\| + 1)

(the ``+ 1`` only where the layer has a bias), and :math:`r` is certified when :math:`e^l_i` is below the
smallest margin of layer :math:`l` at sample :math:`i` for every hidden layer, and, for a piecewise loss, when
:math:`e^L_i` is below the sample's loss-piece margin. The bound is increasing in :math:`r`, so the largest such
:math:`r` is found by bisection. Float rounding is covered by shrinking every margin by a relative
:math:`10^{-9}` and an absolute :math:`10^{-12}(1 + |z|)` before the bisection; the radius is a float certificate
(exact certificates are built by :mod:`cellscape.certify`).

Examples:
    >>> from cellscape import mlp
    >>> arch = mlp(1, [1], 1)
    >>> params = [([[1.0]], [0.0]), ([[1.0]], [0.0])]
    >>> X = [[1.0], [2.0]]
    >>> activation_pattern(arch, params, X).cell(0) == activation_pattern(arch, params, [[3.0], [4.0]]).cell(0)
    True
    >>> r = certified_radius(arch, params, X)[0]  # e^1 = r (|x| + 1) < |z| = 1 at x = 1: r < 1/2
    >>> bool(0.49 < r < 0.5)
    True
"""

from __future__ import annotations

import dataclasses
import hashlib
from typing import Any, NamedTuple

import flint
import numpy as np

from cellscape._validation import check_float, invalid
from cellscape.losses import Loss, as_targets, parse_loss
from cellscape.networks import (
    Architecture,
    as_inputs,
    as_params,
    exact_params,
    pre_activations,
    pre_activations_exact,
)

__all__ = [
    "Tie",
    "Cell",
    "Pattern",
    "ExactPattern",
    "activation_pattern",
    "activation_pattern_exact",
    "certified_radius",
    "DEFAULT_TIE_TOL",
]

DEFAULT_TIE_TOL = 1e-9
"""Default tolerance for ties: a pre-activation within ``1e-9`` of a breakpoint is treated as on the boundary."""

_REL_SAFETY = 1e-9
_ABS_SAFETY = 1e-12


class Tie(NamedTuple):
    """A pre-activation on (or within ``tol`` of) a breakpoint.

    ``layer`` is 1-based for hidden layers; ``layer == L`` (the output layer) means a loss kink, ``unit`` then
    being the output component (or class) and ``breakpoint`` ``-1``.
    """

    layer: int
    unit: int
    sample: int
    breakpoint: int
    distance: float


@dataclasses.dataclass(frozen=True)
class Cell:
    """Hashable identity of a cell: the pattern of one network, encoded as bytes.

    Two parameter points lie in the same cell (for the same data and loss) exactly when their :class:`Cell`
    objects are equal. :meth:`pieces` decodes the piece indices.
    """

    key: bytes
    shapes: tuple[tuple[int, ...], ...]

    def pieces(self) -> tuple[np.ndarray, ...]:
        """Piece indices per hidden layer ``(n, d_l)``, then the loss pieces ``(n, m)`` if any."""
        flat = np.frombuffer(self.key, dtype=np.int16)
        out, offset = [], 0
        for shape in self.shapes:
            size = int(np.prod(shape))
            out.append(flat[offset:offset + size].reshape(shape))
            offset += size
        return tuple(out)

    @property
    def digest(self) -> str:
        """A short hexadecimal name for tables and logs."""
        return hashlib.sha1(self.key + repr(self.shapes).encode()).hexdigest()[:12]

    def __repr__(self) -> str:
        return f"Cell({self.digest})"


@dataclasses.dataclass(frozen=True, eq=False)
class Pattern:
    """Activation pattern of a batch of ``B`` networks on ``n`` samples.

    Attributes:
        arch: the architecture.
        batch_size: ``B``.
        values: per hidden layer the pre-activations ``(B, n, d_l)``.
        pieces: per hidden layer an int array ``(B, n, d_l)`` of piece indices.
        margins: per hidden layer a float array ``(B, n, d_l)``: distance to the nearest breakpoint.
        loss: the loss, when it is piecewise (its pieces refine the cells), else ``None``.
        loss_pieces: ``(B, n, m)`` loss pieces (see :meth:`cellscape.losses.Loss.pieces`) or ``None``.
        loss_margins: ``(B, n)`` output-space radii that keep each sample's loss piece, or ``None``.
    """

    arch: Architecture
    batch_size: int
    values: tuple[np.ndarray, ...]
    pieces: tuple[np.ndarray, ...]
    margins: tuple[np.ndarray, ...]
    loss: Loss | None = None
    loss_pieces: np.ndarray | None = None
    loss_margins: np.ndarray | None = None

    def cell(self, index: int = 0) -> Cell:
        """The :class:`Cell` of network ``index``."""
        arrays = [p[index] for p in self.pieces]
        if self.loss_pieces is not None:
            arrays.append(self.loss_pieces[index])
        key = b"".join(np.ascontiguousarray(a, dtype=np.int16).tobytes() for a in arrays)
        return Cell(key, tuple(tuple(a.shape) for a in arrays))

    def cells(self) -> list[Cell]:
        """The cell of every network of the batch."""
        return [self.cell(b) for b in range(self.batch_size)]

    def min_margin(self) -> np.ndarray:
        """Smallest activation margin of each network, shape ``(B,)`` (``inf`` without breakpoints)."""
        B = self.batch_size
        out = np.full(B, np.inf)
        for m in self.margins:
            if m.size:
                out = np.minimum(out, m.reshape(B, -1).min(axis=1))
        return out

    def ties(self, index: int = 0, *, tol: float = DEFAULT_TIE_TOL) -> list[Tie]:
        """Pre-activations of network ``index`` within ``tol`` of a breakpoint, and loss kinks within ``tol``.

        ``Tie.breakpoint`` is the 0-based index of the nearest breakpoint in ``activation.breakpoints``.

        Raises:
            InvalidInputError: for a negative tolerance.
        """
        tol = check_float(tol, name="tol", func="Pattern.ties", minimum=0.0)
        out: list[Tie] = []
        for l, (margin, z, act) in enumerate(zip(self.margins, self.values, self.arch.activations)):
            samples, units = np.nonzero(margin[index] <= tol)
            bps = np.array([float(p) for p in act.breakpoints])
            for i, k in zip(samples, units):
                nearest = int(np.argmin(np.abs(bps - z[index, i, k])))
                out.append(Tie(l + 1, int(k), int(i), nearest, float(margin[index, i, k])))
        if self.loss_margins is not None:
            for i in np.nonzero(self.loss_margins[index] <= tol)[0]:
                out.append(Tie(self.arch.n_layers, -1, int(i), -1, float(self.loss_margins[index, i])))
        return out

    def n_ties(self, *, tol: float = DEFAULT_TIE_TOL) -> np.ndarray:
        """Number of ties ``M`` of each network, shape ``(B,)``."""
        tol = check_float(tol, name="tol", func="Pattern.n_ties", minimum=0.0)
        B = self.batch_size
        count = np.zeros(B, dtype=np.int64)
        for m in self.margins:
            count += (m.reshape(B, -1) <= tol).sum(axis=1)
        if self.loss_margins is not None:
            count += (self.loss_margins <= tol).sum(axis=1)
        return count


def _prepare(arch: Architecture, params: Any, X: Any, y: Any, loss: Any, func: str):
    P = as_params(arch, params, func=func)
    Xn = as_inputs(arch, X, func=func)
    loss_obj = None if loss is None else parse_loss(loss)
    yn = None
    if loss_obj is not None and loss_obj.is_piecewise:
        if y is None:
            raise invalid("y", func, f"the targets (the {loss_obj.spec} loss refines cells by its kinks)", None)
        yn = as_targets(y, loss_obj, arch.d_out, Xn.shape[0], func=func)
    return P, Xn, loss_obj, yn


def _pattern_from_pre(arch: Architecture, zs: tuple[Any, ...], loss: Loss | None, y: Any) -> Pattern:
    values, pieces, margins = [], [], []
    for l, act in enumerate(arch.activations):
        z = np.asarray(zs[l])
        values.append(z)
        pieces.append(act.piece_index(z).astype(np.int16))
        margins.append(act.margin(z))
    loss_pieces = loss_margins = None
    if loss is not None and loss.is_piecewise:
        out = np.asarray(zs[-1])
        loss_pieces = loss.pieces(out, y)
        loss_margins = loss.kink_margins(out, y)
    return Pattern(arch, int(np.shape(zs[-1])[0]), tuple(values), tuple(pieces), tuple(margins),
                   loss if loss_pieces is not None else None, loss_pieces, loss_margins)


def activation_pattern(
    arch: Architecture, params: Any, X: Any, *, y: Any = None, loss: str | Loss | None = None
) -> Pattern:
    """The activation pattern (and so the cell) of every network of the batch on ``X``.

    Pass ``y`` and ``loss`` to refine the cells by the kinks of a piecewise loss (absolute, Huber, hinges);
    for smooth losses they change nothing.

    Raises:
        InvalidInputError: for bad shapes, or a piecewise loss without targets.

    Notes:
        One forward pass: :math:`O(B\\,n \\sum_l d_l d_{l-1})`.
    """
    P, Xn, loss_obj, yn = _prepare(arch, params, X, y, loss, "activation_pattern")
    return _pattern_from_pre(arch, pre_activations(arch, P, Xn), loss_obj, yn)


def certified_radius(
    arch: Architecture,
    params: Any,
    X: Any,
    *,
    y: Any = None,
    loss: str | Loss | None = None,
    tol: float = 0.0,
    pattern: Pattern | None = None,
) -> np.ndarray:
    r"""The certified radius of every network (see the module docstring), shape ``(B,)``.

    A network with a margin at most ``tol`` (a tie) gets radius 0; a network with no breakpoint to cross (linear
    activations and a smooth loss) gets ``inf``.

    Raises:
        InvalidInputError: for bad shapes or a negative ``tol``.

    Notes:
        A forward pass, spectral norms of every weight matrix, then a vectorised bisection of 200 steps over
        ``(B, n)``.
    """
    tol = check_float(tol, name="tol", func="certified_radius", minimum=0.0)
    P, Xn, loss_obj, yn = _prepare(arch, params, X, y, loss, "certified_radius")
    zs = pre_activations(arch, P, Xn)
    if pattern is None:
        pattern = _pattern_from_pre(arch, zs, loss_obj, yn)
    # huge parameters (a diverged run) overflow the bound to inf, which simply fails the test: no warning
    with np.errstate(over="ignore", invalid="ignore"):
        zs = [np.asarray(z) for z in zs]
        B = zs[0].shape[0]
        Pn = P.numpy()
        W_norms = [np.linalg.norm(w, ord=2, axis=(-2, -1)) for w in Pn.weights]  # (B,)
        x_norms = np.linalg.norm(Xn, axis=1)  # (n,)
        a_norms = [np.linalg.norm(np.asarray(act(z)), axis=-1) for act, z in zip(arch.activations, zs[:-1])]
        lips = [float(act.lipschitz) for act in arch.activations]

        # limits: per layer l (0-based hidden index, or L-1 for the loss) the allowed perturbation (B, n)
        limits: list[tuple[int, np.ndarray]] = []
        for l, (margin, z) in enumerate(zip(pattern.margins, zs[:-1])):
            if np.isfinite(margin).any():
                safe = margin * (1 - _REL_SAFETY) - _ABS_SAFETY * (1 + np.abs(z))
                limits.append((l, np.min(safe, axis=-1)))
        if pattern.loss_margins is not None:
            out_scale = np.linalg.norm(zs[-1], axis=-1)
            safe = pattern.loss_margins * (1 - _REL_SAFETY) - _ABS_SAFETY * (1 + out_scale)
            limits.append((arch.n_layers - 1, safe))
        radius = np.full(B, np.inf)
        if not limits:
            return radius
        tied = np.zeros(B, dtype=bool)
        for _, lim in limits:
            tied |= (lim <= tol).any(axis=1) | (lim <= 0).any(axis=1)

        def ok(r: np.ndarray) -> np.ndarray:
            """Whether radius r (B,) satisfies every limit."""
            rr = r[:, None]
            e = rr * (x_norms[None, :] + (1.0 if arch.bias[0] else 0.0))
            good = np.ones(B, dtype=bool)
            bounds = [e]
            for l in range(1, arch.n_layers):
                e = (W_norms[l][:, None] + rr) * lips[l - 1] * e + rr * (a_norms[l - 1] + (1.0 if arch.bias[l] else 0))
                bounds.append(e)
            for l, lim in limits:
                good &= (bounds[l] < lim).all(axis=1)
            return good

        lo = np.zeros(B)
        hi = np.ones(B)
        for _ in range(2100):  # grow hi until it fails (or is astronomically large)
            grow = ok(hi) & (hi < 1e300)
            if not grow.any():
                break
            hi = np.where(grow, hi * 2.0, hi)
        unbounded = ok(hi)
        for _ in range(200):
            mid = 0.5 * (lo + hi)
            good = ok(mid)
            lo = np.where(good, mid, lo)
            hi = np.where(good, hi, mid)
        radius = np.where(unbounded, np.inf, lo)
        return np.where(tied, 0.0, radius)


# ------------------------------------------------------------------------------------------------ exact
@dataclasses.dataclass(frozen=True, eq=False)
class ExactPattern:
    """The pattern of one network in exact arithmetic: piece indices per hidden layer ``(n, d_l)``, the exact
    list of ties (pre-activations exactly on a breakpoint; ``Tie.breakpoint`` 0-based) and the exact
    pre-activations ``z^1..z^L`` (``fmpq_mat``, the last being the outputs)."""

    arch: Architecture
    pieces: tuple[np.ndarray, ...]
    ties: tuple[Tie, ...]
    values: tuple[flint.fmpq_mat, ...] = ()

    def cell(self) -> Cell:
        """The :class:`Cell` (equal to the float pattern's cell when no value is within rounding of a kink)."""
        key = b"".join(np.ascontiguousarray(a, dtype=np.int16).tobytes() for a in self.pieces)
        return Cell(key, tuple(tuple(a.shape) for a in self.pieces))


def activation_pattern_exact(arch: Architecture, params: Any, X: Any) -> ExactPattern:
    """The pattern of one network in exact rational arithmetic, with its exact ties.

    Raises:
        InvalidInputError: for bad shapes or non-rational values.

    Examples:
        >>> from cellscape import mlp
        >>> pat = activation_pattern_exact(mlp(1, [1], 1), [([[1]], ["-1/2"]), ([[1]], [0])], [["1/2"], [1]])
        >>> pat.ties
        (Tie(layer=1, unit=0, sample=0, breakpoint=0, distance=0.0),)
    """
    p = exact_params(arch, params)
    zs = pre_activations_exact(arch, p, X)
    pieces, ties = [], []
    for l, act in enumerate(arch.activations):
        z = zs[l]
        bps = [flint.fmpq(b.numerator, b.denominator) for b in act.breakpoints]
        idx = np.zeros((z.nrows(), z.ncols()), dtype=np.int16)
        for i in range(z.nrows()):
            for k in range(z.ncols()):
                v = z[i, k]
                idx[i, k] = sum(1 for b in bps if b <= v)
                for j, b in enumerate(bps):
                    if v == b:
                        ties.append(Tie(l + 1, k, i, j, 0.0))
        pieces.append(idx)
    return ExactPattern(arch, tuple(pieces), tuple(ties), zs)
