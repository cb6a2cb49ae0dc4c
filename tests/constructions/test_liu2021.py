import math
from fractions import Fraction

import numpy as np
import pytest

import cellscape as cs
from cellscape._backend import fmpq_to_fraction
from cellscape.constructions.liu2021 import (
    compile_relu,
    compile_with_activation,
    enumerate_groupings_1d,
    grouping_minimum,
    grouping_minimum_conv,
    max_min_representation,
    threshold_groupings,
)
from cellscape.testing.reference import local_search


def _cpwl_data(seed=1, n=30):
    """Noisy data around a CPWL function with kinks at -0.7 and 0.8."""
    rng = np.random.default_rng(seed)
    x = np.sort(rng.uniform(-2, 2, n))
    f = np.where(x < -0.7, -1.5 * (x + 0.7) + 0.5, np.where(x < 0.8, 0.5 - 0.2 * (x + 0.7), 0.2 + 2 * (x - 0.8)))
    return x, f + 0.02 * rng.normal(size=n)


@pytest.mark.parametrize("seed", range(5))
def test_max_min_representation_and_relu_compilation_are_exact(seed):
    rng = np.random.default_rng(seed)
    # a random CPWL function in 2-D: the upper envelope of random planes, each sample assigned its maximiser
    pieces = [tuple(Fraction(int(v), 4) for v in rng.integers(-8, 9, size=3)) for _ in range(4)]
    X = rng.integers(-8, 9, size=(25, 2)) / 4
    values = np.array([[float(p[0] * Fraction(x0) + p[1] * Fraction(x1) + p[2]) for p in pieces] for x0, x1 in X])
    assignment = np.argmax(values, axis=1)
    formula = max_min_representation(pieces, assignment, X)
    assert formula.evaluate_exact(X) == [pieces[a][0] * Fraction(X[i, 0]) + pieces[a][1] * Fraction(X[i, 1])
                                         + pieces[a][2] for i, a in enumerate(assignment)]
    arch, layers = compile_relu(formula, X)
    out = cs.forward_exact(arch, layers, X)
    assert [fmpq_to_fraction(out[i, 0]) for i in range(len(X))] == formula.evaluate_exact(X)
    depth_bound = 2 + math.ceil(math.log2(max(len(t) for t in formula.terms))) + math.ceil(
        math.log2(len(formula.terms)))
    assert arch.n_layers <= depth_bound
    for activation in ("leaky_relu:1/10", "abs", "hardtanh", "pwl:-1,1/2,2:1/10,1,-3/10,7/10:0"):
        arch2, layers2 = compile_with_activation(arch, layers, X, activation)
        out2 = cs.forward_exact(arch2, layers2, X)
        assert [out2[i, 0] for i in range(len(X))] == [out[i, 0] for i in range(len(X))]


def test_groupings_in_one_dimension_two_and_three_groups():
    x, y = _cpwl_data()
    linear = cs.best_affine_fit(x[:, None], y).risk
    levels = {}
    for n_groups in (2, 3):
        results = enumerate_groupings_1d(x, y, n_groups=n_groups, min_size=3)
        admissible = [r for r in results if r["admissible"]]
        assert admissible, f"no admissible split into {n_groups} groups"
        for r in admissible:
            assert r["status"] == "nonstrict_minimum"
            assert r["risk"] == pytest.approx(r["claimed_risk"], rel=1e-10)  # = sum of the groups' LS risks
            assert r["risk"] < linear  # below the linear fit's level
            assert r["risk_exact"] is not None
        levels[n_groups] = {round(r["risk"], 12) for r in admissible}
    assert len(levels[2] | levels[3]) >= 3  # several distinct local-minimum values


def test_an_admissible_grouping_is_not_beaten_nearby_and_works_with_any_activation():
    x, y = _cpwl_data()
    labels = (np.arange(len(x)) >= 20).astype(int)
    for activation in ("relu", "pwl:-1,1/2,2:1/10,1,-3/10,7/10:0"):
        built = grouping_minimum(x[:, None], y, labels, activation=activation)
        assert built.admissible, built.reason
        assert built.certificate.is_minimum and built.certificate.arithmetic.value == "exact"
        assert built.risk_exact == built.claimed_risk_exact
        best = local_search(built.arch, built.params, x[:, None], y, radius=1e-3)
        assert best >= built.risk - 1e-12


def test_unrealisable_grouping_is_refused_with_the_reason():
    x, y = _cpwl_data()
    with pytest.raises(cs.InvalidInputError, match="realisable"):
        grouping_minimum(x[:, None], y, (np.arange(len(x)) >= 5).astype(int))


@pytest.mark.parametrize("activation", ["relu", "pwl:-1,1/2,2:1/10,1,-3/10,7/10:0"])
def test_convolutional_grouping_is_a_certified_minimum_at_the_groups_optimal_risk(activation):
    from cellscape.conv import ConvNet, certify_conv, conv_risk, patch_means

    data = cs.load_data("builtin:signals", seed=2, n_samples=20)
    for labels in threshold_groupings(patch_means(data.X, 3)):  # the first realisable, admissible split
        try:
            built = grouping_minimum_conv(data.X, data.y, labels, kernel_size=3, activation=activation)
        except cs.InvalidInputError:
            continue
        if built.admissible:
            break
    assert isinstance(built.arch, ConvNet) and built.arch.kernel_size == 3
    assert built.admissible, built.reason
    # the claimed risk: each group's exact least-squares risk in the patch means, weighted by its size
    by_hand = sum(Fraction(int(np.sum(labels == g)), 20) * cs.best_affine_fit(
        [row for row, lab in zip(patch_means(data.X, 3, exact=True), labels) if lab == g], data.y[labels == g],
        exact=True).risk_exact for g in (0, 1))
    assert built.risk_exact == built.claimed_risk_exact == by_hand
    assert float(conv_risk(built.arch, built.params, data.X, data.y)[0]) == pytest.approx(float(by_hand), rel=1e-10)
    assert built.certificate.is_minimum and built.certificate.arithmetic.value == "exact"
    assert certify_conv(built.arch, built.params, data.X, data.y).status is built.certificate.status
    best = local_search(built.arch, built.params, data.X, data.y, radius=1e-3, n_starts=16, steps=30)
    assert best >= built.risk - 1e-12


def test_a_kernel_spanning_the_signal_gives_the_fully_connected_grouping():
    x, y = _cpwl_data()
    X = np.stack([x, x + 0.5], axis=1)
    labels = (np.arange(len(x)) >= 20).astype(int)
    dense = grouping_minimum(X, y, labels)
    conv = grouping_minimum_conv(X, y, labels, kernel_size=2)
    assert conv.risk_exact == dense.risk_exact
    assert conv.certificate.status is dense.certificate.status
