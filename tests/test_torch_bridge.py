"""Exact conversion to and from torch.nn.Sequential, state dicts, and every error."""

from __future__ import annotations

import subprocess
import sys
from collections import OrderedDict
from fractions import Fraction

import hypothesis.strategies as st
import numpy as np
import pytest
from hypothesis import given, settings

from cellscape.activations import PiecewiseLinear, abs_, hardtanh, identity, leaky_relu, relu
from cellscape.exceptions import InvalidInputError, MissingExtraError
from cellscape.networks import Architecture, Params, forward, init_params, mlp
from cellscape.params_io import load_params
from cellscape.testing.strategies import float_architectures
from cellscape.torch_bridge import from_state_dict, from_torch, to_torch

torch = pytest.importorskip("torch")
nn = torch.nn

# torch (addmm) and XLA may sum the products of a layer in different orders, a few ulps apart; the outputs are
# O(1), so an absolute floor of 1e-13 only matters for outputs that cancel to nearly zero.
RTOL, ATOL = 1e-12, 1e-13


def assert_identical(got: Params, expected: Params) -> None:
    """Same layers and bias layout, float64 numpy arrays holding the same bits."""
    assert [b is None for b in got.biases] == [b is None for b in expected.biases]
    pairs = list(zip(got.weights, expected.weights, strict=True))
    pairs += [(g, e) for g, e in zip(got.biases, expected.biases, strict=True) if e is not None]
    for g, e in pairs:
        assert isinstance(g, np.ndarray) and g.dtype == np.float64
        e = np.asarray(e, dtype=np.float64)
        assert g.shape == e.shape and g.tobytes() == e.tobytes()


def assert_same_model(got, expected) -> None:
    """Same module types and settings, same parameter bits and dtypes."""
    assert [repr(m) for m in got] == [repr(m) for m in expected]
    got_state, expected_state = got.state_dict(), expected.state_dict()
    assert list(got_state) == list(expected_state)
    for key, value in expected_state.items():
        assert got_state[key].dtype == value.dtype
        assert torch.equal(got_state[key].view(torch.int64 if value.dtype == torch.float64 else torch.int32),
                           value.view(torch.int64 if value.dtype == torch.float64 else torch.int32))


def inputs(d_in: int, n: int = 7, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, d_in))


