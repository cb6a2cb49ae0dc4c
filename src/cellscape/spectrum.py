r"""Hessian spectra of the risk, honest at kinks.

Inside a cell the risk :math:`R` equals the cell's polynomial :math:`R_{\text{cell}}` (theory.md 1.6), so its
Hessian :math:`\nabla^2 R(\theta) = \nabla^2 R_{\text{cell}}(\theta)` exists and :func:`hessian_spectrum` returns
its eigenvalues: one two-sided :class:`PieceSpectrum`.

At a **kink** (``M > 0`` ties: pre-activations within ``tie_tol`` of a breakpoint, samples at a kink of a
piecewise loss) :math:`R` has no Hessian; automatic differentiation silently returns the Hessian of the piece that
the right-piece convention picks. Each tied value may lie in either of the two pieces meeting at its breakpoint,
so the point touches up to :math:`2^M` smooth pieces, one per sign choice :math:`\sigma \in \{0, 1\}^M`
(theory.md 1.8). For each choice the polynomial :math:`R_\sigma` of that piece (activations and loss frozen to it)
has a Hessian at :math:`\theta`, the limit of :math:`\nabla^2 R` from inside the piece: a **one-sided** spectrum.
Up to ``max_pieces`` choices are enumerated; beyond that ``max_pieces`` distinct choices are drawn with the seed,
and the result says so (``sampled``). A sign choice whose piece has no cell next to the point (possible when
the tied constraints are linearly dependent, e.g. a unit with zero weights tied on many samples) is still
reported, with ``has_interior=False``, decided by the largest-slack linear program that :func:`cellscape.certify`
uses.

Two methods compute a spectrum (:class:`SpectrumMethod`): ``dense`` assembles the ``(P, P)`` Hessian from chunked
Hessian-vector products (:func:`cellscape.cell_risk.frozen_hessian`) and returns all ``P`` eigenvalues
(``numpy.linalg.eigvalsh``); ``lanczos`` returns the ``k`` smallest and ``k`` largest algebraic eigenvalues
(``scipy.sparse.linalg.eigsh``, implicitly restarted Lanczos, with a seeded start vector) from a jitted JAX
Hessian-vector product, never forming the matrix; ``auto`` is ``dense`` up to :data:`DENSE_LIMIT` parameters.

Examples:
    The 1-1-1 ReLU network :math:`f(x) = v\,\mathrm{relu}(w x + b) + c` at :math:`(w, b, v, c) = (1, 0, 1, 0)`
    fits :math:`y = x` on :math:`x \in \{1, 2\}` exactly, so its Hessian is the Gauss-Newton matrix
    :math:`J^\top J / n` with rows :math:`(v x_i, v, w x_i + b, 1) = (x_i, 1, x_i, 1)` of :math:`J`. Its non-zero
    eigenvalues are those of :math:`J J^\top / 2 = \begin{pmatrix} 2 & 3 \\ 3 & 5 \end{pmatrix}`, namely
    :math:`(7 \pm 3\sqrt{5}) / 2`:

    >>> import numpy as np
    >>> from cellscape import mlp
    >>> arch = mlp(1, [1], 1)
    >>> theta = [([[1.0]], [0.0]), ([[1.0]], [0.0])]
    >>> spec = hessian_spectrum(arch, theta, [[1.0], [2.0]], [[1.0], [2.0]])
    >>> spec.kind.value, spec.method.value, len(spec.pieces), spec.pieces[0].one_sided
    ('smooth', 'dense', 1, False)
    >>> bool(np.allclose(spec.pieces[0].eigenvalues, [0, 0, (7 - 3 * 5**0.5) / 2, (7 + 3 * 5**0.5) / 2]))
    True

    Add the sample :math:`x = 0`: its pre-activation :math:`w \cdot 0 + b = 0` sits on ReLU's kink. The fit is
    still exact, and the two adjacent pieces differ in sample 0's row of :math:`J`: :math:`(0, 0, 0, 1)` with the
    unit off (``-``), :math:`(0, 1, 0, 1)` with it on (``+``). The trace of each one-sided Hessian, the sum of its
    eigenvalues, is :math:`\|J\|_F^2 / 3`: :math:`(1 + 4 + 10) / 3 = 5` and :math:`(2 + 4 + 10) / 3 = 16 / 3`:

    >>> kink = hessian_spectrum(arch, theta, [[0.0], [1.0], [2.0]], [[0.0], [1.0], [2.0]])
    >>> kink.kind.value, kink.n_ties, kink.n_adjacent, [p.label for p in kink.pieces]
    ('kink', 1, 2, ['z^1_0(x_0)-', 'z^1_0(x_0)+'])
    >>> [round(float(p.eigenvalues.sum()) * 3, 10) for p in kink.pieces]
    [15.0, 16.0]
"""

