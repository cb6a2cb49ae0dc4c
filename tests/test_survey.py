import dataclasses
import json

import numpy as np
import pytest

import cellscape as cs
from cellscape.data import load_data
from cellscape.exceptions import InvalidInputError
from cellscape.losses import parse_loss
from cellscape.networks import forward, init_params, mlp
from cellscape.survey import EndpointCategory, SurveyConfig, _group_by_risk, group_by_function, run_survey
from cellscape.training import gradient_descent


def test_survey_reproducible_and_consistent():
    config = SurveyConfig(runs=8, steps=300, hidden=(8,), seed=3)
    a, b = run_survey(config), run_survey(config)
    assert a.to_dict() == b.to_dict()
    assert sorted(i for g in a.groups for i in g.runs) == list(range(8))
    assert a.best_risk == min(r.risk for r in a.runs)
    for g in a.groups:
        members = [a.runs[i] for i in g.runs]
        assert all(r.group == g.index for r in members)
        assert g.risk_max <= g.risk_min * (1 + config.risk_rtol) + 1e-12
    json.dumps(a.to_dict())  # JSON-ready


def test_survey_beats_the_best_affine_fit_on_nonaffine_data():
    data = load_data("builtin:nonaffine", seed=0)
    result = run_survey(SurveyConfig(runs=8, steps=3000, hidden=(8,), seed=0), dataset=data)
    assert result.best_risk < data.info["best_affine_risk"]
    assert all(r.radius >= 0 for r in result.runs)


def test_grouping_by_hand():
    labels = _group_by_risk(np.array([1.0, 1.0005, 2.0, 1.002, np.inf]), 1e-3)
    assert list(labels) == [0, 0, 2, 1, 3]


# ------------------------------------------------------------------------------------ certified endpoints
# The 3-point set with a 2-2-1 ReLU network: runs end at the zero-risk fit (a minimum on a cell boundary: both
# units are off exactly at the middle point), at risk 1/12 minima and at the best affine fit (risk 1/9).
THREE_POINT = SurveyConfig(data="builtin:three-point", hidden=(2,), runs=16, steps=3000, seed=0)


@pytest.fixture(scope="module")
def three_point():
    data = load_data(THREE_POINT.data)
    return data, run_survey(THREE_POINT, dataset=data)


def _endpoints(config, data):
    """The endpoints of ``run_survey(config)``, trained again exactly as the survey trains them."""
    loss = parse_loss(config.loss)
    arch = mlp(data.d_in, list(config.hidden), loss.output_width(data.y), activation=config.activation)
    trained = gradient_descent(arch, init_params(arch, batch=config.runs, seed=config.seed), data.X, data.y,
                               loss=loss, lr=config.lr, steps=config.steps, gtol=config.gtol,
                               chunk=max(1, min(1000, config.steps)))
    return arch, trained


def test_categories_cover_every_run_and_counts_add_up(three_point):
    _, result = three_point
    assert all(isinstance(r.category, EndpointCategory) for r in result.runs)
    assert set(result.counts) == {c.value for c in EndpointCategory}
    assert sum(result.counts.values()) == len(result.runs) == THREE_POINT.runs
    for c in EndpointCategory:
        assert result.counts[c.value] == sum(r.category is c for r in result.runs)
    assert result.n_on_boundary == sum(r.on_boundary for r in result.runs)
    for r in result.runs:
        minimum = r.status in ("strict_minimum", "nonstrict_minimum", "minimum")
        assert minimum == (r.category in (EndpointCategory.GLOBAL, EndpointCategory.SPURIOUS))
        assert (r.status == "saddle") == (r.category is EndpointCategory.SADDLE)
        assert not r.on_boundary or minimum