def torch_outputs(model, X: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return model(torch.from_numpy(X)).numpy()


# ----------------------------------------------------------------------------------------- cellscape -> torch
@pytest.mark.parametrize("activation, module", [
    ("relu", nn.ReLU()), ("leaky_relu:0.25", nn.LeakyReLU(0.25)),
    ("hardtanh:-2,0.5", nn.Hardtanh(-2.0, 0.5)), ("identity", nn.Identity()),
])
def test_to_torch_layout(activation, module):
    arch = mlp(3, [4, 2], 1, activation=activation)
    model = to_torch(arch, init_params(arch, seed=0))
    assert isinstance(model, nn.Sequential) and len(model) == 5
    assert repr(model[1]) == repr(module) and repr(model[3]) == repr(module)
    assert [model[i].weight.shape for i in (0, 2, 4)] == [(4, 3), (2, 4), (1, 2)]
    assert all(p.dtype == torch.float64 and p.requires_grad for p in model.parameters())


@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize("bias", [True, False, [False, True, True]])
def test_cellscape_torch_cellscape_is_exact(batch, bias):
    arch = mlp(2, [5, 3], 2, activation=["leaky_relu:0.125", "hardtanh:-1,2"], bias=bias)
    params = init_params(arch, batch=batch, seed=4)
    for index in range(-batch, batch):
        got_arch, got = from_torch(to_torch(arch, params, index=index))
        assert got_arch == arch
        assert_identical(got, params[index])


def test_torch_output_equals_forward():
    arch = mlp(3, [6, 5, 4], 2, activation=["relu", "leaky_relu:0.01", "hardtanh:-0.5,0.75"],
               bias=[True, False, True, True])
    params = init_params(arch, batch=3, seed=5)
    X = inputs(3, n=50)
    expected = np.asarray(forward(arch, params, X))
    for index in range(3):
        np.testing.assert_allclose(torch_outputs(to_torch(arch, params, index=index), X), expected[index],
                                   rtol=RTOL, atol=ATOL)


def test_to_torch_float32_rounds_each_parameter():
    arch = mlp(2, [3], 1)
    params = init_params(arch, seed=0)
    model = to_torch(arch, params, dtype=torch.float32)
    assert all(p.dtype == torch.float32 for p in model.parameters())
    np.testing.assert_array_equal(model[0].weight.detach().numpy(), params.weights[0][0].astype(np.float32))
    np.testing.assert_array_equal(model[2].bias.detach().numpy(), params.biases[1][0].astype(np.float32))


def test_to_torch_activations_by_value():
    """An activation built by hand is matched by what it computes, not by its name."""
    by_hand = [PiecewiseLinear((0,), (0, 1)), PiecewiseLinear((0,), ("1/4", 1)),
               PiecewiseLinear((-1, 3), (0, 1, 0)), PiecewiseLinear((), (1,)), leaky_relu(0)]
    arch = mlp(1, [2] * 5, 1, activation=by_hand)
    model = to_torch(arch, init_params(arch, seed=0))
    assert [repr(model[i]) for i in (1, 3, 5, 7, 9)] == [
        "ReLU()", "LeakyReLU(negative_slope=0.25)", "Hardtanh(min_val=-1.0, max_val=3.0)", "Identity()",
        "LeakyReLU(negative_slope=0.0)"]


def test_abs_is_leaky_relu_with_slope_minus_one():
    arch = mlp(2, [4], 1, activation=abs_)
    params = init_params(arch, seed=0)
    model = to_torch(arch, params)
    assert repr(model[1]) == "LeakyReLU(negative_slope=-1.0)"
    X = inputs(2)
    np.testing.assert_allclose(torch_outputs(model, X), np.asarray(forward(arch, params, X))[0],
                               rtol=RTOL, atol=ATOL)
    assert from_torch(model)[0].activations[0].slopes == abs_.slopes


def test_to_torch_rounds_rational_slope_to_nearest_float():
    arch = mlp(1, [2], 1, activation=leaky_relu("1/100"))
    model = to_torch(arch, init_params(arch, seed=0))
    assert model[1].negative_slope == 0.01
    assert from_torch(model)[0].activations[0].slopes[0] == Fraction(0.01) != Fraction(1, 100)


def test_to_torch_does_not_share_memory_or_touch_the_global_generator():
    arch = mlp(2, [3], 1)
    params = init_params(arch, seed=0)
    before = params.weights[0].copy()
    state = torch.get_rng_state()
    model = to_torch(arch, params)
    assert torch.equal(torch.get_rng_state(), state)
    with torch.no_grad():
        model[0].weight.add_(1.0)
    np.testing.assert_array_equal(params.weights[0], before)


def test_to_torch_accepts_other_parameter_forms():
    arch = mlp(2, [3], 1)
    params = init_params(arch, seed=0)
    pairs = [(torch.from_numpy(w[0].copy()), torch.from_numpy(b[0].copy())) for w, b in params.layers()]
    assert_identical(from_torch(to_torch(arch, pairs))[1], params)


def test_affine_model():
    arch = mlp(4, [], 2, bias=False)
    params = init_params(arch, seed=0)
    model = to_torch(arch, params)
    assert len(model) == 1 and model[0].bias is None
    got_arch, got = from_torch(model)
    assert got_arch == arch
    assert_identical(got, params)


# ----------------------------------------------------------------------------------------- torch -> cellscape
def make_model(dtype=torch.float64, seed: int = 0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(3, 5), nn.ReLU(), nn.Linear(5, 4, bias=False), nn.LeakyReLU(0.01),
                         nn.Linear(4, 4), nn.Hardtanh(-0.25, 1.5), nn.Linear(4, 2)).to(dtype)


def test_from_torch_architecture_and_values():
    model = make_model()
    arch, params = from_torch(model)
    assert arch == Architecture((3, 5, 4, 4, 2), (relu, leaky_relu(0.01), hardtanh(-0.25, 1.5)),
                                (True, False, True, True))
    assert arch.activations[1].slopes[0] == Fraction(0.01)  # the binary value torch computes with
    assert params.batch_size == 1
    for l, i in enumerate((0, 2, 4, 6)):
        assert params.weights[l][0].tobytes() == model[i].weight.detach().numpy().tobytes()


def test_torch_cellscape_torch_is_exact():
    model = make_model()
    assert_same_model(to_torch(*from_torch(model)), model)


def test_torch_output_equals_forward_after_from_torch():
    model = make_model()
    arch, params = from_torch(model)
    X = inputs(3, n=50)
    np.testing.assert_allclose(torch_outputs(model, X), np.asarray(forward(arch, params, X))[0],
                               rtol=RTOL, atol=ATOL)


def test_float32_model_converts_exactly():
    model = make_model(torch.float32)
    arch, params = from_torch(model)
    for l, i in enumerate((0, 2, 4, 6)):
        w32 = model[i].weight.detach().numpy()
        assert w32.dtype == np.float32
        assert params.weights[l][0].tobytes() == w32.astype(np.float64).tobytes()
    back = to_torch(arch, params, dtype=torch.float32)
    assert_same_model(back, model)


def test_from_torch_copies():
    model = make_model()
    _, params = from_torch(model)
    before = params.weights[0].copy()
    with torch.no_grad():
        model[0].weight.add_(1.0)
    np.testing.assert_array_equal(params.weights[0], before)


def test_consecutive_linear_layers_and_identity_modules():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Identity(), nn.Linear(2, 3), nn.Linear(3, 3), nn.Identity(), nn.ReLU(),
                          nn.Linear(3, 2), nn.Identity(), nn.Linear(2, 1), nn.Identity()).double()
    arch, params = from_torch(model)
    assert arch.widths == (2, 3, 3, 2, 1)
    assert arch.activations == (identity, relu, identity)
    X = inputs(2)
    np.testing.assert_allclose(torch_outputs(model, X), np.asarray(forward(arch, params, X))[0],
                               rtol=RTOL, atol=ATOL)


