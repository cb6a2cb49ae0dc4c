"""One unit's patterns: Cover's counts exactly, the fast vertex method against the incremental LP method, and
degenerate data against dense sampling."""

import math

import numpy as np
import pytest

import cellscape as cs
from cellscape.atlas import cover_count, pattern_is_realisable, unit_patterns
from cellscape.testing.reference import sampled_unit_patterns


@pytest.mark.parametrize("N", [1, 2, 5, 9, 16, 30])
@pytest.mark.parametrize("d", [1, 2, 3, 4])
def test_cover_counts_exactly_on_general_position_data(N, d):
    X = np.random.default_rng(N * 10 + d).normal(size=(N, d))
    cells = unit_patterns(X)
    assert cells.n_cells == cover_count(N, d + 1) == 2 * sum(math.comb(N - 1, j) for j in range(d + 1))
    assert cells.general_position and cells.method == "vertex"
    patterns = cells.patterns
    assert len({p.tobytes() for p in patterns}) == cells.n_cells
    assert patterns.all(axis=1).any() and (~patterns).all(axis=1).any()  # all-on and all-off


def test_cover_recursion():
    for N in range(1, 12):
        for D in range(2, 6):
            assert cover_count(N + 1, D) == cover_count(N, D) + cover_count(N, D - 1)


@pytest.mark.parametrize("seed", range(3))
def test_vertex_and_incremental_methods_agree(seed):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(9, 2)) * np.array([1.0, 1e-3]) + rng.normal(size=(1, 2))  # thin, far from the origin
    fast = unit_patterns(X, method="vertex", seed=seed)
    slow = unit_patterns(X, method="incremental")
    np.testing.assert_array_equal(fast.packed, slow.packed)


DEGENERATE = {
    "collinear": np.array([[0.0, 0.0], [1.0, 1.0], [2.0, 2.0], [3.0, 3.0], [1.0, 0.0], [0.0, 1.0]]),
    "repeated": np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.5, 0.5], [2.0, -1.0]]),
    "grid": np.array([[i, j] for i in range(3) for j in range(3)], dtype=float),
    "line-1d": np.array([[0.0], [1.0], [1.0], [2.0], [2.0], [5.0]]),
}


@pytest.mark.parametrize("name", sorted(DEGENERATE))
def test_degenerate_data_agree_with_dense_sampling(name):
    X = DEGENERATE[name]
    cells = unit_patterns(X)
    assert cells.method == "incremental" and not cells.general_position
    assert cells.n_cells < cover_count(len(X), X.shape[1] + 1)
    sampled = sampled_unit_patterns(X, n_samples=400_000, seed=1)
    assert {p.tobytes() for p in cells.patterns} == {p.tobytes() for p in sampled}
    for p in cells.patterns:  # every enumerated pattern has a strictly interior point
        ok, z = pattern_is_realisable(X, p)
        Xt = np.hstack([X, np.ones((len(X), 1))])
        assert ok and np.array_equal(Xt @ z > 0, p)
    with pytest.raises(cs.InvalidInputError, match="general position"):
        unit_patterns(X, method="vertex")


def test_bad_inputs_name_the_parameter():
    with pytest.raises(cs.InvalidInputError, match="`X`"):
        unit_patterns(np.zeros(3))
    with pytest.raises(cs.InvalidInputError, match="`method`"):
        unit_patterns(np.zeros((3, 1)), method="nope")
