from fractions import Fraction

import numpy as np
import pytest

import cellscape as cs
from cellscape.lines import line_restriction


def _instance(arch, loss, seed):
    rng = np.random.default_rng(seed)
    X = rng.integers(-8, 9, size=(6, arch.d_in)) / 8
    if loss == "hinge":
        y = rng.choice([-1.0, 1.0], size=(6, 1))
    else:
        y = rng.integers(-8, 9, size=(6, arch.d_out)) / 8
    return X, y, cs.init_params(arch, seed=seed + 1), cs.init_params(arch, seed=seed + 2)


CASES = [
    (cs.mlp(2, [3], 1), "squared"),
    (cs.mlp(2, [3], 2, activation="hardtanh"), "huber:1/4"),
    (cs.mlp(2, [3, 2], 1, activation="leaky_relu:1/4"), "squared"),
    (cs.mlp(2, [3, 2], 1), "absolute"),
    (cs.mlp(2, [3], 1), "hinge"),
]


@pytest.mark.parametrize(("arch", "loss"), CASES)
@pytest.mark.parametrize("seed", range(3))
def test_exact_line_matches_the_float_risk_and_degrees(arch, loss, seed):
    X, y, theta, delta = _instance(arch, loss, seed)
    line = line_restriction(arch, theta, X, y, delta, loss=loss, t_min=-2, t_max=2)
    flat0 = np.asarray(cs.flatten_params(arch, theta))
    d = np.asarray(cs.flatten_params(arch, delta))
    ts = np.linspace(-2, 2, 81)
    floats = np.asarray(cs.risk(arch, flat0 + ts[:, None] * d, X, y, loss=loss))
    exact = np.array([float(line(Fraction(t))) for t in ts])
    np.testing.assert_allclose(exact, floats, rtol=1e-12, atol=1e-14)
    cap = 2 * arch.n_layers if loss in ("squared",) or loss.startswith("huber") else arch.n_layers
    assert all(len(s.coefficients) - 1 <= cap for s in line.segments)
    # consecutive segments agree at the kink between them (the risk is continuous)
    for left, right in zip(line.segments, line.segments[1:]):
        if isinstance(left.t_end, Fraction):
            assert left(left.t_end) == right(left.t_end)


@pytest.mark.parametrize("seed", range(4))
def test_one_hidden_layer_kinks_are_exact_and_complete(seed):
    arch = cs.mlp(2, [3], 1)
    X, y, theta, delta = _instance(arch, "squared", seed)
    line = line_restriction(arch, theta, X, y, delta, t_min=-3, t_max=3)
    assert all(k.exact for k in line.kinks)
    # by hand: z(t) = (w + t dw) . x + (b + t db) vanishes at t = -z0 / z1
    W, b = (np.asarray(a)[0] for a in (theta.weights[0], theta.biases[0]))
    dW, db = (np.asarray(a)[0] for a in (delta.weights[0], delta.biases[0]))
    expected = set()
    for k in range(3):
        for i in range(len(X)):
            z0 = Fraction(float(W[k] @ X[i])) + Fraction(float(b[k]))
            z1 = Fraction(float(dW[k] @ X[i])) + Fraction(float(db[k]))
            # (floats are exact dyadics here only approximately: compare in floats)
            if z1 != 0 and -3 < -z0 / z1 <= 3:
                expected.add(round(float(-z0 / z1), 9))
    assert {round(float(k.t), 9) for k in line.kinks} == expected


def test_deep_kinks_bracket_a_crossing():
    arch = cs.mlp(2, [3, 2], 1, activation="leaky_relu:1/4")
    X, y, theta, delta = _instance(arch, "squared", 0)
    line = line_restriction(arch, theta, X, y, delta, t_min=-2, t_max=2)
    flat0 = np.asarray(cs.flatten_params(arch, theta))[0]
    d = np.asarray(cs.flatten_params(arch, delta))[0]
    inexact = [k for k in line.kinks if not k.exact]
    assert inexact  # layer-2 pre-activations are quadratic in t: irrational kinks occur
    for k in line.kinks:
        lo, hi = k.interval
        eps = 1e-7
        z = [np.asarray(cs.pre_activations(arch, flat0 + t * d, X)[k.layer - 1])[0, k.sample, k.unit]
             for t in (lo - eps, hi + eps)]
        assert z[0] * z[1] <= 0  # the kink's pre-activation changes sign across its interval


def test_many_kinks_each_sample_swept_again_only_at_its_own():
    # 20 units on 60 samples: hundreds of kinks, so the pending-kink heap and the per-sample re-sweeps are
    # exercised; every kink is z_k(x_i) = 0 at t = -z0 / z1 (by hand, in rationals), and the pieces give the float
    # risk between them
    arch = cs.mlp(3, [20], 1)
    rng = np.random.default_rng(7)
    X = rng.integers(-8, 9, size=(60, 3)) / 8
    y = rng.integers(-8, 9, size=(60, 1)) / 8
    theta, delta = cs.init_params(arch, seed=1), cs.init_params(arch, seed=2)
    line = line_restriction(arch, theta, X, y, delta, t_min=-1, t_max=1)
    W, b = (np.asarray(a)[0] for a in (theta.weights[0], theta.biases[0]))
    dW, db = (np.asarray(a)[0] for a in (delta.weights[0], delta.biases[0]))
    expected = []
    for k in range(20):
        for i in range(len(X)):
            z0 = sum(Fraction(float(W[k, j])) * Fraction(float(X[i, j])) for j in range(3)) + Fraction(float(b[k]))
            z1 = sum(Fraction(float(dW[k, j])) * Fraction(float(X[i, j])) for j in range(3)) + Fraction(float(db[k]))
            if z1 != 0 and -1 < -z0 / z1 <= 1:
                expected.append(-z0 / z1)
    assert len(expected) > 300
    assert sorted(k.t for k in line.kinks) == sorted(expected)
    ts = np.linspace(-1, 1, 41)
    flat_t, flat_d = (np.asarray(cs.flatten_params(arch, p))[0] for p in (theta, delta))
    floats = np.asarray(cs.risk(arch, cs.unflatten_params(arch, flat_t[None] + ts[:, None] * flat_d[None]), X, y))
    np.testing.assert_allclose([float(line(t)) for t in ts], floats, rtol=1e-12)