from __future__ import annotations

import dataclasses
import enum
import itertools
import math
from typing import Any

import jax.numpy as jnp
import numpy as np
import scipy.sparse.linalg

from cellscape._validation import check_enum, check_float, check_int, invalid
from cellscape.cell_risk import _jit_hvp_chunk, frozen_hessian, piece_tables
from cellscape.certify import _adjacent_choice, _has_interior, _Options, _Point
from cellscape.losses import as_targets, parse_loss
from cellscape.networks import Architecture, as_inputs, as_params, flatten_params, make_rng
from cellscape.patterns import DEFAULT_TIE_TOL, Tie

__all__ = ["SpectrumMethod", "PointKind", "PieceSpectrum", "HessianSpectrum", "hessian_spectrum", "DENSE_LIMIT"]

DENSE_LIMIT = 3000
"""``method="auto"`` forms the dense Hessian up to this many parameters (a ``3000 x 3000`` float64 matrix is
72 MB and its eigendecomposition takes seconds) and uses Lanczos above it."""


class SpectrumMethod(str, enum.Enum):
    """How a Hessian spectrum is computed: every eigenvalue from the dense matrix (``dense``), the ``k`` smallest
    and ``k`` largest by Lanczos from Hessian-vector products (``lanczos``), or ``auto`` (dense up to
    :data:`DENSE_LIMIT` parameters)."""

    AUTO = "auto"
    DENSE = "dense"
    LANCZOS = "lanczos"


class PointKind(str, enum.Enum):
    """Where the point lies: inside a cell (``smooth``: the risk has a Hessian) or on a boundary (``kink``)."""

    SMOOTH = "smooth"
    KINK = "kink"


