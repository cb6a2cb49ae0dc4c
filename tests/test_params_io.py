"""Saving and loading parameters: exact round trips, inferred architectures, torch state dicts, errors."""

from __future__ import annotations

import json
import sys
from fractions import Fraction

import hypothesis.strategies as st
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings

from cellscape.activations import PiecewiseLinear, abs_, hardtanh, identity, leaky_relu, relu
from cellscape.exceptions import InvalidInputError, MissingExtraError
from cellscape.networks import Architecture, Params, init_params, mlp
from cellscape.params_io import load_params, save_params
from cellscape.testing.strategies import float_architectures


def assert_identical(got: Params, expected: Params) -> None:
    """Same layers and bias layout, float64 numpy arrays holding the same bits (-0.0 differs from 0.0)."""
    assert len(got.weights) == len(expected.weights)
    pairs = list(zip(got.weights, expected.weights, strict=True))
    pairs += [(g, e) for g, e in zip(got.biases, expected.biases, strict=True) if e is not None]
    assert [b is None for b in got.biases] == [b is None for b in expected.biases]
    for g, e in pairs:
        assert isinstance(g, np.ndarray) and g.dtype == np.float64
        e = np.asarray(e, dtype=np.float64)
        assert g.shape == e.shape
        assert g.tobytes() == e.tobytes()


# ---------------------------------------------------------------------------------------------- round trips
@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize("bias", [True, False, [True, False, True]])
def test_round_trip_is_exact(tmp_path, batch, bias):
    arch = mlp(3, [4, 2], 2, activation="leaky_relu:0.25", bias=bias)
    params = init_params(arch, batch=batch, seed=1)
    path = save_params(tmp_path / "nets.npz", arch, params)
    loaded_arch, loaded = load_params(path)
    assert loaded_arch == arch
    assert_identical(loaded, params)


def test_file_layout_single_network(tmp_path):
    arch = mlp(2, [3], 1, bias=[True, False])
    path = save_params(tmp_path / "net.npz", arch, init_params(arch, seed=0))
    with np.load(path) as data:
        assert sorted(data.files) == ["W1", "W2", "architecture", "b1"]
        assert data["W1"].shape == (3, 2) and data["b1"].shape == (3,) and data["W2"].shape == (1, 3)
        assert data["architecture"].shape == ()
        assert json.loads(str(data["architecture"])) == arch.to_dict()


def test_file_layout_batch_keeps_batch_axis(tmp_path):
    arch = mlp(2, [3], 1)
    path = save_params(tmp_path / "nets.npz", arch, init_params(arch, batch=3, seed=0))
    with np.load(path) as data:
        assert data["W1"].shape == (3, 3, 2) and data["b1"].shape == (3, 3)
        assert data["W2"].shape == (3, 1, 3) and data["b2"].shape == (3, 1)


def test_deep_net_with_every_named_activation(tmp_path):
    pwl = PiecewiseLinear((-1, 1), ("1/2", 1, -2), "1/3")
    acts = [relu, leaky_relu("1/10"), hardtanh("-1/3", 2), abs_, identity, pwl]
    arch = mlp(2, [3, 1, 4, 2, 5, 3], 2, activation=acts, bias=[True, False] * 3 + [True])
    params = init_params(arch, batch=2, seed=7)
    loaded_arch, loaded = load_params(save_params(tmp_path / "deep.npz", arch, params))
    assert loaded_arch == arch
    assert loaded_arch.activations[1].slopes[0] == Fraction(1, 10)  # exact, not the float nearest 0.1
    assert_identical(loaded, params)


def test_pwl_with_fractional_values_round_trip(tmp_path):
    arch = mlp(1, [2], 1, activation=PiecewiseLinear(("-1/3", "2/7"), ("1/2", 1, "-5/3"), "1/9"))
    params = init_params(arch, seed=0)
    assert load_params(save_params(tmp_path / "pwl.npz", arch, params))[0] == arch


