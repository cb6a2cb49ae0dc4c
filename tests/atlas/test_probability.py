"""Genuine-minimum probabilities: the Wilson interval by hand, the closed-form 1-D criterion against the cell LP
(float and exact), the Monte Carlo map's shape (theory 3.6), and the general estimator against the map and against
the parallel-weights facts of theory 3.6."""

import math
from fractions import Fraction

import numpy as np
import pytest

from cellscape.atlas.cell_solve import solve_cell
from cellscape.atlas.model import AtlasModel
from cellscape.atlas.probability import (
    genuine_1d,
    genuine_probability,
    probability_map_1d,
    wilson_interval,
)
from cellscape.exceptions import InvalidInputError

Z95 = 1.959963984540054  # Phi^{-1}(0.975)
ONE_UNIT = AtlasModel.build(width=1)


# ---------------------------------------------------------------------------------------------- Wilson
def test_wilson_interval_by_hand():
    # k = 0: (0, z^2 / (n + z^2)); k = n: (n / (n + z^2), 1)
    assert wilson_interval(0, 10) == (0.0, pytest.approx(Z95**2 / (10 + Z95**2), rel=1e-14))
    assert wilson_interval(10, 10) == (pytest.approx(10 / (10 + Z95**2), rel=1e-14), 1.0)
    # k = 5, n = 10: centred at 1/2, half-width z / (1 + z^2/10) * sqrt(1/40 + z^2/400)
    low, high = wilson_interval(5, 10)
    half = Z95 / (1 + Z95**2 / 10) * math.sqrt(1 / 40 + Z95**2 / 400)
    assert (low, high) == (pytest.approx(0.5 - half, rel=1e-14), pytest.approx(0.5 + half, rel=1e-14))


def test_wilson_interval_vectorised_and_nested():
    k = np.array([[0, 3], [7, 20]])
    low, high = wilson_interval(k, np.full(k.shape, 20))
    assert low.shape == high.shape == (2, 2)
    assert np.all(low <= k / 20) and np.all(k / 20 <= high)
    narrow = wilson_interval(3, 20, confidence=0.5)
    assert low[0, 1] < narrow[0] < narrow[1] < high[0, 1]


@pytest.mark.parametrize("args, kwargs", [((3, 2), {}), ((-1, 2), {}), ((0, 0), {}), ((1.5, 2), {}),
                                          ((1, 2), {"confidence": 1.0})])
def test_wilson_interval_rejects_bad_counts(args, kwargs):
    with pytest.raises(InvalidInputError, match="wilson_interval"):
        wilson_interval(*args, **kwargs)


# ---------------------------------------------------------------------------------------------- the 1-D criterion
F = Fraction
# (x, y, t, orientation, genuine): hand-checked instances, exact
HAND_CASES = {
    "relu-fit": ([-2, -1, 1, 2], [0, 0, 1, 2], F(1, 2), 1, True),  # line y = x, zero 0 in (-1, 1)
    "zero-outside-gap": ([-2, -1, 1, 2], [0, 0, 1, 2], F(-3, 2), 1, False),  # zero -8/9 not in (-2, -1)
    "wrong-slope": ([-2, -1, 1, 2], [0, 0, 2, 1], F(1, 2), -1, False),  # active x < 1/2: fit y = 0, flat
    "mirror": ([2, 1, -1, -2], [0, 0, 1, 2], F(-1, 2), -1, True),  # relu(-x), active on x < -1/2
    "all-off": ([-1, 0, 1], [5, -3, 2], 3, 1, True),  # flat cell: every point is a minimum
    "one-active-positive": ([-1, 0, 1], [5, -3, 2], F(1, 2), 1, True),  # a steep line through (1, 2)
    "one-active-negative": ([-1, 0, 1], [5, -3, -2], F(1, 2), 1, False),
    "repeated-active": ([0, 1, 1], [0, 1, 3], F(1, 2), 1, True),  # mean 2 at x = 1
    "repeated-active-negative": ([0, 1, 1], [0, 1, -3], F(1, 2), 1, False),
    "all-active-positive": ([-1, 0, 1], [1, 2, 3], -5, 1, True),  # y = x + 2 > 0 on [-1, 1]
    "all-active-crossing": ([-1, 0, 1], [-1, 0, 3], -5, 1, False),
    "zero-on-a-sample": ([-1, 0, 1, 2], [0, 0, 1, 2], F(-1, 2), 1, False),  # the line is 0 at the active x = 0
    "one-sample": ([1], [1], 0, 1, True),
}