@dataclasses.dataclass(frozen=True, eq=False)
class PieceSpectrum:
    """The spectrum of one smooth piece's Hessian at the point.

    Attributes:
        sides: one entry per tie of :attr:`HessianSpectrum.ties`: ``0`` when the tied value is put in the piece
            left of its breakpoint (below the loss kink), ``1`` in the piece right of (above) it; ``()`` at a
            smooth point.
        label: ``sides`` in words: ``z^l_k(x_i)+`` for hidden unit ``k`` of layer ``l`` on sample ``i`` in its
            right piece (``-``: left), ``loss_j(x_i)+`` for sample ``i``'s loss term ``j`` above its kink; ``cell``
            at a smooth point.
        one_sided: ``True`` at a kink (the Hessian holds only on the piece's side), ``False`` inside a cell.
        eigenvalues: ascending, float64: all ``P`` (dense), or the converged ones of the ``k`` smallest and ``k``
            largest (Lanczos).
        method: ``dense`` or ``lanczos``.
        n_converged: Lanczos: how many of the ``2k`` requested eigenvalues converged; ``None`` for dense.
        has_interior: whether the piece has a cell with an interior next to the point (always ``True`` inside a
            cell; at a kink a sign choice of linearly dependent ties may have none).
    """

    sides: tuple[int, ...]
    label: str
    one_sided: bool
    eigenvalues: np.ndarray
    method: SpectrumMethod
    n_converged: int | None
    has_interior: bool

    @property
    def min(self) -> float:
        """The smallest eigenvalue found (``nan`` if none converged)."""
        return float(self.eigenvalues[0]) if self.eigenvalues.size else math.nan

    @property
    def max(self) -> float:
        """The largest eigenvalue found (``nan`` if none converged)."""
        return float(self.eigenvalues[-1]) if self.eigenvalues.size else math.nan

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary."""
        return {"sides": list(self.sides), "label": self.label, "one_sided": self.one_sided,
                "eigenvalues": [float(v) for v in self.eigenvalues], "method": self.method.value,
                "n_converged": self.n_converged, "has_interior": self.has_interior}


@dataclasses.dataclass(frozen=True, eq=False)
class HessianSpectrum:
    """Hessian spectra at one parameter point: the cell's (smooth point) or the adjacent pieces' (kink).

    Attributes:
        kind: ``smooth`` or ``kink``.
        ties: the ties (``Tie.layer == L`` for a loss kink, ``unit`` then being the loss term).
        pieces: one :class:`PieceSpectrum` per enumerated (or sampled) sign choice, in lexicographic order of
            ``sides``.
        n_params: ``P``.
        method: the method used (``dense`` or ``lanczos``; ``auto`` resolved).
        k: Lanczos: the number of eigenvalues asked for at each end; ``None`` for dense.
        n_adjacent: ``2^M``, the number of sign choices (an upper bound on the adjacent pieces; ``1`` inside a
            cell).
        sampled: whether ``pieces`` is a seeded sample of the sign choices (``n_adjacent > max_pieces``).
        tie_tol: the tie tolerance used.
        message: one sentence on what was computed, and on anything left out.
    """

    kind: PointKind
    ties: tuple[Tie, ...]
    pieces: tuple[PieceSpectrum, ...]
    n_params: int
    method: SpectrumMethod
    k: int | None
    n_adjacent: int
    sampled: bool
    tie_tol: float
    message: str

    @property
    def n_ties(self) -> int:
        """``M``, the number of ties."""
        return len(self.ties)

    @property
    def is_smooth(self) -> bool:
        """Whether the risk has a Hessian at the point (no ties)."""
        return self.kind is PointKind.SMOOTH

    @property
    def smallest(self) -> float:
        """The smallest eigenvalue over all pieces (over the pieces with an interior, when there are any)."""
        return min(p.min for p in self._relevant())

    @property
    def largest(self) -> float:
        """The largest eigenvalue over all pieces (over the pieces with an interior, when there are any)."""
        return max(p.max for p in self._relevant())

    @property
    def converged(self) -> bool:
        """Whether every requested eigenvalue was found (always ``True`` for dense)."""
        return all(p.n_converged is None or p.n_converged == 2 * self.k for p in self.pieces)

    def _relevant(self) -> tuple[PieceSpectrum, ...]:
        inside = tuple(p for p in self.pieces if p.has_interior)
        return inside or self.pieces

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary (non-finite numbers as strings)."""
        def num(v: float) -> float | str:
            return v if math.isfinite(v) else str(v)

        return {"kind": self.kind.value, "n_ties": self.n_ties, "ties": [t._asdict() for t in self.ties],
                "n_params": self.n_params, "method": self.method.value, "k": self.k,
                "n_adjacent": self.n_adjacent, "sampled": self.sampled, "tie_tol": self.tie_tol,
                "smallest": num(self.smallest), "largest": num(self.largest), "converged": self.converged,
                "message": self.message, "pieces": [p.to_dict() for p in self.pieces]}


def _label(point: _Point, sides: tuple[int, ...]) -> str:
    if not sides:
        return "cell" if not point.unsupported_loss_tie else "the convention's piece"
    words = []
    for t, side in zip(point.ties, sides):
        name = f"loss_{t.unit}" if t.layer == point.arch.n_layers else f"z^{t.layer}_{t.unit}"
        words.append(f"{name}(x_{t.sample}){'+' if side else '-'}")
    return ", ".join(words)


def _sign_choices(M: int, max_pieces: int, rng: np.random.Generator) -> tuple[list[tuple[int, ...]], bool]:
    """Every sign choice when there are at most ``max_pieces``, else ``max_pieces`` distinct ones drawn with
    ``rng``; sorted lexicographically either way."""
    if 2**M <= max_pieces:
        return list(itertools.product((0, 1), repeat=M)), False
    drawn: set[tuple[int, ...]] = set()
    while len(drawn) < max_pieces:
        drawn.add(tuple(int(v) for v in rng.integers(0, 2, size=M)))
    return sorted(drawn), True


def _dense_eigenvalues(point: _Point, tables: tuple[Any, Any], loss_pieces: np.ndarray, chunk_size: int,
                       func: str) -> np.ndarray:
    H = frozen_hessian(point.arch, point.loss, point.flat, *tables, loss_pieces, point.X, point.y,
                       chunk_size=chunk_size)
    if not np.all(np.isfinite(H)):
        raise invalid("params", func, "parameters whose Hessian is finite in float64",
                      "a Hessian with non-finite entries", raw=True)
    return np.linalg.eigvalsh(H)


