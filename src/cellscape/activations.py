r"""Continuous piecewise-linear activations.

A :class:`PiecewiseLinear` activation :math:`h` has breakpoints :math:`p_1 < \dots < p_m`, slopes
:math:`s_0, \dots, s_m` (slope :math:`s_j` on piece :math:`j`, piece 0 being :math:`(-\infty, p_1)`) and an offset
:math:`h(0)`. On piece :math:`j`, :math:`h(t) = s_j t + c_j`, the intercepts :math:`c_j` being fixed by continuity.

Breakpoints, slopes and offset are stored as exact :class:`fractions.Fraction` (a float is taken at its exact binary
value), so the same object evaluates in float64 and in exact rational arithmetic.

Piece convention: a point exactly on a breakpoint :math:`p_j` is given the piece to its right (index :math:`j`);
whether a value *ties* with a breakpoint is reported separately through :meth:`PiecewiseLinear.margin`.

Examples:
    >>> relu(-2.0), relu(3.0)
    (0.0, 3.0)
    >>> hardtanh(-1, 1).slopes
    (Fraction(0, 1), Fraction(1, 1), Fraction(0, 1))
    >>> leaky_relu("1/10").evaluate_exact("-5")
    Fraction(-1, 2)
"""

from __future__ import annotations

import dataclasses
import enum
import math
from collections.abc import Sequence
from fractions import Fraction
from typing import Any

import jax.numpy as jnp
import numpy as np

from cellscape._backend import to_fraction
from cellscape._validation import invalid
from cellscape.exceptions import InvalidInputError

__all__ = [
    "PiecewiseLinear",
    "relu",
    "leaky_relu",
    "hardtanh",
    "abs_",
    "identity",
    "parse_activation",
    "ActivationName",
]


def _fractions(values: Any, *, name: str, func: str) -> tuple[Fraction, ...]:
    if isinstance(values, (str, int, float, Fraction)):
        values = (values,)
    try:
        out = tuple(to_fraction(v) for v in values)
    except InvalidInputError:
        raise invalid(name, func, "a sequence of finite rational numbers", values) from None
    except TypeError:
        raise invalid(name, func, "a sequence of finite rational numbers", values) from None
    return out


