"""Slices: every grid value equals the library's risk at that point, the cells equal the activation patterns, the
first layer's lines separate them, the exact 1-D pieces agree with the float curve, and directions are normalised
as documented."""

from fractions import Fraction

import numpy as np
import pytest

from cellscape import init_params, mlp
from cellscape.exceptions import InvalidInputError
from cellscape.losses import risk
from cellscape.networks import flatten_params, unflatten_params
from cellscape.patterns import activation_pattern
from cellscape.slices import random_direction, slice_1d, slice_2d

RNG = np.random.default_rng(0)
X = RNG.normal(size=(12, 2))
Y = np.tanh(X[:, :1] - X[:, 1:])
LABELS = np.where(X[:, :1] > 0, 1.0, -1.0)


def flat(arch, params):
    return np.asarray(flatten_params(arch, params))[0]


def point(arch, vector):
    return unflatten_params(arch, np.asarray(vector)[None])


def cell_keys(arch, vectors, loss, y):
    pattern = activation_pattern(arch, unflatten_params(arch, np.asarray(vectors)), X, y=y, loss=loss)
    return [c.key for c in pattern.cells()]


def same_partition(labels, keys):
    """Equal labels exactly where equal keys (a bijection between the two labellings)."""
    pairs = set(zip(labels.tolist(), keys))
    return len(pairs) == len(set(labels.tolist())) == len(set(keys))


# --------------------------------------------------------------------------------------------- directions
def test_filter_normalised_direction_matches_each_row_and_zeroes_biases():
    arch = mlp(2, [5, 3], 1)
    theta = init_params(arch, seed=1)
    d = point(arch, random_direction(arch, theta, seed=3))
    for (W, _), (dW, db) in zip(theta.layers(), d.layers()):
        np.testing.assert_allclose(np.linalg.norm(dW[0], axis=1), np.linalg.norm(W[0], axis=1), rtol=1e-12)
        assert np.all(db[0] == 0)
    assert np.array_equal(random_direction(arch, theta, seed=3), random_direction(arch, theta, seed=3))
    assert not np.array_equal(random_direction(arch, theta, seed=3), random_direction(arch, theta, seed=4))


@pytest.mark.parametrize("normalization", ["layer", "model"])
def test_layer_and_model_normalisation_with_biases(normalization):
    arch = mlp(2, [4], 1)
    theta = init_params(arch, seed=2)
    d = point(arch, random_direction(arch, theta, normalization=normalization, include_biases=True, seed=0))
    if normalization == "layer":
        for (W, b), (dW, db) in zip(theta.layers(), d.layers()):
            assert np.isclose(np.hypot(np.linalg.norm(dW), np.linalg.norm(db)),
                              np.hypot(np.linalg.norm(W), np.linalg.norm(b)), rtol=1e-12)
    else:
        assert np.isclose(np.linalg.norm(flat(arch, d)), np.linalg.norm(flat(arch, theta)), rtol=1e-12)


# -------------------------------------------------------------------------------------------------- 2-D
@pytest.mark.parametrize("loss, y", [("squared", Y), ("hinge", LABELS)])
def test_plane_values_and_cells_equal_the_slow_reference(loss, y):
    arch = mlp(2, [4, 3], 1)
    theta = init_params(arch, seed=0)
    plane = slice_2d(arch, theta, X, y, loss=loss, resolution=(9, 7), span=(-2, 2, -1.5, 1.5), seed=5)
    assert plane.risk.shape == plane.cells.shape == (7, 9)
    A, B = np.meshgrid(plane.alpha, plane.beta)
    vectors = [plane.point(a, b) for a, b in zip(A.ravel(), B.ravel())]
    expected = np.asarray(risk(arch, unflatten_params(arch, np.asarray(vectors)), X, y, loss=loss))
    np.testing.assert_allclose(plane.risk.ravel(), expected, rtol=1e-12, atol=1e-14)
    assert same_partition(plane.cells.ravel(), cell_keys(arch, vectors, loss, y))
    assert plane.n_cells > 3  # the window crosses boundaries, so the comparison is not trivial


