import json

import numpy as np

from cellscape.data import load_data
from cellscape.survey import SurveyConfig, _group_by_risk, run_survey


def test_survey_reproducible_and_consistent():
    config = SurveyConfig(runs=8, steps=300, hidden=(6,), seed=3)
    a, b = run_survey(config), run_survey(config)
    assert a.to_dict() == b.to_dict()
    assert sorted(i for g in a.groups for i in g.runs) == list(range(8))
    assert a.best_risk == min(r.risk for r in a.runs)
    for g in a.groups:
        members = [a.runs[i] for i in g.runs]
        assert all(r.group == g.index for r in members)
        assert g.risk_max <= g.risk_min * (1 + config.risk_rtol) + 1e-12
    json.dumps(a.to_dict())  # JSON-ready


def test_survey_beats_the_best_affine_fit_on_nonaffine_data():
    data = load_data("builtin:nonaffine", seed=0)
    result = run_survey(SurveyConfig(runs=8, steps=3000, hidden=(8,), seed=0), dataset=data)
    assert result.best_risk < data.info["best_affine_risk"]
    assert all(r.radius >= 0 for r in result.runs)


def test_grouping_by_hand():
    labels = _group_by_risk(np.array([1.0, 1.0005, 2.0, 1.002, np.inf]), 1e-3)
    assert list(labels) == [0, 0, 2, 1, 3]
