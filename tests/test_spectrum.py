import itertools
import math

import jax
import numpy as np
import pytest

from cellscape import InvalidInputError, flatten_params, forward, init_params, mlp, unflatten_params
from cellscape.losses import risk
from cellscape.patterns import certified_radius
from cellscape.plots.spectrum import SpectrumPlot, plot_spectrum
from cellscape.spectrum import DENSE_LIMIT, PointKind, SpectrumMethod, hessian_spectrum


def _flat_grad(arch, X, y, loss="squared"):
    """jax.grad of the true risk (no cell machinery) as a function of the flat parameter vector."""
    return jax.jit(jax.grad(lambda f: risk(arch, unflatten_params(arch, f[None, :]), X, y, loss=loss)[0]))


def _network(widths, *, n, seed, activation="leaky_relu:1/10"):
    rng = np.random.default_rng(seed)
    arch = mlp(widths[0], list(widths[1:-1]), widths[-1], activation=activation)
    flat = np.asarray(flatten_params(arch, init_params(arch, seed=seed)))[0]
    return arch, flat, rng.normal(size=(n, widths[0])), rng.normal(size=(n, widths[-1]))


def _scale(eigenvalues):
    return float(np.max(np.abs(eigenvalues)))


def test_dense_spectrum_matches_finite_difference_hessian_at_a_smooth_point():
    arch, flat, X, y = _network((3, 5, 4, 2), n=12, seed=0)
    h = 1e-5
    # every central-difference step stays in the cell, so the true risk is the cell polynomial there
    assert certified_radius(arch, flat[None, :], X)[0] > h
    spec = hessian_spectrum(arch, flat, X, y)
    assert spec.kind is PointKind.SMOOTH and spec.is_smooth and spec.n_ties == 0 and spec.n_adjacent == 1
    assert spec.method is SpectrumMethod.DENSE and spec.k is None and not spec.sampled
    (piece,) = spec.pieces
    assert not piece.one_sided and piece.sides == () and piece.label == "cell" and piece.has_interior
    assert piece.eigenvalues.shape == (arch.n_params,) and piece.n_converged is None

    grad = _flat_grad(arch, X, y)
    eye = np.eye(arch.n_params)
    H = np.array([(np.asarray(grad(flat + h * e)) - np.asarray(grad(flat - h * e))) / (2 * h) for e in eye])
    fd = np.linalg.eigvalsh(0.5 * (H + H.T))
    # central differences of a polynomial gradient: truncation h^2 |R'''| / 6 ~ 1e-10 and rounding
    # eps |grad| / h ~ 1e-11, far below rtol 1e-5; near-zero eigenvalues are known only to that absolute level
    np.testing.assert_allclose(piece.eigenvalues, fd, rtol=1e-5, atol=1e-7 * _scale(fd))
    assert spec.smallest == piece.min < 0 < piece.max == spec.largest  # indefinite at a random point


def test_lanczos_extremes_agree_with_the_dense_spectrum():
    arch, flat, X, y = _network((4, 16, 8, 2), n=20, seed=1)
    assert 200 < arch.n_params < 400
    dense = hessian_spectrum(arch, flat, X, y, method="dense").pieces[0].eigenvalues
    k = 4
    spec = hessian_spectrum(arch, flat, X, y, method="lanczos", k=k, seed=3)
    piece = spec.pieces[0]
    assert spec.method is SpectrumMethod.LANCZOS and piece.method is SpectrumMethod.LANCZOS and spec.k == k
    assert spec.converged and piece.n_converged == 2 * k and piece.eigenvalues.shape == (2 * k,)
    # ARPACK at tol=0 converges Ritz values to machine precision relative to ||H||: rtol 1e-8 on each
    # eigenvalue, with an absolute floor 1e-12 ||H|| for any eigenvalue near 0
    expected = np.concatenate([dense[:k], dense[-k:]])
    np.testing.assert_allclose(piece.eigenvalues, expected, rtol=1e-8, atol=1e-12 * _scale(dense))
    again = hessian_spectrum(arch, flat, X, y, method="lanczos", k=k, seed=3)
    np.testing.assert_array_equal(again.pieces[0].eigenvalues, piece.eigenvalues)  # seeded start vector
    stopped = hessian_spectrum(arch, flat, X, y, method="lanczos", k=k, seed=3, maxiter=1)
    assert not stopped.converged and stopped.pieces[0].n_converged < 2 * k
    assert stopped.pieces[0].eigenvalues.shape == (stopped.pieces[0].n_converged,)


