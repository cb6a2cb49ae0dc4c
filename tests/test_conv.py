"""The 1-D CNN with average pooling: its forward pass two ways (torch, exact rationals), the MLP it reduces to
when the kernel spans the signal, the trainer on it, and its certificate's honesty."""

import numpy as np
import pytest

import cellscape as cs
from cellscape.conv import (
    certify_conv,
    conv_forward,
    conv_net,
    conv_pre_activations_exact,
    conv_risk,
    conv_risk_exact,
    patch_means,
    patches,
)
from cellscape.networks import init_params
from cellscape.testing.reference import local_search
from cellscape.training import gradient_descent


def _signals(n=12, L=7, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, L))
    return X, np.abs(X.mean(axis=1)) + 0.1 * rng.normal(size=n)


@pytest.mark.parametrize("activation", ["relu", "leaky_relu:1/10", "hardtanh"])
def test_forward_matches_torch_conv1d_avgpool(activation):
    torch = pytest.importorskip("torch")
    from cellscape.torch_bridge import _torch_activation

    net = conv_net(7, kernel_size=3, channels=4, hidden=[3], activation=activation)
    params = init_params(net.patch_net, seed=2, batch=2)
    X, _ = _signals()
    nn = torch.nn
    for b in range(2):
        (W1, b1), (W2, b2), (W3, b3) = [(np.asarray(w)[b], np.asarray(c)[b]) for w, c in params.layers()]
        conv = nn.Conv1d(1, 4, 3, dtype=torch.float64)
        conv.weight.data = torch.tensor(W1[:, None, :])
        conv.bias.data = torch.tensor(b1)
        lin2, lin3 = nn.Linear(4, 3, dtype=torch.float64), nn.Linear(3, 1, dtype=torch.float64)
        lin2.weight.data, lin2.bias.data = torch.tensor(W2), torch.tensor(b2)
        lin3.weight.data, lin3.bias.data = torch.tensor(W3), torch.tensor(b3)
        act = net.patch_net.activations[0]
        model = nn.Sequential(conv, _torch_activation(act, nn), nn.AvgPool1d(net.positions), nn.Flatten(), lin2,
                              _torch_activation(act, nn), lin3)
        expected = model(torch.tensor(X[:, None, :])).detach().numpy()
        np.testing.assert_allclose(np.asarray(conv_forward(net, params, X))[b], expected, rtol=1e-13, atol=1e-14)


def test_float_risk_matches_exact_rationals():
    net = conv_net(7, kernel_size=2, channels=3, hidden=[2], activation="pwl:-1/2,1:1/5,1,-1/3:0")
    params = init_params(net.patch_net, seed=5)
    X, y = _signals()
    assert conv_risk_exact(net, params, X, y) == pytest.approx(float(conv_risk(net, params, X, y)[0]), rel=1e-13)
    z1 = conv_pre_activations_exact(net, params, X)[0]
    assert (z1.nrows(), z1.ncols()) == (12 * net.positions, 3)


def test_a_kernel_spanning_the_signal_is_the_mlp():
    net = conv_net(5, kernel_size=5, channels=3, hidden=[2])
    params = init_params(net.patch_net, seed=1, batch=3)
    X, y = _signals(L=5)
    np.testing.assert_array_equal(np.asarray(conv_forward(net, params, X)), np.asarray(cs.forward(net.patch_net,
                                                                                                   params, X)))
    np.testing.assert_allclose(patch_means(X, 5), X)


def test_patch_means_float_and_exact_agree():
    X, _ = _signals(n=3, L=6)
    exact = patch_means(X, 3, exact=True)
    np.testing.assert_allclose(np.array(exact, dtype=float), patch_means(X, 3), rtol=1e-15)
    np.testing.assert_allclose(patches(X, 3).mean(axis=1), patch_means(X, 3))


def test_trainer_takes_the_true_gradient_step_on_a_cnn():
    import jax

    net = conv_net(7, kernel_size=3, channels=2, hidden=[2])
    params = init_params(net.patch_net, seed=3, batch=2)
    X, y = _signals()
    stepped = gradient_descent(net, params, X, y, lr=0.1, steps=1)
    for b in range(2):
        g = jax.grad(lambda p: conv_risk(net, p, X, y)[0])(params[b])
        for (w, c), (gw, gc), (sw, sc) in zip(params[b].layers(), g.layers(), stepped.params[b].layers()):
            np.testing.assert_allclose(sw, np.asarray(w) - 0.1 * np.asarray(gw), rtol=1e-12, atol=1e-15)
            np.testing.assert_allclose(sc, np.asarray(c) - 0.1 * np.asarray(gc), rtol=1e-12, atol=1e-15)


def test_certificate_of_a_random_point_shows_a_descent():
    net = conv_net(7, kernel_size=3, channels=3)
    params = init_params(net.patch_net, seed=0)
    X, y = _signals()
    cert = certify_conv(net, params, X, y)
    assert cert.status.value == "not_critical"
    assert cert.descent_decrease > 0


def test_certificate_on_a_boundary_is_inconclusive():
    net = conv_net(3, kernel_size=2, channels=1)
    X = np.array([[1.0, -1.0, 2.0], [0.5, 0.5, 0.5]])
    layers = [([[1.0, 0.0]], [-1.0]), ([[1.0]], [0.0])]  # sample 0 at position 0: 1 - 1 = 0, a kink
    cert = certify_conv(net, layers, X, np.zeros(2))
    assert cert.status.value == "inconclusive" and cert.n_ties >= 1


def test_claimed_minima_near_a_constructed_one_are_not_beaten_nearby():
    """Gradient descent from perturbations of a grouping minimum: a certificate never claims a minimum where the
    gradient is not zero, and every claimed minimum survives a brute-force local search."""
    import jax

    from cellscape.constructions import construct

    data = cs.load_data("builtin:signals", seed=0, n_samples=16)
    built = construct("grouping-cnn", data.X, data.y)
    noise = init_params(built.arch.patch_net, seed=1, batch=4)
    start = jax.tree_util.tree_map(lambda a, d: np.repeat(np.asarray(a), 4, 0) + 1e-2 * np.asarray(d),
                                   built.params, noise)
    trained = gradient_descent(built.arch, start, data.X, data.y, lr=0.01, steps=3000)
    statuses = []
    for b in range(4):
        cert = certify_conv(built.arch, trained.params[b], data.X, data.y)
        statuses.append(cert.status.value)
        if cert.is_minimum:
            assert cert.grad_norm <= 1e-8
            best = local_search(built.arch, trained.params[b], data.X, data.y, radius=1e-3, n_starts=16, steps=30)
            assert best >= cert.risk - 1e-12
        else:
            assert cert.status.value == "not_critical" and cert.descent_decrease > 0
    assert set(statuses) <= {"not_critical", "nonstrict_minimum"}


def test_bad_inputs_name_the_parameter():
    net = conv_net(5, kernel_size=2, channels=2)
    params = init_params(net.patch_net, seed=0)
    with pytest.raises(cs.InvalidInputError, match="`X`.*length 5"):
        conv_risk(net, params, np.zeros((3, 4)), np.zeros(3))
    with pytest.raises(cs.InvalidInputError, match="`kernel_size`"):
        patches(np.zeros((2, 3)), 4)
    with pytest.raises(cs.InvalidInputError, match="`signal_length`"):
        conv_net(2, kernel_size=3, channels=1)
