import json
from fractions import Fraction

import numpy as np
import pytest

from cellscape import forward, init_params, mlp, pre_activations, pre_activations_exact
from cellscape._backend import fmpq_to_fraction
from cellscape.cli import main
from cellscape.exceptions import InvalidInputError
from cellscape.input_regions import default_domain, linear_regions
from cellscape.params_io import save_params
from cellscape.plots.regions import RegionsPlot, plot_regions

TIE_TOL = 1e-9  # grid points this close to a breakpoint are on (or numerically at) a region boundary: skipped
RTOL = 1e-9  # the affine map in float64 against the float64 forward pass


def gaussian_params(arch, seed):
    rng = np.random.default_rng(seed)
    return [(rng.standard_normal((w[0], w[1])), rng.standard_normal(b[0]) if b else None)
            for w, b in arch.layer_shapes()]


def cross(o, a, b):
    return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])


def inside(region, point):
    """Exact point-in-region test, written apart from LinearRegion.contains: +1 interior, 0 boundary, -1 outside."""
    if len(point) == 1:
        lo, hi = region.vertices[0][0], region.vertices[1][0]
        return 1 if lo < point[0] < hi else (0 if lo <= point[0] <= hi else -1)
    signs = [cross(a, b, point) for a, b in zip(region.vertices, region.vertices[1:] + region.vertices[:1])]
    return 1 if min(signs) > 0 else (0 if min(signs) == 0 else -1)


def inner_float(lo, hi):
    """The float range of the exact interval [lo, hi], rounding its ends inwards."""
    a, b = float(lo), float(hi)
    return (a if Fraction(a) >= lo else np.nextafter(a, np.inf)), (b if Fraction(b) <= hi else np.nextafter(b, -np.inf))


def grid(domain, n):
    axes = [np.linspace(*inner_float(lo, hi), n) for lo, hi in domain]
    return np.stack([g.ravel() for g in np.meshgrid(*axes, indexing="ij")], axis=1)


def check_geometry(result):
    """Regions are strictly convex and counter-clockwise, inside the domain, with distinct patterns, and their
    areas sum to the domain's exactly."""
    assert len({r.pattern for r in result.regions}) == result.n_regions
    assert result.measure == result.domain_measure
    for r in result.regions:
        assert r.measure > 0
        for point in r.vertices:
            assert all(lo <= v <= hi for v, (lo, hi) in zip(point, result.domain))
        if result.d_in == 2:
            vs = r.vertices
            assert len(vs) >= 3
            assert all(cross(vs[i - 1], vs[i], vs[(i + 1) % len(vs)]) > 0 for i in range(len(vs)))
        else:
            assert r.vertices[0][0] < r.vertices[1][0]
        assert inside(r, r.interior_point) == 1


def check_against_sampling(arch, params, result, n_grid):
    """Every grid point lies in some region and in the interior of at most one; the region of a point off every
    breakpoint has its float64 pattern and reproduces the float64 forward pass."""
    X = grid(result.domain, n_grid)
    zs = pre_activations(arch, params, X)
    patterns = [np.asarray(act.piece_index(np.asarray(z[0]))) for act, z in zip(arch.activations, zs)]
    margins = np.min([np.min(act.margin(np.asarray(z[0])), axis=1) for act, z in zip(arch.activations, zs)], axis=0)
    outputs = np.asarray(forward(arch, params, X))[0]
    boxes = np.array([[r.vertices_float.min(axis=0), r.vertices_float.max(axis=0)] for r in result.regions])
    sampled = set()
    for i, x in enumerate(X):
        near = np.flatnonzero(np.all((boxes[:, 0] <= x + 1e-9) & (x - 1e-9 <= boxes[:, 1]), axis=1))
        point = tuple(Fraction(float(v)) for v in x)
        where = {int(j): inside(result.regions[j], point) for j in near}
        closed = [j for j, s in where.items() if s >= 0]
        interior = [j for j, s in where.items() if s == 1]
        assert closed and len(interior) <= 1, (x, where)
        on_edge = any(x[k] in inner_float(lo, hi) for k, (lo, hi) in enumerate(result.domain))
        if margins[i] <= TIE_TOL or on_edge:
            continue
        assert len(interior) == 1 and len(closed) == 1, (x, where)
        region = result.regions[interior[0]]
        pattern = tuple(tuple(int(v) for v in p[i]) for p in patterns)
        sampled.add(pattern)
        assert region.pattern == pattern
        assert region.contains(point, interior=True)
        scale = max(1.0, float(np.abs(outputs).max()))
        np.testing.assert_allclose(region.evaluate(x[None])[0], outputs[i], rtol=RTOL, atol=RTOL * scale)
    assert sampled <= {r.pattern for r in result.regions}
    assert len(sampled) > 1


