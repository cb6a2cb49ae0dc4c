from fractions import Fraction

import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, strategies as st

from cellscape import (
    InvalidInputError,
    Params,
    as_params,
    flatten_params,
    forward,
    forward_exact,
    init_params,
    mlp,
    unflatten_params,
)
from cellscape._backend import fmpq_to_fraction
from cellscape.networks import Architecture, exact_params
from cellscape.patterns import certified_radius
from cellscape.testing.reference import forward_loop
from cellscape.testing.strategies import architectures, dyadic_array


def _as_fraction_array(mat):
    return np.array([[fmpq_to_fraction(mat[i, j]) for j in range(mat.ncols())] for i in range(mat.nrows())],
                    dtype=object)


def test_shapes_and_counts():
    arch = mlp(3, [5, 4], 2, bias=[True, False, True])
    assert arch.n_params == 3 * 5 + 5 + 5 * 4 + 4 * 2 + 2
    params = init_params(arch, batch=7, seed=1)
    assert [w.shape for w in params.weights] == [(7, 5, 3), (7, 4, 5), (7, 2, 4)]
    assert params.biases[1] is None
    assert forward(arch, params, np.zeros((6, 3))).shape == (7, 6, 2)
    assert flatten_params(arch, params).shape == (7, arch.n_params)


def test_init_is_reproducible_and_seeded():
    arch = mlp(2, [3], 1)
    a, b = init_params(arch, batch=4, seed=5), init_params(arch, batch=4, seed=5)
    c = init_params(arch, batch=4, seed=6)
    assert np.array_equal(flatten_params(arch, a), flatten_params(arch, b))
    assert not np.array_equal(flatten_params(arch, a), flatten_params(arch, c))
    gen = np.random.default_rng(5)
    assert np.array_equal(flatten_params(arch, init_params(arch, batch=4, seed=gen)), flatten_params(arch, a))


@given(architectures(), st.integers(1, 3), st.data())
def test_forward_matches_loop_and_exact(arch, batch, data):
    params = init_params(arch, batch=batch, seed=data.draw(st.integers(0, 1000)))
    X = dyadic_array(data.draw, (5, arch.d_in))
    out = np.asarray(forward(arch, params, X))
    np.testing.assert_allclose(out, forward_loop(arch, params, X), rtol=1e-12, atol=1e-12)
    exact = _as_fraction_array(forward_exact(arch, params[batch - 1], X)).astype(float)
    np.testing.assert_allclose(out[batch - 1], exact, rtol=1e-12, atol=1e-12)


@given(architectures(), st.data())
def test_flat_view_round_trip(arch, data):
    params = init_params(arch, batch=data.draw(st.integers(1, 3)), seed=0)
    flat = flatten_params(arch, params)
    again = unflatten_params(arch, flat)
    assert np.array_equal(flatten_params(arch, again), flat)
    assert np.array_equal(flatten_params(arch, as_params(arch, flat)), flat)
    assert np.array_equal(flatten_params(arch, as_params(arch, flat[0])), flat[:1])


def test_accepted_parameter_forms_agree():
    arch = mlp(2, [3], 1)
    p = init_params(arch, seed=3).numpy()
    X = np.random.default_rng(0).normal(size=(4, 2))
    ref = np.asarray(forward(arch, p, X))
    pairs = [(p.weights[l][0], p.biases[l][0]) for l in range(2)]
    mapping = {"W1": pairs[0][0], "b1": pairs[0][1], "W2": pairs[1][0], "b2": pairs[1][1]}
    jax_params = Params(tuple(jnp.asarray(w) for w in p.weights), tuple(jnp.asarray(b) for b in p.biases))
    for form in (pairs, mapping, jax_params, flatten_params(arch, p)[0], jnp.asarray(flatten_params(arch, p))):
        np.testing.assert_array_equal(np.asarray(forward(arch, form, X)), ref)


def _rescale(arch, params, layer, unit, c):
    """Multiply unit `unit` of hidden layer `layer` (0-based) in-weights and bias by c, out-weights by 1/c."""
    P = params.numpy()
    W = [w.copy() for w in P.weights]
    b = [None if x is None else x.copy() for x in P.biases]
    W[layer][:, unit, :] *= c
    if b[layer] is not None:
        b[layer][:, unit] *= c
    W[layer + 1][:, :, unit] /= c
    return Params(tuple(W), tuple(b))


