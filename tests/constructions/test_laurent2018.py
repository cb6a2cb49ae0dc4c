from fractions import Fraction

import numpy as np
import pytest

import cellscape as cs
from cellscape.constructions.laurent2018 import cell_laplacian, dead_point_minimum, deep_linear_hinge
from cellscape.testing.reference import local_search


@pytest.mark.parametrize("activation", ["relu", "leaky_relu:1/10"])
def test_hinge_cell_polynomial_is_harmonic_but_not_flat(activation):
    data = cs.load_data("builtin:separable", seed=1, n_samples=12)
    arch = cs.mlp(2, [3], 1, activation=activation)
    params = cs.init_params(arch, seed=0)
    assert cell_laplacian(arch, params, data.X, data.y) == 0  # exactly
    H = cs.restrict_to_cell(arch, params, data.X, data.y, loss="hinge").hessian(params)[0]
    assert abs(np.trace(H)) < 1e-12 and np.abs(H).max() > 1e-3  # checked a second way, in floats
    # the squared loss is not harmonic: a positive Laplacian
    assert cell_laplacian(arch, params, data.X, data.y, loss="squared") > 0


@pytest.mark.parametrize("seed", range(3))
def test_dead_point_minimum_is_flat_spurious_and_breaks_with_leaky_relu(seed):
    data = cs.load_data("builtin:separable", seed=seed, n_samples=20)
    built = dead_point_minimum(data.X, data.y, width=3)
    n_negative = int(np.sum(data.y[:, 0] < 0))
    assert built.n_dead == n_negative and built.risk_exact == Fraction(n_negative, 20)  # L = #dead / N
    assert built.certificate.status.value == "nonstrict_minimum" and built.certificate.arithmetic.value == "exact"
    best = local_search(built.arch, built.params, data.X, data.y, loss="hinge", radius=1e-2)
    assert best >= built.risk - 1e-12  # flat: no nearby point is lower
    assert not built.leaky_certificate.is_minimum and built.leaky_certificate.descent_decrease > 0
    assert built.witness_risk == 0  # spurious: two opposite units realise the separator


def test_dead_point_needs_separable_data():
    data = cs.load_data("builtin:spirals", seed=0)
    with pytest.raises(cs.CellscapeError, match="separable"):
        dead_point_minimum(data.X, data.y)


def test_deep_linear_networks_reach_the_hinge_lp_optimum():
    data = cs.load_data("builtin:spirals", seed=0, n_samples=40)  # not separable: the LP optimum is positive
    risks, optimum = deep_linear_hinge(data.X, data.y, hidden=[2, 2], runs=4, steps=20000, lr=0.02)
    assert optimum > 0.1
    np.testing.assert_allclose(risks, optimum, rtol=2e-3)