def test_affine_model_round_trip(tmp_path):
    arch = mlp(4, [], 3)
    params = init_params(arch, seed=2)
    loaded_arch, loaded = load_params(save_params(tmp_path / "affine.npz", arch, params))
    assert loaded_arch == arch
    assert_identical(loaded, params)


def test_special_values_keep_their_bits(tmp_path):
    arch = mlp(2, [2], 1)
    tiny, huge = np.nextafter(0.0, 1.0), np.finfo(np.float64).max
    params = [(np.array([[-0.0, tiny], [huge, -huge]]), np.array([0.1, -0.0])),
              (np.array([[1 / 3, 2 ** -1074]]), np.array([np.pi]))]
    _, loaded = load_params(save_params(tmp_path / "special.npz", arch, params))
    expected = Params(tuple(np.asarray(w)[None] for w, _ in params),
                      tuple(np.asarray(b)[None] for _, b in params))
    assert_identical(loaded, expected)
    assert np.signbit(loaded.weights[0][0, 0, 0])


def test_save_accepts_other_parameter_forms(tmp_path):
    arch = mlp(2, [3], 1)
    params = init_params(arch, seed=3)
    as_jax = Params(tuple(jnp.asarray(w) for w in params.weights),
                    tuple(jnp.asarray(b) for b in params.biases))
    as_pairs = [(w[0], b[0]) for w, b in params.layers()]
    for i, form in enumerate([as_jax, as_pairs, {"W1": as_pairs[0][0], "b1": as_pairs[0][1],
                                                  "W2": as_pairs[1][0], "b2": as_pairs[1][1]}]):
        _, loaded = load_params(save_params(tmp_path / f"form{i}.npz", arch, form))
        assert_identical(loaded, params)


def test_save_appends_extension_and_returns_path(tmp_path):
    arch = mlp(1, [1], 1)
    path = save_params(str(tmp_path / "net"), arch, init_params(arch, seed=0))
    assert path == tmp_path / "net.npz" and path.is_file()


def test_save_overwrites(tmp_path):
    arch = mlp(1, [2], 1)
    save_params(tmp_path / "net.npz", arch, init_params(arch, seed=0))
    params = init_params(arch, seed=1)
    assert_identical(load_params(save_params(tmp_path / "net.npz", arch, params))[1], params)


# ------------------------------------------------------------------------------------------- plain .npz files
def test_plain_npz_infers_architecture(tmp_path):
    rng = np.random.default_rng(0)
    W1, b1, W2, W3, b3 = (rng.normal(size=s) for s in [(4, 2), (4,), (3, 4), (1, 3), (1,)])
    np.savez(tmp_path / "plain.npz", W1=W1, b1=b1, W2=W2, W3=W3, b3=b3)
    arch, params = load_params(tmp_path / "plain.npz")
    assert arch == Architecture((2, 4, 3, 1), (relu, relu), (True, False, True))
    expected = Params((W1[None], W2[None], W3[None]), (b1[None], None, b3[None]))
    assert_identical(params, expected)


@pytest.mark.parametrize("activation, expected", [
    ("leaky_relu:0.1", (leaky_relu("0.1"),) * 2),
    (hardtanh(-2, 2), (hardtanh(-2, 2),) * 2),
    (["abs", identity], (abs_, identity)),
])
def test_plain_npz_takes_the_given_activation(tmp_path, activation, expected):
    np.savez(tmp_path / "plain.npz", W1=np.ones((2, 1)), W2=np.ones((2, 2)), W3=np.ones((1, 2)))
    arch, _ = load_params(tmp_path / "plain.npz", activation=activation)
    assert arch.activations == expected


def test_plain_npz_with_batch_axis(tmp_path):
    W1, b1, W2 = np.arange(12.0).reshape(2, 3, 2), np.ones((2, 3)), np.ones((2, 1, 3))
    np.savez(tmp_path / "batch.npz", W1=W1, b1=b1, W2=W2)
    arch, params = load_params(tmp_path / "batch.npz")
    assert arch.widths == (2, 3, 1) and arch.bias == (True, False)
    assert_identical(params, Params((W1, W2), (b1, None)))


