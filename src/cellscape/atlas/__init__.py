"""The one-hidden-layer landscape atlas (Liu 2020): every differentiable region and every genuine local minimum."""

from cellscape.atlas.unit_cells import (
    EnumerationMethod as EnumerationMethod,
    UnitCells as UnitCells,
    cover_count as cover_count,
    pattern_is_realisable as pattern_is_realisable,
    unit_patterns as unit_patterns,
)

__all__ = ["EnumerationMethod", "UnitCells", "cover_count", "pattern_is_realisable", "unit_patterns"]
