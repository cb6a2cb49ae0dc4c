"""The seed papers' constructions, each in a module named after its paper, and one registry over them."""

from cellscape.constructions.he2020 import (
    CellMinimumSet as CellMinimumSet,
    LinearRegionMinimum as LinearRegionMinimum,
    SpuriousWitness as SpuriousWitness,
    cell_minimum_set as cell_minimum_set,
    linear_region_minimum as linear_region_minimum,
    linear_region_start as linear_region_start,
    valley_path as valley_path,
)
from cellscape.constructions.laurent2018 import (
    DeadPointMinimum as DeadPointMinimum,
    cell_laplacian as cell_laplacian,
    dead_point_minimum as dead_point_minimum,
    deep_linear_hinge as deep_linear_hinge,
)
from cellscape.constructions.liu2021 import (
    GroupingMinimum as GroupingMinimum,
    MaxMinFormula as MaxMinFormula,
    compile_relu as compile_relu,
    compile_with_activation as compile_with_activation,
    enumerate_groupings_1d as enumerate_groupings_1d,
    grouping_minimum as grouping_minimum,
    max_min_representation as max_min_representation,
)
from cellscape.constructions.registry import (
    CONSTRUCTIONS as CONSTRUCTIONS,
    ConstructionResult as ConstructionResult,
    construct as construct,
)

__all__ = [
    "LinearRegionMinimum", "SpuriousWitness", "linear_region_minimum", "linear_region_start", "valley_path",
    "CellMinimumSet", "cell_minimum_set",
    "DeadPointMinimum", "cell_laplacian", "dead_point_minimum", "deep_linear_hinge",
    "MaxMinFormula", "max_min_representation", "compile_relu", "compile_with_activation", "GroupingMinimum",
    "grouping_minimum", "enumerate_groupings_1d",
    "CONSTRUCTIONS", "ConstructionResult", "construct",
]