def test_auto_uses_lanczos_on_a_network_of_several_thousand_parameters():
    arch, flat, X, y = _network((8, 80, 60, 4), n=32, seed=2)
    assert 5000 < arch.n_params > DENSE_LIMIT
    spec = hessian_spectrum(arch, flat, X, y, k=2, seed=0)
    assert spec.method is SpectrumMethod.LANCZOS and spec.kind is PointKind.SMOOTH and spec.converged
    lam = spec.pieces[0].eigenvalues
    assert lam.shape == (4,) and np.all(np.diff(lam) >= 0)
    # another start vector finds the same extremes
    other = hessian_spectrum(arch, flat, X, y, k=2, seed=1).pieces[0].eigenvalues
    np.testing.assert_allclose(other, lam, rtol=1e-8, atol=1e-12 * _scale(lam))
    # Rayleigh quotients, from finite differences of the true gradient, lie in [lambda_min, lambda_max]
    grad = _flat_grad(arch, X, y)
    rng = np.random.default_rng(0)
    h = 1e-6
    assert certified_radius(arch, flat[None, :], X)[0] > h
    directions = np.vstack([rng.normal(size=(8, arch.n_params)), np.eye(arch.n_params)[rng.choice(arch.n_params, 8)]])
    for v in directions:
        v = v / np.linalg.norm(v)
        quotient = float(v @ (np.asarray(grad(flat + h * v)) - np.asarray(grad(flat - h * v)))) / (2 * h)
        slack = 1e-6 * _scale(lam)  # the finite difference's error, far above Lanczos's
        assert lam[0] - slack <= quotient <= lam[-1] + slack


def _kink_network(seed=4):
    """A 3-4-3-1 ReLU network whose first-layer units 0 and 1 sit exactly on their kink at samples 3 and 5.

    Inputs and first-layer weights are multiples of 1/8 and 1/4 of size below 4, so ``w . x`` is exact in any
    summation order and the bias ``-w . x`` makes the pre-activation exactly 0.
    """
    rng = np.random.default_rng(seed)
    arch = mlp(3, [4, 3], 1, activation="relu")
    P = init_params(arch, seed=seed).numpy()
    W1 = rng.integers(-4, 5, size=(4, 3)) / 4
    X = rng.integers(-16, 17, size=(10, 3)) / 8
    b1 = np.asarray(P.biases[0][0]).copy()
    b1[0], b1[1] = -(W1[0] @ X[3]), -(W1[1] @ X[5])
    layers = [(W1, b1), (P.weights[1][0], P.biases[1][0]), (P.weights[2][0], P.biases[2][0])]
    return arch, layers, X, rng.normal(size=(10, 1))


def test_kink_gives_the_one_sided_spectra_of_the_adjacent_pieces():
    arch, layers, X, y = _kink_network()
    spec = hessian_spectrum(arch, layers, X, y)
    assert spec.kind is PointKind.KINK and not spec.is_smooth
    assert [(t.layer, t.unit, t.sample) for t in spec.ties] == [(1, 0, 3), (1, 1, 5)]
    assert spec.n_adjacent == 4 and len(spec.pieces) == 4 and not spec.sampled
    assert [p.sides for p in spec.pieces] == list(itertools.product((0, 1), repeat=2))
    assert spec.pieces[1].label == "z^1_0(x_3)-, z^1_1(x_5)+"
    assert all(p.one_sided and p.has_interior for p in spec.pieces)

    step = 1e-7
    for piece in spec.pieces:
        b1 = layers[0][1].copy()
        b1[0] += step if piece.sides[0] else -step  # z^1_0(x_3) = +-1e-7: inside that piece's cell
        b1[1] += step if piece.sides[1] else -step
        nudged = hessian_spectrum(arch, [(layers[0][0], b1), *layers[1:]], X, y)
        assert nudged.kind is PointKind.SMOOTH
        # the pieces' Hessians are polynomial in the parameters: a move of 1e-7 changes them by O(1e-7)
        lam = nudged.pieces[0].eigenvalues
        np.testing.assert_allclose(piece.eigenvalues, lam, rtol=1e-5, atol=1e-5 * _scale(lam))
    # and the pieces really differ: which side a tie takes changes the spectrum
    spread = max(np.max(np.abs(p.eigenvalues - spec.pieces[0].eigenvalues)) for p in spec.pieces)
    assert spread > 1e-3 * _scale(spec.pieces[0].eigenvalues)
    assert spec.smallest == min(p.min for p in spec.pieces) and spec.largest == max(p.max for p in spec.pieces)


