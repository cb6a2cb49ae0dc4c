from fractions import Fraction

import jax
import numpy as np
import pytest
from hypothesis import given, strategies as st

from cellscape import (
    InvalidInputError,
    PiecewiseLinear,
    abs_,
    hardtanh,
    identity,
    leaky_relu,
    parse_activation,
    relu,
)
from cellscape.testing.strategies import activations, dyadic, piecewise_linear


def test_named_activations_by_hand():
    # values derived by hand from the definitions
    assert [relu(t) for t in (-2.0, 0.0, 3.0)] == [0.0, 0.0, 3.0]
    assert [leaky_relu("1/10")(t) for t in (-2.0, 3.0)] == [-0.2, 3.0]
    assert [hardtanh(-1, 2)(t) for t in (-5.0, 0.5, 7.0)] == [-1.0, 0.5, 2.0]
    assert [abs_(t) for t in (-3.0, 4.0)] == [3.0, 4.0]
    assert hardtanh(-1, 2).intercepts == (Fraction(-1), Fraction(0), Fraction(2))


def test_linearity_flags():
    assert identity.is_linear and not relu.is_linear
    assert PiecewiseLinear((0, 1), (2, 2, 2), 1).is_linear
    assert relu.is_homogeneous and leaky_relu(0.2).is_homogeneous and not hardtanh().is_homogeneous
    assert abs_.lipschitz == 1 and PiecewiseLinear((0,), (-3, 2)).lipschitz == 3


@given(piecewise_linear(), st.lists(dyadic(40, 8), min_size=1, max_size=20))
def test_float_matches_exact(act, ts):
    values = np.array([float(t) for t in ts])
    exact = [act.evaluate_exact(t) for t in ts]
    np.testing.assert_allclose(np.asarray(act(values)), [float(v) for v in exact], rtol=1e-14, atol=1e-14)
    assert list(act.piece_index(values)) == [act.piece_index_exact(t) for t in ts]


@given(piecewise_linear())
def test_continuity_and_offset(act):
    assert act.evaluate_exact(0) == act.offset
    for p in act.breakpoints:
        j = act.piece_index_exact(p)
        left = act.slopes[j - 1] * p + act.intercepts[j - 1]
        right = act.slopes[j] * p + act.intercepts[j]
        assert left == right == act.evaluate_exact(p)


@given(activations())
def test_spec_round_trip(act):
    again = parse_activation(act.spec)
    assert (again.breakpoints, again.slopes, again.offset) == (act.breakpoints, act.slopes, act.offset)


def test_jax_gradient_is_the_piece_slope():
    act = PiecewiseLinear((-1, 1), (Fraction(1, 2), 2, -1), 0)
    grad = jax.vmap(jax.grad(lambda t: act(t)))(np.array([-3.0, 0.0, 4.0]))
    np.testing.assert_array_equal(np.asarray(grad), [0.5, 2.0, -1.0])


def test_margin_and_piece_at_breakpoint():
    act = PiecewiseLinear((-1, 1), (0, 1, 0))
    assert list(act.piece_index([-1.0, 1.0, 0.0])) == [1, 2, 1]  # a breakpoint belongs to the right piece
    np.testing.assert_allclose(act.margin([-1.0, 0.25, 5.0]), [0.0, 0.75, 4.0])
    assert np.isinf(identity.margin([3.0])).all()


@pytest.mark.parametrize(
    ("build", "param"),
    [
        (lambda: PiecewiseLinear((1, 0), (0, 1, 2)), "breakpoints"),
        (lambda: PiecewiseLinear((0, 0), (0, 1, 2)), "breakpoints"),
        (lambda: PiecewiseLinear((0,), (0, 1, 2)), "slopes"),
        (lambda: PiecewiseLinear((0,), (0, float("nan"))), "slopes"),
        (lambda: PiecewiseLinear.from_pieces((0,), (0, 1), (0, 1)), "intercepts"),
        (lambda: hardtanh(1, -1), "lo"),
        (lambda: leaky_relu("x"), "alpha"),
        (lambda: parse_activation("sigmoid"), "activation"),
        (lambda: parse_activation("pwl:1,0:0,1,0"), "activation"),
        (lambda: parse_activation("hardtanh:1"), "activation"),
    ],
)
def test_bad_specifications_name_the_parameter(build, param):
    with pytest.raises(InvalidInputError) as info:
        build()
    message = str(info.value)
    assert f"`{param}`" in message and "Got" in message and "\n" not in message


def test_from_pieces_continuous():
    act = PiecewiseLinear.from_pieces((0, 2), (1, -1, 0), (0, 0, -2))
    assert act.evaluate_exact(1) == -1 and act.evaluate_exact(5) == -2 and act.evaluate_exact(-3) == -3
