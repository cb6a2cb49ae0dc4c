from fractions import Fraction

import numpy as np
import pytest

import cellscape as cs
from cellscape.certify import Arithmetic, CertificateStatus, certify
from cellscape.testing.reference import local_search

MINIMA = {CertificateStatus.STRICT_MINIMUM, CertificateStatus.NONSTRICT_MINIMUM, CertificateStatus.MINIMUM}
DESCENDS = {CertificateStatus.SADDLE, CertificateStatus.NOT_CRITICAL}


def _check_against_brute_force(arch, params, X, y, cert, *, loss="squared", seed=0):
    """A certified minimum is never beaten in a small ball; a certified non-minimum is beaten."""
    radius = cert.radius if 0 < cert.radius < 1e-2 else 1e-3
    best = local_search(arch, params, X, y, loss=loss, radius=radius, seed=seed)
    slack = 1e-12 * max(1.0, abs(cert.risk))
    if cert.status in MINIMA:
        assert best >= cert.risk - slack, (cert.message, best, cert.risk)
    elif cert.status in DESCENDS:
        assert cert.descent_decrease is not None and cert.descent_decrease > 0
        assert best < cert.risk, (cert.message, best, cert.risk)


def test_three_point_affine_minimum_is_exact_with_half_sse_one_third():
    three = cs.load_data("builtin:three-point")
    arch = cs.mlp(2, [2], 1)
    # YSJ-a Theorem 1 with alpha = 1: the best affine fit is the constant 1/3, eta = -1
    theta = [([[0, 0], [0, 0]], ["4/3", 1]), ([[1, 0]], [-1])]
    cert = certify(arch, theta, three.X_exact, three.y_exact, arithmetic="exact")[0]
    assert cert.status is CertificateStatus.NONSTRICT_MINIMUM
    assert cert.arithmetic is Arithmetic.EXACT
    assert cert.risk_exact == Fraction(1, 9)  # the mean of (yhat - y)^2 / 2 ...
    assert 3 * cert.risk_exact == Fraction(1, 3)  # ... so half the sum of squared errors is 1/3
    # a deeper network computing the same affine map is certified through the affine-predictor argument
    deep = cs.mlp(2, [2, 2], 1)
    theta_deep = [([[0, 0], [0, 0]], ["4/3", 1]), ([[1, 0], [0, 1]], [0, 0]), ([[1, 0]], [-1])]
    cert = certify(deep, theta_deep, three.X_exact, three.y_exact, arithmetic="exact")[0]
    assert cert.method == "affine_predictor" and cert.is_minimum and cert.arithmetic is Arithmetic.EXACT


def _trained(arch, data, batch=8, seed=0, steps=30000, lr=0.1, loss="squared"):
    params = cs.init_params(arch, batch=batch, seed=seed)
    return cs.gradient_descent(arch, params, data.X, data.y, loss=loss, lr=lr, steps=steps, gtol=1e-11).params


def test_trained_one_hidden_layer_endpoints_agree_with_brute_force():
    data = cs.load_data("builtin:nonaffine", seed=0, n_samples=24)
    arch = cs.mlp(1, [3], 1)
    params = _trained(arch, data)
    certs = certify(arch, params, data.X, data.y)
    assert any(c.is_minimum for c in certs)
    for b, cert in enumerate(certs):
        _check_against_brute_force(arch, params[b], data.X, data.y, cert)


def test_trained_deep_endpoints_agree_with_brute_force():
    data = cs.load_data("builtin:nonaffine", seed=1, n_samples=16)
    arch = cs.mlp(1, [3, 2], 1, activation="leaky_relu:1/10")
    params = _trained(arch, data, batch=6, steps=20000, lr=0.05)
    certs = certify(arch, params, data.X, data.y)
    for b, cert in enumerate(certs):
        _check_against_brute_force(arch, params[b], data.X, data.y, cert)


