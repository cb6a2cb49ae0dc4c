"""Tests of cellscape.data: builtin generators, file loading, validation."""

from __future__ import annotations

import json
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from cellscape.affine import best_affine_fit
from cellscape.data import (
    BUILTINS,
    Dataset,
    from_arrays,
    list_builtins,
    load_data,
    make_nonaffine,
    make_separable,
    make_spirals,
    make_teacher,
    make_three_point,
    make_xor,
)
from cellscape.exceptions import InvalidInputError

# Options that make every builtin random (the default XOR and the 3-point set are fixed point sets).
RANDOM_OPTIONS = {"teacher": {}, "separable": {}, "nonaffine": {}, "xor": {"n_samples": 8}, "spirals": {},
                  "digits": {"n_samples": 100}}
ALL_NAMES = "'teacher', 'gaussian', 'separable', 'nonaffine', 'xor', 'spirals', 'signals', 'three-point', 'digits'"
DEFAULT_SHAPES = {"teacher": (200, 2, 1), "gaussian": (1000, 10, 1), "separable": (40, 2, 1),
                  "nonaffine": (40, 1, 1), "xor": (4, 2, 1), "spirals": (100, 2, 1), "signals": (40, 8, 1),
                  "three-point": (3, 2, 1),
                  "digits": (1797, 3, 1)}


def assert_same(a: Dataset, b: Dataset) -> None:
    """Bit-for-bit equality of two data sets (arrays, exact arrays and the JSON summary)."""
    assert a.X.dtype == b.X.dtype == np.float64
    np.testing.assert_array_equal(a.X, b.X, strict=True)
    np.testing.assert_array_equal(a.y, b.y, strict=True)
    assert a.to_dict() == b.to_dict()
    for field in ("X_exact", "y_exact"):
        left, right = getattr(a, field), getattr(b, field)
        assert (left is None) == (right is None)
        if left is not None:
            assert left.tolist() == right.tolist()


# -------------------------------------------------------------------------------- builtins
def test_registry_lists_every_builtin():
    assert [name for name, _ in list_builtins()] == list(BUILTINS)
    assert set(DEFAULT_SHAPES) == set(BUILTINS)
    for name, description in list_builtins():
        assert isinstance(description, str) and description and "\n" not in description
        assert callable(BUILTINS[name][0])


@pytest.mark.parametrize("name", list(BUILTINS))
def test_builtin_default_shapes_and_summary(name):
    data = load_data(f"builtin:{name}")
    assert (data.n_samples, data.d_in, data.d_out) == DEFAULT_SHAPES[name]
    assert data.X.shape == (data.n_samples, data.d_in) and data.y.shape == (data.n_samples, data.d_out)
    assert np.all(np.isfinite(data.X)) and np.all(np.isfinite(data.y))
    summary = json.loads(json.dumps(data.to_dict()))
    assert summary["name"] == name and summary["info"]["generator"] == name
    assert summary["n_samples"] == data.n_samples


@pytest.mark.parametrize("name", list(BUILTINS))
def test_builtin_reproducible_from_seed(name):
    options = RANDOM_OPTIONS.get(name, {})
    spec = f"builtin:{name}"
    assert_same(load_data(spec, seed=7, **options), load_data(spec, seed=7, **options))
    # a Generator is accepted and gives the same draws as its seed
    generator = BUILTINS[name][0](seed=np.random.default_rng(7), **options)
    np.testing.assert_array_equal(generator.X, BUILTINS[name][0](seed=7, **options).X, strict=True)


@pytest.mark.parametrize("name", list(RANDOM_OPTIONS))
def test_builtin_differs_across_seeds(name):
    options = RANDOM_OPTIONS[name]
    a = load_data(f"builtin:{name}", seed=0, **options)
    b = load_data(f"builtin:{name}", seed=1, **options)
    assert not np.array_equal(a.X, b.X)