def _lanczos_eigenvalues(point: _Point, tables: tuple[Any, Any], loss_pieces: np.ndarray, *, k: int,
                         v0: np.ndarray, tol: float, maxiter: int | None) -> tuple[np.ndarray, int]:
    """The ``k`` smallest and ``k`` largest eigenvalues (the converged ones) and how many converged."""
    arch, loss = point.arch, point.loss
    args = (jnp.asarray(point.flat), *(tuple(jnp.asarray(t) for t in group) for group in tables),
            jnp.asarray(loss_pieces), jnp.asarray(point.X), jnp.asarray(point.y))
    n_params = point.flat.size

    def matvec(v: np.ndarray) -> np.ndarray:
        basis = jnp.asarray(np.asarray(v, dtype=np.float64).reshape(1, n_params))
        return np.asarray(_jit_hvp_chunk(arch, loss, *args, basis)[0])

    op = scipy.sparse.linalg.LinearOperator((n_params, n_params), matvec=matvec, dtype=np.float64)
    found, n_converged = [], 0
    for which in ("SA", "LA"):
        try:
            values = scipy.sparse.linalg.eigsh(op, k=k, which=which, v0=v0, tol=tol, maxiter=maxiter,
                                               return_eigenvectors=False)
        except scipy.sparse.linalg.ArpackNoConvergence as err:
            values = err.eigenvalues
        found.append(np.asarray(values, dtype=np.float64))
        n_converged += len(values)
    return np.sort(np.concatenate(found)), n_converged


