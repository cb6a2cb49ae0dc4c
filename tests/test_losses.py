import math
from fractions import Fraction

import flint
import numpy as np
import pytest
from hypothesis import given, strategies as st

from cellscape import ExactArithmeticError, InvalidInputError, mlp
from cellscape.losses import Loss, LossName, parse_loss, risk, risk_exact

REAL = ["squared", "absolute", "huber:1/2"]
BINARY = ["hinge", "logistic"]
CLASSES = ["weston_watkins", "crammer_singer", "cross_entropy"]


def test_values_by_hand():
    yhat = np.array([[0.5, -1.0]])
    y = np.array([[1.0, 1.0]])
    assert float(parse_loss("squared").per_sample(yhat, y)[0]) == 0.5 * (0.25 + 4.0)
    assert float(parse_loss("absolute").per_sample(yhat, y)[0]) == 0.5 + 2.0
    assert float(parse_loss("huber:1").per_sample(yhat, y)[0]) == 0.125 + 1.5  # r=0.5 inside, r=2 outside
    assert float(parse_loss("hinge").per_sample(np.array([[0.25]]), np.array([[1.0]]))[0]) == 0.75
    assert float(parse_loss("hinge").per_sample(np.array([[2.0]]), np.array([[1.0]]))[0]) == 0.0
    np.testing.assert_allclose(parse_loss("logistic").per_sample(np.array([[0.0]]), np.array([[1.0]])), math.log(2))
    scores, label = np.array([[2.0, 1.5, -1.0]]), np.array([[0.0]])
    assert float(parse_loss("weston_watkins").per_sample(scores, label)[0]) == 0.5  # 1 + 1.5 - 2, 1 - 1 - 2 < 0
    assert float(parse_loss("crammer_singer").per_sample(np.array([[1.0, 1.5, 1.2]]), label)[0]) == 1.5
    np.testing.assert_allclose(parse_loss("cross_entropy").per_sample(scores, label),
                               np.log(np.exp(scores).sum()) - 2.0)


def _random_case(name, rng, n=9, d_out=3):
    loss = parse_loss(name)
    kind = loss.target_kind.value
    if kind == "real":
        y = np.round(rng.normal(size=(n, d_out)) * 8) / 8
        yhat = np.round(rng.normal(size=(n, d_out)) * 8) / 8
    elif kind == "binary":
        y = rng.choice([-1.0, 1.0], size=(n, 1))
        yhat = np.round(rng.normal(size=(n, 1)) * 8) / 8
    else:
        y = rng.integers(0, d_out, size=(n, 1)).astype(float)
        yhat = np.round(rng.normal(size=(n, d_out)) * 8) / 8
    return loss, yhat, y


@pytest.mark.parametrize("name", REAL + BINARY + CLASSES)
@given(seed=st.integers(0, 10_000))
def test_restricted_equals_loss_on_its_pieces_and_exact_agrees(name, seed):
    rng = np.random.default_rng(seed)
    loss, yhat, y = _random_case(name, rng)
    values = np.asarray(loss.per_sample(yhat, y))
    pieces = loss.pieces(yhat, y)
    np.testing.assert_allclose(np.asarray(loss.restricted(yhat, y, pieces)), values, rtol=1e-14, atol=1e-14)
    if not loss.is_exact:
        return
    for i in range(y.shape[0]):
        qh = [flint.fmpq(*float(v).as_integer_ratio()) for v in yhat[i]]
        qy = [flint.fmpq(*float(v).as_integer_ratio()) for v in y[i]]
        exact = loss.per_sample_exact(qh, qy)
        assert float(exact) == pytest.approx(values[i], rel=1e-14, abs=1e-14)
        assert loss.pieces_exact(qh, qy) == list(pieces[i])
        assert loss.restricted_exact(qh, qy, list(pieces[i])) == exact


@pytest.mark.parametrize("name", ["absolute", "huber:1/2", "hinge", "weston_watkins", "crammer_singer"])
@given(seed=st.integers(0, 10_000))
def test_kink_margin_keeps_the_loss_piece(name, seed):
    rng = np.random.default_rng(seed)
    loss, yhat, y = _random_case(name, rng)
    yhat = yhat + rng.normal(size=yhat.shape) * 1e-3  # away from exact ties
    margins = loss.kink_margins(yhat, y)
    pieces = loss.pieces(yhat, y)
    for _ in range(20):
        d = rng.normal(size=yhat.shape)
        d *= (0.999 * margins / np.linalg.norm(d, axis=1))[:, None]
        assert np.array_equal(loss.pieces(yhat + d, y), pieces)


def test_flags():
    assert {n for n in LossName if Loss(n).is_piecewise_linear} == {
        LossName.ABSOLUTE, LossName.HINGE, LossName.WESTON_WATKINS, LossName.CRAMMER_SINGER}
    assert Loss("huber").is_piecewise and not Loss("huber").is_piecewise_linear
    assert not Loss("squared").is_piecewise


def test_risk_is_the_mean_and_exact_matches():
    arch = mlp(1, [1], 1)
    params = [([[1.0]], [0.0]), ([[1.0]], [0.0])]
    X, y = [[1.0], [-1.0], [2.0]], [[0.0], [0.0], [0.0]]
    # outputs relu(x) = 1, 0, 2: mean of r^2/2 = (1/2 + 0 + 2) / 3 = 5/6
    assert float(risk(arch, params, X, y)[0]) == pytest.approx(5 / 6, rel=1e-15)
    assert risk_exact(arch, params, X, y) == Fraction(5, 6)
    assert risk_exact(arch, params, X, y, loss="absolute") == Fraction(1)


def test_exact_refuses_logarithms():
    arch = mlp(1, [1], 1)
    with pytest.raises(ExactArithmeticError, match="logistic"):
        risk_exact(arch, [([[1]], [0]), ([[1]], [0])], [[1]], [[1]], loss="logistic")


@pytest.mark.parametrize(
    ("loss", "y", "d_out", "param"),
    [
        ("hinge", [[0.0], [1.0]], 1, "y"),
        ("squared", [[0.0], [1.0]], 2, "y"),
        ("weston_watkins", [[0.0], [3.0]], 3, "y"),
        ("cross_entropy", [[0.5], [1.0]], 3, "y"),
        ("logistic", [[1.0], [1.0]], 2, "d_out"),
    ],
)
def test_target_errors(loss, y, d_out, param):
    arch = mlp(1, [2], d_out)
    from cellscape import init_params

    with pytest.raises(InvalidInputError) as info:
        risk(arch, init_params(arch), [[0.0], [1.0]], y, loss=loss)
    assert str(info.value).startswith(f"`{param}`")


def test_bad_loss_names():
    for spec in ("l2", "huber:-1", "hinge:2"):
        with pytest.raises(InvalidInputError, match="`loss`"):
            parse_loss(spec)