@pytest.mark.parametrize("name", ["teacher", "separable", "nonaffine"])
def test_builtin_sizes_follow_arguments(name):
    data = load_data(f"builtin:{name}", seed=3, n_samples=17, d_in=4)
    assert data.X.shape == (17, 4) and data.y.shape == (17, 1)


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 30), d=st.integers(1, 4))
def test_teacher_targets_come_from_the_stored_teacher(seed, n, d):
    data = make_teacher(n_samples=n, d_in=d, seed=seed)
    t = data.info["teacher"]
    W1, b1, W2, b2 = (np.array(t[key]) for key in ("W1", "b1", "W2", "b2"))
    assert t["widths"] == [d, 3, 1]
    np.testing.assert_allclose(data.y, np.maximum(data.X @ W1.T + b1, 0) @ W2.T + b2, rtol=0, atol=1e-13)
    # the teacher is drawn first, so it does not depend on the sample count
    assert make_teacher(n_samples=n + 5, d_in=d, seed=seed).info["teacher"] == t


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 50), d=st.integers(1, 4),
       margin=st.floats(0.01, 0.5))
def test_separable_has_its_margin(seed, n, d, margin):
    data = make_separable(n_samples=n, d_in=d, margin=margin, seed=seed)
    u, c = np.array(data.info["u"]), data.info["c"]
    assert data.X.shape == (n, d)
    np.testing.assert_allclose(np.linalg.norm(u), 1.0, rtol=1e-15)
    assert set(np.unique(data.y)) <= {-1.0, 1.0}
    assert np.all(data.y[:, 0] * (data.X @ u + c) >= margin)
    assert np.all(np.abs(data.X) <= 1.0)


def test_nonaffine_is_far_from_affine():
    data = load_data("builtin:nonaffine", seed=0)
    assert np.all(np.abs(data.X) <= 2.0)
    affine_risk = best_affine_fit(data.X, data.y).risk
    assert data.info["best_affine_risk"] == affine_risk
    assert affine_risk > 0.01
    # a piecewise-linear function of x_1 (knots on a grid) does far better, as a ReLU network can
    x = data.X[:, 0]
    knots = np.linspace(-1.5, 1.5, 7)
    features = np.column_stack([np.ones_like(x), x] + [np.maximum(x - k, 0) for k in knots])
    coef = np.linalg.lstsq(features, data.y, rcond=None)[0]
    pl_risk = 0.5 * np.mean(np.sum((features @ coef - data.y) ** 2, axis=1))
    assert pl_risk < affine_risk / 10


def test_xor_points_exact_and_blobs():
    data = make_xor()
    assert data.X.tolist() == [[0, 0], [0, 1], [1, 0], [1, 1]] and data.y[:, 0].tolist() == [0, 1, 1, 0]
    assert data.is_exact
    assert data.X_exact.tolist() == [[Fraction(v) for v in row] for row in data.X.tolist()]
    assert all(isinstance(v, Fraction) for v in data.y_exact.ravel())
    blobs = make_xor(n_samples=40, seed=2)
    assert blobs.X_exact is None and blobs.X.shape == (40, 2)
    corner = np.rint(blobs.X).astype(int)  # std 0.1: every point is within 0.5 of its corner at this seed
    np.testing.assert_array_equal(blobs.y[:, 0], corner[:, 0] ^ corner[:, 1])


def test_spirals_balanced_and_bounded():
    data = make_spirals(n_samples=101, seed=4)
    assert np.sum(data.y == -1) == 50 and np.sum(data.y == 1) == 51
    assert np.max(np.linalg.norm(data.X, axis=1)) < 1.2


def test_three_point_exact():
    data = load_data("builtin:three-point")
    half = Fraction(1, 2)
    assert data.X_exact.tolist() == [[1, 0], [0, 1], [half, half]]
    assert data.y_exact.tolist() == [[0], [0], [1]]
    np.testing.assert_array_equal(data.X, [[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]])
    fit = best_affine_fit(data.X_exact, data.y_exact, exact=True)
    assert fit.risk_exact == Fraction(1, 9) == Fraction(data.info["best_affine_risk"])
    assert data.n_samples * fit.risk_exact == Fraction(1, 3) == Fraction(data.info["best_affine_half_sse"])


# -------------------------------------------------------------------------------- arrays, files
def test_from_arrays_shapes_and_copies():
    X = np.arange(6.0).reshape(3, 2)
    data = from_arrays(X, [1, 2, 3], name="mine")
    assert data.y.shape == (3, 1) and data.name == "mine" and data.X_exact is None
    X[0, 0] = 99.0
    assert data.X[0, 0] == 0.0
    assert from_arrays(X, np.ones((3, 2))).d_out == 2


