"""The atlas: complete enumeration, genuine minima cross-checked with `certify` and with training, sampling."""

import json

import numpy as np
import pytest

import cellscape as cs
from cellscape.atlas import atlas, cover_count
from cellscape.networks import mlp


def _data(seed=0, N=12, d=1):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(N, d))
    return X, np.abs(X[:, 0]) + 0.3 * np.sin(3 * X[:, 0]) + 0.05 * rng.normal(size=N)


def _network(result_min, model, d):
    """The genuine minimum as an MLP point: w_k = z_k / v_k (+ the kink on the bias), v_k its branch sign."""
    K = model.width
    z, branch = result_min.solution.z, result_min.solution.branch
    v = np.array([b if b != 0 else 0.0 for b in branch], dtype=float)
    W = np.array([z[k] / (v[k] if model.outputs.value == "trained" and v[k] != 0 else 1.0) for k in range(K)])
    W[:, -1] += float(model.kink)
    arch = mlp(d, [K], 1, activation=model.activation, bias=[True, model.output_bias])
    out_b = [np.array([result_min.solution.bias])] if model.output_bias else [None]
    return arch, [(W[:, :-1], W[:, -1]), (v[None, :], out_b[0])]


@pytest.mark.parametrize("outputs", ["positive", "signs", "trained"])
def test_every_listed_genuine_minimum_is_certified_a_local_minimum(outputs):
    X, y = _data()
    result = atlas(X, y, width=2, outputs=outputs, exact=True)
    assert not result.sampled and result.n_examined == result.n_cells
    assert result.n_unit_cells == cover_count(12, 2) and result.general_position
    assert result.minima and all(m.solution.genuine for m in result.minima)
    risks = [m.risk for m in result.minima]
    assert risks == sorted(risks) and result.global_minimum == risks[0]
    assert [m.spurious for m in result.minima] == [r > risks[0] + 1e-9 * max(1.0, risks[0]) for r in risks]
    for m in result.minima[:6]:
        arch, layers = _network(m, result.model, 1)
        assert float(cs.risk(arch, layers, X, y)[0]) == pytest.approx(m.risk, rel=1e-9, abs=1e-14)
        # certify treats every weight as trained; with fixed output weights a minimum of the smaller space need
        # not be one of the larger, so only the trained variant is compared with it
        if outputs == "trained":
            cert = cs.certify(arch, layers, X, y)[0]
            assert cert.is_minimum, cert.message


def test_no_training_run_beats_the_lower_bound_and_the_global_minimum_is_certified():
    X, y = _data(seed=3, N=10)
    result = atlas(X, y, width=2, outputs="trained", output_bias=True)
    arch = mlp(1, [2], 1)
    trained = cs.gradient_descent(arch, cs.init_params(arch, batch=64, seed=0), X, y, lr=0.05, steps=4000)
    assert np.min(trained.risk) >= result.lower_bound - 1e-12
    if result.global_certified:
        assert np.min(trained.risk) >= result.global_minimum - 1e-9


def test_too_many_cells_are_sampled_and_said_so(tmp_path):
    X, y = _data(N=30, d=2)
    result = atlas(X, y, width=3, max_cells=1000, sample_cells=500, seed=1)
    assert result.sampled and not result.global_certified
    assert result.n_examined <= 500 and result.n_cells > 1000
    payload = json.loads(json.dumps(result.to_dict()))
    assert payload["sampled"] is True and payload["n_cells"] == result.n_cells
    # one unit's cells beyond max_unit_cells: sampled too, even when the network cells would be few
    few = atlas(X, y, width=1, max_unit_cells=10, sample_cells=200)
    assert few.sampled and few.unit_method == "sampled" and few.n_cells == cover_count(30, 3)


def test_bad_inputs_name_the_parameter():
    X, y = _data()
    with pytest.raises(cs.InvalidInputError, match="`y`"):
        atlas(X, np.zeros((12, 2)), width=1)
    with pytest.raises(cs.InvalidInputError, match="`max_cells`"):
        atlas(X, y, width=1, max_cells=0)
    with pytest.raises(cs.InvalidInputError, match="`width`"):
        atlas(X, y, width=0)


def test_digits_are_too_many_cells_and_are_sampled():
    """scikit-learn's digits (1,797 samples, PCA to 3): Cover's count of one unit alone is about 1.9e9, so the
    atlas samples cells by Gaussian weights, says so, and reports the closed-form total."""
    data = cs.load_data("builtin:digits")
    result = atlas(data.X, data.y, width=2, sample_cells=300, seed=0)
    assert result.sampled and result.unit_method == "sampled" and result.general_position is None
    assert result.n_unit_cells == cover_count(1797, 4) and result.n_cells == cover_count(1797, 4) * (
        cover_count(1797, 4) + 1) // 2
    assert 0 < result.n_examined <= 300 and not result.global_certified
