"""The ready-made studies in studies/: every config parses, and one task of each runs when scaled down."""

import dataclasses
from pathlib import Path

import pytest

from cellscape.atlas.escape import run_escape
from cellscape.survey import run_survey
from cellscape.sweep import TaskKind, load_sweep

STUDIES = sorted((Path(__file__).resolve().parents[1] / "studies").glob("*.toml"))


def test_the_studies_are_there():
    names = {p.stem for p in STUDIES}
    assert {"hinge-leaky-vs-relu", "linear-region-start", "ysj-kinks", "cell-escape", "example"} <= names


@pytest.mark.parametrize("path", STUDIES, ids=[p.stem for p in STUDIES])
def test_study_parses_and_its_first_task_runs(path):
    sweep = load_sweep(path)
    assert sweep.tasks and sweep.description
    config = dataclasses.replace(sweep.tasks[0].config, runs=2, steps=30)
    result = run_escape(config) if sweep.kind is TaskKind.ESCAPE else run_survey(config)
    assert sum(result.counts.values()) == 2