def _saddle_instance():
    """A trained 2-unit network plus a third unit with v = 0 whose weights are orthogonal to g_3 in its cell."""
    data = cs.load_data("builtin:teacher", seed=2, n_samples=30, d_in=2)
    small = cs.mlp(2, [2], 1)
    result = cs.gradient_descent(small, cs.init_params(small, batch=8, seed=0), data.X, data.y, lr=0.1,
                                 steps=60000, gtol=1e-11)
    best = int(np.argmin(np.where(result.converged, result.risk, np.inf)))
    trained = result.params[best].numpy()
    X = data.X
    residual = np.asarray(cs.forward(small, trained, X))[0, :, 0] - data.y[:, 0]
    Xt = np.hstack([X, np.ones((X.shape[0], 1))])
    rng = np.random.default_rng(0)
    for _ in range(1000):
        w = rng.normal(size=3)
        active = Xt @ w > 0
        if not active.any():
            continue
        g = (residual * active) @ Xt / X.shape[0]
        w_proj = w - (w @ g) / (g @ g) * g
        if np.array_equal(Xt @ w_proj > 0, active) and np.min(np.abs(Xt @ w_proj)) > 1e-3 and active.any():
            break
    W1 = np.vstack([trained.weights[0][0], w_proj[:2]])
    b1 = np.concatenate([trained.biases[0][0], w_proj[2:]])
    W2 = np.hstack([trained.weights[1][0], [[0.0]]])
    arch = cs.mlp(2, [3], 1)
    return arch, [(W1, b1), (W2, trained.biases[1][0])], data


def test_saddle_with_a_zero_output_weight_is_found_with_a_descent_direction():
    arch, theta, data = _saddle_instance()
    cert = certify(arch, theta, data.X, data.y)[0]
    assert cert.status is CertificateStatus.SADDLE, cert.message
    assert cert.grad_norm <= 1e-8 and cert.descent_decrease > 0
    direction = cert.descent_direction  # flat order: W1 (0-5), b1 (6-8), W2 (9-11), b2 (12)
    assert direction[11] != 0  # the move raises the zero output weight of unit 3 ...
    assert np.any(direction[[4, 5, 8]] != 0)  # ... and moves its input weights and bias
    _check_against_brute_force(arch, theta, data.X, data.y, cert)


def _dead_point(kappa=1.5, leaky=False):
    """LvB18's dead-point minimum: every unit aligned with the separator, all -1 samples dead."""
    data = cs.load_data("builtin:separable", seed=0, n_samples=20)
    u, c = np.asarray(data.info["u"]), float(data.info["c"])
    arch = cs.mlp(2, [3], 1, activation="leaky_relu:1/100" if leaky else "relu",
                  bias=[True, False])
    margin = np.min((data.X @ u + c)[data.y[:, 0] > 0])
    scale = kappa / margin
    W1 = np.tile(scale * u, (3, 1))
    b1 = np.full(3, scale * c)
    return arch, [(W1, b1), (np.ones((1, 3)), None)], data


def test_hinge_minimum_inside_a_cell_is_flat_and_leaky_relu_breaks_it():
    arch, theta, data = _dead_point()
    cert = certify(arch, theta, data.X, data.y, loss="hinge")[0]
    assert cert.status is CertificateStatus.NONSTRICT_MINIMUM, cert.message
    assert cert.n_ties == 0
    assert cert.risk == pytest.approx(np.mean(data.y[:, 0] < 0), rel=1e-12)  # L = #dead / N
    _check_against_brute_force(arch, theta, data.X, data.y, cert, loss="hinge")
    leaky_arch, leaky_theta, _ = _dead_point(leaky=True)
    leaky = certify(leaky_arch, leaky_theta, data.X, data.y, loss="hinge")[0]
    assert leaky.risk > 0  # the -1 samples have -1 < f < 0: larger weights lower their loss
    assert leaky.status in DESCENDS
    _check_against_brute_force(leaky_arch, leaky_theta, data.X, data.y, leaky, loss="hinge")