@pytest.mark.parametrize("through_points", [False, True])  # random directions have no bias part; points do
def test_first_layer_lines_separate_the_cells_they_cause(through_points):
    arch = mlp(2, [3], 1)
    theta = init_params(arch, seed=4)
    others = dict(points=[init_params(arch, seed=5), init_params(arch, seed=6)]) if through_points else {}
    plane = slice_2d(arch, theta, X, Y, resolution=15, span=(-3, 3, -3, 3), seed=1, **others)
    A, B = np.meshgrid(plane.alpha, plane.beta)
    signs = np.sign(plane.lines[:, :1] + plane.lines[:, 1:2] * A.ravel() + plane.lines[:, 2:] * B.ravel())
    # one hidden layer and the squared loss: the cell of a point is exactly its side of every line
    keys = [s.tobytes() for s in (signs >= 0).T]
    assert same_partition(plane.cells.ravel(), keys)
    assert plane.lines.shape == (3 * 12, 3)


def test_three_points_plane_is_orthonormal_and_marks_them():
    arch = mlp(2, [3], 1)
    thetas = [init_params(arch, seed=s) for s in (0, 1, 2)]
    extra = flat(arch, thetas[0]) + 0.1
    plane = slice_2d(arch, thetas[0], X, Y, points=thetas[1:], resolution=5, marks=[("extra", point(arch, extra))])
    assert plane.basis == "points"
    np.testing.assert_allclose([plane.d1 @ plane.d1, plane.d2 @ plane.d2, plane.d1 @ plane.d2], [1, 1, 0],
                               atol=1e-12)
    for mark, theta in zip(plane.marks, thetas):
        np.testing.assert_allclose(plane.point(mark.alpha, mark.beta), flat(arch, theta), atol=1e-12)
        assert mark.off_plane < 1e-12
    (a, b) = plane.marks[1].alpha, plane.marks[1].beta
    assert b == pytest.approx(0.0, abs=1e-12) and a == pytest.approx(np.linalg.norm(flat(arch, thetas[1]) - flat(
        arch, thetas[0])))
    residual = extra - plane.point(plane.marks[3].alpha, plane.marks[3].beta)
    assert plane.marks[3].off_plane == pytest.approx(np.linalg.norm(residual)) and plane.marks[3].off_plane > 0
    assert abs(residual @ plane.d1) < 1e-12 and abs(residual @ plane.d2) < 1e-12
    assert plane.alpha[0] < min(m.alpha for m in plane.marks[:3]) and plane.beta[-1] > max(
        m.beta for m in plane.marks[:3])


def test_chunks_do_not_change_the_result():
    arch = mlp(2, [4], 1)
    theta = init_params(arch, seed=0)
    whole = slice_2d(arch, theta, X, Y, resolution=11, seed=2)
    chunked = slice_2d(arch, theta, X, Y, resolution=11, seed=2, chunk=7)  # 121 = 17 * 7 + 2: a padded chunk
    np.testing.assert_allclose(chunked.risk, whole.risk, rtol=1e-13, atol=0)
    assert np.array_equal(chunked.cells, whole.cells)


TARGETS_2 = np.stack([np.tanh(X[:, 0]), X[:, 1] ** 2], axis=1)
CLASSES = (X[:, :1] > 0).astype(float) + (X[:, 1:] > 0.5)


@pytest.mark.parametrize("arch, loss, y", [
    (mlp(2, [4, 3], 2, activation=["leaky_relu:0.1", "pwl:-1,0.5:0.2,1,-0.5:0.1"], bias=[True, False, True]),
     "huber:1", TARGETS_2),
    (mlp(2, [5], 3, activation="hardtanh"), "crammer_singer", CLASSES),
    (mlp(2, [4, 2], 1, activation=["abs", "identity"]), "absolute", Y),
    (mlp(2, [], 1), "hinge", LABELS),  # no hidden layer: the first layer gives the outputs
])
def test_plane_with_other_activations_losses_and_biases_equals_the_slow_reference(arch, loss, y):
    theta = init_params(arch, seed=3)
    plane = slice_2d(arch, theta, X, y, loss=loss, resolution=(8, 9), span=(-2, 2, -2, 2), seed=1)
    A, B = np.meshgrid(plane.alpha, plane.beta)
    vectors = [plane.point(a, b) for a, b in zip(A.ravel(), B.ravel())]
    expected = np.asarray(risk(arch, unflatten_params(arch, np.asarray(vectors)), X, y, loss=loss))
    np.testing.assert_allclose(plane.risk.ravel(), expected, rtol=1e-12, atol=1e-14)
    assert same_partition(plane.cells.ravel(), cell_keys(arch, vectors, loss, y))
    assert plane.n_cells > 3


