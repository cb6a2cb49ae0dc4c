"""The cell-escape experiment: a planted genuine cell keeps its runs and they reach its optimum; cells without a
genuine minimum never hold a converged run; the descent is plain gradient descent (it matches the library's
trainer where every parameter is trained, and keeps fixed output weights fixed)."""

import numpy as np
import pytest

from cellscape.atlas.escape import CellEscape, EscapeConfig, EscapeOutcome, cell_escape, run_escape
from cellscape.atlas.model import AtlasModel
from cellscape.data import load_data
from cellscape.exceptions import InvalidInputError
from cellscape.losses import risk
from cellscape.training import gradient_descent

N, D_IN = 30, 2
TEACHER = np.array([[1.0, 0.5, 0.2], [-0.6, 1.0, 0.3]])  # rows (w_k, b_k)


def _planted(outputs, signs, seed=0):
    """theory 7.2 Liu-1's planted cell: a K = 2 teacher with the model's output weights, noise 0.01."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(N, D_IN))
    model = AtlasModel.build(width=2, outputs=outputs, signs=signs)
    Xt = np.hstack([X, np.ones((N, 1))])
    y = np.maximum(Xt @ TEACHER.T, 0.0) @ np.array(model.signs, dtype=float) + 0.01 * rng.normal(size=N)
    return X, y, model, (Xt @ TEACHER.T > 0).T


@pytest.mark.parametrize("outputs, signs", [("positive", None), ("signs", (1, -1))])
def test_planted_cell_keeps_its_runs_and_they_reach_its_optimum(outputs, signs):
    X, y, model, teacher_pattern = _planted(outputs, signs)
    starts = TEACHER + 1e-3 * np.random.default_rng(1).normal(size=(3, 2, 3))
    res = cell_escape(X, y, model, start_weights=starts, steps=20_000, lr=0.1, gtol=1e-10)
    assert np.all(res.start_patterns == teacher_pattern)  # the starts lie in the teacher's cell
    assert res.genuine.all() and res.decided.all() and res.stayed.all() and res.converged.all()
    assert res.outcome == (EscapeOutcome.GENUINE_STAYED,) * 3
    # the cell's least-squares risk is reached to near machine precision (seen: ~1e-14 relative)
    np.testing.assert_allclose(res.final_risk, res.cell_risk, rtol=1e-8, atol=0)
    np.testing.assert_array_equal(res.final_patterns, res.start_patterns)
    assert res.table.tolist() == [[3, 0], [0, 0]]


@pytest.mark.parametrize("outputs, signs", [("positive", None), ("signs", (1, -1))])
def test_cells_without_genuine_minimum_hold_no_converged_run(outputs, signs):
    X, y, model, _ = _planted(outputs, signs)
    res = cell_escape(X, y, model, n_starts=48, steps=20_000, lr=0.1, seed=2)
    spurious = res.decided & ~res.genuine
    assert spurious.sum() >= 30  # random cells are mostly not genuine (Liu20 Part 2)
    assert not np.any(spurious & res.stayed & res.converged)
    assert np.all(res.left_at[spurious & ~res.stayed] >= 1)
    assert sum(res.counts.values()) == 48 and res.table.sum() + res.counts["undecided"] == 48
    # local = global in cells: a converged run ends at the optimum of the (genuine) cell it ends in
    done = res.converged
    assert done.sum() >= 24
    assert res.final_genuine[done].all()
    np.testing.assert_allclose(res.final_risk[done], res.final_cell_risk[done], rtol=1e-8, atol=1e-14)


@pytest.mark.parametrize("output_bias", [False, True])
def test_trained_outputs_match_the_library_trainer(output_bias):
    # with trained output weights every parameter is trained, so the run is exactly gradient_descent's
    rng = np.random.default_rng(4)
    X = rng.normal(size=(12, 2))
    y = np.sin(X[:, 0]) + X[:, 1]
    model = AtlasModel.build(width=3, outputs="trained", output_bias=output_bias)
    res = cell_escape(X, y, model, n_starts=5, steps=300, lr=0.05, gtol=0.0, seed=3)
    ref = gradient_descent(res.arch, res.params_start, X, y[:, None], lr=0.05, steps=300)
    for ours, theirs in zip(res.params_final.weights + res.params_final.biases,
                            ref.params.weights + ref.params.biases):
        if theirs is None:
            assert ours is None
        else:
            np.testing.assert_allclose(ours, theirs, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(res.final_risk, ref.risk, rtol=1e-10)
    assert np.all(res.steps == 300) and not res.converged.any()


def test_fixed_output_weights_stay_fixed():
    X, y, model, _ = _planted("signs", (1, -1))
    res = cell_escape(X, y, model, n_starts=4, steps=200, lr=0.1, seed=0)
    assert isinstance(res, CellEscape)
    np.testing.assert_array_equal(res.params_final.weights[1], [[[1.0, -1.0]]] * 4)
    assert res.params_final.biases[1] is None
    np.testing.assert_allclose(res.final_risk, np.asarray(risk(res.arch, res.params_final, X, y[:, None])),
                               rtol=1e-12)
    np.testing.assert_allclose(res.start_risk, np.asarray(risk(res.arch, res.params_start, X, y[:, None])),
                               rtol=1e-12)
    again = cell_escape(X, y, model, n_starts=4, steps=200, lr=0.1, seed=0)
    np.testing.assert_array_equal(again.params_final.weights[0], res.params_final.weights[0])
    assert again.counts == res.counts


def test_random_starts_follow_the_documented_protocol():
    X, y, model, _ = _planted("positive", None)
    res = cell_escape(X, y, model, n_starts=6, steps=0, seed=5)
    W = np.concatenate([res.params_start.weights[0], res.params_start.biases[0][..., None]], axis=2)
    np.testing.assert_array_equal(W, np.random.default_rng(5).normal(size=(6, 2, 3)) / np.sqrt(3))
    assert res.stayed.all() and np.all(res.steps == 0)
    trained = AtlasModel.build(width=2, outputs="trained")
    res = cell_escape(X, y, trained, n_starts=6, steps=0, seed=5)
    rng = np.random.default_rng(5)
    rng.normal(size=(6, 2, 3))  # the first-layer weights come first, then the output weights
    np.testing.assert_array_equal(res.params_start.weights[1][:, 0], rng.normal(size=(6, 2)))


@pytest.mark.parametrize("kwargs, match", [
    ({"n_starts": 0}, "n_starts"),
    ({"steps": -1}, "steps"),
    ({"lr": 0.0}, "lr"),
    ({"y": np.zeros(5)}, "y"),
    ({"start_weights": np.zeros((2, 3, 3))}, "start_weights"),
    ({"start_weights": np.zeros((2, 2, 3)), "n_starts": 3}, "n_starts"),
    ({"start_outputs": np.ones((2, 2))}, "start_outputs"),
    ({"model": "positive"}, "model"),
])
def test_cell_escape_rejects_bad_input(kwargs, match):
    X, y, model, _ = _planted("positive", None)
    args = {"X": X, "y": y, "model": model, "steps": 1} | kwargs
    with pytest.raises(InvalidInputError, match=f"`{match}` of `cell_escape`"):
        cell_escape(**args)


def test_trained_start_outputs_must_match_the_starts():
    X, y, _, _ = _planted("positive", None)
    model = AtlasModel.build(width=2, outputs="trained")
    with pytest.raises(InvalidInputError, match="`start_outputs` of `cell_escape`"):
        cell_escape(X, y, model, start_weights=np.zeros((2, 2, 3)), start_outputs=np.ones((3, 2)), steps=1)
    res = cell_escape(X, y, model, start_weights=TEACHER, start_outputs=[1.0, -1.0], steps=1)
    np.testing.assert_array_equal(res.params_start.weights[1], [[[1.0, -1.0]]])


# ------------------------------------------------------------------------------------------- as a configuration
def test_run_escape_is_cell_escape_on_its_data_with_an_independent_start_stream():
    config = EscapeConfig(data="builtin:teacher", n_samples=25, width=3, outputs="trained", output_bias=True,
                          runs=5, steps=300, lr=0.05, seed=4)
    res = run_escape(config)
    data = load_data("builtin:teacher", seed=4, n_samples=25)
    model = AtlasModel.build(width=3, outputs="trained", output_bias=True)
    D = data.X.shape[1] + 1
    rng = np.random.default_rng([4, 1])  # the documented start stream: weights first, then output weights
    starts = rng.normal(size=(5, 3, D)) / np.sqrt(D)
    direct = cell_escape(data.X, data.y, model, start_weights=starts, start_outputs=rng.normal(size=(5, 3)),
                         steps=300, lr=0.05)
    np.testing.assert_array_equal(res.final_risk, direct.final_risk)
    assert res.outcome == direct.outcome and res.counts == direct.counts
    # not the stream default_rng(seed) that seeds the data
    same_stream = np.random.default_rng(4).normal(size=(5, 3, D)) / np.sqrt(D)
    assert not np.allclose(np.asarray(res.params_start.weights[0])[:, :, :2], same_stream[:, :, :2])


def test_records_carry_every_run_and_its_cells():
    res = run_escape(EscapeConfig(width=2, runs=6, steps=400, n_samples=16, seed=2))
    records = res.records()
    assert [r["index"] for r in records] == list(range(6))
    for b, r in enumerate(records):
        assert r["category"] == res.outcome[b].value and r["stayed"] == bool(res.stayed[b])
        assert (r["risk"], r["cell_risk"], r["steps"]) == (res.final_risk[b], res.cell_risk[b], res.steps[b])
        K, N = res.start_patterns.shape[1:]
        for key, patterns in (("start_cell", res.start_patterns), ("final_cell", res.final_patterns)):
            bits = np.unpackbits(np.frombuffer(bytes.fromhex(r[key]), dtype=np.uint8))[:K * N]
            np.testing.assert_array_equal(bits.reshape(K, N).astype(bool), patterns[b])
    assert sum(r["category"] == "not_genuine_stayed" for r in records) == res.counts["not_genuine_stayed"]


@pytest.mark.parametrize("kwargs, needle", [
    ({"width": 0}, "`width`"),
    ({"activation": "hardtanh"}, "`activation`"),
    ({"outputs": "bogus"}, "`outputs`"),
    ({"outputs": "positive", "signs": (1, -1, 1)}, "`signs`"),
    ({"runs": 0}, "`runs`"),
    ({"lr": 0.0}, "`lr`"),
    ({"data": ""}, "`data`"),
])
def test_escape_config_rejects_bad_values(kwargs, needle):
    with pytest.raises(InvalidInputError, match=needle):
        EscapeConfig(**kwargs)