def test_nested_sequential_repeated_module_relu6_and_ordered_dict():
    torch.manual_seed(0)
    shared = nn.ReLU()
    model = nn.Sequential(OrderedDict([
        ("first", nn.Sequential(nn.Linear(2, 3), shared)),
        ("second", nn.Linear(3, 3)), ("act", shared), ("third", nn.Linear(3, 3)), ("six", nn.ReLU6()),
        ("out", nn.Linear(3, 1)),
    ])).double()
    arch, params = from_torch(model)
    assert arch.activations == (relu, relu, hardtanh(0, 6))
    X = 5 * inputs(2)
    np.testing.assert_allclose(torch_outputs(model, X), np.asarray(forward(arch, params, X))[0],
                               rtol=RTOL, atol=ATOL)


# ---------------------------------------------------------------------------------------------- state dicts
def test_from_state_dict_matches_from_torch():
    model = make_model(torch.float32)
    acts = ["relu", "leaky_relu:0.01", "hardtanh:-0.25,1.5"]
    arch, params = from_state_dict(model.state_dict(), activation=acts)
    expected_arch, expected = from_torch(model)
    assert arch.widths == expected_arch.widths and arch.bias == expected_arch.bias
    assert arch.activations == (relu, leaky_relu("0.01"), hardtanh(-0.25, 1.5))
    assert_identical(params, expected)
    assert from_state_dict(model.state_dict())[0].activations == (relu,) * 3