def check_exact_maps(arch, params, result):
    """At every region's interior point the exact forward pass equals the region's map, and the exact pattern its
    pattern."""
    points = [list(r.interior_point) for r in result.regions]
    zs = pre_activations_exact(arch, params, points)
    for i, r in enumerate(result.regions):
        out = tuple(fmpq_to_fraction(zs[-1][i, k]) for k in range(arch.d_out))
        assert r.evaluate_exact(r.interior_point) == out
        pattern = tuple(tuple(act.piece_index_exact(fmpq_to_fraction(z[i, k])) for k in range(z.ncols()))
                        for act, z in zip(arch.activations, zs[:-1]))
        assert r.pattern == pattern


# ---------------------------------------------------------------------------------------------- closed forms
@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 6, 7, 8, 15])
def test_one_layer_general_position_2d(n):
    arch = mlp(2, [n], 1)
    params = gaussian_params(arch, seed=n)
    result = linear_regions(arch, params)
    assert result.n_regions == 1 + n + n * (n - 1) // 2
    assert result.layer_counts == (result.n_regions,)
    check_geometry(result)


@pytest.mark.parametrize("n", [1, 2, 4, 6])
def test_one_layer_hardtanh_2d(n):
    # n pairs of parallel lines, otherwise in general position: 1 + lines + crossings = 1 + 2n + 4 n(n-1)/2
    arch = mlp(2, [n], 1, activation="hardtanh")
    result = linear_regions(arch, gaussian_params(arch, seed=10 + n))
    assert result.n_regions == 1 + 2 * n + 2 * n * (n - 1)
    check_geometry(result)


def test_one_layer_1d_counts_distinct_kinks_inside():
    # kinks (exact): units 1-3 at x = 1, unit 4 at 0, unit 5 at -7 (outside), unit 6 constant (no kink)
    arch = mlp(1, [6], 2)
    W1 = [[1], [2], [-1], [3], [1], [0]]
    b1 = [-1, -2, 1, 0, 7, 5]
    params = [(W1, b1), ([[1, -1, 2, 1, 1, 1], [0, 1, 0, 0, 0, 1]], [0, 0])]
    result = linear_regions(arch, params, domain=(-2, 3))
    assert result.n_regions == 3  # 1 + |{0, 1}|
    assert sorted(r.interval for r in result.regions) == [(-2, 0), (0, 1), (1, 3)]
    check_geometry(result)
    check_exact_maps(arch, params, result)


@pytest.mark.parametrize("activation", ["relu", "hardtanh", "pwl:-1,0,2:1/2,-1,2,0"])
def test_one_layer_1d_random(activation):
    arch = mlp(1, [12], 1, activation=activation)
    params = gaussian_params(arch, seed=3)
    act = arch.activations[0]
    lo, hi = Fraction(-1), Fraction(1)
    kinks = {(p - Fraction(float(b))) / Fraction(float(w[0])) for w, b in zip(params[0][0], params[0][1])
             for p in act.breakpoints}
    expected = 1 + sum(1 for k in kinks if lo < k < hi)
    assert 1 < expected < 1 + len(kinks)  # some kinks inside the interval, some outside
    result = linear_regions(arch, params, domain=[lo, hi])
    assert result.n_regions == expected
    assert {r.interval[0] for r in result.regions} - {lo} == {k for k in kinks if lo < k < hi}
    check_geometry(result)
    # the default interval holds every kink: then every kink is a region boundary
    assert linear_regions(arch, params).n_regions == 1 + len(kinks)