def test_lowest_certified_minimum_is_global(three_point):
    _, result = three_point
    minima = [r for r in result.runs if r.category in (EndpointCategory.GLOBAL, EndpointCategory.SPURIOUS)]
    assert minima, "the survey should certify some minimum"
    lowest = min(r.risk for r in minima)
    for r in minima:
        within = r.risk <= lowest * (1 + THREE_POINT.risk_rtol) + 1e-12
        assert (r.category is EndpointCategory.GLOBAL) == within
    assert result.minima[0].category is EndpointCategory.GLOBAL and result.minima[0].risk == lowest
    assert [m.risk for m in result.minima] == sorted(m.risk for m in result.minima)


def test_distinct_minima_group_runs_whose_predictions_agree(three_point):
    data, result = three_point
    arch, trained = _endpoints(THREE_POINT, data)
    np.testing.assert_array_equal(trained.risk, [r.risk for r in result.runs])  # the same endpoints
    yhat = np.asarray(forward(arch, trained.params, data.X))
    grouped = sorted(b for m in result.minima for b in m.runs)
    assert grouped == sorted(r.index for r in result.runs if r.category.value in ("global", "spurious"))
    assert sum(m.count for m in result.minima) == len(grouped)
    representatives = []
    for m in result.minima:
        first = min(m.runs, key=lambda b: (result.runs[b].risk, b))
        representatives.append(first)
        for b in m.runs:
            scale = 1 + max(np.abs(yhat[b]).max(), np.abs(yhat[first]).max())
            assert np.abs(yhat[b] - yhat[first]).max() <= 1e-6 * scale
        assert m.on_boundary == any(result.runs[b].on_boundary for b in m.runs)
    for i, a in enumerate(representatives):  # different minima compute different functions on the data
        for b in representatives[i + 1:]:
            assert np.abs(yhat[a] - yhat[b]).max() > 1e-6
    # the zero-risk fit sits on a cell boundary
    assert result.minima[0].risk < 1e-12 and result.minima[0].on_boundary


def test_distinct_minima_carry_their_representative_through_json(three_point):
    data, result = three_point
    arch, trained = _endpoints(THREE_POINT, data)
    payload = json.loads(json.dumps(result.to_dict()))
    for m, stored in zip(result.minima, payload["minima"]):
        assert m.representative == min(m.runs, key=lambda b: (result.runs[b].risk, b))
        layers = [(np.array(W), np.array(b)) for W, b in stored["params"]]
        for (W, b), (W_run, b_run) in zip(layers, trained.params[m.representative].layers()):
            np.testing.assert_array_equal(W, np.asarray(W_run)[0])  # bit for bit after the JSON round trip
            np.testing.assert_array_equal(b, np.asarray(b_run)[0])
        assert cs.risk(arch, layers, data.X, data.y)[0] == m.risk
        assert stored["certificate"]["status"] == result.runs[m.representative].status
        assert (stored["certificate"]["n_ties"] > 0) == result.runs[m.representative].on_boundary
        assert "ties" not in stored["certificate"]


def test_rescaled_and_permuted_copy_is_the_same_minimum(three_point):
    data, result = three_point
    arch, trained = _endpoints(THREE_POINT, data)
    params = trained.params
    for m in result.minima:
        b = m.runs[0]
        W1, b1, W2, b2 = params.weights[0][b], params.biases[0][b], params.weights[1][b], params.biases[1][b]
        scale, perm = np.array([0.5, 3.0]), np.array([1, 0])  # positive rescaling of each unit, then a swap
        copy = [((W1 * scale[:, None])[perm], (b1 * scale)[perm]), ((W2 / scale)[:, perm], b2)]
        pair = [tuple(np.stack([a, c]) for a, c in zip(layer, copy_layer))
                for layer, copy_layer in zip([(W1, b1), (W2, b2)], copy)]
        assert not np.allclose(pair[0][0][0], pair[0][0][1])
        assert group_by_function(arch, pair, data.X).tolist() == [0, 0]
    # two minima of equal risk (1/12) that fit different points are different functions
    a, c = [([[1, 0], [0, 0]], [0, 0]), ([[-1, 0]], [0.5])], [([[0, 1], [0, 0]], [0, 0]), ([[-1, 0]], [0.5])]
    pair = [tuple(np.array([a[l][i], c[l][i]], dtype=float) for i in range(2)) for l in range(2)]
    assert group_by_function(arch, pair, data.X).tolist() == [0, 1]