def test_from_state_dict_prefixes_and_numpy_values():
    rng = np.random.default_rng(0)
    state = {"net.0.weight": rng.normal(size=(3, 2)), "net.0.bias": rng.normal(size=3),
             "net.2.weight": rng.normal(size=(1, 3))}
    arch, params = from_state_dict(state, activation=abs_)
    assert arch == Architecture((2, 3, 1), (abs_,), (True, False))
    assert_identical(params, Params((state["net.0.weight"][None], state["net.2.weight"][None]),
                                    (state["net.0.bias"][None], None)))
    single = from_state_dict(nn.Linear(2, 2, dtype=torch.float64).state_dict())[0]
    assert single.widths == (2, 2)


def test_load_params_reads_torch_state_dict(tmp_path):
    model = make_model()
    torch.save(model.state_dict(), tmp_path / "model.pt")
    acts = ["relu", "leaky_relu:0.01", "hardtanh:-0.25,1.5"]
    arch, params = load_params(tmp_path / "model.pt", activation=acts)
    expected_arch, expected = from_torch(model)
    assert arch == Architecture(expected_arch.widths, (relu, leaky_relu("0.01"), hardtanh(-0.25, 1.5)),
                                expected_arch.bias)
    assert_identical(params, expected)
    assert_same_model(to_torch(expected_arch, params), model)


# ---------------------------------------------------------------------------------------------- property



@settings(max_examples=25, deadline=None)
@given(arch=float_architectures(with_abs=False), batch=st.integers(1, 3), seed=st.integers(0, 2**32 - 1),
       data=st.data())
def test_round_trips_property(arch, batch, seed, data):
    params = init_params(arch, batch=batch, seed=seed)
    index = data.draw(st.integers(-batch, batch - 1), label="index")
    model = to_torch(arch, params, index=index)
    got_arch, got = from_torch(model)
    assert got_arch == arch
    assert_identical(got, params[index])
    assert_same_model(to_torch(got_arch, got), model)
    X = inputs(arch.d_in, seed=seed)
    np.testing.assert_allclose(torch_outputs(model, X), np.asarray(forward(arch, params, X))[index],
                               rtol=RTOL, atol=ATOL)


# ---------------------------------------------------------------------------------------------- errors
@pytest.mark.parametrize("model, detail", [
    (nn.Linear(2, 1), "Got Linear instead"),
    ([nn.Linear(2, 1)], "Got list instead"),
    (nn.Sequential(nn.Linear(2, 3), nn.Tanh(), nn.Linear(3, 1)), r"Got Tanh\(\) at position 1 instead"),
    (nn.Sequential(nn.Linear(2, 3), nn.Sequential(nn.Dropout()), nn.Linear(3, 1)), "at position 1.0"),
    (nn.Sequential(nn.ReLU(), nn.Linear(2, 1)), "before the first Linear layer"),
    (nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.ReLU(), nn.Linear(3, 1)), "right after another activation"),
    (nn.Sequential(nn.Linear(2, 3), nn.ReLU()), "ending with the activation relu"),
    (nn.Sequential(), "no Linear layer"),
    (nn.Sequential(nn.Identity()), "no Linear layer"),
    (nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(4, 1)),
     r"W2 of shape \(1, 4\) after W1 of shape \(3, 2\)"),
])
def test_from_torch_refuses(model, detail):
    with pytest.raises(InvalidInputError, match=rf"^`model` of `from_torch` must be .*{detail}") as err:
        from_torch(model)
    assert "ReLU, LeakyReLU, Hardtanh or Identity" in str(err.value) or "W_l of shape" in str(err.value)


def test_from_torch_refuses_non_finite_values():
    model = nn.Sequential(nn.Linear(2, 1))
    with torch.no_grad():
        model[0].weight[0, 0] = float("nan")
    with pytest.raises(InvalidInputError, match=r"`model` of `from_torch` must be finite"):
        from_torch(model)


@pytest.mark.parametrize("activation", [
    PiecewiseLinear((-1, 1), (0, 1, 2)), PiecewiseLinear((), (1,), 2), PiecewiseLinear((-1, 1), (0, 1, 0), 5),
    PiecewiseLinear((1,), (0, 1)), PiecewiseLinear((0,), (1, 2)), PiecewiseLinear((), (2,)),
])
def test_to_torch_refuses_activation_without_module(activation):
    arch = mlp(2, [3, 3], 1, activation=["relu", activation])
    with pytest.raises(InvalidInputError) as err:
        to_torch(arch, init_params(arch))
    message = str(err.value)
    assert message.startswith("`arch` of `to_torch` must be built from the activations relu, leaky_relu")
    spec = activation.spec
    assert f"{spec} in hidden layer 2 (torch has no module for activation {spec})" in message