@pytest.mark.parametrize("name", sorted(HAND_CASES))
def test_genuine_1d_hand_cases_agree_with_exact_solve_cell(name):
    x, y, t, o, expected = HAND_CASES[name]
    assert genuine_1d(x, y, t, o, exact=True).genuine is expected
    assert bool(genuine_1d(x, y, float(t), o).genuine) is expected
    patterns = [[o * (xn - t) > 0 for xn in x]]  # dyadic data: the floats below are the same rationals
    sol = solve_cell(np.array(x, dtype=float)[:, None], np.array(y, dtype=float), patterns, ONE_UNIT, exact=True)
    assert sol.genuine is expected
    if sol.dimension == 0:
        assert sol.arithmetic == "exact"


def test_genuine_1d_reports_the_line_and_the_gap():
    res = genuine_1d([-2, -1, 1, 2], [0, 0, 1, 2], "-3/2", 1, exact=True)
    # by hand: active (-1, 0), (1, 1), (2, 2): xbar 2/3, slope 3 / (42/9) = 9/14, intercept 1 - 9/14 * 2/3 = 4/7
    assert (res.slope, res.intercept, res.n_active) == (F(9, 14), F(4, 7), 3)
    assert (res.gap_low, res.gap_high) == (-2, -1)
    flat = genuine_1d([0.0, 1.0, 1.0], [0.0, 1.0, 3.0], 0.5, 1)
    assert math.isnan(flat.slope) and flat.genuine  # two active samples at one input: no unique line
    left = genuine_1d([0.0, 1.0, 3.0], [0.0, 1.0, 3.0], 2.0, -1)
    assert (left.gap_low, left.gap_high, left.n_active) == (1.0, 3.0, 2)


def _random_instance(rng):
    N = int(rng.integers(1, 13))
    x = rng.normal(size=N)
    if N > 2 and rng.random() < 0.2:
        x[: N // 2] = x[0]  # repeated inputs: rank-deficient cells go through the LP
    y = np.maximum(x, 0.0) * rng.choice([1.0, -1.0, 0.5]) + rng.normal(size=N) * rng.choice([0.01, 0.1, 1.0])
    return x, y, float(rng.normal() * 1.5), int(rng.choice([1, -1]))


def test_genuine_1d_agrees_with_solve_cell_on_random_instances():
    rng = np.random.default_rng(7)
    verdicts = []
    for _ in range(1000):
        x, y, t, o = _random_instance(rng)
        ours = genuine_1d(x, y, t, o).genuine
        sol = solve_cell(x[:, None], y, (o * (x - t) > 0)[None], ONE_UNIT)
        assert sol.genuine is ours, (x, y, t, o, sol.slack)
        verdicts.append(ours)
    assert 0.2 < np.mean(verdicts) < 0.8  # both verdicts well represented


def test_genuine_1d_exact_agrees_with_exact_solve_cell_on_rational_instances():
    rng = np.random.default_rng(3)
    for _ in range(6):
        N = int(rng.integers(4, 9))
        x = rng.integers(-16, 17, size=N) / 8  # dyadic: exact in floats
        y = np.maximum(x, 0) + rng.integers(-2, 3, size=N) / 16
        t, o = float(rng.integers(-8, 9)) / 8 + 1 / 32, int(rng.choice([1, -1]))
        ours = genuine_1d([F(v) for v in x], [F(v) for v in y], F(t), o, exact=True)
        sol = solve_cell(x[:, None], y, (o * (x - t) > 0)[None], ONE_UNIT, exact=True)
        assert sol.genuine is ours.genuine
        assert bool(genuine_1d(x, y, t, o).genuine) is ours.genuine


def test_genuine_1d_batch_matches_single():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(50, 9))
    y = np.maximum(x, 0) + 0.3 * rng.normal(size=x.shape)
    batch = genuine_1d(x, y, 0.2, 1)
    assert batch.genuine.shape == batch.n_active.shape == (50,)
    for b in range(50):
        single = genuine_1d(x[b], y[b], 0.2, 1)
        assert single.genuine == batch.genuine[b] and single.n_active == batch.n_active[b]
        np.testing.assert_equal(single.slope, batch.slope[b])