# ---------------------------------------------------------------------------------------------- against sampling
@pytest.mark.parametrize(
    ("d_in", "hidden", "activation", "n_grid"),
    [
        (2, [6, 6], "relu", 45),
        (2, [5, 5, 4], "hardtanh", 45),
        (2, [6, 5], "leaky_relu:1/10", 45),
        (1, [8, 8, 8], "relu", 3000),
        (1, [6, 6], "hardtanh", 3000),
        (1, [5, 5], "pwl:-1,0,2:1/2,-1,2,0", 3000),
    ],
)
def test_deeper_networks_against_sampling(d_in, hidden, activation, n_grid):
    arch = mlp(d_in, hidden, 1, activation=activation)
    params = init_params(arch, seed=1)
    # a box around the middle of the default domain, where the deeper layers cut the most
    result = linear_regions(arch, params, domain=[-3, 3] * d_in)
    assert result.n_regions > result.layer_counts[0] or len(hidden) == 1
    check_geometry(result)
    check_exact_maps(arch, params, result)
    check_against_sampling(arch, params, result, n_grid)


def test_default_domain_with_data_and_deep_net():
    arch = mlp(2, [5, 5], 2, activation="leaky_relu")
    params = init_params(arch, seed=4)
    X = np.array([[40.0, -30.0], [1.0, 2.0]])
    result = linear_regions(arch, params, X=X)
    (x0, x1), (y0, y1) = result.domain
    assert x0 < 1 and x1 > 40 and y0 < -30 and y1 > 2
    assert result.domain == default_domain(arch, params, X=X)
    assert all(len(r.A) == 2 and len(r.A[0]) == 2 and len(r.c) == 2 for r in result.regions)
    check_geometry(result)
    check_exact_maps(arch, params, result)
    check_against_sampling(arch, params, result, 30)


def test_locate_and_batch_index():
    arch = mlp(2, [4, 3], 1)
    batch = init_params(arch, batch=3, seed=2)
    result = linear_regions(arch, batch, index=2, domain=(-1, 1, -1, 1))
    assert result.regions == linear_regions(arch, batch[2], domain=(-1, 1, -1, 1)).regions
    assert result.regions != linear_regions(arch, batch[0], domain=(-1, 1, -1, 1)).regions
    for i, r in enumerate(result.regions):
        assert result.locate(r.interior_point) == i
    assert result.locate((2, 0)) is None


# ---------------------------------------------------------------------------------------------- edge cases
def test_line_missing_the_domain_and_dead_units():
    arch = mlp(2, [4], 1)
    # unit 1: x1 = 0 crosses; unit 2: x1 + x2 = 100 misses the box; units 3, 4: zero rows, one on its breakpoint
    params = [([[1, 0], [1, 1], [0, 0], [0, 0]], [0, -100, -1, 0]), ([[1, 1, 1, 1]], [0])]
    result = linear_regions(arch, params, domain=(-1, 1, -1, 1))
    assert result.n_regions == 2
    assert sorted(r.pattern for r in result.regions) == [((0, 0, 0, 1),), ((1, 0, 0, 1),)]
    assert sorted(r.measure for r in result.regions) == [2, 2]
    check_exact_maps(arch, params, result)


def test_regions_sharing_an_affine_map():
    # the second unit's line cuts the square, but its output weight is zero: 4 regions, 2 maps
    arch = mlp(2, [2], 1)
    params = [([[1, 0], [0, 1]], [0, 0]), ([[1, 0]], [0])]
    result = linear_regions(arch, params, domain=(-1, 1, -1, 1))
    assert (result.n_regions, result.n_affine_maps) == (4, 2)