def test_to_torch_refuses_hardtanh_whose_ends_round_together():
    lo = Fraction(1, 3)
    arch = mlp(1, [1], 1, activation=hardtanh(lo, lo + Fraction(1, 10 ** 30)))
    with pytest.raises(InvalidInputError, match="torch has no module for activation hardtanh"):
        to_torch(arch, init_params(arch))


def test_to_torch_refuses_bad_arguments():
    arch = mlp(2, [3], 1)
    params = init_params(arch, batch=2)
    with pytest.raises(InvalidInputError, match=r"`arch` of `to_torch` must be an Architecture"):
        to_torch((2, 3, 1), params)
    with pytest.raises(InvalidInputError, match=r"`params` of `to_torch`"):
        to_torch(arch, np.ones(3))
    for index in (2, -3):
        with pytest.raises(InvalidInputError, match=r"`index` of `to_torch` must be an integer in \[-2, 1\]"):
            to_torch(arch, params, index=index)
    with pytest.raises(InvalidInputError, match=r"`index` of `to_torch` must be an integer"):
        to_torch(arch, params, index=0.0)
    for dtype in (torch.int64, "float64", np.float64):
        with pytest.raises(InvalidInputError, match=r"`dtype` of `to_torch` must be None or a floating"):
            to_torch(arch, params, dtype=dtype)


@pytest.mark.parametrize("state, detail", [
    ([("0.weight", torch.ones(2, 2))], "holding a list"),
    ({"0.weight": torch.ones(2, 2), "1.running_mean": torch.ones(2)}, "with an entry '1.running_mean'"),
    ({0: torch.ones(2, 2)}, "with an entry 0"),
    ({"0.bias": torch.ones(2)}, r"with 0\.bias but no 0\.weight"),
    ({"0.weight": torch.ones(2)}, r"with 0\.weight of shape \(2,\)"),
    ({"0.weight": torch.ones(3, 2), "1.weight": torch.ones(1, 2)}, r"W2 of shape \(1, 2\) after W1"),
    ({"0.weight": torch.ones(3, 2), "0.bias": torch.ones(2)}, r"b1 of shape \(2,\)"),
    ({}, "without W1"),
])
def test_from_state_dict_refuses(state, detail):
    with pytest.raises(InvalidInputError, match=rf"^`state_dict` of `from_state_dict` must be .*{detail}"):
        from_state_dict(state)


def test_from_state_dict_refuses_bad_activation():
    state = nn.Sequential(nn.Linear(2, 2), nn.ReLU(), nn.Linear(2, 1)).state_dict()
    with pytest.raises(InvalidInputError, match="`activation`"):
        from_state_dict(state, activation="tanh")
    with pytest.raises(InvalidInputError, match=r"`activation` of `from_state_dict` must be one activation"):
        from_state_dict(state, activation=["relu", "relu"])


def test_missing_torch_names_the_extra(monkeypatch):
    arch = mlp(2, [3], 1)
    model = make_model()
    monkeypatch.setitem(sys.modules, "torch", None)  # makes `import torch` raise ImportError
    with pytest.raises(MissingExtraError, match=r"`to_torch` needs torch.*pip install cellscape\[torch\]"):
        to_torch(arch, init_params(arch))
    with pytest.raises(MissingExtraError, match=r"`from_torch` needs torch.*pip install cellscape\[torch\]"):
        from_torch(model)


def test_importing_the_modules_does_not_import_torch():
    code = ("import sys, cellscape.torch_bridge, cellscape.params_io; "
            "assert 'torch' not in sys.modules, 'torch was imported'")
    subprocess.run([sys.executable, "-c", code], check=True)
