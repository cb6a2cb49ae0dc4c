from fractions import Fraction

import numpy as np
import pytest

import cellscape as cs
from cellscape.constructions import linear_region_minimum, valley_path
from cellscape.exceptions import CellscapeError

PWL = "pwl:-1,1/2,2:1/10,1,-3/10,7/10:0"  # theory 7.2, He-1: breakpoints (-1, 0.5, 2), slopes (0.1, 1, -0.3, 0.7)


def _he1_data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 3))
    y = np.stack([np.sin(2 * X[:, 0]) + X[:, 1] ** 2, np.abs(X[:, 2])], axis=1)
    return X, y


@pytest.mark.parametrize("loss", ["squared", "absolute", "huber:1/2"])
def test_deep_general_activation_vector_output(loss):
    X, y = _he1_data()
    built = linear_region_minimum(X, y, hidden=[4, 5, 3], activation=PWL, loss=loss)
    # risk equals the best affine risk, computed independently
    assert built.risk == pytest.approx(built.affine_fit.risk, rel=1e-10)
    # every pre-activation lies strictly inside the chosen piece
    pattern = cs.activation_pattern(built.arch, built.params, X)
    assert all(np.all(p == built.piece) for p in pattern.pieces)
    assert built.certificate.is_minimum, built.certificate.message
    assert built.witness is not None and built.witness.risk < built.risk
    assert float(cs.risk(built.arch, built.witness.params, X, y, loss=loss)[0]) == built.witness.risk
    # the valley: other scales give the same outputs, pattern and risk
    path = valley_path(built, [built.alpha * f for f in (0.25, 0.5, 0.75, 1.0)])
    risks = [float(cs.risk(built.arch, cs.as_params(built.arch, layers), X, y, loss=loss)[0]) for layers in path]
    np.testing.assert_allclose(risks, built.risk, rtol=1e-12)
    cells = {cs.activation_pattern(built.arch, cs.as_params(built.arch, layers), X).cell(0) for layers in path}
    assert len(cells) == 1


@pytest.mark.parametrize("activation", ["relu", "leaky_relu:1/10", "abs", "hardtanh", "pwl:0,1:1,3,-1:0"])
def test_exact_one_hidden_layer_minima_and_witnesses(activation):
    data = cs.load_data("builtin:nonaffine", seed=0, n_samples=16)
    built = linear_region_minimum(data.X, data.y, hidden=[3], activation=activation, exact=True)
    exact_fit = cs.best_affine_fit(data.X, data.y, exact=True)
    assert built.risk_exact == exact_fit.risk_exact  # the best affine risk, exactly
    assert built.certificate.is_minimum and built.certificate.arithmetic.value == "exact"
    assert built.witness is not None and built.witness.risk_exact < built.risk_exact  # spurious, exactly
    path = valley_path(built, [Fraction(1, 64), Fraction(3, 128), built.alpha])
    assert {cs.risk_exact(built.arch, layers, data.X, data.y) for layers in path} == {built.risk_exact}


def test_three_point_set_half_sse_one_third_and_a_better_point():
    three = cs.load_data("builtin:three-point")
    built = linear_region_minimum(three.X_exact, three.y_exact, hidden=[2], exact=True)
    assert 3 * built.risk_exact == Fraction(1, 3)
    assert built.certificate.is_minimum and built.certificate.arithmetic.value == "exact"
    # the fitted values are all 1/3, so no kink of them helps: the witness comes from optimisation, checked
    assert built.witness is not None and built.witness.component == -1
    assert built.witness.risk_exact < built.risk_exact


@pytest.mark.parametrize(("loss", "name"), [("logistic", "spirals"), ("cross_entropy", "xor")])
def test_classification_losses_where_the_affine_optimum_is_attained(loss, name):
    data = cs.load_data(f"builtin:{name}", seed=0)
    y = data.y if loss == "logistic" else (data.y > 0.5).astype(float)
    if loss == "cross_entropy":
        y = y.astype(int).astype(float)  # class indices 0/1
    built = linear_region_minimum(data.X, y, hidden=[3], loss=loss)
    assert built.affine_fit.attained
    assert built.risk == pytest.approx(built.affine_fit.risk, rel=1e-8)
    assert built.certificate.is_minimum, built.certificate.message