@pytest.mark.parametrize("kwargs, match", [
    ({"orientation": 0}, "orientation"),
    ({"orientation": True}, "orientation"),
    ({"y": [1.0, 2.0]}, "y"),
    ({"x": [[0.0, 1.0, 2.0]], "y": [[0.0, 1.0, 2.0]], "exact": True}, "x"),
])
def test_genuine_1d_rejects_bad_input(kwargs, match):
    args = {"x": [0.0, 1.0, 2.0], "y": [0.0, 1.0, 2.0], "t": 0.5, "orientation": 1} | kwargs
    with pytest.raises(InvalidInputError, match=f"`{match}` of `genuine_1d`"):
        genuine_1d(**args)


# ---------------------------------------------------------------------------------------------- the map
def test_probability_map_1d_template():
    # theory 3.6's template: x ~ N(0,1), y = relu(x) + 0.1 N(0,1). 4000 draws per N: a Wilson half-width of at
    # most ~0.016, so the bounds below hold with a wide margin (estimates seen: 0.77, 0.73, 0.66, 0.55 in the
    # teacher's cell; 0.56 -> 0.0 at t = 1 and 0.03 -> 0.0 at t = -1)
    res = probability_map_1d([-1, -0.5, 0, 0.5, 1], [1, -1], [10, 20, 40, 80], draws=4000, seed=0)
    assert res.estimate.shape == res.low.shape == res.high.shape == (5, 2, 4)
    teacher = res.estimate[2, 0]
    assert np.all(res.low[2, 0] > 0.45)  # the teacher's cell (t = 0, orientation +1) stays likely
    for i in (0, 1, 3, 4):  # elsewhere (orientation +1) it decays: N = 80 is far below N = 10
        assert res.high[i, 0, 3] < res.low[i, 0, 0]
        assert res.estimate[i, 0, 3] < 0.01 and np.all(res.estimate[i, 0] < teacher)
    for i in (0, 4):
        assert np.all(np.diff(res.estimate[i, 0]) <= 0)
    assert np.all(res.estimate[:, 1, 3] < 0.05)  # orientation -1 cells: all small by N = 80


def test_probability_map_1d_agrees_with_genuine_probability():
    # same seed protocol: genuine_probability on the generator default_rng((seed, N)) sees the map's data, so the
    # solve_cell verdicts and the closed form count exactly the same draws
    seed, draws = 5, 150
    res = probability_map_1d([-0.5, 0.0, 1.0], [1, -1], [8, 20], draws=draws, seed=seed)
    for i, t in enumerate(res.thresholds):
        for k, o in enumerate(res.orientations):
            for j, N in enumerate(res.Ns):
                W = [[float(o), -float(o * t)]]  # o (x - t) > 0
                mc = genuine_probability(W, n_samples=int(N), draws=draws, seed=np.random.default_rng((seed, N)))
                assert mc.n_genuine == res.n_genuine[i, k, j] and mc.n_undecided == 0
                assert (mc.low, mc.high) == (res.low[i, k, j], res.high[i, k, j])


def test_noise_free_teacher_cell_is_always_genuine():
    res = probability_map_1d([0.0], [1], [5, 50], draws=200, seed=1, noise=0.0)
    assert np.all(res.n_genuine == 200)
    custom = probability_map_1d([0.0], [-1], [5, 50], draws=200, seed=1, noise=0.0, teacher=[[-1.0, 0.0]])
    assert np.all(custom.n_genuine == 200)  # relu(-x): its cell is "active on x < 0"
    same = probability_map_1d([0.0], [-1], [5, 50], draws=200, seed=1, noise=0.0,
                              teacher=lambda X: np.maximum(-X[:, 0], 0.0))
    np.testing.assert_array_equal(same.n_genuine, custom.n_genuine)


