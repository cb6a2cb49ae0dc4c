import dataclasses

import numpy as np
import pytest

from cellscape import InvalidInputError, flatten_params, init_params, mlp
from cellscape.training import gradient_descent


def _data(n=20, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.uniform(-2, 2, size=(n, 1))
    return X, np.abs(X) + 0.1 * rng.normal(size=(n, 1))


def test_affine_model_reaches_least_squares():
    X, y = _data()
    arch = mlp(1, [], 1)
    result = gradient_descent(arch, init_params(arch, batch=3, seed=0), X, y, lr=0.2, steps=3000)
    A = np.hstack([X, np.ones_like(X)])
    coef, *_ = np.linalg.lstsq(A, y[:, 0], rcond=None)
    best = 0.5 * np.mean((A @ coef - y[:, 0]) ** 2)
    np.testing.assert_allclose(result.risk, best, rtol=1e-10)
    assert np.all(result.grad_norm < 1e-8)


def test_batch_equals_networks_trained_alone_and_is_reproducible():
    X, y = _data()
    arch = mlp(1, [6], 1)
    params = init_params(arch, batch=4, seed=3)
    together = gradient_descent(arch, params, X, y, lr=0.05, steps=300, chunk=70)
    again = gradient_descent(arch, params, X, y, lr=0.05, steps=300, chunk=70)
    assert np.array_equal(flatten_params(arch, together.params), flatten_params(arch, again.params))
    for b in range(4):
        alone = gradient_descent(arch, params[b], X, y, lr=0.05, steps=300)
        np.testing.assert_allclose(flatten_params(arch, alone.params)[0],
                                   flatten_params(arch, together.params)[b], rtol=1e-11, atol=1e-13)
    assert np.all(together.steps == 300)


def test_gtol_stops_networks_individually():
    X, y = _data()
    arch = mlp(1, [], 1)
    result = gradient_descent(arch, init_params(arch, batch=2, seed=0), X, y, lr=0.2, steps=5000, gtol=1e-6)
    assert np.all(result.converged) and np.all(result.steps < 5000) and np.all(result.grad_norm <= 1e-6)


def test_divergence_is_reported_not_hidden():
    X, y = _data()
    arch = mlp(1, [4], 1)
    result = gradient_descent(arch, init_params(arch, batch=2, seed=0), X, y, lr=100.0, steps=200)
    assert np.all(result.diverged)
    assert np.all(np.isfinite(flatten_params(arch, result.params)))


def test_bad_step_size():
    X, y = _data()
    arch = mlp(1, [2], 1)
    with pytest.raises(InvalidInputError, match="`lr`"):
        gradient_descent(arch, init_params(arch), X, y, lr=0.0)


# ------------------------------------------------------------------------------------ optimisers and handling
from cellscape.training import TrainConfig, minimize, train  # noqa: E402


def _flat(arch, result):
    return flatten_params(arch, result.params)


def test_adam_matches_a_hand_written_reference():
    X, y = _data(n=12)
    arch = mlp(1, [3], 1)
    params = init_params(arch, batch=2, seed=1)
    config = TrainConfig(optimizer="adam", lr=0.01, steps=25, beta1=0.8, beta2=0.99, eps=1e-7)
    result = train(arch, params, X, y, config=config)
    import jax

    from cellscape.losses import risk
    from cellscape.networks import unflatten_params

    theta = np.asarray(flatten_params(arch, params))
    m = np.zeros_like(theta)
    v = np.zeros_like(theta)
    grad = jax.grad(lambda f: risk(arch, unflatten_params(arch, f), X, y).sum())
    for t in range(1, 26):
        g = np.asarray(grad(theta))
        m = 0.8 * m + 0.2 * g
        v = 0.99 * v + 0.01 * g * g
        theta = theta - 0.01 / (1 - 0.8**t) * m / (np.sqrt(v / (1 - 0.99**t)) + 1e-7)
    np.testing.assert_allclose(_flat(arch, result), theta, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("schedule", ["constant", "inverse_time", "inverse_sqrt", "cosine", "step"])
def test_schedules_match_a_loop_of_single_steps(schedule):
    X, y = _data(n=10)
    arch = mlp(1, [2], 1)
    params = init_params(arch, batch=1, seed=2)
    steps, lr, tau = 12, 0.1, 4.0
    result = train(arch, params, X, y, config=TrainConfig(lr=lr, steps=steps, schedule=schedule, decay_steps=tau,
                                                          decay_factor=0.5, chunk=5))
    current = params
    for t in range(steps):
        eta = {"constant": lr, "inverse_time": lr / (1 + t / tau), "inverse_sqrt": lr / np.sqrt(1 + t / tau),
               "cosine": lr * 0.5 * (1 + np.cos(np.pi * t / steps)), "step": lr * 0.5 ** (t // tau)}[schedule]
        current = gradient_descent(arch, current, X, y, lr=eta, steps=1).params
    np.testing.assert_allclose(_flat(arch, result), flatten_params(arch, current), rtol=1e-12, atol=1e-14)


def test_sgd_draws_minibatches_per_network_and_reproduces():
    X, y = _data(n=30)
    arch = mlp(1, [4], 1)
    params = init_params(arch, batch=3, seed=0)
    same = init_params(arch, batch=1, seed=0)
    stacked = type(params)(tuple(np.concatenate([w] * 3) for w in same.weights),
                           tuple(np.concatenate([b] * 3) for b in same.biases))
    config = TrainConfig(optimizer="sgd", batch_size=5, lr=0.05, steps=200, seed=7, chunk=64)
    a = train(arch, stacked, X, y, config=config)
    b = train(arch, stacked, X, y, config=config)
    assert np.array_equal(_flat(arch, a), _flat(arch, b))  # bit for bit from the seed
    flat = _flat(arch, a)
    assert not np.allclose(flat[0], flat[1])  # equal starts, different minibatches
    other = train(arch, stacked, X, y, config=TrainConfig(optimizer="sgd", batch_size=5, lr=0.05, steps=200, seed=8))
    assert not np.allclose(_flat(arch, other), flat)
    full = train(arch, stacked, X, y, config=TrainConfig(optimizer="sgd", batch_size=30, lr=0.05, steps=200))
    gd = gradient_descent(arch, stacked, X, y, lr=0.05, steps=200)
    np.testing.assert_allclose(_flat(arch, full), _flat(arch, gd), rtol=1e-10, atol=1e-12)  # all samples = GD


def test_batch_chunks_do_not_change_trajectories():
    X, y = _data(n=16)
    arch = mlp(1, [5], 1)
    params = init_params(arch, batch=7, seed=4)
    for optimizer, batch_size in (("gd", None), ("sgd", 4), ("adam", None)):
        base = dict(optimizer=optimizer, batch_size=batch_size, lr=0.02, steps=150, gtol=1e-3, chunk=40)
        whole = train(arch, params, X, y, config=TrainConfig(**base, batch_chunk=7))
        parts = train(arch, params, X, y, config=TrainConfig(**base, batch_chunk=3))
        np.testing.assert_allclose(_flat(arch, parts), _flat(arch, whole), rtol=1e-12, atol=1e-14)
        assert np.array_equal(parts.steps, whole.steps) and np.array_equal(parts.converged, whole.converged)


def test_float32_training_is_close_to_float64_and_reports_float64():
    X, y = _data(n=16)
    arch = mlp(1, [5], 1)
    params = init_params(arch, batch=3, seed=5)
    f64 = train(arch, params, X, y, config=TrainConfig(lr=0.05, steps=300))
    f32 = train(arch, params, X, y, config=TrainConfig(lr=0.05, steps=300, precision="float32"))
    assert f32.risk.dtype == np.float64 and f32.params.weights[0].dtype == np.float64
    assert not np.array_equal(_flat(arch, f32), _flat(arch, f64))
    np.testing.assert_allclose(_flat(arch, f32), _flat(arch, f64), rtol=1e-3, atol=1e-4)
    from cellscape.losses import risk

    np.testing.assert_allclose(f32.risk, np.asarray(risk(arch, f32.params, X, y)), rtol=1e-14)


def test_halving_rescues_a_too_large_step_and_counts_it():
    X, y = _data()
    arch = mlp(1, [4], 1)
    params = init_params(arch, batch=2, seed=0)
    stop = train(arch, params, X, y, config=TrainConfig(lr=100.0, steps=300))
    halve = train(arch, params, X, y, config=TrainConfig(lr=100.0, steps=300, on_divergence="halve"))
    assert np.all(stop.diverged) and not np.any(halve.diverged)
    assert np.all(halve.halvings > 0) and np.all(np.isfinite(halve.risk)) and np.all(halve.risk < stop.risk)
    capped = train(arch, params, X, y, config=TrainConfig(lr=100.0, steps=300, on_divergence="halve",
                                                          max_halvings=1))
    assert np.all(capped.diverged) and np.all(capped.halvings == 2)


def test_divergence_risk_threshold_stops_early():
    X, y = _data()
    arch = mlp(1, [4], 1)
    result = train(arch, init_params(arch, batch=2, seed=0), X, y,
                   config=TrainConfig(lr=3.0, steps=200, divergence_risk=1e3))
    assert np.all(result.diverged) and np.all(result.steps < 200)


def test_minimize_with_a_custom_norm_and_objective():
    # f(x) = 0.5 * sum (x - c)^2 for a batch of points: gd with step 1 reaches c in one step
    result = minimize(_Quadratic(), {"x": np.array([[1.0, 2.0], [3.0, -1.0]])}, np.array([0.5, 0.25]),
                      config=TrainConfig(lr=1.0, steps=5, gtol=1e-12), stop_norm=_max_abs)
    np.testing.assert_allclose(result.params["x"], [[0.5, 0.25], [0.5, 0.25]])
    assert result.converged.all() and result.steps.tolist() == [1, 1]


class _Quadratic:
    def __call__(self, params, c):
        return 0.5 * ((params["x"] - c) ** 2).sum(axis=1)

    def __hash__(self):
        return 0

    def __eq__(self, other):
        return isinstance(other, _Quadratic)


def _max_abs(grads):
    return abs(grads["x"]).max(axis=1)


@pytest.mark.parametrize(("kwargs", "param"), [
    ({"optimizer": "sgd"}, "batch_size"),
    ({"optimizer": "gd", "batch_size": 4}, "batch_size"),
    ({"optimizer": "newton"}, "optimizer"),
    ({"schedule": "exponential"}, "schedule"),
    ({"decay_factor": 1.5}, "decay_factor"),
    ({"precision": "float16"}, "precision"),
    ({"on_divergence": "ignore"}, "on_divergence"),
    ({"decay_steps": 0}, "decay_steps"),
    ({"beta1": 1.0}, "beta1"),
    ({"divergence_risk": -1.0}, "divergence_risk"),
])
def test_bad_configurations_name_the_parameter(kwargs, param):
    with pytest.raises(InvalidInputError, match=f"`{param}`"):
        TrainConfig(**kwargs)


def test_minibatch_larger_than_the_data():
    X, y = _data(n=5)
    arch = mlp(1, [2], 1)
    with pytest.raises(InvalidInputError, match="`batch_size`"):
        train(arch, init_params(arch), X, y, config=TrainConfig(optimizer="sgd", batch_size=6))


def test_slots_are_refilled_and_the_tail_compacted_without_changing_results():
    X, y = _data()
    arch = mlp(1, [3], 1)
    params = init_params(arch, batch=9, seed=6)
    seen = []
    config = TrainConfig(lr=0.1, steps=4000, gtol=1e-4, chunk=50)
    whole = train(arch, params, X, y, config=config)
    slotted = train(arch, params, X, y, config=dataclasses.replace(config, batch_chunk=2),
                    progress=lambda done, total: seen.append((done, total)))
    assert len(set(whole.steps.tolist())) > 3  # networks stop at different times
    assert np.array_equal(slotted.steps, whole.steps) and np.array_equal(slotted.converged, whole.converged)
    np.testing.assert_allclose(_flat(arch, slotted), _flat(arch, whole), rtol=1e-12, atol=1e-14)
    done = [d for d, _ in seen]
    assert done == sorted(done) and seen[-1] == (9 * 4000, 9 * 4000)


def test_no_steps_returns_the_start():
    X, y = _data()
    arch = mlp(1, [3], 1)
    params = init_params(arch, batch=2, seed=6)
    result = train(arch, params, X, y, config=TrainConfig(steps=0))
    assert np.array_equal(_flat(arch, result), flatten_params(arch, params)) and np.all(result.steps == 0)