@dataclasses.dataclass(frozen=True)
class PiecewiseLinear:
    """A continuous piecewise-linear function of one variable.

    Args:
        breakpoints: strictly increasing breakpoints ``p_1 < ... < p_m`` (may be empty: a linear function).
        slopes: ``m + 1`` slopes, ``slopes[j]`` on piece ``j``.
        offset: the value ``h(0)``.
        name: a short name used in messages and saved files.

    Raises:
        InvalidInputError: if the breakpoints are not strictly increasing or the number of slopes is not
            ``len(breakpoints) + 1``.
    """

    breakpoints: tuple[Fraction, ...]
    slopes: tuple[Fraction, ...]
    offset: Fraction = Fraction(0)
    name: str = "pwl"

    def __post_init__(self) -> None:
        func = "PiecewiseLinear"
        bps = _fractions(self.breakpoints, name="breakpoints", func=func)
        slopes = _fractions(self.slopes, name="slopes", func=func)
        try:
            offset = to_fraction(self.offset)
        except InvalidInputError:
            raise invalid("offset", func, "a finite rational number", self.offset) from None
        if any(b <= a for a, b in zip(bps, bps[1:])):
            raise invalid("breakpoints", func, "strictly increasing", [str(b) for b in bps])
        if len(slopes) != len(bps) + 1:
            raise invalid(
                "slopes", func, f"{len(bps) + 1} values (one more than the breakpoints)", f"{len(slopes)} values",
                raw=True,
            )
        object.__setattr__(self, "breakpoints", bps)
        object.__setattr__(self, "slopes", slopes)
        object.__setattr__(self, "offset", offset)

    # ----------------------------------------------------------------------------------------------- structure
    @classmethod
    def from_pieces(
        cls, breakpoints: Sequence[Any], slopes: Sequence[Any], intercepts: Sequence[Any], *, name: str = "pwl"
    ) -> PiecewiseLinear:
        """Build from per-piece affine maps ``s_j t + c_j``, checking continuity at every breakpoint.

        Raises:
            InvalidInputError: if the pieces do not meet at a breakpoint (the function would be discontinuous).

        Examples:
            >>> PiecewiseLinear.from_pieces([0], [0, 1], [0, 0]) == relu
            False
            >>> PiecewiseLinear.from_pieces([0], [0, 1], [0, 0]).slopes == relu.slopes
            True
        """
        func = "PiecewiseLinear.from_pieces"
        bps = _fractions(breakpoints, name="breakpoints", func=func)
        s = _fractions(slopes, name="slopes", func=func)
        c = _fractions(intercepts, name="intercepts", func=func)
        if len(c) != len(s):
            raise invalid("intercepts", func, f"{len(s)} values (one per slope)", f"{len(c)} values", raw=True)
        for j, p in enumerate(bps[: len(s) - 1]):
            left, right = s[j] * p + c[j], s[j + 1] * p + c[j + 1]
            if left != right:
                raise invalid(
                    "intercepts", func, "continuous at every breakpoint",
                    f"a jump at breakpoint {p} (left value {left}, right value {right})", raw=True,
                )
        probe = cls(bps, s, Fraction(0), name)  # validates ordering and counts
        j0 = probe._piece_of_exact(Fraction(0))
        return cls(bps, s, c[j0], name)

    @property
    def n_pieces(self) -> int:
        """Number of linear pieces ``m + 1``."""
        return len(self.slopes)

    @property
    def is_linear(self) -> bool:
        """True when every slope is equal (the function is affine)."""
        return all(s == self.slopes[0] for s in self.slopes)

    @property
    def is_homogeneous(self) -> bool:
        """True when ``h(c t) = c h(t)`` for ``c > 0``: the only breakpoint is 0 (or none) and ``h(0) = 0``."""
        return self.offset == 0 and all(p == 0 for p in self.breakpoints)

    @property
    def lipschitz(self) -> Fraction:
        """The Lipschitz constant ``max_j |s_j|``."""
        return max(abs(s) for s in self.slopes)

    @property
    def intercepts(self) -> tuple[Fraction, ...]:
        """``c_j`` with ``h(t) = s_j t + c_j`` on piece ``j``, fixed by continuity and ``h(0) = offset``."""
        j0 = self._piece_of_exact(Fraction(0))
        c = [Fraction(0)] * self.n_pieces
        c[j0] = self.offset
        for j in range(j0 + 1, self.n_pieces):  # continuity at p_j between pieces j-1 and j
            c[j] = c[j - 1] + (self.slopes[j - 1] - self.slopes[j]) * self.breakpoints[j - 1]
        for j in range(j0 - 1, -1, -1):
            c[j] = c[j + 1] + (self.slopes[j + 1] - self.slopes[j]) * self.breakpoints[j]
        return tuple(c)

    def kink(self, j: int) -> tuple[Fraction, Fraction, Fraction]:
        """Breakpoint ``p_j`` (1-based as in the maths) with its left and right slopes ``(p, s-, s+)``."""
        return self.breakpoints[j - 1], self.slopes[j - 1], self.slopes[j]

    def piece_interval(self, j: int) -> tuple[float, float]:
        """The open interval of piece ``j`` as floats (``-inf``/``inf`` at the ends)."""
        lo = -math.inf if j == 0 else float(self.breakpoints[j - 1])
        hi = math.inf if j == self.n_pieces - 1 else float(self.breakpoints[j])
        return lo, hi

    # ----------------------------------------------------------------------------------------------- float
    def _float_tables(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return (
            np.array([float(p) for p in self.breakpoints], dtype=np.float64),
            np.array([float(s) for s in self.slopes], dtype=np.float64),
            np.array([float(c) for c in self.intercepts], dtype=np.float64),
        )

    def __call__(self, t: Any) -> Any:
        r"""Evaluate in the input's floating type (float64 by default; numpy or JAX input; JAX-traceable, so it can
        be differentiated and jitted).

        Uses :math:`h(t) = c_0 + s_0 t + \sum_j (s_j - s_{j-1}) [t - p_j]_+` with the right slope at a
        breakpoint, which matches the piece convention; a derivative taken exactly on a breakpoint is the right
        one (cellscape never relies on it there: ties are reported and handled separately).
        """
        bps, slopes, intercepts = self._float_tables()
        if isinstance(t, (float, int)):
            j = int(np.searchsorted(bps, t, side="right"))
            return float(slopes[j] * t + intercepts[j])
        t = jnp.asarray(t)  # Python-float constants keep a float32 input in float32
        out = float(intercepts[0]) + float(slopes[0]) * t
        for p, jump in zip(bps, np.diff(slopes)):
            if jump != 0:
                out = out + float(jump) * jnp.where(t >= float(p), t - float(p), 0.0)
        return out

    def piece_index(self, t: Any) -> np.ndarray:
        """Index of the piece containing each value (a breakpoint belongs to the piece on its right)."""
        bps, _, _ = self._float_tables()
        return np.searchsorted(bps, np.asarray(t, dtype=np.float64), side="right")

    def margin(self, t: Any) -> np.ndarray:
        """Distance of each value to the nearest breakpoint (``inf`` for a function without breakpoints)."""
        bps, _, _ = self._float_tables()
        t = np.asarray(t, dtype=np.float64)
        if bps.size == 0:
            return np.full(t.shape, np.inf)
        return np.min(np.abs(t[..., None] - bps), axis=-1)

    # ----------------------------------------------------------------------------------------------- exact
    def _piece_of_exact(self, t: Fraction) -> int:
        return sum(1 for p in self.breakpoints if p <= t)

    def piece_index_exact(self, t: Any) -> int:
        """Exact piece index of a rational value."""
        return self._piece_of_exact(to_fraction(t))

    def evaluate_exact(self, t: Any) -> Fraction:
        """Evaluate at a rational value in exact arithmetic."""
        t = to_fraction(t)
        j = self._piece_of_exact(t)
        return self.slopes[j] * t + self.intercepts[j]

    def __repr__(self) -> str:
        if self.name != "pwl":
            return f"<PiecewiseLinear {self.spec}>"
        return f"PiecewiseLinear(breakpoints={self.breakpoints}, slopes={self.slopes}, offset={self.offset})"

    @property
    def spec(self) -> str:
        """A string that :func:`parse_activation` turns back into this activation."""
        def fmt(values: Sequence[Fraction]) -> str:
            return ",".join(str(v) for v in values)

        if self.name == "relu" and self.slopes == (0, 1) and self.breakpoints == (0,) and self.offset == 0:
            return "relu"
        if self.name == "abs" and self.slopes == (-1, 1) and self.breakpoints == (0,) and self.offset == 0:
            return "abs"
        if self.name == "identity" and self.is_linear and self.slopes[0] == 1 and self.offset == 0:
            return "identity"
        if self.name == "leaky_relu" and self.breakpoints == (0,) and self.slopes[1] == 1 and self.offset == 0:
            return f"leaky_relu:{self.slopes[0]}"
        if self.name == "hardtanh" and self.slopes == (0, 1, 0):
            return f"hardtanh:{fmt(self.breakpoints)}"
        return f"pwl:{fmt(self.breakpoints)}:{fmt(self.slopes)}:{self.offset}"


def leaky_relu(alpha: Any = "1/100") -> PiecewiseLinear:
    """``max(t, 0) + alpha min(t, 0)``; ``alpha`` is taken exactly (default ``1/100``, as ``0.01`` in torch).

    Raises:
        InvalidInputError: if ``alpha`` is not a rational number.
    """
    try:
        a = to_fraction(alpha)
    except InvalidInputError:
        raise invalid("alpha", "leaky_relu", "a finite rational number", alpha) from None
    return PiecewiseLinear((Fraction(0),), (a, Fraction(1)), Fraction(0), "leaky_relu")


def hardtanh(lo: Any = -1, hi: Any = 1) -> PiecewiseLinear:
    """``min(max(t, lo), hi)`` with ``lo < hi``.

    Raises:
        InvalidInputError: if ``lo >= hi``.
    """
    a, b = to_fraction(lo), to_fraction(hi)
    if not a < b:
        raise invalid("lo", "hardtanh", f"smaller than hi = {b}", str(a))
    offset = min(max(Fraction(0), a), b)
    return PiecewiseLinear((a, b), (Fraction(0), Fraction(1), Fraction(0)), offset, "hardtanh")


relu = PiecewiseLinear((Fraction(0),), (Fraction(0), Fraction(1)), Fraction(0), "relu")
abs_ = PiecewiseLinear((Fraction(0),), (Fraction(-1), Fraction(1)), Fraction(0), "abs")
identity = PiecewiseLinear((), (Fraction(1),), Fraction(0), "identity")


class ActivationName(str, enum.Enum):
    """Named activations accepted by :func:`parse_activation` (``leaky_relu:ALPHA``, ``hardtanh:LO,HI``,
    ``pwl:BREAKPOINTS:SLOPES[:OFFSET]`` take parameters)."""

    RELU = "relu"
    LEAKY_RELU = "leaky_relu"
    HARDTANH = "hardtanh"
    ABS = "abs"
    IDENTITY = "identity"
    PWL = "pwl"


def parse_activation(spec: str | PiecewiseLinear, *, name: str = "activation") -> PiecewiseLinear:
    """Turn a specification string into an activation.

    Forms: ``relu``, ``abs``, ``identity``, ``leaky_relu`` or ``leaky_relu:0.1``, ``hardtanh`` or
    ``hardtanh:-1,1``, and ``pwl:-1,0.5,2:0.1,1,-0.3,0.7:0`` (breakpoints : slopes : offset h(0); each number
    an integer, a decimal or a fraction such as ``1/3``; colons need no quoting in a shell).

    Raises:
        InvalidInputError: naming ``name`` when the specification is unknown or malformed.

    Examples:
        >>> parse_activation("leaky_relu:0.1").slopes[0]
        Fraction(1, 10)
        >>> parse_activation("pwl:-1,1:0,1/3,0").spec
        'pwl:-1,1:0,1/3,0:0'
    """
    if isinstance(spec, PiecewiseLinear):
        return spec
    func = "parse_activation"
    if not isinstance(spec, str):
        raise invalid(name, func, "an activation specification string", spec)
    head, _, arg = spec.strip().partition(":")
    head = head.strip().lower().replace("-", "_")
    options = "relu, leaky_relu[:ALPHA], hardtanh[:LO,HI], abs, identity or pwl:BREAKPOINTS:SLOPES[:OFFSET]"
    try:
        kind = ActivationName(head)
    except ValueError:
        raise invalid(name, func, f"one of {options}", spec) from None
    try:
        if kind is ActivationName.RELU and not arg:
            return relu
        if kind is ActivationName.ABS and not arg:
            return abs_
        if kind is ActivationName.IDENTITY and not arg:
            return identity
        if kind is ActivationName.LEAKY_RELU:
            return leaky_relu(arg.strip()) if arg else leaky_relu()
        if kind is ActivationName.HARDTANH:
            if not arg:
                return hardtanh()
            lo, hi = arg.split(",")
            return hardtanh(lo.strip(), hi.strip())
        if kind is ActivationName.PWL:
            parts = arg.split(":")
            if len(parts) not in (2, 3):
                raise ValueError
            bps = [p for p in parts[0].split(",") if p.strip()]
            slopes = [p for p in parts[1].split(",") if p.strip()]
            offset = parts[2] if len(parts) == 3 else "0"
            return PiecewiseLinear(tuple(bps), tuple(slopes), offset)
    except InvalidInputError as err:
        raise invalid(name, func, f"a valid activation ({err})", spec) from None
    except ValueError:
        pass
    raise invalid(name, func, f"one of {options}", spec)