def test_plain_npz_float32_and_int_are_widened_exactly(tmp_path):
    W1 = np.array([[0.1, -3.5]], dtype=np.float32)
    np.savez(tmp_path / "narrow.npz", W1=W1, b1=np.array([7], dtype=np.int64))
    arch, params = load_params(tmp_path / "narrow.npz")
    assert arch.widths == (2, 1)
    assert_identical(params, Params((W1.astype(np.float64)[None],), (np.array([[7.0]]),)))


def test_activation_agreeing_with_stored_architecture_is_accepted(tmp_path):
    arch = mlp(2, [2], 1, activation="hardtanh")
    path = save_params(tmp_path / "net.npz", arch, init_params(arch, seed=0))
    assert load_params(path, activation="hardtanh:-1,1")[0] == arch


# ------------------------------------------------------------------------------------------ torch state dicts
@pytest.mark.parametrize("suffix", [".pt", ".pth"])
def test_torch_state_dict(tmp_path, suffix):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(3, 5), torch.nn.ReLU(), torch.nn.Linear(5, 4, bias=False),
                                torch.nn.ReLU(), torch.nn.Linear(4, 2))
    torch.save(model.state_dict(), tmp_path / f"model{suffix}")
    arch, params = load_params(tmp_path / f"model{suffix}")
    assert arch == Architecture((3, 5, 4, 2), (relu, relu), (True, False, True))
    linears = [model[0], model[2], model[4]]
    expected = Params(tuple(m.weight.detach().double().numpy()[None] for m in linears),
                      tuple(None if m.bias is None else m.bias.detach().double().numpy()[None]
                            for m in linears))
    assert_identical(params, expected)  # float32 values widen exactly
    arch, _ = load_params(tmp_path / f"model{suffix}", activation="leaky_relu:0.01")
    assert arch.activations == (leaky_relu("0.01"),) * 2


def test_torch_full_model_is_refused(tmp_path):
    torch = pytest.importorskip("torch")
    torch.save(torch.nn.Sequential(torch.nn.Linear(2, 1)), tmp_path / "model.pt")
    with pytest.raises(InvalidInputError, match=r"`path` of `load_params` must be a torch state dict"):
        load_params(tmp_path / "model.pt")


def test_torch_file_holding_no_state_dict_is_refused(tmp_path):
    torch = pytest.importorskip("torch")
    torch.save([torch.ones(2)], tmp_path / "list.pt")
    with pytest.raises(InvalidInputError, match=r"`path` of `load_params` .* holding a list"):
        load_params(tmp_path / "list.pt")


def test_corrupt_torch_file_is_refused(tmp_path):
    pytest.importorskip("torch")
    (tmp_path / "junk.pt").write_bytes(b"not a torch file")
    with pytest.raises(InvalidInputError, match=r"`path` of `load_params`.*torch\.load failed"):
        load_params(tmp_path / "junk.pt")


def test_state_dict_without_torch_names_the_extra(tmp_path, monkeypatch):
    (tmp_path / "model.pt").write_bytes(b"whatever")
    monkeypatch.setitem(sys.modules, "torch", None)  # makes `import torch` raise ImportError
    with pytest.raises(MissingExtraError, match=r"pip install cellscape\[torch\]"):
        load_params(tmp_path / "model.pt")


def test_npz_does_not_need_torch(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)
    arch = mlp(2, [2], 1)
    params = init_params(arch, seed=0)
    assert_identical(load_params(save_params(tmp_path / "net.npz", arch, params))[1], params)


# ---------------------------------------------------------------------------------------------- errors
def test_missing_file(tmp_path):
    with pytest.raises(InvalidInputError) as err:
        load_params(tmp_path / "x.npz")
    message = str(err.value)
    assert message.startswith("`path` of `load_params` must be an existing .npz, .pt or .pth file. Got '")
    assert message.endswith("x.npz' (no such file) instead.")
    assert "\n" not in message


@pytest.mark.parametrize("name", ["params.txt", "params", "params.npy"])
def test_unsupported_extension(tmp_path, name):
    (tmp_path / name).write_bytes(b"")
    expected = r"`path` of `load_params` must be an existing \.npz, \.pt or \.pth file\. Got .* \(extension"
    with pytest.raises(InvalidInputError, match=expected):
        load_params(tmp_path / name)


