import json

import numpy as np
import pytest

from cellscape import InvalidInputError
from cellscape.cli import main
from cellscape.gaussian import population_gradient, population_risk
from cellscape.teacher import (
    TeacherConfig,
    TeacherOutcome,
    _distinct_minima,
    classify,
    parse_range,
    run_teacher,
    run_teacher_table,
)


@pytest.fixture(scope="module")
def k8():
    return run_teacher(TeacherConfig(k=8, runs=16))


def test_counts_add_up_and_rates_carry_intervals(k8):
    assert sum(k8.counts.values()) == 16 and k8.counts["spurious"] >= 1
    assert k8.spurious.count == k8.counts["spurious"] and k8.spurious.low < k8.spurious.estimate < k8.spurious.high
    assert k8.max_global_risk < 1e-12  # "global" endpoints really sit at risk 0
    assert sum(m.count for m in k8.minima) == k8.counts["spurious"]
    spurious = [r for r, o in enumerate(k8.outcome) if o == "spurious"]
    assert k8.mean_spurious_risk == pytest.approx(np.mean(k8.risk[spurious]), rel=1e-12)
    assert k8.mean_min_eigenvalue == pytest.approx(np.mean(k8.min_eigenvalue[spurious]), rel=1e-12)


def test_spurious_minima_checked_by_slow_paths(k8):
    rng = np.random.default_rng(0)
    V = np.eye(8)
    for m in k8.minima:
        W = m.weights
        assert m.risk >= 1e-3 and population_risk(W, V) == pytest.approx(m.risk, rel=1e-12)
        g = population_gradient(W, V)  # the per-unit numpy reference, not the batched closed form
        assert 2 * np.pi * np.linalg.norm(g, axis=1).max() <= 1.1e-9
        # Hessian by central differences of the reference gradient
        h, n = 1e-5, W.size
        H = np.empty((n, n))
        for j in range(n):
            e = np.zeros(n)
            e[j] = h
            H[:, j] = ((population_gradient(W + e.reshape(W.shape), V)
                        - population_gradient(W - e.reshape(W.shape), V)) / (2 * h)).ravel()
        lam = np.linalg.eigvalsh((H + H.T) / 2)[0]
        assert lam == pytest.approx(m.min_eigenvalue, rel=1e-4) and lam > 1e-3
        # and no random move of size 1e-3 lowers the risk
        moves = rng.standard_normal((500,) + W.shape)
        moves *= 1e-3 / np.linalg.norm(moves.reshape(500, -1), axis=1)[:, None, None]
        assert np.all(np.asarray(population_risk(W + moves, V)) > m.risk)


def test_reproducible_from_the_seed(k8):
    again = run_teacher(TeacherConfig(k=8, runs=16))
    assert np.array_equal(again.risk, k8.risk) and again.outcome == k8.outcome
    other = run_teacher(TeacherConfig(k=8, runs=16, seed=1, max_steps=50))
    assert not np.array_equal(other.risk, k8.risk)
    assert other.counts["not_converged"] == 16  # 50 steps are not enough: said so, not hidden


def test_minima_are_merged_up_to_permutations_of_units_and_coordinates(k8):
    W = k8.minima[0].weights
    rng = np.random.default_rng(1)
    copies = [W, W[rng.permutation(8)], W[:, rng.permutation(8)], W[rng.permutation(8)][:, rng.permutation(8)]]
    other = W.copy()
    other[0, 0] += 0.01
    stack = np.stack(copies + [other])
    risk = np.asarray(population_risk(stack, np.eye(8)))
    minima = _distinct_minima(stack, risk, np.ones(5), np.arange(5))
    assert [m.runs for m in minima] == [(0, 1, 2, 3), (4,)]


@pytest.mark.parametrize(("kwargs", "expected"), [
    ({"converged": False, "risk": 0.5, "min_eigenvalue": 1.0, "problem": ""}, TeacherOutcome.NOT_CONVERGED),
    ({"converged": True, "risk": 1e-4, "min_eigenvalue": np.nan, "problem": ""}, TeacherOutcome.GLOBAL),
    ({"converged": True, "risk": 0.1, "min_eigenvalue": 0.01, "problem": ""}, TeacherOutcome.SPURIOUS),
    ({"converged": True, "risk": 0.1, "min_eigenvalue": -0.01, "problem": ""}, TeacherOutcome.SADDLE),
    ({"converged": True, "risk": 0.1, "min_eigenvalue": 1e-8, "problem": ""}, TeacherOutcome.INCONCLUSIVE),
    ({"converged": True, "risk": 0.1, "min_eigenvalue": np.nan, "problem": "dead"}, TeacherOutcome.INCONCLUSIVE),
])
def test_classification(kwargs, expected):
    outcome, why = classify(spurious_risk=1e-3, eig_tol=1e-6, **kwargs)
    assert outcome is expected and bool(why) == (expected is TeacherOutcome.INCONCLUSIVE)


def test_a_dead_unit_is_inconclusive_not_a_minimum():
    from cellscape.teacher import _smoothness_problem

    W = np.eye(3)
    W[2] = 0.0
    assert "norm" in _smoothness_problem(W)
    W[2] = W[1] * 2
    assert "parallel" in _smoothness_problem(W)
    assert _smoothness_problem(np.eye(3)) == ""


def test_table_resumes_from_its_json(tmp_path):
    path = tmp_path / "table.json"
    ran = []
    first = run_teacher_table([TeacherConfig(k=k, runs=4) for k in (2, 3)], json_path=path,
                              on_start=lambda c: ran.append(c.k))
    again = run_teacher_table([TeacherConfig(k=k, runs=4) for k in (2, 3, 4)], json_path=path,
                              on_start=lambda c: ran.append(c.k))
    assert ran == [2, 3, 4] and again[:2] == first
    stored = json.loads(path.read_text())
    assert [s["k"] for s in stored["sizes"]] == [2, 3, 4]
    assert stored["sizes"][0]["runs"]["outcome"] == ["global"] * 4
    path.write_text('{"command": "survey"}')
    with pytest.raises(InvalidInputError, match="json_path"):
        run_teacher_table([TeacherConfig(k=2, runs=4)], json_path=path)


def test_parse_range_and_bad_input():
    assert parse_range("6..8") == (6, 7, 8) and parse_range("2,4") == (2, 4)
    for text in ("8..6", "a", "0", ""):
        with pytest.raises(InvalidInputError, match="`k`"):
            parse_range(text)
    with pytest.raises(InvalidInputError, match="`runs`"):
        TeacherConfig(k=3, runs=0)


def test_cli(tmp_path, capsys):
    out = tmp_path / "t.json"
    with pytest.raises(SystemExit) as done:
        main(["teacher", "--k", "2..3", "--runs", "3", "--extra-neurons", "1", "--json", str(out)])
    payload = json.loads(out.read_text())
    assert done.value.code == 0 and [(s["k"], s["n"]) for s in payload["sizes"]] == [(2, 3), (3, 4)]
    assert "spurious" in capsys.readouterr().out
    with pytest.raises(SystemExit) as err:
        main(["teacher", "--k", "x"])
    captured = capsys.readouterr()
    assert err.value.code == 2 and "`--k`" in captured.err and "Traceback" not in captured.err