@pytest.mark.parametrize("kwargs, match", [
    ({"orientations": [2]}, "orientations"),
    ({"Ns": [0]}, "Ns"),
    ({"Ns": []}, "thresholds"),
    ({"draws": 0}, "draws"),
    ({"noise": -0.1}, "noise"),
    ({"teacher": [[1.0, 0.0, 0.0]]}, "teacher"),
])
def test_probability_map_1d_rejects_bad_input(kwargs, match):
    args = {"thresholds": [0.0], "orientations": [1], "Ns": [10], "draws": 10} | kwargs
    with pytest.raises(InvalidInputError, match=f"`{match}` of `probability_map_1d`"):
        probability_map_1d(**args)


# ---------------------------------------------------------------------------------------------- general estimator
def test_parallel_weights_follow_theory():
    # theory 3.6: co-oriented parallel units share one cell. Positive outputs: genuine iff the common fit zbar is in
    # the cell, the one-unit verdict draw by draw. Mixed signs or trained outputs: always genuine.
    W1, W2 = [[1.0, -0.3]], [[1.0, -0.3], [2.0, -0.6]]
    for N in (10, 25):
        one = genuine_probability(W1, n_samples=N, draws=120, seed=3)
        two = genuine_probability(W2, n_samples=N, draws=120, seed=3, model=AtlasModel.build(width=2))
        np.testing.assert_array_equal(one.verdicts, two.verdicts)
        for outputs in ("signs", "trained"):
            mixed = genuine_probability(W2, n_samples=N, draws=60, seed=3,
                                        model=AtlasModel.build(width=2, outputs=outputs))
            assert mixed.n_genuine == 60 and mixed.estimate == 1.0


def test_genuine_probability_in_two_dimensions():
    teacher = [[0.8, -0.6, 0.1], [0.3, 0.9, -0.2]]
    model = AtlasModel.build(width=2)
    exact_fit = genuine_probability(teacher, n_samples=30, model=model, teacher=teacher, noise=0.0, draws=40,
                                    seed=0, d=2)
    assert exact_fit.estimate == 1.0  # noise-free: the fit is the teacher, inside its own cell
    away = genuine_probability([[0.8, -0.6, 1.5], [-0.3, 0.9, -0.2]], n_samples=30, model=model, teacher=teacher,
                               noise=0.1, draws=40, seed=0)
    assert away.high < 0.2 and away.verdicts.shape == (40,)
    assert set(away.to_dict()) >= {"estimate", "low", "high", "n_genuine", "draws"}


@pytest.mark.parametrize("kwargs, match", [
    ({"cell": [[1.0]]}, "cell"),
    ({"d": 2}, "d"),
    ({"model": AtlasModel.build(width=2)}, "model"),
    ({"n_samples": 0}, "n_samples"),
    ({"draws": 0}, "draws"),
    ({"seed": -1}, "seed"),
    ({"teacher": lambda X: X[:2, 0]}, "teacher"),
])
def test_genuine_probability_rejects_bad_input(kwargs, match):
    args = {"cell": [[1.0, 0.0]], "n_samples": 5, "draws": 3} | kwargs
    with pytest.raises(InvalidInputError, match=f"`{match}` of `genuine_probability`"):
        genuine_probability(**args)


@pytest.mark.montecarlo
def test_teacher_cell_decays_slowly_with_noise():
    # with noise the fitted zero wanders by O(sigma / sqrt(N)) while the gap shrinks as O(1/N), so even the
    # teacher's cell decays, like N^{-1/2} (seen: 0.48, 0.29, 0.17 at N = 160, 640, 2560): each factor 4 in N
    # should divide the estimate by about 2 (between 1.3 and 2.8 allowed at 8000 draws, half-width ~0.011)
    res = probability_map_1d([0.0], [1], [160, 640, 2560], draws=8000, seed=11)
    p = res.estimate[0, 0]
    assert np.all(res.high[0, 0, 1:] < res.low[0, 0, :-1])
    assert np.all((1.3 < p[:-1] / p[1:]) & (p[:-1] / p[1:] < 2.8))