def test_refusals_name_the_reason():
    data = cs.load_data("builtin:nonaffine", seed=0)
    with pytest.raises(CellscapeError, match="linear"):
        linear_region_minimum(data.X, data.y, hidden=[3], activation="identity")
    separable = cs.load_data("builtin:separable", seed=0)
    with pytest.raises(CellscapeError, match="not attained"):
        linear_region_minimum(separable.X, separable.y, hidden=[3], loss="logistic")
    with pytest.raises(CellscapeError, match="leaves the piece"):
        linear_region_minimum(data.X, data.y, hidden=[3], activation="hardtanh", alpha=100)


def test_one_hidden_layer_cell_minimising_set_sampler_and_path():
    from cellscape.constructions.he2020 import cell_minimum_set

    data = cs.load_data("builtin:nonaffine", seed=0, n_samples=24)
    arch = cs.mlp(1, [3], 1)
    trained = cs.gradient_descent(arch, cs.init_params(arch, batch=8, seed=0), data.X, data.y, lr=0.1, steps=40000,
                                  gtol=1e-12)
    certificates = cs.certify(arch, trained.params, data.X, data.y)
    minima = [b for b, c in enumerate(certificates) if c.is_minimum and c.n_ties == 0]
    assert minima
    by_cell = {}
    for b in minima:
        cell = cs.activation_pattern(arch, trained.params[b], data.X).cell(0)
        by_cell.setdefault(cell, []).append(b)
        cm = cell_minimum_set(arch, trained.params[b], data.X, data.y, exact=True)
        assert cm.attained_here
        assert float(cm.risk_star_exact) == pytest.approx(cm.risk_star, rel=1e-12)  # closed form, two ways
        points = cm.sample(4, seed=b)
        assert len(points) == 4
        for p in points:
            assert float(cs.risk(arch, p, data.X, data.y)[0]) == pytest.approx(cm.risk_star, rel=1e-10)
            np.testing.assert_allclose(np.asarray(cs.forward(arch, p, data.X))[0, :, 0], cm.outputs_star, atol=1e-8)
        path = cm.path(points[0], points[-1], n_points=9)
        risks = [float(cs.risk(arch, p, data.X, data.y)[0]) for p in path]
        np.testing.assert_allclose(risks, cm.risk_star, rtol=1e-10)
        assert len({cs.activation_pattern(arch, p, data.X).cell(0) for p in path}) == 1
    # all minima found in one cell share its optimal risk and training outputs
    for members in by_cell.values():
        outputs = [np.asarray(cs.forward(arch, trained.params[b], data.X))[0, :, 0] for b in members]
        for o in outputs[1:]:
            np.testing.assert_allclose(o, outputs[0], atol=1e-7)


@pytest.mark.parametrize("activation", ["relu", "leaky_relu:1/4", "pwl:0:1/2,1:0"])
def test_ysj_kink_pair_matches_its_exact_formula(activation):
    from cellscape.constructions.he2020 import kink_pair_point

    data = cs.load_data("builtin:nonaffine", seed=2, n_samples=12)
    X = [[Fraction(v).limit_denominator(64) for v in row] for row in data.X]  # rational data
    y = [Fraction(v).limit_denominator(64) for v in data.y[:, 0]]
    point = kink_pair_point(X, y, activation=activation)
    arch = cs.mlp(1, [2], 1, activation=activation)
    n = len(y)
    sum_loss = n * cs.risk_exact(arch, point.layers, X, [[v] for v in y])  # the mean, times n: the summed loss
    assert sum_loss == point.predicted_sum_loss  # l0 - 2 c gamma S + m c^2 gamma^2 / 2, exactly
    l0 = n * cs.best_affine_fit(X, y, exact=True).risk_exact
    assert sum_loss < l0  # strictly better than the linear-region minimum: it is spurious


@pytest.mark.parametrize("activation", ["relu", "leaky_relu:0.1", "hardtanh:-1,1", "pwl:-1,1:0,1,0:0"])
def test_linear_region_start_puts_every_unit_in_one_piece(activation):
    from cellscape.constructions import linear_region_start
    from cellscape.constructions.he2020 import _carry_piece

    arch = cs.mlp(2, [4, 3], 1, activation=activation)
    X = np.random.default_rng(0).normal(size=(30, 2)) * 3
    start = linear_region_start(arch, cs.init_params(arch, batch=5, seed=1), X)
    pattern = cs.activation_pattern(arch, start, X)
    piece = _carry_piece(arch.activations[0])[0]
    assert all(np.all(p == piece) for p in pattern.pieces) and np.all(pattern.min_margin() > 0)
    original = cs.init_params(arch, batch=5, seed=1)
    np.testing.assert_array_equal(start.weights[-1], original.weights[-1])  # output layer kept
