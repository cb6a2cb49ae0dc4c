"""Hypothesis strategies for cellscape's property tests.

Values are dyadic rationals (multiples of 1/8 or 1/16) so that float and exact computations can be compared.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
from hypothesis import strategies as st

from cellscape.activations import PiecewiseLinear, abs_, hardtanh, identity, leaky_relu, relu
from cellscape.networks import Architecture, mlp


def dyadic(limit: int = 16, denominator: int = 8) -> st.SearchStrategy[Fraction]:
    """Rationals ``k / denominator`` with ``|k| <= limit``."""
    return st.integers(-limit, limit).map(lambda k: Fraction(k, denominator))


@st.composite
def piecewise_linear(draw: st.DrawFn, max_breakpoints: int = 3) -> PiecewiseLinear:
    """A random continuous piecewise-linear activation with dyadic breakpoints, slopes and offset."""
    m = draw(st.integers(0, max_breakpoints))
    bps = sorted(draw(st.lists(dyadic(), min_size=m, max_size=m, unique=True)))
    slopes = draw(st.lists(dyadic(), min_size=m + 1, max_size=m + 1))
    offset = draw(dyadic())
    return PiecewiseLinear(tuple(bps), tuple(slopes), offset)


def activations() -> st.SearchStrategy[PiecewiseLinear]:
    """Named activations and random ones."""
    return st.one_of(st.sampled_from([relu, leaky_relu("1/10"), hardtanh(-1, 1), abs_]), piecewise_linear())


@st.composite
def architectures(draw: st.DrawFn, max_depth: int = 3, max_width: int = 4,
                  homogeneous: bool = False) -> Architecture:
    """Small fully-connected architectures; ``homogeneous`` restricts to ReLU and leaky ReLU."""
    depth = draw(st.integers(1, max_depth))
    widths = draw(st.lists(st.integers(1, max_width), min_size=depth + 1, max_size=depth + 1))
    pool = st.sampled_from([relu, leaky_relu("1/10")]) if homogeneous else activations()
    acts = [draw(pool) for _ in range(depth - 1)]
    bias = draw(st.lists(st.booleans(), min_size=depth, max_size=depth))
    return mlp(widths[0], widths[1:-1], widths[-1], activation=acts, bias=bias)


def dyadic_array(draw: st.DrawFn, shape: tuple[int, ...], limit: int = 16, denominator: int = 8) -> np.ndarray:
    """A float64 array of dyadic rationals (exactly representable)."""
    size = int(np.prod(shape))
    values = draw(st.lists(st.integers(-limit, limit), min_size=size, max_size=size))
    return (np.array(values, dtype=np.float64) / denominator).reshape(shape)


@st.composite
def float_architectures(draw: st.DrawFn, *, with_abs: bool = True) -> Architecture:
    """Architectures whose activations torch can express (relu, identity, leaky_relu and hardtanh with float
    parameters, optionally abs), depth 1 to 5, widths 1 to 5, random bias flags."""
    floats = st.floats(-3, 3, allow_nan=False, allow_infinity=False)
    n_hidden = draw(st.integers(0, 4))
    widths = draw(st.lists(st.integers(1, 5), min_size=n_hidden + 2, max_size=n_hidden + 2))
    ends = st.lists(floats, min_size=2, max_size=2, unique=True).map(sorted)
    named = [relu, identity] + ([abs_] if with_abs else [])
    pool = st.one_of(st.sampled_from(named), floats.map(leaky_relu), ends.map(lambda v: hardtanh(*v)))
    acts = draw(st.lists(pool, min_size=n_hidden, max_size=n_hidden))
    bias = draw(st.lists(st.booleans(), min_size=n_hidden + 1, max_size=n_hidden + 1))
    return Architecture(tuple(widths), tuple(acts), tuple(bias))
