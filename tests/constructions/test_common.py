"""Common tests over every registered construction, in float and exact arithmetic."""

import numpy as np
import pytest

import cellscape as cs
from cellscape.constructions import CONSTRUCTIONS, construct
from cellscape.conv import ConvNet, conv_risk
from cellscape.testing.reference import local_search


@pytest.mark.parametrize("name", sorted(CONSTRUCTIONS))
@pytest.mark.parametrize("exact", [False, True])
def test_every_construction_is_a_certified_spurious_minimum_at_its_claimed_risk(name, exact):
    entry = CONSTRUCTIONS[name]
    data = cs.load_data(entry.defaults["data"], seed=0, n_samples=16)
    X = data.X_exact if exact and data.X_exact is not None else data.X
    y = data.y_exact if exact and data.y_exact is not None else data.y
    result = construct(name, X, y, exact=exact)
    loss = entry.defaults["loss"]
    model_risk = conv_risk if isinstance(result.arch, ConvNet) else cs.risk
    # the claimed risk, computed without the network, equals the network's risk: two ways
    assert result.risk == pytest.approx(result.claimed_risk, rel=1e-10, abs=1e-14)
    if exact and result.risk_exact is not None and result.claimed_risk_exact is not None:
        assert result.risk_exact == result.claimed_risk_exact
    assert float(model_risk(result.arch, result.params, data.X, data.y, loss=loss)[0]) == \
        pytest.approx(result.risk, rel=1e-12, abs=1e-15)
    assert float(model_risk(result.arch, result.witness_params, data.X, data.y, loss=loss)[0]) == \
        pytest.approx(result.witness_risk, rel=1e-12, abs=1e-15)
    assert result.certificate.is_minimum, result.certificate.message
    assert result.is_spurious
    best = local_search(result.arch, result.params, data.X, data.y, loss=loss, radius=1e-3)
    assert best >= result.risk - 1e-12 * max(1.0, result.risk)
    payload = result.to_dict()
    assert payload["spurious"] is True and payload["construction"] == name


def test_unknown_construction_lists_the_names():
    with pytest.raises(cs.InvalidInputError, match="linear-region"):
        construct("nope", np.zeros((2, 1)), np.zeros(2))
