"""Saddles inside cells and minima on boundaries, cross-checked with `certify`, direct risk evaluation and sampling."""

import json

import numpy as np
import pytest
import scipy.optimize

import cellscape as cs
from cellscape.atlas import AtlasModel, atlas, iter_cells, unit_patterns
from cellscape.atlas.cell_solve import solve_cell
from cellscape.atlas.critical import (
    BoundaryVerdict,
    atlas_risk,
    boundary_point,
    cell_saddles,
    cone_generators,
    cone_least_squares,
)
from cellscape.certify import CertificateStatus, certify

MINIMA = {CertificateStatus.STRICT_MINIMUM, CertificateStatus.NONSTRICT_MINIMUM, CertificateStatus.MINIMUM}


def _instance(seed, N=6, d=2):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(N, d)), rng.normal(size=N)


def _cells(X, model, n, seed):
    P = unit_patterns(X).patterns
    cells = list(iter_cells(model, len(P)))
    pick = np.random.default_rng(seed).choice(len(cells), size=min(n, len(cells)), replace=False)
    return P, [P[list(cells[i])] for i in pick]


def test_atlas_risk_is_the_networks_risk():
    X, y = _instance(0)
    model = AtlasModel.build(width=2, outputs="trained", output_bias=True)
    rng = np.random.default_rng(1)
    W, v, c = rng.normal(size=(2, 3)), rng.normal(size=2), 0.3
    params = model.params(W[None], v[None], np.array([c]))
    assert np.isclose(atlas_risk(X, y, model, W, v, c), cs.risk(model.architecture(2), params, X, y)[0], rtol=1e-14)


# ---------------------------------------------------------------------------------------------- saddles
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_every_saddle_is_critical_and_certify_calls_it_a_saddle(seed):
    X, y = _instance(seed)
    model = AtlasModel.build(width=2, outputs="trained")
    arch = model.architecture(2)
    _, cells = _cells(X, model, 200, seed)
    found = [(p, s) for p in cells for s in cell_saddles(X, y, p, model)]
    assert found, "these instances hold saddles"
    for patterns, saddle in found[:6]:
        params = saddle.params(model)
        Xt = np.hstack([X, np.ones((len(X), 1))])
        assert np.array_equal(Xt @ saddle.W.T > 0, patterns.T)  # inside its cell
        cert = certify(arch, params, X, y)[0]
        assert cert.status is CertificateStatus.SADDLE, cert.message
        assert cert.grad_norm <= 1e-8
        # the escape the theory names: v_k = eps and w_k moved against g_k lowers the risk
        k = saddle.zero_units[int(np.argmax(saddle.escape))]
        out = np.maximum(Xt @ saddle.W.T, 0) @ saddle.v - y
        g = ((Xt @ saddle.W[k] > 0) * out) @ Xt / len(X)
        W, v = saddle.W.copy(), saddle.v.copy()
        W[k] -= 1e-2 * g / np.linalg.norm(g)
        v[k] = 1e-6
        assert atlas_risk(X, y, model, W, v) < saddle.risk


def test_fixed_output_weights_have_no_saddles_in_cells():
    X, y = _instance(0)
    for outputs in ("positive", "signs"):
        model = AtlasModel.build(width=2, outputs=outputs)
        _, cells = _cells(X, model, 60, 0)
        assert all(cell_saddles(X, y, p, model) == () for p in cells)


# ---------------------------------------------------------------------------------------------- cones
def test_cone_generators_span_exactly_the_cone():
    rng = np.random.default_rng(0)
    for rows in (rng.normal(size=(6, 3)), rng.normal(size=(2, 3)), np.array([[1.0, 0.0, 0.0], [2.0, 0.0, 0.0]])):
        R = cone_generators(rows)
        assert np.all(rows @ R >= -1e-12)
        points = rng.normal(size=(400, 3))
        inside = points[np.all(points @ rows.T >= 0, axis=1)]
        for z in inside[:40]:  # each point of the cone is a non-negative combination of the generators
            assert scipy.optimize.nnls(R, z)[1] < 1e-9


def test_cone_least_squares_matches_a_general_solver():
    rng = np.random.default_rng(3)
    for _ in range(5):
        A, t = rng.normal(size=(8, 4)), rng.normal(size=8)
        blocks = [rng.normal(size=(3, 2)), rng.normal(size=(4, 2))]
        z = cone_least_squares(A, t, blocks)
        assert np.all(blocks[0] @ z[:2] >= -1e-9) and np.all(blocks[1] @ z[2:] >= -1e-9)
        G = np.zeros((7, 4))
        G[:3, :2], G[3:, 2:] = blocks
        ref = scipy.optimize.minimize(lambda u, A=A, t=t: 0.5 * np.sum((A @ u - t) ** 2), np.zeros(4),
                                      method="SLSQP", jac=lambda u, A=A, t=t: A.T @ (A @ u - t),
                                      constraints=[{"type": "ineq", "fun": lambda u, G=G: G @ u,
                                                    "jac": lambda u, G=G: G}],
                                      options={"ftol": 1e-15, "maxiter": 500})
        assert 0.5 * np.sum((A @ z - t) ** 2) <= ref.fun + 1e-6


