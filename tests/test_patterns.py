
import numpy as np
import pytest
from hypothesis import given, strategies as st

from cellscape import InvalidInputError, Params, init_params, mlp
from cellscape.cell_risk import restrict_to_cell
from cellscape.losses import risk
from cellscape.patterns import activation_pattern, activation_pattern_exact, certified_radius
from cellscape.testing.strategies import architectures, dyadic_array


def _perturb(params, radius, rng, arch):
    """A random perturbation with every block at norm exactly 0.999 * radius (spectral for weights)."""
    W, b = [], []
    for w, bias in params.numpy().layers():
        d = rng.normal(size=w.shape[1:])
        d *= 0.999 * radius / max(np.linalg.norm(d, 2), 1e-300)
        W.append(w + d[None])
        if bias is None:
            b.append(None)
        else:
            e = rng.normal(size=bias.shape[1:])
            e *= 0.999 * radius / np.linalg.norm(e)
            b.append(bias + e[None])
    return Params(tuple(W), tuple(b))


@given(architectures(max_depth=3, max_width=5), st.sampled_from(["squared", "absolute", "huber:1/4"]), st.data())
def test_pattern_constant_and_cell_risk_equals_risk_within_the_certified_radius(arch, loss, data):
    rng = np.random.default_rng(data.draw(st.integers(0, 10_000)))
    params = init_params(arch, seed=int(rng.integers(1000)))
    X = rng.normal(size=(8, arch.d_in))
    y = rng.normal(size=(8, arch.d_out))
    pattern = activation_pattern(arch, params, X, y=y, loss=loss)
    r = float(certified_radius(arch, params, X, y=y, loss=loss)[0])
    cell_risk = restrict_to_cell(arch, params, X, y, loss=loss)
    if not np.isfinite(r):  # nothing to cross: linear activations and a smooth loss
        assert all(a.is_linear for a in arch.activations) and loss == "squared"
        r = 1.0
    for _ in range(10):
        q = _perturb(params, r, rng, arch)
        assert activation_pattern(arch, q, X, y=y, loss=loss).cell(0) == pattern.cell(0)
        np.testing.assert_allclose(cell_risk(q), risk(arch, q, X, y, loss=loss), rtol=1e-12, atol=1e-15)


def test_radius_is_not_vacuous_and_at_most_the_first_layer_margin():
    arch = mlp(2, [6], 1)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 2))
    params = init_params(arch, batch=20, seed=1)
    r = certified_radius(arch, params, X)
    margins = activation_pattern(arch, params, X).min_margin()
    assert np.all(r > 0)
    # moving one bias by the smallest margin crosses a boundary, so the radius must be below it
    assert np.all(r < margins)


def test_radius_is_nearly_tight_in_one_dimension():
    # one unit z = w x + b on x in {1, 2}: the bound e = r (|x| + 1) < |z| is attained by dW = -r, db = -r
    arch = mlp(1, [1], 1)
    params = [([[1.0]], [0.0]), ([[1.0]], [0.0])]
    r = certified_radius(arch, params, [[1.0], [2.0]])[0]
    assert 0.5 * (1 - 1e-8) < r < 0.5
    crossing = [([[1.0 - 0.5]], [-0.5]), ([[1.0]], [0.0])]  # radius exactly 1/2: the first sample hits 0
    assert activation_pattern_exact(arch, crossing, [[1], [2]]).ties


def test_ties_are_detected_and_give_radius_zero():
    arch = mlp(1, [2], 1)
    params = [([[1.0], [1.0]], [-0.5, 0.25]), ([[1.0, 1.0]], [0.0])]
    X = [[0.5], [1.0]]
    pattern = activation_pattern(arch, params, X)
    ties = pattern.ties(0)
    assert [(t.layer, t.unit, t.sample, t.breakpoint) for t in ties] == [(1, 0, 0, 0)]
    assert pattern.n_ties()[0] == 1
    assert certified_radius(arch, params, X)[0] == 0.0
    near = [([[1.0], [1.0]], [-0.5 + 1e-7, 0.25]), ([[1.0, 1.0]], [0.0])]
    assert activation_pattern(arch, near, X).n_ties(tol=1e-6)[0] == 1
    assert activation_pattern(arch, near, X).n_ties(tol=1e-9)[0] == 0
    assert certified_radius(arch, near, X, tol=1e-6)[0] == 0.0
    exact = activation_pattern_exact(arch, [([[1], [1]], ["-1/2", "1/4"]), ([[1, 1]], [0])], [["1/2"], [1]])
    assert len(exact.ties) == 1


def test_hinge_kinks_refine_cells():
    arch = mlp(1, [1], 1)
    params = [([[1.0]], [0.0]), ([[1.0]], [0.0])]
    X, y = [[1.0], [3.0]], [[1.0], [1.0]]  # sample 0 sits exactly on the hinge kink y f = 1
    plain = activation_pattern(arch, params, X)
    refined = activation_pattern(arch, params, X, y=y, loss="hinge")
    assert plain.n_ties()[0] == 0 and refined.n_ties()[0] == 1
    assert certified_radius(arch, params, X, y=y, loss="hinge")[0] == 0.0
    assert certified_radius(arch, params, X)[0] > 0
    with pytest.raises(InvalidInputError, match="`y`"):
        activation_pattern(arch, params, X, loss="hinge")


@given(architectures(max_depth=3, max_width=4), st.data())
def test_exact_pattern_matches_float_pattern(arch, data):
    params = init_params(arch, seed=data.draw(st.integers(0, 100)))
    X = dyadic_array(data.draw, (6, arch.d_in))
    pattern = activation_pattern(arch, params, X)
    exact = activation_pattern_exact(arch, params, X)
    if pattern.n_ties(tol=1e-12)[0] == 0:
        assert exact.cell() == pattern.cell(0)
        assert not exact.ties


def test_cells_are_hashable_and_distinguish_patterns():
    arch = mlp(2, [4], 1)
    X = np.random.default_rng(0).normal(size=(10, 2))
    params = init_params(arch, batch=30, seed=0)
    cells = activation_pattern(arch, params, X).cells()
    assert len(set(cells)) > 1
    assert len({c.digest for c in cells}) == len(set(cells))
    pieces = cells[0].pieces()
    assert pieces[0].shape == (10, 4) and set(np.unique(pieces[0])) <= {0, 1}