def test_load_npz(tmp_path):
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(9, 3)), rng.normal(size=9)
    np.savez(tmp_path / "d.npz", X=X, y=y)
    data = load_data(tmp_path / "d.npz")
    np.testing.assert_array_equal(data.X, X, strict=True)
    np.testing.assert_array_equal(data.y[:, 0], y, strict=True)
    assert data.info["format"] == "npz" and data.name == "d.npz"
    np.savez(tmp_path / "two.npz", X=X, y=np.stack([y, 2 * y], axis=1))
    assert load_data(str(tmp_path / "two.npz")).y.shape == (9, 2)


def test_load_csv_without_header(tmp_path):
    (tmp_path / "d.csv").write_text("1,2,3\n# a comment\n\n4,5,6.5\n-1e-3, 0 ,7\n")
    data = load_data(str(tmp_path / "d.csv"))
    np.testing.assert_array_equal(data.X, [[1, 2], [4, 5], [-1e-3, 0]])
    np.testing.assert_array_equal(data.y, [[3], [6.5], [7]])
    assert "header" not in data.info


def test_load_csv_with_header(tmp_path):
    (tmp_path / "h.csv").write_text("a,b,target\n1,2,3\n4,5,6\n")
    data = load_data(str(tmp_path / "h.csv"))
    np.testing.assert_array_equal(data.X, [[1, 2], [4, 5]])
    np.testing.assert_array_equal(data.y, [[3], [6]])
    assert data.info["header"] == ["a", "b", "target"]
    # several targets named y*, anywhere
    (tmp_path / "m.csv").write_text("y1,x1,x2,y2\n1,2,3,4\n5,6,7,8\n")
    data = load_data(str(tmp_path / "m.csv"))
    np.testing.assert_array_equal(data.X, [[2, 3], [6, 7]])
    np.testing.assert_array_equal(data.y, [[1, 4], [5, 8]])


def test_file_subsample_and_width(tmp_path):
    np.savez(tmp_path / "d.npz", X=np.arange(20.0).reshape(10, 2), y=np.arange(10.0))
    a = load_data(str(tmp_path / "d.npz"), n_samples=4, seed=1, d_in=2)
    b = load_data(str(tmp_path / "d.npz"), n_samples=4, seed=1)
    assert a.n_samples == 4 and np.all(np.diff(a.y[:, 0]) > 0)
    np.testing.assert_array_equal(a.X, b.X, strict=True)
    np.testing.assert_array_equal(a.X[:, 0], 2 * a.y[:, 0])  # rows stay paired


# -------------------------------------------------------------------------------- errors
def _write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize(
    ("make_spec", "param", "fragment"),
    [
        (lambda p: str(p / "missing.csv"), "spec", "no such file"),
        (lambda p: str(p / "data.txt"), "spec", "'three-point'"),
        (lambda p: "builtin:nope", "spec", ALL_NAMES),
        (lambda p: _write(p, "bad.csv", "1,2,3\n4,x,6\n"), "spec", "'x' in line 2, column 2"),
        (lambda p: _write(p, "ragged.csv", "1,2,3\n4,5\n"), "spec", "3 columns in every row"),
        (lambda p: _write(p, "empty.csv", "a,b\n"), "spec", "no data rows"),
        (lambda p: _write(p, "one.csv", "1\n2\n"), "spec", "at least two columns"),
        (lambda p: _write(p, "nan.csv", "1,2\nnan,3\n"), "X", "finite"),
        (lambda p: _write(p, "junk.npz", "not a zip"), "spec", "readable .npz"),
        (lambda p: 12, "spec", "a path"),
    ],
)
def test_load_errors_name_the_parameter(tmp_path, make_spec, param, fragment):
    with pytest.raises(InvalidInputError, match=f"`{param}` of `load_data`") as info:
        load_data(make_spec(tmp_path))
    assert fragment in str(info.value) and "\n" not in str(info.value)