@given(architectures(max_depth=3, homogeneous=True), st.data())
def test_positive_rescaling_leaves_outputs_unchanged(arch, data):
    if arch.n_layers < 2:
        return
    params = init_params(arch, seed=data.draw(st.integers(0, 100)))
    layer = data.draw(st.integers(0, arch.n_layers - 2))
    unit = data.draw(st.integers(0, arch.widths[layer + 1] - 1))
    c = data.draw(st.sampled_from([0.25, 0.5, 2.0, 4.0, 8.0]))  # powers of two: rescaling is exact in floats
    X = dyadic_array(data.draw, (6, arch.d_in))
    before = np.asarray(forward(arch, params, X))
    after = np.asarray(forward(arch, _rescale(arch, params, layer, unit, c), X))
    np.testing.assert_allclose(after, before, rtol=1e-13, atol=1e-13)
    # exactly, with a non-dyadic factor
    rescaled = exact_params(arch, params).to_fractions()
    q = Fraction(3, 7)
    rescaled[layer] = ([[v * q for v in row] if k == unit else row for k, row in enumerate(rescaled[layer][0])],
                       None if rescaled[layer][1] is None else
                       [v * q if k == unit else v for k, v in enumerate(rescaled[layer][1])])
    rescaled[layer + 1] = ([[v / q if k == unit else v for k, v in enumerate(row)] for row in rescaled[layer + 1][0]],
                           rescaled[layer + 1][1])
    assert forward_exact(arch, rescaled, X) == forward_exact(arch, params, X)


@given(architectures(max_depth=3), st.data())
def test_permuting_hidden_units_leaves_outputs_unchanged(arch, data):
    if arch.n_layers < 2:
        return
    params = init_params(arch, seed=data.draw(st.integers(0, 100))).numpy()
    layer = data.draw(st.integers(0, arch.n_layers - 2))
    perm = np.array(data.draw(st.permutations(range(arch.widths[layer + 1]))))
    W = list(params.weights)
    b = list(params.biases)
    W[layer] = W[layer][:, perm, :]
    if b[layer] is not None:
        b[layer] = b[layer][:, perm]
    W[layer + 1] = W[layer + 1][:, :, perm]
    X = dyadic_array(data.draw, (6, arch.d_in))
    assert forward_exact(arch, Params(tuple(W), tuple(b)), X) == forward_exact(arch, params, X)


def _direction(arch, rng, layers):
    """A direction moving only `layers`, each block scaled to spectral / Euclidean norm at most 1."""
    W, b = [], []
    for l, (w_shape, b_shape) in enumerate(arch.layer_shapes()):
        if l in layers:
            d = rng.integers(-4, 5, size=w_shape).astype(float)
            d /= 2.0 ** np.ceil(np.log2(max(np.linalg.norm(d, 2), 1.0)))  # dyadic scaling keeps values exact
            W.append(d[None])
            if b_shape is None:
                b.append(None)
            else:
                e = rng.integers(-4, 5, size=b_shape).astype(float)
                e /= 2.0 ** np.ceil(np.log2(max(np.linalg.norm(e), 1.0)))
                b.append(e[None])
        else:
            W.append(np.zeros((1, *w_shape)))
            b.append(None if b_shape is None else np.zeros((1, *b_shape)))
    return Params(tuple(W), tuple(b))


def _finite_difference(values, order):
    for _ in range(order):
        values = [b - a for a, b in zip(values, values[1:])]
    return values