def test_survey_json_is_serialisable(three_point):
    _, result = three_point
    payload = json.loads(json.dumps(result.to_dict()))
    assert sum(payload["counts"].values()) == THREE_POINT.runs
    assert payload["n_on_boundary"] == result.n_on_boundary
    assert [m["runs"] for m in payload["minima"]] == [list(m.runs) for m in result.minima]
    assert {r["category"] for r in payload["runs"]} <= {c.value for c in EndpointCategory}
    assert all(r["status"] is not None for r in payload["runs"] if not r["diverged"])


def test_diverged_runs_are_not_certified():
    result = run_survey(dataclasses.replace(THREE_POINT, steps=200, lr=1e3))
    assert all(r.diverged and r.status is None for r in result.runs)
    assert result.counts["not_converged"] == THREE_POINT.runs and result.minima == ()


def test_survey_reports_the_constructed_spurious_minimum():
    data = load_data("builtin:nonaffine", seed=0, n_samples=16)
    result = run_survey(SurveyConfig(runs=4, steps=200, hidden=(3,)), dataset=data)
    entry = next(e for e in result.constructed if e["name"] == "linear-region")
    assert entry["spurious"] is True and entry["status"].endswith("minimum")
    assert entry["risk"] == pytest.approx(cs.best_affine_fit(data.X, data.y).risk, rel=1e-10)
    assert 0 <= entry["runs_at_risk"] <= 4
    assert json.loads(json.dumps(result.to_dict()))["constructed"][0]["name"] == "linear-region"


def test_rates_carry_wilson_intervals():
    from cellscape.statistics import wilson_interval

    result = run_survey(SurveyConfig(runs=6, steps=300))
    assert set(result.rates) == {c.value for c in EndpointCategory} | {"on_boundary"}
    for name, r in result.rates.items():
        count = result.n_on_boundary if name == "on_boundary" else result.counts[name]
        assert (r.count, r.total) == (count, 6) and (r.low, r.high) == wilson_interval(count, 6)
    assert result.to_dict()["rates"]["global"]["total"] == 6


def test_survey_trains_with_adam_on_minibatches_from_the_linear_region():
    config = SurveyConfig(runs=4, steps=200, optimizer="adam", batch_size=4, lr=0.01, init="linear-region")
    result = run_survey(config)
    again = run_survey(config)
    assert [r.risk for r in result.runs] == [r.risk for r in again.runs]
    plain = run_survey(SurveyConfig(runs=4, steps=200, optimizer="adam", batch_size=4, lr=0.01))
    assert [r.risk for r in plain.runs] != [r.risk for r in result.runs]


@pytest.mark.parametrize(("kwargs", "param"), [({"optimizer": "newton"}, "optimizer"),
                                               ({"optimizer": "sgd"}, "batch_size"),
                                               ({"init": "zeros"}, "init")])
def test_bad_training_options_name_the_survey(kwargs, param):
    with pytest.raises(InvalidInputError, match=f"`{param}` of `SurveyConfig`"):
        SurveyConfig(**kwargs)


def test_dead_units_counted_against_a_forward_pass():
    from cellscape.survey import dead_units

    arch = mlp(2, [5, 3], 1, activation="relu")
    params = init_params(arch, batch=6, seed=2)
    params.biases[0][:3] -= 10.0  # networks 0-2: every first-layer unit off on every sample
    X = np.random.default_rng(0).uniform(-1, 1, size=(20, 2))
    pattern = cs.activation_pattern(arch, params, X)
    counted = dead_units(arch, pattern.pieces)
    z = cs.pre_activations(arch, params, X)
    expected = sum(np.all(np.asarray(zl) < 0, axis=1).sum(axis=1) for zl in z[:-1])
    assert counted.tolist() == expected.tolist() and np.all(counted[:3] >= 5)