def test_width_one_and_no_hidden_layer():
    for d_in in (1, 2):
        arch = mlp(d_in, [1], 1)
        params = [([[1] * d_in], ["1/3"]), ([[2]], [1])]
        result = linear_regions(arch, params)
        assert result.n_regions == 2
        check_geometry(result)
        check_exact_maps(arch, params, result)
    arch = mlp(2, [], 1)
    result = linear_regions(arch, [([[2, "1/3"]], [5])], domain=(0, 1, 0, 2))
    assert result.n_regions == 1 and result.layer_counts == ()
    assert result.regions[0].A == ((2, Fraction(1, 3)),) and result.regions[0].c == (5,)
    assert result.regions[0].measure == 2 and result.regions[0].pattern == ()


def test_exact_breakpoint_through_a_vertex():
    # the lines x1 = 0, x2 = 0 and x1 + x2 = 0 meet at the origin: 6 regions, not 7; a line along the domain's edge
    # (x1 = -1) cuts nothing
    arch = mlp(2, [4], 1)
    params = [([[1, 0], [0, 1], [1, 1], [1, 0]], [0, 0, 0, 1]), ([[1, 1, 1, 1]], [0])]
    result = linear_regions(arch, params, domain=(-1, 1, -1, 1))
    assert result.n_regions == 6
    assert sorted(r.measure for r in result.regions) == [Fraction(1, 2)] * 4 + [1, 1]
    check_geometry(result)


def one_line(err):
    text = str(err.value)
    assert "\n" not in text
    return text


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"domain": (0, 1, 2)}, "domain"),
        ({"domain": (1, 0, 0, 1)}, "domain"),
        ({"domain": (0, 0, 0, 1)}, "domain"),
        ({"domain": (0, float("inf"), 0, 1)}, "domain"),
        ({"domain": (0, float("nan"), 0, 1)}, "domain"),
        ({"domain": "0,1,0,1"}, "domain"),
        ({"domain": ((0, 1), (0, 1, 2))}, "domain"),
        ({"margin": 0}, "margin"),
        ({"margin": "x"}, "margin"),
        ({"index": 1}, "index"),
        ({"index": -1}, "index"),
        ({"max_regions": 3}, "max_regions"),
        ({"X": np.zeros((3, 3))}, "X"),
        ({"progress": 3}, "progress"),
    ],
)
def test_bad_inputs_name_the_parameter(kwargs, name):
    arch = mlp(2, [3], 1)
    with pytest.raises(InvalidInputError) as err:
        linear_regions(arch, init_params(arch, seed=0), **kwargs)
    assert f"`{name}` of `linear_regions`" in one_line(err)


def test_bad_architecture_and_params():
    arch = mlp(3, [2], 1)
    with pytest.raises(InvalidInputError) as err:
        linear_regions(arch, init_params(arch, seed=0))
    assert "`arch`" in one_line(err) and "input width 3" in str(err.value)
    with pytest.raises(InvalidInputError) as err:
        linear_regions("2-3-1", None)
    assert "`arch`" in one_line(err)
    with pytest.raises(InvalidInputError) as err:
        linear_regions(mlp(2, [3], 1), np.zeros(5))
    assert "params" in one_line(err)
    region = linear_regions(mlp(2, [1], 1), [([[1, 0]], [0]), ([[1]], [0])]).regions[0]
    with pytest.raises(InvalidInputError) as err:
        region.interval  # noqa: B018  (a property that raises for a 2-D region)
    assert "`region`" in one_line(err)


def test_to_dict_is_json():
    arch = mlp(1, [3], 1)
    result = linear_regions(arch, init_params(arch, seed=0))
    payload = json.loads(json.dumps(result.to_dict()))
    assert payload["n_regions"] == result.n_regions == len(payload["regions"])
    first = payload["regions"][0]
    assert Fraction(first["exact"]["measure"]) == result.regions[0].measure
    assert first["vertices"] == result.regions[0].vertices_float.tolist()