def test_directory_is_not_a_file(tmp_path):
    (tmp_path / "dir.npz").mkdir()
    with pytest.raises(InvalidInputError, match=r"`path` of `load_params`.*\(not a file\)"):
        load_params(tmp_path / "dir.npz")


def test_path_of_wrong_type():
    with pytest.raises(InvalidInputError, match=r"`path` of `load_params`.*Got int instead"):
        load_params(3)


def test_corrupt_npz(tmp_path):
    (tmp_path / "bad.npz").write_bytes(b"definitely not a zip archive")
    with pytest.raises(InvalidInputError, match=r"`path` of `load_params` must be a readable \.npz archive"):
        load_params(tmp_path / "bad.npz")


def test_npz_with_object_array_is_refused_without_unpickling(tmp_path):
    np.savez(tmp_path / "obj.npz", W1=np.array([None, 1], dtype=object))
    with pytest.raises(InvalidInputError, match=r"`path` of `load_params` must be a readable \.npz archive"):
        load_params(tmp_path / "obj.npz")


@pytest.mark.parametrize("arrays, missing", [
    ({"b1": np.ones(2)}, "W1"),
    ({"W2": np.ones((1, 2))}, "W1"),
    ({"W1": np.ones((2, 2)), "W3": np.ones((1, 2))}, "W2"),
    ({}, "W1"),
])
def test_missing_weights(tmp_path, arrays, missing):
    np.savez(tmp_path / "gap.npz", **arrays)
    with pytest.raises(InvalidInputError, match=rf"`path` of `load_params` .* without {missing} instead"):
        load_params(tmp_path / "gap.npz")


def test_bias_without_layer(tmp_path):
    np.savez(tmp_path / "extra.npz", W1=np.ones((2, 2)), b2=np.ones(2))
    with pytest.raises(InvalidInputError, match=r"`path` of `load_params` must be biases only .* with b2"):
        load_params(tmp_path / "extra.npz")


def test_unknown_entry(tmp_path):
    np.savez(tmp_path / "extra.npz", W1=np.ones((2, 2)), W0=np.ones((2, 2)))
    with pytest.raises(InvalidInputError, match=r"`path` of `load_params` .* with an entry 'W0'"):
        load_params(tmp_path / "extra.npz")


@pytest.mark.parametrize("arrays, detail", [
    ({"W1": np.ones((3, 2)), "W2": np.ones((1, 4))}, r"W2 of shape \(1, 4\) after W1 of shape \(3, 2\)"),
    ({"W1": np.ones((3, 2)), "b1": np.ones(2)}, r"b1 of shape \(2,\) for W1 of shape \(3, 2\)"),
    ({"W1": np.ones((2, 3, 2)), "W2": np.ones((1, 3))}, r"W2 of shape \(1, 3\)"),
    ({"W1": np.ones((2, 3, 2)), "W2": np.ones((4, 1, 3))}, r"W2 of shape \(4, 1, 3\)"),
    ({"W1": np.ones(3)}, r"W1 of shape \(3,\)"),
    ({"W1": np.ones((0, 2))}, r"W1 of shape \(0, 2\)"),
])
def test_inconsistent_shapes(tmp_path, arrays, detail):
    np.savez(tmp_path / "shapes.npz", **arrays)
    with pytest.raises(InvalidInputError, match=rf"^`path` of `load_params` must be W_l of shape .*{detail}"):
        load_params(tmp_path / "shapes.npz")


def test_stored_architecture_not_matching_arrays(tmp_path):
    arch = mlp(2, [3], 1)
    np.savez(tmp_path / "mismatch.npz", W1=np.ones((4, 2)), b1=np.ones(4), W2=np.ones((1, 4)), b2=np.ones(1),
             architecture=np.array(arch.to_json()))
    with pytest.raises(InvalidInputError, match=r"`path: W1` of `load_params`"):
        load_params(tmp_path / "mismatch.npz")


