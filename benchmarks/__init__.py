"""cellscape's benchmarks: run them all with ``python -m benchmarks`` from the repository root.

Each benchmark is a module ``bench_<name>.py`` with a ``make_case(quick)`` function that returns a
:class:`~benchmarks._harness.Case`; :data:`BENCHMARKS` lists them by name. See ``benchmarks/README.md``.
"""

from __future__ import annotations

import importlib

__all__ = ["BENCHMARKS", "load"]

BENCHMARKS = {
    "batched_gradients": "benchmarks.bench_batched_gradients",
    "certify": "benchmarks.bench_certify",
    "atlas": "benchmarks.bench_atlas",
    "unit_patterns": "benchmarks.bench_unit_patterns",
    "sweep": "benchmarks.bench_sweep",
    "slice": "benchmarks.bench_slice",
    "slice_small": "benchmarks.bench_slice:make_small_case",
}


def load(name: str):
    """The ``make_case`` function of the benchmark ``name`` (``module:function`` names another function)."""
    module, _, function = BENCHMARKS[name].partition(":")
    return getattr(importlib.import_module(module), function or "make_case")