def test_hinge_loss_kink_is_split_like_an_activation_tie():
    rng = np.random.default_rng(5)
    arch = mlp(2, [3], 1, activation="leaky_relu:1/4")
    flat = np.asarray(flatten_params(arch, init_params(arch, seed=5)))[0]
    X = rng.normal(size=(8, 2))
    y = rng.choice([-1.0, 1.0], size=(8, 1))

    def with_output_bias(c):
        f = flat.copy()
        f[-1] = c
        return f

    # choose the output bias c so that y_0 f(x_0) = 1 (up to rounding, far below tie_tol): f(x_0) = s + c with s
    # the output at c = 0
    s = float(np.asarray(forward(arch, with_output_bias(0.0)[None], X[:1]))[0, 0, 0])
    c = float(y[0, 0]) - s
    spec = hessian_spectrum(arch, with_output_bias(c), X, y, loss="hinge")
    assert spec.kind is PointKind.KINK and [(t.layer, t.sample) for t in spec.ties] == [(2, 0)]
    assert [p.label for p in spec.pieces] == ["loss_0(x_0)-", "loss_0(x_0)+"]
    for piece in spec.pieces:
        # side + is the hinge's active piece, 1 - y f > 0: move f against y
        moved = c - y[0, 0] * 1e-7 if piece.sides[0] else c + y[0, 0] * 1e-7
        nudged = hessian_spectrum(arch, with_output_bias(moved), X, y, loss="hinge")
        assert nudged.kind is PointKind.SMOOTH
        lam = nudged.pieces[0].eigenvalues
        np.testing.assert_allclose(piece.eigenvalues, lam, rtol=1e-5, atol=1e-5 * _scale(lam))
    assert np.max(np.abs(spec.pieces[0].eigenvalues - spec.pieces[1].eigenvalues)) > 1e-3


def test_crammer_singer_kink_is_reported_but_not_split():
    rng = np.random.default_rng(0)
    arch = mlp(2, [3], 2)
    flat = np.asarray(flatten_params(arch, init_params(arch, seed=0)))[0]
    X, y = rng.normal(size=(5, 2)), np.array([[0], [1], [0], [1], [0]], dtype=float)
    out = np.asarray(forward(arch, flat[None], X))[0]
    flat[-1] -= 1 + out[0, 1] - out[0, 0]  # sample 0 (class 0) at the hinge's kink 1 + yhat_1 - yhat_0 = 0
    spec = hessian_spectrum(arch, flat, X, y, loss="crammer_singer")
    assert spec.kind is PointKind.KINK and spec.n_ties == 0 and len(spec.pieces) == 1
    assert spec.pieces[0].one_sided and "Crammer-Singer" in spec.message


def _dead_unit_network():
    """A 3-2-1 ReLU network whose unit 0 has zero weights and bias: a tie on every one of the 8 samples."""
    rng = np.random.default_rng(6)
    arch = mlp(3, [2], 1, activation="relu")
    W1 = rng.normal(size=(2, 3))
    W1[0] = 0.0
    b1 = np.array([0.0, 0.3])
    return arch, [(W1, b1), (rng.normal(size=(1, 2)), [0.1])], rng.normal(size=(8, 3)), rng.normal(size=(8, 1))


def test_sampling_beyond_max_pieces_is_reproducible_from_the_seed():
    arch, layers, X, y = _dead_unit_network()
    spec = hessian_spectrum(arch, layers, X, y, max_pieces=5, seed=7)
    assert spec.n_ties == 8 and spec.n_adjacent == 2**8 and spec.sampled and len(spec.pieces) == 5
    sides = [p.sides for p in spec.pieces]
    assert len(set(sides)) == 5 and sides == sorted(sides)
    assert "sample" in spec.message
    again = hessian_spectrum(arch, layers, X, y, max_pieces=5, seed=7)
    assert [p.sides for p in again.pieces] == sides
    for a, b in zip(spec.pieces, again.pieces):
        np.testing.assert_array_equal(a.eigenvalues, b.eigenvalues)
    other = hessian_spectrum(arch, layers, X, y, max_pieces=5, seed=8)
    assert [p.sides for p in other.pieces] != sides


def test_dependent_ties_have_pieces_without_interior():
    # unit 0's ties have gradients (x_i, 1) in R^4, 8 points in general position: by Cover's function counting
    # theorem exactly 2 * sum_{j<4} C(7, j) = 128 of the 2^8 sign choices are realised next to the point
    arch, layers, X, y = _dead_unit_network()
    spec = hessian_spectrum(arch, layers, X, y, max_pieces=256)
    assert not spec.sampled and len(spec.pieces) == 256
    assert sum(p.has_interior for p in spec.pieces) == 2 * sum(math.comb(7, j) for j in range(4))
    assert "128 with a cell" in spec.message


def test_to_dict_is_json_ready():
    import json

    arch, layers, X, y = _kink_network()
    data = json.loads(json.dumps(hessian_spectrum(arch, layers, X, y).to_dict()))
    assert data["kind"] == "kink" and data["n_ties"] == 2 and len(data["pieces"]) == 4
    assert data["pieces"][3]["sides"] == [1, 1] and len(data["pieces"][3]["eigenvalues"]) == arch.n_params
    assert data["ties"][0] == {"layer": 1, "unit": 0, "sample": 3, "breakpoint": 0, "distance": 0.0}