@pytest.mark.parametrize("entry", [np.array("{not json"), np.array(json.dumps({"widths": [2]})),
                                   np.array(["relu"])])
def test_bad_architecture_entry(tmp_path, entry):
    np.savez(tmp_path / "arch.npz", W1=np.ones((1, 2)), architecture=entry)
    expected = r"`path` of `load_params` must be an archive whose architecture"
    with pytest.raises(InvalidInputError, match=expected):
        load_params(tmp_path / "arch.npz")


def test_non_finite_values(tmp_path):
    np.savez(tmp_path / "nan.npz", W1=np.array([[1.0, np.nan]]))
    with pytest.raises(InvalidInputError, match=r"`path: W1` of `load_params` must be finite"):
        load_params(tmp_path / "nan.npz")


def test_activation_disagreeing_with_stored_architecture(tmp_path):
    arch = mlp(2, [2], 1)
    path = save_params(tmp_path / "net.npz", arch, init_params(arch, seed=0))
    expected = r"`activation` of `load_params` must be None or the activations stored in .* \(relu\)\. Got"
    with pytest.raises(InvalidInputError, match=expected):
        load_params(path, activation="abs")


def test_wrong_number_of_activations(tmp_path):
    np.savez(tmp_path / "plain.npz", W1=np.ones((2, 1)), W2=np.ones((1, 2)))
    with pytest.raises(InvalidInputError, match=r"`activation` of `load_params` must be one activation or 1"):
        load_params(tmp_path / "plain.npz", activation=["relu", "relu"])


def test_unknown_activation(tmp_path):
    np.savez(tmp_path / "plain.npz", W1=np.ones((2, 1)), W2=np.ones((1, 2)))
    with pytest.raises(InvalidInputError, match=r"`activation`"):
        load_params(tmp_path / "plain.npz", activation="tanh")


@pytest.mark.parametrize("name", ["net.pt", "net.npy", "net.json"])
def test_save_wrong_extension(tmp_path, name):
    arch = mlp(1, [1], 1)
    with pytest.raises(InvalidInputError, match=r"`path` of `save_params` must be a path ending in \.npz"):
        save_params(tmp_path / name, arch, init_params(arch))


def test_save_into_missing_directory(tmp_path):
    arch = mlp(1, [1], 1)
    expected = r"`path` of `save_params` must be a path in an existing directory"
    with pytest.raises(InvalidInputError, match=expected):
        save_params(tmp_path / "nowhere" / "net.npz", arch, init_params(arch))


def test_save_wrong_arch_and_params(tmp_path):
    arch = mlp(2, [3], 1)
    with pytest.raises(InvalidInputError, match=r"`arch` of `save_params` must be an Architecture"):
        save_params(tmp_path / "net.npz", (2, 3, 1), init_params(arch))
    with pytest.raises(InvalidInputError, match=r"`params` of `save_params`"):
        save_params(tmp_path / "net.npz", arch, np.ones(5))
    with pytest.raises(InvalidInputError, match=r"`path` of `save_params`"):
        save_params(None, arch, init_params(arch))
    assert not (tmp_path / "net.npz").exists()


# ---------------------------------------------------------------------------------------------- property



@settings(max_examples=25, deadline=None)
@given(arch=float_architectures(), batch=st.integers(1, 3), seed=st.integers(0, 2 ** 32 - 1))
def test_round_trip_property(tmp_path_factory, arch, batch, seed):
    params = init_params(arch, batch=batch, seed=seed)
    path = save_params(tmp_path_factory.mktemp("prop") / "net.npz", arch, params)
    loaded_arch, loaded = load_params(path)
    assert loaded_arch == arch
    assert_identical(loaded, params)
    # without the architecture entry, everything but the activations is inferred from the arrays
    with np.load(path) as data:
        arrays = {k: data[k] for k in data.files if k != "architecture"}
    np.savez(path, **arrays)
    inferred_arch, inferred = load_params(path, activation=list(arch.activations))
    assert inferred_arch == arch
    assert_identical(inferred, params)