def test_hinge_minimum_on_a_boundary():
    # move the bias so that one dead (-1) sample sits exactly on the kink of every unit
    arch, theta, data = _dead_point()
    (W1, b1), out = theta
    i = int(np.argmax(np.where(data.y[:, 0] < 0, data.X @ W1[0], -np.inf) + b1[0]))  # the -1 point nearest
    b1 = -np.full(3, data.X[i] @ W1[0])
    boundary = [(W1, b1), out]
    cert = certify(arch, boundary, data.X, data.y, loss="hinge")[0]
    assert cert.n_ties >= 3
    if cert.is_minimum:
        _check_against_brute_force(arch, boundary, data.X, data.y, cert, loss="hinge")
    else:
        assert cert.status in DESCENDS | {CertificateStatus.INCONCLUSIVE}
        _check_against_brute_force(arch, boundary, data.X, data.y, cert, loss="hinge")


def test_certificates_of_rescaled_and_permuted_copies_agree():
    data = cs.load_data("builtin:nonaffine", seed=0, n_samples=24)
    arch = cs.mlp(1, [3], 1)
    params = _trained(arch, data, batch=4)
    for b in range(4):
        P = params[b].numpy()
        W1, b1, W2, b2 = P.weights[0][0], P.biases[0][0], P.weights[1][0], P.biases[1][0]
        perm = np.array([2, 0, 1])
        scale = np.array([2.0, 0.5, 4.0])
        copy = [((W1 * scale[:, None])[perm], (b1 * scale)[perm]), ((W2 / scale)[:, perm], b2)]
        a, c = certify(arch, P, data.X, data.y)[0], certify(arch, copy, data.X, data.y)[0]
        assert a.status == c.status and a.method == c.method
        assert a.risk == pytest.approx(c.risk, rel=1e-13)
        assert a.n_ties == c.n_ties


@pytest.mark.parametrize("seed", range(24))
def test_random_tiny_boundary_instances_agree_with_brute_force(seed):
    """Tiny networks on dyadic data with a pre-activation placed exactly on the kink (rarely critical)."""
    rng = np.random.default_rng(seed)
    d, K, n = int(rng.integers(1, 3)), int(rng.integers(1, 4)), int(rng.integers(3, 7))
    activation = ["relu", "leaky_relu:1/4", "abs", "hardtanh"][seed % 4]
    arch = cs.mlp(d, [K], 1, activation=activation)
    X = rng.integers(-8, 9, size=(n, d)) / 4
    y = rng.integers(-8, 9, size=(n, 1)) / 4
    W1 = rng.integers(-8, 9, size=(K, d)) / 4
    b1 = rng.integers(-8, 9, size=K) / 4
    k, i = int(rng.integers(K)), int(rng.integers(n))
    kink = 1.0 if activation == "hardtanh" else 0.0
    b1[k] = kink - X[i] @ W1[k]  # exact in binary: dyadic values
    theta = [(W1, b1), (rng.integers(-8, 9, size=(1, K)) / 4, rng.integers(-8, 9, size=1) / 4)]
    cert = certify(arch, theta, X, y)[0]
    assert cert.n_ties >= 1
    _check_against_brute_force(arch, theta, X, y, cert, seed=seed)
    exact = certify(arch, theta, X, y, arithmetic="exact")[0]
    assert exact.status == cert.status and exact.risk_exact == cs.risk_exact(arch, theta, X, y)


_TRAINED_CACHE = {}


def _trained_dyadic(d, K0):
    """A converged one-hidden-layer ReLU network on dyadic data (cached per shape)."""
    if (d, K0) not in _TRAINED_CACHE:
        rng = np.random.default_rng(100 * d + K0)
        X = rng.integers(-8, 9, size=(8, d)) / 4
        y = rng.integers(-8, 9, size=(8, 1)) / 4
        arch = cs.mlp(d, [K0], 1)
        result = cs.gradient_descent(arch, cs.init_params(arch, batch=8, seed=d + K0), X, y, lr=0.05,
                                     steps=40000, gtol=1e-12)
        best = int(np.argmin(np.where(result.converged, result.risk, np.inf)))
        _TRAINED_CACHE[d, K0] = (X, y, result.params[best].numpy())
    return _TRAINED_CACHE[d, K0]