# ---------------------------------------------------------------------------------------------- boundaries
@pytest.mark.parametrize("outputs", ["trained", "positive", "signs"])
def test_boundary_verdicts_agree_with_certify(outputs):
    """Trained outputs: certify decides the same question. Fixed outputs: certify also moves v, so a minimum it
    certifies must be one of ours and a descent we find is one for it too."""
    X, y = _instance(5)
    model = AtlasModel.build(width=2, outputs=outputs)
    arch = model.architecture(2)
    P, cells = _cells(X, model, 12, 5)
    seen = set()
    for patterns in cells:
        point = boundary_point(X, y, patterns, model, unit_patterns=P)
        assert point.verdict is not BoundaryVerdict.INCONCLUSIVE, point.message
        seen.add(point.verdict)
        cert = certify(arch, point.params(model), X, y)[0]
        if point.verdict is BoundaryVerdict.MINIMUM:
            assert cert.status in MINIMA or outputs != "trained", cert.message
        if point.verdict is BoundaryVerdict.NOT_MINIMUM:
            assert cert.status in (CertificateStatus.SADDLE, CertificateStatus.NOT_CRITICAL), cert.message
            unit, _, direction, rate = point.descent
            assert rate < 0
            W = point.W.copy()
            W[unit] += 1e-6 * direction
            assert atlas_risk(X, y, model, W, point.v, point.c) < point.risk
        if cert.status in MINIMA:
            assert point.verdict in (BoundaryVerdict.MINIMUM, BoundaryVerdict.INTERIOR)
    assert BoundaryVerdict.MINIMUM in seen and BoundaryVerdict.NOT_MINIMUM in seen


def test_a_boundary_minimum_survives_random_moves():
    X, y = _instance(5)
    model = AtlasModel.build(width=2, outputs="positive")
    P, cells = _cells(X, model, 80, 1)
    minima = [p for p in (boundary_point(X, y, c, model, unit_patterns=P) for c in cells)
              if p.verdict is BoundaryVerdict.MINIMUM and p.ties.any()]
    assert minima
    rng = np.random.default_rng(0)
    for point in minima[:5]:
        for radius in (1e-6, 1e-4, 1e-2):
            moves = rng.normal(size=(2000, *point.W.shape))
            risks = atlas_risk(X, y, model, point.W + radius * moves, point.v)
            assert np.min(risks) >= point.risk - 1e-12


def test_interior_optimum_is_the_genuine_minimum():
    X = np.array([[-2.0], [-1.0], [1.0], [2.0]])
    y = np.maximum(X[:, 0], 0.0)
    model = AtlasModel.build(width=1)
    point = boundary_point(X, y, [[False, False, True, True]], model)
    assert point.verdict is BoundaryVerdict.INTERIOR and point.risk < 1e-30
    assert solve_cell(X, y, [[False, False, True, True]], model).genuine


def test_adjacent_patterns_read_off_the_unit_cells_or_by_lp_agree():
    X, y = _instance(7, N=5)
    model = AtlasModel.build(width=2, outputs="signs")
    P, cells = _cells(X, model, 15, 2)
    for patterns in cells:
        a = boundary_point(X, y, patterns, model, unit_patterns=P)
        b = boundary_point(X, y, patterns, model)
        assert (a.verdict, a.adjacent) == (b.verdict, b.adjacent) and np.isclose(a.risk, b.risk, rtol=1e-12)


def test_bad_branch_names_the_parameter():
    X, y = _instance(0)
    patterns = unit_patterns(X).patterns[:2]
    with pytest.raises(cs.InvalidInputError, match="`branch`"):
        boundary_point(X, y, patterns, AtlasModel.build(width=2, outputs="trained"), branch=(1, 0))
    with pytest.raises(cs.InvalidInputError, match="`branch`"):
        boundary_point(X, y, patterns, AtlasModel.build(width=2), branch=(1, 1))


# ---------------------------------------------------------------------------------------------- in the atlas
def test_critical_atlas_certifies_a_global_minimum_on_a_boundary():
    """Positive output weights on these data: the best point lies on a boundary. Without the boundary search the
    atlas cannot certify it; with it, the lowest closed-cell optimum is attained by a listed minimum."""
    X, y = _instance(0)
    plain = atlas(X, y, width=2, outputs="positive")
    full = atlas(X, y, width=2, outputs="positive", critical=True)
    assert not plain.global_certified and full.global_certified
    assert full.n_boundary_inconclusive == 0 and full.boundary_minima
    assert full.global_minimum == min([m.risk for m in full.minima] + [b.risk for b in full.boundary_minima])
    assert full.lower_bound >= plain.lower_bound
    # no gradient-descent run of the fixed-output model goes below the certified global minimum
    escape = cs.atlas.cell_escape(X, y, AtlasModel.build(width=2), n_starts=64, steps=3000, seed=0)
    assert np.min(escape.final_risk) >= full.global_minimum - 1e-9
    payload = json.loads(json.dumps(full.to_dict()))
    assert payload["critical"] and payload["n_boundary_minima"] == full.n_boundary_minima
    assert [b["spurious"] for b in payload["boundary_minima"]] == [full.is_spurious(b.risk)
                                                                   for b in full.boundary_minima]


def test_critical_atlas_counts_saddle_cells_for_trained_outputs():
    X, y = _instance(1, N=5)
    result = atlas(X, y, width=2, outputs="trained", critical=True)
    assert result.n_saddle_cells > 0 and result.saddles
    assert result.global_certified and result.n_boundary_inconclusive == 0