@pytest.mark.parametrize("kwargs, needle", [
    ({"resolution": 1}, "`resolution`"),
    ({"span": (1, 0, 0, 1)}, "`span`"),
    ({"span": (0, 1)}, "`span`"),
    ({"normalization": "bogus"}, "`normalization`"),
    ({"points": [None]}, "`points`"),
    ({"marks": "x"}, "`marks`"),
    ({"marks": [("x",)]}, "`marks[0]`"),
    ({"chunk": 0}, "`chunk`"),
])
def test_plane_bad_input_names_the_parameter(kwargs, needle):
    arch = mlp(2, [2], 1)
    with pytest.raises(InvalidInputError, match=needle.replace("[", r"\[").replace("]", r"\]")) as info:
        slice_2d(arch, init_params(arch, seed=0), X, Y, **kwargs)
    assert "\n" not in str(info.value)


def test_collinear_points_and_parallel_directions_are_refused():
    arch = mlp(2, [2], 1)
    theta = init_params(arch, seed=0)
    v = flat(arch, theta)
    with pytest.raises(InvalidInputError, match="collinear"):
        slice_2d(arch, theta, X, Y, points=[point(arch, 2 * v), point(arch, 3 * v)])
    with pytest.raises(InvalidInputError, match="parallel"):
        slice_2d(arch, theta, X, Y, directions=[point(arch, v), point(arch, -2 * v)])


# -------------------------------------------------------------------------------------------------- 1-D
def test_path_slice_pieces_equal_the_float_curve_and_kinks_separate_cells():
    arch = mlp(2, [3], 1)
    path = [init_params(arch, seed=s) for s in (0, 1, 2)]
    line = slice_1d(arch, path, X, Y, resolution=41)
    lengths = [np.linalg.norm(flat(arch, b) - flat(arch, a)) for a, b in zip(path, path[1:])]
    assert line.breaks == pytest.approx((0.0, lengths[0], lengths[0] + lengths[1]))
    assert line.t.shape == line.risk.shape == (81,)
    # the exact polynomial of the piece holding each grid point reproduces the float risk there
    for t, r in zip(line.t, line.risk):
        segment = min(int(np.searchsorted(line.breaks, t, side="right")) - 1, len(lengths) - 1)
        s = min(max((t - line.breaks[segment]) / lengths[segment], 0.0), 1.0)
        pieces = [p for p, i in zip(line.pieces, line.piece_segment) if i == segment]
        piece = next(p for p in pieces if float(p.t_start) <= s <= float(p.t_end))
        assert float(piece(Fraction(s))) == pytest.approx(r, rel=1e-11, abs=1e-13)
    # a cell change between two grid points has a kink between them
    kink_t = np.array([float(k.t) for k in line.kinks])
    changes = np.flatnonzero(np.diff(line.cells) != 0)
    assert changes.size > 0
    for i in changes:
        assert np.any((kink_t >= line.t[i]) & (kink_t <= line.t[i + 1]))


def test_direction_slice_has_exact_kinks_in_t():
    arch = mlp(1, [1], 1)
    theta = [([[1.0]], [0.0]), ([[1.0]], [0.0])]
    direction = [([[0.0]], [1.0]), ([[0.0]], [0.0])]  # relu(x + t): kinks at t = -x
    line = slice_1d(arch, theta, [[1.0], [-2.0]], [[0.0], [0.0]], direction=direction, t_range=(-3, 3),
                    resolution=13)
    assert [k.t for k in line.kinks] == [Fraction(-1), Fraction(2)]
    assert line.n_cells == 3 and line.t[0] == -3 and line.t[-1] == 3
    assert line.pieces[1].coefficients == (Fraction(1, 4), Fraction(1, 2), Fraction(1, 4))  # (1 + t)^2 / 4