@pytest.mark.parametrize("seed", range(120))
def test_boundary_minima_and_non_minima_agree_with_brute_force(seed):
    """A converged network plus one ReLU unit whose kink passes exactly through one sample and which is dead on
    the others: a boundary point that is a local minimum or not depending on the sign of its output weight
    against the residual there (v = 0 too)."""
    rng = np.random.default_rng(seed)
    d, K0 = 1 + seed % 2, 1 + (seed // 2) % 2
    X, y, trained = _trained_dyadic(d, K0)
    w = rng.integers(-4, 5, size=d) / 2
    while not np.any(w):
        w = rng.integers(-4, 5, size=d) / 2
    scores = X @ w
    top = int(np.argmax(scores))
    if np.sum(scores == scores[top]) > 1:
        return  # the kink would pass through two samples at once; other seeds cover the single tie
    v = [0.0, 0.5, -0.5, 2.0, -2.0, 0.25][seed % 6]
    arch = cs.mlp(d, [K0 + 1], 1)
    W1 = np.vstack([trained.weights[0][0], w])
    b1 = np.concatenate([trained.biases[0][0], [-scores[top]]])
    W2 = np.hstack([trained.weights[1][0], [[v]]])
    theta = [(W1, b1), (W2, trained.biases[1][0])]
    cert = certify(arch, theta, X, y, boundary_method="exhaustive")[0]
    assert cert.n_ties == 1 and cert.pieces_adjacent == 2
    per_unit = certify(arch, theta, X, y)[0]  # auto: the per-unit test where it applies (v != 0 on the tie)
    if v != 0:
        assert per_unit.method == "per_unit"
        assert per_unit.status == cert.status, (per_unit.message, cert.message)
        assert per_unit.grad_norm == pytest.approx(cert.grad_norm, rel=1e-6, abs=1e-9)  # Clarke min-norm, two ways
    residual = float(np.asarray(cs.forward(arch, theta, X))[0, top, 0] - y[top, 0])
    if abs(residual) > 1e-6:  # (an extreme sample is often interpolated: then the sign decides nothing)
        # activating the unit at the tied sample moves its output by v z: harmless iff v r > 0; with v = 0,
        # moving v against r once the unit is active descends at second order
        assert cert.is_minimum == (v * residual > 0), cert.message
        assert cert.status is not CertificateStatus.INCONCLUSIVE
    _check_against_brute_force(arch, theta, X, y, cert, seed=seed)


def test_tie_limit_gives_inconclusive_with_the_reason():
    arch, theta, data = _dead_point()
    (W1, b1), out = theta
    i = int(np.argmax(np.where(data.y[:, 0] < 0, data.X @ W1[0], -np.inf) + b1[0]))
    boundary = [(W1, -np.full(3, data.X[i] @ W1[0])), out]
    cert = certify(arch, boundary, data.X, data.y, loss="hinge", max_ties=1, boundary_method="exhaustive")[0]
    assert cert.n_ties >= 3
    assert cert.status is CertificateStatus.INCONCLUSIVE and "max_ties" in cert.message
    # the per-unit test needs only each unit's ties below the limit: one each here
    assert certify(arch, boundary, data.X, data.y, loss="hinge", max_ties=1)[0].method == "per_unit"


def test_exact_mode_says_when_it_rests_on_floats():
    data = cs.load_data("builtin:nonaffine", seed=1, n_samples=12)
    arch = cs.mlp(1, [2, 2], 1)
    params = _trained(arch, data, batch=2, steps=2000)
    for cert in certify(arch, params, data.X, data.y, arithmetic="exact"):
        assert cert.risk_exact is not None
        if cert.arithmetic is Arithmetic.FLOAT:
            assert "floats" in cert.message or cert.status is CertificateStatus.INCONCLUSIVE


def test_bad_options():
    arch = cs.mlp(1, [2], 1)
    with pytest.raises(cs.InvalidInputError, match="`arithmetic`"):
        certify(arch, cs.init_params(arch), [[0.0]], [[0.0]], arithmetic="symbolic")
    with pytest.raises(cs.InvalidInputError, match="`max_ties`"):
        certify(arch, cs.init_params(arch), [[0.0]], [[0.0]], max_ties=-1)


def test_exact_boundary_minimum_is_proved_and_a_float_one_is_not_claimed():
    from cellscape.testing.instances import boundary_point

    # a minimum on a boundary with positive risk: the residual is orthogonal to every untied gradient block and
    # each tied unit's output weight has the residual's sign at its tied sample (exact rationals)
    arch, theta, X, y = boundary_point(3, 6, 80, 3, seed=1, residual=True, exact=True)
    cert = certify(arch, theta, X, y, arithmetic="exact")[0]
    assert cert.n_ties == 3 and cert.method == "per_unit" and cert.risk_exact > 0
    assert cert.is_minimum and cert.arithmetic is Arithmetic.EXACT
    y_float = np.array([[float(v) for v in row] for row in y])
    _check_against_brute_force(arch, theta, X, y_float, cert)
    # flip one tied unit's output weight: the same boundary is no longer a minimum, and exact mode proves it
    W2 = theta[1][0].copy()
    W2[0, 0] = -W2[0, 0]
    flipped = [theta[0], (W2, theta[1][1])]
    cert2 = certify(arch, flipped, X, y, arithmetic="exact")[0]
    assert not cert2.is_minimum
    _check_against_brute_force(arch, flipped, X, y_float, cert2)


def test_rationalised_exact_mode_with_a_stated_denominator():
    three = cs.load_data("builtin:three-point")
    arch = cs.mlp(2, [2], 1)
    theta = [([[0.0, 0.0], [0.0, 0.0]], [4 / 3, 1.0]), ([[1.0, 0.0]], [-1.0])]  # 4/3 is not a float
    plain = certify(arch, theta, three.X, three.y, arithmetic="exact")[0]
    assert plain.risk_exact != Fraction(1, 9)  # the float 4/3 misses the affine optimum by a rounding error
    assert not (plain.is_minimum and plain.arithmetic is Arithmetic.EXACT)
    cert = certify(arch, theta, three.X, three.y, arithmetic="exact", denominator=6)[0]  # 4/3 and 1/2 exact
    assert cert.is_minimum and cert.arithmetic is Arithmetic.EXACT and cert.risk_exact == Fraction(1, 9)
    assert "1/6" in cert.message
    with pytest.raises(cs.InvalidInputError, match="`denominator`"):
        certify(arch, theta, three.X, three.y, denominator=3)


@pytest.mark.parametrize("seed", range(24))
def test_two_ties_on_one_unit_per_unit_matches_exhaustive(seed):
    """A unit whose kink passes exactly through two samples (the top edge of the data in x_2)."""
    rng = np.random.default_rng(1000 + seed)
    X, y, trained = _trained_dyadic(2, 1 + seed % 2)
    X = X.copy()
    top = X[:, 1].max() + 0.25
    a, b = rng.choice(len(X), size=2, replace=False)
    X[[a, b], 1] = top
    if X[a, 0] == X[b, 0]:
        X[b, 0] += 0.25
    K0 = trained.weights[0].shape[1]
    v = [0.5, -0.5, 2.0, -2.0][seed % 4]
    arch = cs.mlp(2, [K0 + 1], 1)
    theta = [(np.vstack([trained.weights[0][0], [0.0, 0.5]]), np.concatenate([trained.biases[0][0], [-top / 2]])),
             (np.hstack([trained.weights[1][0], [[v]]]), trained.biases[1][0])]
    exhaustive = certify(arch, theta, X, y, boundary_method="exhaustive")[0]
    per_unit = certify(arch, theta, X, y, boundary_method="per_unit")[0]
    assert per_unit.n_ties == exhaustive.n_ties >= 2
    assert per_unit.status == exhaustive.status, (per_unit.message, exhaustive.message)
    assert per_unit.grad_norm == pytest.approx(exhaustive.grad_norm, rel=1e-6, abs=1e-9)
    _check_against_brute_force(arch, theta, X, y, per_unit, seed=seed)


def test_exact_mode_proves_per_unit_descents():
    X, y, trained = _trained_dyadic(1, 1)
    scores = X[:, 0]
    top = int(np.argmax(scores))
    residual = float(np.asarray(cs.forward(cs.mlp(1, [1], 1), trained, X))[0, top, 0] - y[top, 0])
    arch = cs.mlp(1, [2], 1)
    v = -np.sign(residual)  # against the residual: activating the unit at the tied sample descends
    theta = [(np.vstack([trained.weights[0][0], [1.0]]), np.concatenate([trained.biases[0][0], [-scores[top]]])),
             (np.hstack([trained.weights[1][0], [[v]]]), trained.biases[1][0])]
    cert = certify(arch, theta, X, y, arithmetic="exact")[0]
    assert cert.method == "per_unit" and cert.status in DESCENDS
    assert cert.arithmetic is Arithmetic.EXACT and "directional derivative" in cert.message


def _deep_interpolating(seed):
    """A 2-3-2-1 ReLU network on dyadic data with targets equal to its own outputs (exact in floats)."""
    rng = np.random.default_rng(seed)
    arch = cs.mlp(2, [3, 2], 1)
    X = rng.integers(-8, 9, size=(30, 2)) / 8
    theta = [(rng.integers(-4, 5, size=(3, 2)) / 4, rng.integers(-4, 5, size=3) / 4 + 1 / 64),
             (rng.integers(-4, 5, size=(2, 3)) / 4, rng.integers(-4, 5, size=2) / 4 + 1 / 64),
             (rng.integers(-4, 5, size=(1, 2)) / 4 + 1 / 8, np.array([0.25]))]
    return arch, theta, X, np.asarray(cs.forward(arch, theta, X))[0]


def test_exact_second_order_certificate_of_a_deep_network():
    import flint

    from cellscape._backend import fmpq_null_space
    from cellscape.cell_risk import exact_derivatives, exact_flat
    from cellscape.certify import _invariance_vectors, _is_positive_definite_exact
    from cellscape.networks import exact_params

    arch, theta, X, y = _deep_interpolating(15)
    # once a target moves the point is not critical, which exact mode proves with the exact gradient
    y_shifted = y.copy()
    y_shifted[0] += 0.5
    shifted = certify(arch, theta, X, y_shifted, arithmetic="exact")[0]
    assert shifted.status is CertificateStatus.NOT_CRITICAL and shifted.arithmetic is Arithmetic.EXACT
    # at the interpolating point zero risk proves a global minimum, in floats and exactly
    assert certify(arch, theta, X, y)[0].method == "zero_risk"
    exact_cert = certify(arch, theta, X, y, arithmetic="exact")[0]
    assert exact_cert.is_minimum and exact_cert.arithmetic is Arithmetic.EXACT
    # and, checked a second way, the exact second-order conditions hold there: zero exact gradient and an exact
    # Hessian positive definite off the exact invariance directions (the argument of the second-order path)
    q = exact_params(arch, theta)
    pieces = tuple(p[0] for p in cs.activation_pattern(arch, theta, X).pieces)
    grad, H, _ = exact_derivatives(arch, cs.parse_loss("squared"), q, X, y, pieces, None, hessian=True)
    assert all(g == 0 for g in grad)
    values = np.array(exact_flat(q), dtype=object)
    vectors = _invariance_vectors(arch, pieces, values)
    P = len(grad)
    S = flint.fmpq_mat(P, len(vectors), [flint.fmpq(0) + vectors[j][i] for i in range(P) for j in range(len(vectors))])
    Q = fmpq_null_space(S.transpose())
    assert all(x == 0 for x in (S.transpose() * Q).entries())
    assert Q.ncols() == P - S.rank()
    assert _is_positive_definite_exact(Q.transpose() * H * Q)
    float_second_order = certify(arch, theta, X, y, grad_tol=0.0)[0]  # (zero risk still decides first)
    assert float_second_order.is_minimum
