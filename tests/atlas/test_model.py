import math

import pytest

import cellscape as cs
from cellscape.atlas import AtlasModel, count_cells, iter_cells


@pytest.mark.parametrize("outputs,signs", [("positive", None), ("trained", None), ("signs", None),
                                           ("signs", [1, -1, -1])])
@pytest.mark.parametrize("C", [1, 4, 7])
def test_closed_form_count_matches_the_lazy_enumeration(outputs, signs, C):
    model = AtlasModel.build(width=3, outputs=outputs, signs=signs)
    cells = list(iter_cells(model, C))
    assert len(cells) == len(set(cells)) == count_cells(model, C)
    if outputs != "signs":
        assert count_cells(model, C) == math.comb(C + 2, 3)


def test_bad_models_are_refused_with_the_parameter():
    with pytest.raises(cs.InvalidInputError, match="`activation`"):
        AtlasModel.build(width=2, activation="hardtanh")
    with pytest.raises(cs.InvalidInputError, match="`signs`"):
        AtlasModel.build(width=2, outputs="signs", signs=[1, 2])
    with pytest.raises(cs.InvalidInputError, match="`signs`"):
        AtlasModel.build(width=2, signs=[1, 1])
    with pytest.raises(cs.InvalidInputError, match="`outputs`"):
        AtlasModel.build(width=2, outputs="free")
    with pytest.raises(cs.InvalidInputError, match="`activation`.*h\\(p\\) = 0"):
        AtlasModel.build(width=2, outputs="trained", activation="pwl:1:0,1:1")
    assert AtlasModel.build(width=2, outputs="trained", activation="pwl:1:0,1:1", output_bias=True).output_bias
