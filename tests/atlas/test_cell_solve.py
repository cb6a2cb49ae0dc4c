"""Per-cell least squares and genuineness: batched against one-at-a-time, floats against exact rationals, the
closed form against a brute-force fit, and a teacher's cell."""

import numpy as np
import pytest
import scipy.optimize

from cellscape.atlas import AtlasModel, iter_cells, solve_cell, solve_cells, unit_patterns


def _data(seed, N=14, d=2):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(N, d))
    return X, np.sin(2 * X[:, 0]) + 0.5 * X[:, 1] + 0.1 * rng.normal(size=N)


MODELS = [dict(outputs="positive"), dict(outputs="signs"), dict(outputs="trained"),
          dict(outputs="positive", activation="leaky_relu:1/10"), dict(outputs="signs", output_bias=True),
          dict(outputs="positive", activation="pwl:1/2:1/4,2:0")]


@pytest.mark.parametrize("options", MODELS)
def test_batched_solver_matches_one_cell_at_a_time(options):
    X, y = _data(1)
    model = AtlasModel.build(width=2, **options)
    units = unit_patterns(X)
    cells = list(iter_cells(model, units.n_cells))
    picks = np.random.default_rng(0).choice(len(cells), 60, replace=False)
    batch = solve_cells(X, y, units.patterns, [cells[i] for i in picks], model)
    for b, i in enumerate(picks):
        one = solve_cell(X, y, units.patterns[list(cells[i])], model)
        assert one.risk == pytest.approx(batch["risk"][b], rel=1e-9, abs=1e-13)
        assert one.rank == batch["rank"][b]
        assert one.genuine == bool(batch["genuine"][b])


@pytest.mark.parametrize("options", MODELS[:4])
def test_cell_risk_is_the_least_squares_optimum_by_brute_force(options):
    X, y = _data(2, N=10)
    model = AtlasModel.build(width=2, **options)
    units = unit_patterns(X)
    rng = np.random.default_rng(3)
    Xt = np.hstack([X, np.ones((len(X), 1))])
    s_lo, s_hi = (float(s) for s in model.slopes)

    def risk(z, patterns):  # the network's output in this cell, written directly
        out = sum(model.signs[k] * np.where(patterns[k], s_hi, s_lo) * (Xt @ z[3 * k:3 * k + 3]) for k in range(2))
        return 0.5 * np.mean((out - y) ** 2)

    for i in rng.choice(units.n_cells, 5):
        patterns = units.patterns[[i, rng.integers(units.n_cells)]]
        sol = solve_cell(X, y, patterns, model)
        best = scipy.optimize.minimize(risk, np.zeros(6), args=(patterns,), method="BFGS",
                                       options={"gtol": 1e-12}).fun
        assert sol.risk == pytest.approx(best, rel=1e-7, abs=1e-12)


@pytest.mark.parametrize("seed", range(6))
def test_exact_genuineness_agrees_with_the_float_lp(seed):
    X, y = _data(seed, N=9)
    model = AtlasModel.build(width=2, outputs=["positive", "signs", "trained"][seed % 3])
    units = unit_patterns(X)
    cells = list(iter_cells(model, units.n_cells))
    batch = solve_cells(X, y, units.patterns, cells, model)
    rng = np.random.default_rng(seed)
    genuine = np.nonzero(batch["genuine"])[0]
    others = np.nonzero(~batch["genuine"])[0]
    for i in list(rng.choice(genuine, min(4, len(genuine)), replace=False)) + list(rng.choice(others, 4)):
        sol = solve_cell(X, y, units.patterns[list(cells[i])], model, exact=True)
        assert sol.genuine == bool(batch["genuine"][i])
        assert float(sol.risk_exact) == pytest.approx(batch["risk"][i], rel=1e-9, abs=1e-14)
        if sol.genuine:
            assert sol.arithmetic == "exact"
            Xt = np.hstack([X, np.ones((len(X), 1))])
            for k in range(2):  # the reported point is inside the cell
                sign = sol.branch[k] if model.outputs.value == "trained" else 1
                margins = sign * (Xt @ sol.z[k])
                assert np.all((margins > 0) == units.patterns[cells[i][k]])


def test_a_teachers_cell_is_genuine_and_holds_the_teacher():
    rng = np.random.default_rng(5)
    X = rng.integers(-16, 17, size=(30, 2)) / 8  # dyadic data and teacher: the targets are exact in floats
    W = np.array([[1.0, -0.5, 0.25], [-0.75, 0.5, 0.125]])  # (w, b) per unit
    Xt = np.hstack([X, np.ones((30, 1))])
    y = np.maximum(Xt @ W.T, 0).sum(axis=1)
    model = AtlasModel.build(width=2)
    sol = solve_cell(X, y, (Xt @ W.T > 0).T, model, exact=True)
    assert sol.genuine and sol.arithmetic == "exact" and sol.risk_exact == 0 and sol.dimension == 0
    np.testing.assert_allclose(sol.z, W, atol=1e-12)


def test_the_exact_check_can_prove_what_floats_cannot_and_units_do_not_matter():
    model = AtlasModel.build(width=1)
    # the line through (0, 2^-40) and (1, 1) is strictly positive on both samples, by 2^-40 only
    sol = solve_cell([[0.0], [1.0]], [2.0**-40, 1.0], [[True, True]], model, exact=True)
    assert sol.genuine and sol.arithmetic == "exact" and sol.risk_exact == 0
    X = np.random.default_rng(0).normal(size=(8, 1))
    y = np.maximum(X[:, 0], 0.0) + 0.01
    verdicts = {solve_cell(X, scale * y, [X[:, 0] > 0], model).genuine for scale in (1.0, 1e-10, 1e10)}
    assert verdicts == {True}
