"""The seed papers' constructions, each in a module named after its paper, and one registry over them."""

from cellscape.constructions.he2020 import (
    LinearRegionMinimum as LinearRegionMinimum,
    SpuriousWitness as SpuriousWitness,
    linear_region_minimum as linear_region_minimum,
    valley_path as valley_path,
)
from cellscape.constructions.laurent2018 import (
    DeadPointMinimum as DeadPointMinimum,
    cell_laplacian as cell_laplacian,
    dead_point_minimum as dead_point_minimum,
    deep_linear_hinge as deep_linear_hinge,
)
from cellscape.constructions.registry import (
    CONSTRUCTIONS as CONSTRUCTIONS,
    ConstructionResult as ConstructionResult,
    construct as construct,
)

__all__ = [
    "LinearRegionMinimum", "SpuriousWitness", "linear_region_minimum", "valley_path",
    "DeadPointMinimum", "cell_laplacian", "dead_point_minimum", "deep_linear_hinge",
    "CONSTRUCTIONS", "ConstructionResult", "construct",
]