# ---------------------------------------------------------------------------------------------- plots
@pytest.mark.parametrize("color", ["region", "output"])
def test_plot_2d(tmp_path, color):
    arch = mlp(2, [5, 4], 2)
    result = linear_regions(arch, init_params(arch, seed=0))
    drawn = plot_regions(result, color=color, output=1)
    assert isinstance(drawn, RegionsPlot)
    assert len(drawn.regions.get_paths()) == result.n_regions
    assert (drawn.colorbar is not None) == (color == "output")
    assert drawn.ax.get_xlabel() == "$x_1$" and str(result.n_regions) in drawn.ax.get_title()
    for suffix in ("png", "svg"):
        path = drawn.save(tmp_path / f"regions.{suffix}")
        assert path.stat().st_size > 1000
    with pytest.raises(InvalidInputError) as err:
        drawn.save(tmp_path / "regions.jpg")
    assert "`path`" in one_line(err)
    import matplotlib.pyplot as plt

    plt.close("all")


def test_plot_1d_uses_given_axes(tmp_path):
    import matplotlib.pyplot as plt

    # relu(x) - relu(x - 1/2), plus a unit with zero output weight cutting at x = -1/4: two kinks, one pattern change
    params = [([[1], [1], [1]], [0, "-1/2", "1/4"]), ([[1, -1, 0]], [0])]
    arch = mlp(1, [3], 1)
    result = linear_regions(arch, params, domain=(-1, 1))
    fig, ax = plt.subplots()
    drawn = plot_regions(result, ax=ax)
    assert drawn.ax is ax and drawn.colorbar is None
    assert len(drawn.regions.get_segments()) == result.n_regions == 4
    assert len(drawn.kinks.get_offsets()) == 2 and len(drawn.pattern_changes.get_offsets()) == 1
    np.testing.assert_allclose(np.asarray(drawn.kinks.get_offsets()), [[0.0, 0.0], [0.5, 0.5]])
    fig.savefig(tmp_path / "graph.svg")
    plt.close(fig)
    with pytest.raises(InvalidInputError) as err:
        plot_regions(result, color="pattern")
    assert "`color`" in one_line(err)
    with pytest.raises(InvalidInputError) as err:
        plot_regions(result, output=1)
    assert "`output`" in one_line(err)
    plt.close("all")


# ---------------------------------------------------------------------------------------------- command line
def run(args, capsys):
    with pytest.raises(SystemExit) as info:
        main(args)
    out = capsys.readouterr()
    return info.value.code, out.out, out.err


def test_cli_random_network(tmp_path, capsys):
    out_path, json_path = tmp_path / "regions.svg", tmp_path / "regions.json"
    code, out, _ = run(["regions", "--hidden", "4,3", "--seed", "3", "--out", str(out_path), "--json",
                        str(json_path)], capsys)
    assert code == 0, out
    arch = mlp(2, [4, 3], 1)
    expected = linear_regions(arch, init_params(arch, seed=3))
    assert f"{expected.n_regions} linear regions, {expected.n_affine_maps} distinct affine maps" in out
    assert out_path.stat().st_size > 1000
    payload = json.loads(json_path.read_text())
    assert payload["command"] == "regions" and payload["n_regions"] == expected.n_regions
    assert payload["config"]["seed"] == 3 and "cellscape_version" in payload


def test_cli_params_file_and_domain(tmp_path, capsys):
    arch = mlp(1, [3], 1, activation="hardtanh")
    params = init_params(arch, batch=2, seed=0)
    path = save_params(tmp_path / "p.npz", arch, params)
    code, out, _ = run(["regions", "--params", str(path), "--index", "1", "--domain=-1/2,1", "--out",
                        str(tmp_path / "g.png")], capsys)
    assert code == 0, out
    expected = linear_regions(arch, params, index=1, domain=("-1/2", 1))
    assert f"{expected.n_regions} linear regions" in out and "[-0.5, 1]" in out


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["regions", "--out", "regions.pdf"], "--out"),
        (["regions", "--d-in", "3"], "input width"),
        (["regions", "--domain", "0,1,2"], "domain"),
        (["regions", "--d-in", "1", "--domain", "1,0"], "domain"),
        (["regions", "--hidden", "4,x"], "--hidden"),
        (["regions", "--params", "missing.npz"], "path"),
    ],
)
def test_cli_bad_input_exits_2(args, needle, capsys):
    code, out, err = run(args, capsys)
    assert code == 2 and needle in err
    assert "Traceback" not in out + err and len(err.strip().splitlines()) == 1