def test_npz_missing_arrays(tmp_path):
    np.savez(tmp_path / "d.npz", X=np.zeros((3, 2)), target=np.zeros(3))
    with pytest.raises(InvalidInputError, match=r"`spec` of `load_data` must be a \.npz file with arrays"):
        load_data(str(tmp_path / "d.npz"))
    np.savez(tmp_path / "e.npz", X=np.zeros((3, 2)), y=np.zeros(4))
    with pytest.raises(InvalidInputError, match="`y` of `load_data` must be 3 targets"):
        load_data(str(tmp_path / "e.npz"))


def test_size_errors(tmp_path):
    np.savez(tmp_path / "d.npz", X=np.zeros((3, 2)), y=np.zeros(3))
    with pytest.raises(InvalidInputError, match="`d_in` of `load_data`"):
        load_data(str(tmp_path / "d.npz"), d_in=3)
    with pytest.raises(InvalidInputError, match="`n_samples` of `load_data` must be at most the 3 samples"):
        load_data(str(tmp_path / "d.npz"), n_samples=4)
    with pytest.raises(InvalidInputError, match="`n_samples` of `load_data`"):
        load_data("builtin:teacher", n_samples=0)
    with pytest.raises(InvalidInputError, match="`n_samples` of `make_three_point`"):
        load_data("builtin:three-point", n_samples=4)
    with pytest.raises(InvalidInputError, match="`d_in` of `make_xor`"):
        load_data("builtin:xor", d_in=3)
    with pytest.raises(InvalidInputError, match="`d_in` of `make_spirals`"):
        make_spirals(d_in=1)
    with pytest.raises(InvalidInputError, match="`seed` of `make_teacher`"):
        load_data("builtin:teacher", seed=-1)
    with pytest.raises(InvalidInputError, match="`margin` of `make_separable`"):
        make_separable(margin=0.0)
    with pytest.raises(InvalidInputError, match="`noise` of `make_nonaffine`"):
        make_nonaffine(noise=-1.0)


@pytest.mark.parametrize(
    ("X", "y", "message"),
    [
        (np.zeros((12, 2)), np.zeros(11),
         "`y` of `from_arrays` must be 12 targets (one per input sample). Got 11 instead."),
        (np.zeros(3), np.zeros(3), "`X` of `from_arrays` must be an array of shape (n_samples, d_in)"),
        (np.zeros((0, 2)), np.zeros(0), "`X` of `from_arrays` must be at least one sample"),
        (np.zeros((2, 2)), np.zeros((2, 1, 1)), "`y` of `from_arrays` must be an array of shape (n_samples"),
        ([[0.0, np.nan]], [1.0], "`X` of `from_arrays` must be finite"),
        ([[0.0]], [np.inf], "`y` of `from_arrays` must be finite"),
        ([["a"]], [1.0], "`X` of `from_arrays` must be a numeric array"),
    ],
)
def test_from_arrays_errors(X, y, message):
    with pytest.raises(InvalidInputError) as info:
        from_arrays(X, y)
    assert str(info.value).startswith(message)


def test_dataset_exact_shape_checked():
    with pytest.raises(InvalidInputError, match="`X_exact` of `Dataset`"):
        Dataset(np.zeros((2, 2)), np.zeros(2), X_exact=np.zeros((2, 3), dtype=object))


def test_three_point_builder_matches_registry():
    assert BUILTINS["three-point"][0] is make_three_point
    assert_same(make_three_point(), load_data("builtin:three-point", seed=123))


def test_digits_are_the_pca_of_sklearns_images():
    from sklearn.datasets import load_digits

    images, labels = load_digits(return_X_y=True)
    data = load_data("builtin:digits", d_in=5)
    # the components are uncorrelated, ordered by variance, and span the centred images' top principal subspace
    cov = np.cov(data.X.T)
    np.testing.assert_allclose(cov - np.diag(np.diag(cov)), 0, atol=1e-9)
    assert np.all(np.diff(np.diag(cov)) < 0) and np.isclose(np.std(data.X[:, 0]), 1.0)
    centred = images - images.mean(axis=0)
    top = np.linalg.svd(centred, full_matrices=False)[2][:5]
    np.testing.assert_allclose(np.linalg.lstsq(centred @ top.T, data.X, rcond=None)[1], 0, atol=1e-6)
    np.testing.assert_array_equal(data.y[:, 0], np.where(labels <= 4, 1.0, -1.0))
    with pytest.raises(InvalidInputError, match="`d_in`"):
        load_data("builtin:digits", d_in=65)