def hessian_spectrum(
    arch: Architecture,
    params: Any,
    X: Any,
    y: Any,
    *,
    loss: str | Any = "squared",
    method: str | SpectrumMethod = "auto",
    k: int = 6,
    tie_tol: float = DEFAULT_TIE_TOL,
    max_pieces: int = 16,
    seed: int | np.random.Generator | None = 0,
    chunk_size: int = 256,
    tol: float = 0.0,
    maxiter: int | None = None,
) -> HessianSpectrum:
    r"""The eigenvalues of the risk's Hessian at a point, or of every adjacent piece's Hessian at a kink.

    With :math:`R_\sigma` the polynomial of the piece selected by the sign choice :math:`\sigma \in \{0,1\}^M` of
    the ``M`` ties (activations :math:`h(t) = s t + c` and loss terms frozen to that piece; see the module
    docstring), the result holds the spectrum of

    .. math::
        H_\sigma = \nabla^2 R_\sigma(\theta) \in \mathbb{R}^{P \times P}

    for every enumerated :math:`\sigma`. Inside a cell (``M = 0``) there is one piece and :math:`H = \nabla^2
    R(\theta)`; at a kink each :math:`H_\sigma = \lim \nabla^2 R(\theta')` as :math:`\theta' \to \theta` from inside
    that piece's cell: a one-sided Hessian.

    Args:
        arch: the architecture.
        params: the parameters of one network (any form :func:`cellscape.networks.as_params` accepts; a batch of
            one).
        X: inputs ``(n, d_in)``. y: targets (as the loss expects).
        loss: the loss. Kinks of a piecewise loss (absolute, Huber, hinges) count as ties and are split like
            activation ties, except at kinks of the Crammer-Singer hinge, whose samples keep the loss piece of
            the pattern's convention (the point is still a ``kink``, and the message says so).
        method: ``"dense"``, ``"lanczos"`` or ``"auto"`` (see :class:`SpectrumMethod`).
        k: Lanczos: the number of smallest and of largest eigenvalues, ``1 <= k <= P // 2``; unused by dense.
        tie_tol: values within this distance of a breakpoint (or a loss kink) are ties.
        max_pieces: the most sign choices computed; with more than this (``2^M > max_pieces``) a seeded sample of
            ``max_pieces`` distinct choices is computed.
        seed: seeds the sample of sign choices and Lanczos's start vector (an int, a Generator or ``None``).
        chunk_size: dense: Hessian-vector products per compiled call.
        tol: Lanczos: ARPACK's relative accuracy of the eigenvalues (``0``: machine precision).
        maxiter: Lanczos: ARPACK's most Arnoldi update iterations per end (``None``: ``10 P``); eigenvalues
            that have not converged by then are left out and ``n_converged`` says how many did.

    Returns:
        The :class:`HessianSpectrum`.

    Raises:
        InvalidInputError: for bad shapes, targets or options (a batch of more than one network, an unknown
            method, ``k`` outside ``[1, P // 2]`` for Lanczos, a negative ``tie_tol``, ...), or a Hessian that
            overflows float64.

    Notes:
        Finding the ties is one forward pass. Dense: ``P`` Hessian-vector products (each a few gradient
        evaluations, :math:`O(n \sum_l d_l d_{l-1})`) in ``ceil(P / chunk_size)`` compiled calls, ``P^2`` memory and
        an :math:`O(P^3)` eigendecomposition per piece. Lanczos: :math:`O(\text{iterations})` Hessian-vector
        products per end and piece, typically a few times ``k`` to a few hundred, and :math:`O(P)` memory per
        Lanczos vector; a single start vector may miss copies of a repeated eigenvalue. At a kink everything is
        repeated for each of the ``min(2^M, max_pieces)`` pieces, each with one small linear program deciding
        ``has_interior``.
    """
    func = "hessian_spectrum"
    loss = parse_loss(loss)
    method = check_enum(method, SpectrumMethod, name="method", func=func)
    k = check_int(k, name="k", func=func, minimum=1)
    tie_tol = check_float(tie_tol, name="tie_tol", func=func, minimum=0.0)
    max_pieces = check_int(max_pieces, name="max_pieces", func=func, minimum=1)
    chunk_size = check_int(chunk_size, name="chunk_size", func=func, minimum=1)
    tol = check_float(tol, name="tol", func=func, minimum=0.0)
    if maxiter is not None:
        maxiter = check_int(maxiter, name="maxiter", func=func, minimum=1)
    rng = make_rng(seed, func=func)
    P = as_params(arch, params, func=func)
    if P.batch_size != 1:
        raise invalid("params", func, "one network (a batch of 1)", f"a batch of {P.batch_size}", raw=True)
    Xn = as_inputs(arch, X, func=func)
    yn = as_targets(y, loss, arch.d_out, Xn.shape[0], func=func)
    n_params = arch.n_params
    if method is SpectrumMethod.AUTO:
        method = SpectrumMethod.DENSE if n_params <= DENSE_LIMIT else SpectrumMethod.LANCZOS
    if method is SpectrumMethod.LANCZOS and 2 * k > n_params:
        raise invalid("k", func, f"an integer in [1, {n_params // 2}] for the Lanczos method (the k smallest and "
                      f"k largest of {n_params} eigenvalues; method='dense' gives all)", k)

    flat = np.asarray(flatten_params(arch, P.numpy()))[0]
    point = _Point(arch, loss, flat, Xn, yn, _Options(tie_tol=tie_tol))
    M = len(point.ties)
    kind = PointKind.KINK if (M or point.unsupported_loss_tie) else PointKind.SMOOTH
    choices, sampled = _sign_choices(M, max_pieces, rng)
    v0 = rng.standard_normal(n_params) if method is SpectrumMethod.LANCZOS else None
    pieces = []
    for sides in choices:
        piece_pieces, loss_pieces = _adjacent_choice(point, sides)
        tables = piece_tables(arch, piece_pieces)
        if method is SpectrumMethod.DENSE:
            eigenvalues, n_converged = _dense_eigenvalues(point, tables, loss_pieces, chunk_size, func), None
        else:
            eigenvalues, n_converged = _lanczos_eigenvalues(point, tables, loss_pieces, k=k, v0=v0, tol=tol,
                                                            maxiter=maxiter)
        has_interior = _has_interior(point, sides) if M else True
        pieces.append(PieceSpectrum(sides, _label(point, sides), kind is PointKind.KINK, eigenvalues, method,
                                    n_converged, has_interior))

    if kind is PointKind.SMOOTH:
        message = "inside a cell: the spectrum of the cell's Hessian"
    elif M == 0:
        message = ("on a kink of the Crammer-Singer hinge, whose samples are not split: the one-sided spectrum of "
                   "the piece the pattern's convention picks")
    else:
        n_inside = sum(p.has_interior for p in pieces)
        what = (f"a seeded sample of {len(pieces)} of the 2^{M} sign choices" if sampled
                else f"all {len(pieces)} sign choices")
        message = (f"on a kink with {M} tie{'s' if M > 1 else ''}: one-sided spectra of {what} ({n_inside} with a "
                   "cell next to the point)")
        if point.unsupported_loss_tie:
            message += ("; samples at a kink of the Crammer-Singer hinge are not split: they keep the loss piece "
                        "of the pattern's convention")
    return HessianSpectrum(kind, tuple(point.ties), tuple(pieces), n_params, method,
                           k if method is SpectrumMethod.LANCZOS else None, 2**M, sampled, tie_tol, message)