@pytest.mark.parametrize(("options", "param"), [
    ({"method": "newton"}, "method"),
    ({"k": 0}, "k"),
    ({"k": 2.5}, "k"),
    ({"method": "lanczos", "k": 21}, "k"),  # 2k > P = 41
    ({"tie_tol": -1.0}, "tie_tol"),
    ({"max_pieces": 0}, "max_pieces"),
    ({"seed": -1}, "seed"),
    ({"chunk_size": 0}, "chunk_size"),
    ({"tol": math.nan}, "tol"),
    ({"maxiter": 0}, "maxiter"),
    ({"loss": "hinge"}, "y"),  # real-valued targets for the hinge loss
])
def test_bad_inputs_raise_one_line_errors_naming_the_parameter(options, param):
    arch, flat, X, y = _network((3, 4, 4, 1), n=6, seed=0)
    assert arch.n_params == 41
    with pytest.raises(InvalidInputError, match=f"^`{param}` of `hessian_spectrum` must be ") as err:
        hessian_spectrum(arch, flat, X, y, **options)
    assert "\n" not in str(err.value)


def test_a_batch_of_two_networks_is_refused():
    arch = mlp(2, [2], 1)
    with pytest.raises(InvalidInputError, match="^`params` of `hessian_spectrum` must be one network"):
        hessian_spectrum(arch, init_params(arch, batch=2), np.zeros((3, 2)), np.zeros((3, 1)))


def test_plot_spectrum_draws_each_piece_on_a_given_axes(tmp_path):
    from cellscape.plots._axes import pyplot

    plt = pyplot()
    arch, layers, X, y = _kink_network()
    spec = hessian_spectrum(arch, layers, X, y)
    fig, ax = plt.subplots()
    drawn = plot_spectrum(spec, ax=ax)
    assert isinstance(drawn, SpectrumPlot) and drawn.ax is ax and ax.get_xscale() == "symlog"
    assert len(drawn.strips) == 4
    for strip, piece in zip(drawn.strips, spec.pieces):
        np.testing.assert_array_equal(strip.get_offsets()[:, 0], piece.eigenvalues)
    assert [t.get_text() for t in drawn.legend.get_texts()] == ["one-sided (an adjacent piece)"]
    assert "one-sided" in ax.get_title() and "2 ties" in ax.get_title()
    assert [t.get_text() for t in ax.get_yticklabels()][0] == "z^1_0(x_3)-, z^1_1(x_5)-"
    path = tmp_path / "spectrum.png"
    fig.savefig(path)
    assert path.stat().st_size > 1000
    plt.close(fig)

    smooth = hessian_spectrum(*_network((2, 3, 1), n=5, seed=0))
    drawn = plot_spectrum(smooth, linthresh=0.5)
    assert drawn.ax is not ax and drawn.linthresh == 0.5 and "inside a cell" in drawn.title
    assert [t.get_text() for t in drawn.legend.get_texts()] == ["two-sided (the cell's Hessian)"]
    plt.close(drawn.ax.figure)
    with pytest.raises(InvalidInputError, match="^`spectrum` of `plot_spectrum` must be a HessianSpectrum"):
        plot_spectrum(spec.pieces[0])


# ---------------------------------------------------------------------------------------------- command line
def test_spectrum_command_prints_writes_and_refuses_bad_input(tmp_path, capsys):
    import json

    from cellscape.cli import main
    from cellscape.data import load_data
    from cellscape.params_io import save_params

    arch = mlp(2, [3], 1)
    theta = init_params(arch, seed=0)
    path = save_params(tmp_path / "p.npz", arch, theta)
    with pytest.raises(SystemExit) as info:
        main(["spectrum", "--params", str(path), "--data", "builtin:three-point", "--out", str(tmp_path / "s.png"),
              "--json", str(tmp_path / "s.json")])
    out = capsys.readouterr()
    assert info.value.code in (0, None), out.out + out.err
    payload = json.loads((tmp_path / "s.json").read_text())
    data = load_data("builtin:three-point")
    direct = hessian_spectrum(arch, theta, data.X, data.y)
    assert payload["command"] == "spectrum" and payload["kind"] == "smooth"
    assert np.allclose(payload["pieces"][0]["eigenvalues"], direct.pieces[0].eigenvalues, rtol=0, atol=0)
    assert "two-sided" in out.out and (tmp_path / "s.png").stat().st_size > 0
    with pytest.raises(SystemExit) as info:
        main(["spectrum", "--params", str(path), "--method", "bogus"])
    err = capsys.readouterr().err
    assert info.value.code == 2 and "`method`" in err and len(err.strip().splitlines()) == 1