@pytest.mark.parametrize("seed", range(6))
def test_inside_a_cell_outputs_are_polynomial_of_degree_at_most_the_moved_layers(seed):
    rng = np.random.default_rng(seed)
    arch = mlp(3, [4, 4, 3], 2, activation=["relu", "leaky_relu:1/10", "pwl:-1,1/2:1/2,1,2:0"])
    params = init_params(arch, seed=seed).numpy()
    X = np.round(rng.normal(size=(7, 3)) * 8) / 8
    r = float(certified_radius(arch, params, X)[0])
    assert r > 0
    step = 2.0 ** np.floor(np.log2(r / 8))  # five dyadic steps of at most r/2: all inside the radius
    for j in range(1, arch.n_layers + 1):
        layers = set(rng.choice(arch.n_layers, size=j, replace=False).tolist())
        D = _direction(arch, rng, layers)
        outs = []
        for t in range(-2, j + 2):
            theta = Params(tuple(w + t * step * d for w, d in zip(params.weights, D.weights)),
                           tuple(None if b is None else b + t * step * d for b, d in zip(params.biases, D.biases)))
            outs.append(_as_fraction_array(forward_exact(arch, theta, X)))
        assert all(np.all(v == 0) for v in _finite_difference(outs, j + 1)), f"degree > {j} moving {layers}"
        if j == 1:
            continue
        # not vacuous: moving j >= 2 layers does bend the outputs (degree exactly j for generic directions)
        assert any(np.any(v != 0) for v in _finite_difference(outs, j))


@pytest.mark.parametrize(
    ("call", "param"),
    [
        (lambda: mlp(0, [3], 1), "d_in"),
        (lambda: mlp(2, [0], 1), "hidden"),
        (lambda: mlp(2, [3], 1, activation=["relu", "relu"]), "activation"),
        (lambda: init_params(mlp(2, [3], 1), batch=0), "batch"),
        (lambda: init_params(mlp(2, [3], 1), seed=-1), "seed"),
        (lambda: forward(mlp(2, [3], 1), init_params(mlp(2, [3], 1)), np.zeros((4, 3))), "X"),
        (lambda: forward(mlp(2, [3], 1), init_params(mlp(2, [3], 1)), np.zeros((0, 2))), "X"),
        (lambda: forward(mlp(2, [3], 1), init_params(mlp(2, [3], 1)), [[np.nan, 1.0]]), "X"),
        (lambda: forward(mlp(2, [3], 1), np.zeros(5), np.zeros((1, 2))), "params"),
        (lambda: forward(mlp(2, [3], 1), [(np.zeros((3, 2)), np.zeros(3)), (np.zeros((1, 3)), None)],
                         np.zeros((1, 2))), "params: b2"),
        (lambda: forward(mlp(2, [3], 1), [(np.zeros((3, 3)), np.zeros(3)), (np.zeros((1, 3)), np.zeros(1))],
                         np.zeros((1, 2))), "params: W1"),
        (lambda: forward(mlp(2, [3], 1), [(np.full((3, 2), np.inf), np.zeros(3)), (np.zeros((1, 3)), np.zeros(1))],
                         np.zeros((1, 2))), "params: W1"),
        (lambda: Architecture((2, 3, 1), (), (True, True)), "activations"),
    ],
)
def test_bad_input_gives_one_line_errors_naming_the_parameter(call, param):
    with pytest.raises(InvalidInputError) as info:
        call()
    message = str(info.value)
    assert message.startswith(f"`{param}`"), message
    assert "\n" not in message and "Got" in message


def test_architecture_dict_round_trip():
    arch = mlp(2, [3, 2], 1, activation=["hardtanh:-1,2", "leaky_relu:1/5"], bias=[True, False, True])
    assert Architecture.from_dict(arch.to_dict()) == arch


def test_torch_tensors_are_accepted_at_the_boundary():
    torch = pytest.importorskip("torch")
    arch = mlp(2, [3], 1)
    params = init_params(arch, batch=2, seed=0)
    X = np.random.default_rng(0).normal(size=(4, 2))
    as_torch = [(torch.from_numpy(np.asarray(w)), torch.from_numpy(np.asarray(b))) for w, b in params.layers()]
    np.testing.assert_array_equal(np.asarray(forward(arch, as_torch, torch.from_numpy(X))),
                                  np.asarray(forward(arch, params, X)))


def test_exact_params_round_trip_is_bit_for_bit():
    arch = mlp(3, [4, 2], 2, bias=[True, False, True])
    params = init_params(arch, batch=3, seed=7)
    back = exact_params(arch, params, index=2).to_params()
    assert np.array_equal(flatten_params(arch, back), flatten_params(arch, params)[2:])
