"""The one-hidden-layer landscape atlas (Liu 2020): every differentiable region and every genuine local minimum."""

from cellscape.atlas.atlas import Atlas as Atlas, AtlasMinimum as AtlasMinimum, atlas as atlas
from cellscape.atlas.cell_solve import (
    CellSolution as CellSolution,
    solve_cell as solve_cell,
    solve_cells as solve_cells,
)
from cellscape.atlas.escape import (
    CellEscape as CellEscape,
    EscapeConfig as EscapeConfig,
    EscapeOutcome as EscapeOutcome,
    cell_escape as cell_escape,
    run_escape as run_escape,
)
from cellscape.atlas.model import (
    AtlasModel as AtlasModel,
    OutputWeights as OutputWeights,
    count_cells as count_cells,
    iter_cells as iter_cells,
)
from cellscape.atlas.probability import (
    GenuineProbability as GenuineProbability,
    ProbabilityMap1D as ProbabilityMap1D,
    genuine_1d as genuine_1d,
    genuine_probability as genuine_probability,
    probability_map_1d as probability_map_1d,
    wilson_interval as wilson_interval,
)
from cellscape.atlas.unit_cells import (
    EnumerationMethod as EnumerationMethod,
    UnitCells as UnitCells,
    cover_count as cover_count,
    pattern_is_realisable as pattern_is_realisable,
    unit_patterns as unit_patterns,
)

__all__ = ["Atlas", "AtlasMinimum", "atlas", "CellSolution", "solve_cell", "solve_cells", "AtlasModel",
           "OutputWeights", "count_cells", "iter_cells", "EnumerationMethod", "UnitCells", "cover_count",
           "pattern_is_realisable", "unit_patterns", "CellEscape", "EscapeConfig", "EscapeOutcome", "cell_escape",
           "run_escape", "GenuineProbability", "ProbabilityMap1D", "genuine_1d", "genuine_probability",
           "probability_map_1d", "wilson_interval"]
