"""The seed papers' constructions, each in a module named after its paper."""

from cellscape.constructions.he2020 import (
    LinearRegionMinimum as LinearRegionMinimum,
    SpuriousWitness as SpuriousWitness,
    linear_region_minimum as linear_region_minimum,
    valley_path as valley_path,
)

__all__ = ["LinearRegionMinimum", "SpuriousWitness", "linear_region_minimum", "valley_path"]