def test_slice_1d_without_exact_pieces_and_bad_paths():
    arch = mlp(2, [2], 1)
    path = [init_params(arch, seed=s) for s in (0, 1)]
    line = slice_1d(arch, path, X, Y, exact=False, resolution=5)
    assert line.kinks is None and line.pieces is None and line.risk.shape == (5,)
    with pytest.raises(InvalidInputError, match="`path`"):
        slice_1d(arch, path[:1], X, Y)
    with pytest.raises(InvalidInputError, match="differ"):
        slice_1d(arch, [path[0], path[0]], X, Y)
    with pytest.raises(InvalidInputError, match="`t_range`"):
        slice_1d(arch, path[0], X, Y, direction=path[1], t_range=(1, 1))


# ---------------------------------------------------------------------------------------------- command line
def run_cli(args, capsys):
    from cellscape.cli import main

    with pytest.raises(SystemExit) as info:
        main(args)
    out = capsys.readouterr()
    return info.value.code, out.out, out.err


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    from cellscape.params_io import save_params

    folder = tmp_path_factory.mktemp("params")
    arch = mlp(2, [3], 1)
    return [save_params(folder / f"p{s}.npz", arch, init_params(arch, seed=s)) for s in range(3)]


@pytest.mark.parametrize("n_files, extra, expected", [
    (1, [], "plane (random)"),
    (2, [], "exact kinks"),
    (3, [], "plane (points)"),
    (3, ["--dim", "1", "--float"], "not computed"),
    (1, ["--dim", "1", "--span", "-2,2"], "exact kinks"),
])
def test_slice_command_draws_each_kind(saved, tmp_path, capsys, n_files, extra, expected):
    import json

    out, report = tmp_path / "slice.svg", tmp_path / "slice.json"
    code, text, err = run_cli(["slice", *map(str, saved[:n_files]), "--data", "builtin:three-point",
                               "--resolution", "21", "--out", str(out), "--json", str(report), *extra], capsys)
    assert code in (0, None), text + err
    assert expected in text and out.read_text().startswith("<?xml")
    payload = json.loads(report.read_text())
    assert payload["command"] == "slice" and len(payload["risk"]) in (21, 41)


@pytest.mark.parametrize("extra, needle", [
    (["--dim", "2"], "`--dim`"),
    (["--span", "a,b"], "`--span`"),
    (["--out", "slice.pdf"], "`--out`"),
])
def test_slice_command_bad_input_exits_2(saved, capsys, extra, needle, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, _, err = run_cli(["slice", *map(str, saved[:2]), "--data", "builtin:three-point", *extra], capsys)
    assert code == 2 and needle in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


# -------------------------------------------------------------------------------------------------- plots
def test_plots_draw_what_the_slices_hold(tmp_path):
    import matplotlib.pyplot as plt

    from cellscape.plots.slices import plot_slice_1d, plot_slice_2d

    arch = mlp(2, [3], 1)
    path = [init_params(arch, seed=s) for s in (0, 1, 2)]
    line = slice_1d(arch, path, X, Y, resolution=11)
    fig, ax = plt.subplots()
    drawn = plot_slice_1d(line, ax=ax, labels=["a", "b", "c"])
    assert drawn.ax is ax and len(drawn.curve.get_segments()) == line.t.size - 1
    assert np.allclose(drawn.kinks.get_xdata(), [float(k.t) for k in line.kinks])
    assert np.allclose(drawn.points.get_xdata(), line.breaks)
    with pytest.raises(InvalidInputError, match="`labels`"):
        plot_slice_1d(line, labels=["a"])
    direction = slice_1d(arch, path[0], X, Y, direction=path[1], resolution=11)
    assert plot_slice_1d(direction).points is None
    plane = slice_2d(arch, path[0], X, Y, points=path[1:], resolution=15)
    drawn2 = plot_slice_2d(plane)
    assert np.array_equal(drawn2.cells.get_array(), plane.cells) and len(drawn2.marks) == 3
    assert drawn2.boundaries is None and drawn2.lines is not None  # one hidden layer: the exact lines are all
    deep = mlp(2, [3, 2], 1)
    deep_plane = plot_slice_2d(slice_2d(deep, init_params(deep, seed=0), X, Y, resolution=15))
    assert deep_plane.boundaries is not None
    for suffix in ("png", "svg"):
        assert drawn2.save(tmp_path / f"plane.{suffix}").stat().st_size > 0
    plt.close("all")
