"""The survey report: its contents against the survey's JSON, and the page as headless Chromium renders it."""

import copy
import json
import math
import shutil
import subprocess
import sys

import numpy as np
import pytest

from cellscape.exceptions import CellscapeError, InvalidInputError
from cellscape.plots.survey import plot_categories, plot_endpoint_risks
from cellscape.report import VALLEY_POINTS, survey_report, write_report
from cellscape.survey import SurveyConfig, load_survey, run_survey

# The 3-point set with 2-2-1 ReLU networks: global minima at risk 0 and 1/12 minima, the linear-region
# construction (risk 1/9, spurious) with its witness and valley, and an atlas small enough to enumerate.
CONFIG = SurveyConfig(data="builtin:three-point", hidden=(2,), runs=16, steps=2000, seed=0)
OPTIONS = {"max_minima": 3, "resolution": 15, "seed": 0}


@pytest.fixture(scope="module")
def survey_json(tmp_path_factory):
    payload = json.loads(json.dumps(run_survey(CONFIG).to_dict()))
    path = tmp_path_factory.mktemp("survey") / "survey.json"
    path.write_text(json.dumps(payload))
    return path, payload


@pytest.fixture(scope="module")
def report(survey_json):
    _, payload = survey_json
    return survey_report(payload, **OPTIONS)


@pytest.fixture(scope="module")
def page(report, survey_json, tmp_path_factory):
    """The report written to a file and loaded in headless Chromium (WebDriver through chromedriver)."""
    for tool in ("chromium", "chromedriver"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is not installed: the report tests need Debian's chromium and chromium-driver "
                        "(make test installs them)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    target = report.write(tmp_path_factory.mktemp("report") / "report.html")
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 f"--user-data-dir={tmp_path_factory.mktemp('chromium')}", "--window-size=1280,2000"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(executable_path=shutil.which("chromedriver")))
    try:
        driver.get(target.as_uri())
        yield driver
    finally:
        driver.quit()


def test_report_has_every_section_and_figure(report, survey_json):
    _, payload = survey_json
    keys = [f.key for f in report.figures]
    assert keys[:2] == ["categories", "risks"]
    shown = [m["index"] for m in payload["minima"]][:OPTIONS["max_minima"]]
    assert len(shown) >= 2, "the survey should find at least two distinct minima"
    assert [k for k in keys if k.startswith("plane-")] == [f"plane-{i}" for i in shown]
    assert [k for k in keys if k.startswith("segment-")] == [f"segment-{shown[0]}-{i}" for i in shown[1:]]
    assert {"witness-linear-region", "valley-linear-region"} <= set(keys)
    assert len(set(keys)) == len(keys)
    for section in ('id="summary"', 'id="minima"', 'id="slices"', 'id="valleys"', 'id="atlas"'):
        assert section in report.html
    assert all(f.png.startswith(b"\x89PNG\r\n\x1a\n") and min(f.size) > 100 for f in report.figures)


def test_valley_has_constant_risk_and_witness_is_lower(survey_json):
    """The valley figure's numbers, computed again: the construction at the report's scales keeps its risk."""
    from cellscape.constructions import linear_region_minimum, valley_path
    from cellscape.data import load_data
    from cellscape.losses import risk
    from cellscape.networks import as_params

    data = load_data(CONFIG.data)
    lr = linear_region_minimum(data.X, data.y, hidden=list(CONFIG.hidden), witness=True)
    alphas = float(lr.alpha) * np.geomspace(0.125, 1.0, VALLEY_POINTS)
    risks = [float(risk(lr.arch, as_params(lr.arch, p), data.X, data.y)[0]) for p in valley_path(lr, alphas)]
    assert max(risks) - min(risks) <= 1e-14 and math.isclose(risks[0], 1 / 9, rel_tol=1e-12)
    assert lr.witness.risk < lr.risk


def test_stale_data_are_refused(survey_json):
    _, payload = survey_json
    changed = copy.deepcopy(payload)
    changed["minima"][0]["risk"] += 1e-3
    with pytest.raises(CellscapeError, match="do not reproduce minimum 0"):
        survey_report(changed, **OPTIONS)


def test_survey_without_stored_parameters_says_so(survey_json):
    _, payload = survey_json
    old = copy.deepcopy(payload)
    for m in old["minima"]:
        del m["params"]
    built = survey_report(old, **OPTIONS, atlas=False)
    assert not [f for f in built.figures if f.section == "slices"]
    assert any("no stored parameters" in note for note in built.notes)
    assert "no stored parameters" in built.html


def test_bad_input_is_named(survey_json, tmp_path):
    path, payload = survey_json
    with pytest.raises(InvalidInputError, match="`survey` of `survey_report`"):
        survey_report({"command": "atlas"})
    with pytest.raises(InvalidInputError, match="`resolution` of `survey_report`"):
        survey_report(payload, resolution=2)
    with pytest.raises(InvalidInputError, match="`span` of `survey_report`"):
        survey_report(payload, span=0.0)
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(InvalidInputError, match="which is not JSON"):
        load_survey(bad)
    assert load_survey(path) == payload


def test_atlas_section_matches_the_survey_minima(report, survey_json):
    """Every survey minimum inside a cell is a genuine cell optimum of the (complete) atlas, at its risk."""
    from cellscape.atlas import atlas
    from cellscape.data import load_data

    _, payload = survey_json
    data = load_data(CONFIG.data)
    found = atlas(data.X, data.y[:, 0], width=2, outputs="trained", output_bias=True)
    assert not found.sampled
    for m in payload["minima"]:
        if not m["on_boundary"]:
            assert any(abs(m["risk"] - am.risk) <= 1e-6 * max(1.0, am.risk) for am in found.minima), m
    assert 'id="atlas-summary"' in report.html and "second look" not in report.html


def test_atlas_is_left_out_where_it_does_not_apply():
    payload = run_survey(SurveyConfig(data="builtin:three-point", hidden=(2, 2), runs=4, steps=300)).to_dict()
    built = survey_report(payload, max_minima=1, resolution=9)
    assert any("the atlas maps one hidden layer" in note for note in built.notes)
    assert 'id="atlas-summary"' not in built.html


def test_survey_plots_read_the_json(survey_json):
    _, payload = survey_json
    bars = plot_categories(payload)
    heights = {key: bar.get_height() for key, bar in zip(
        ["global", "spurious", "saddle", "not_converged", "inconclusive", "on_boundary"], bars.bars)}
    for key, h in heights.items():
        assert h == payload["rates"][key]["estimate"]
    drawn = plot_endpoint_risks(payload)
    assert sum(len(p.get_offsets()) for p in drawn.points.values()) == sum(
        math.isfinite(float(r["risk"])) for r in payload["runs"])
    assert len(drawn.levels) == len(payload["minima"])


# ------------------------------------------------------------------------------------------- in Chromium
def test_every_figure_renders_in_chromium(page, report):
    images = page.execute_script(
        "return Array.from(document.images).map(i => [i.complete, i.naturalWidth, i.naturalHeight, "
        "i.closest('figure').dataset.figure, i.src.slice(0, 22)])")
    assert len(images) == len(report.figures)
    for (complete, width, height, key, src), figure in zip(images, report.figures):
        assert complete and (width, height) == figure.size, key
        assert key == figure.key and src == "data:image/png;base64,"
    external = page.execute_script(
        "return Array.from(document.querySelectorAll('[src], link[href]')).map(e => e.src || e.href)"
        ".filter(u => !u.startsWith('data:'))")
    assert external == []  # self-contained: nothing to fetch


def test_minima_table_matches_the_json(page, survey_json):
    _, payload = survey_json
    rows = page.execute_script(
        "return Array.from(document.querySelectorAll('#minima-table tr[data-minimum]')).map(r => "
        "Array.from(r.querySelectorAll('td')).map(c => [c.dataset.key, c.dataset.value, c.innerText]))")
    assert len(rows) == len(payload["minima"]) > 0
    for row, m in zip(rows, payload["minima"]):
        shown = {key: (json.loads(value), text) for key, value, text in row}
        for key in ("index", "risk", "count", "category", "on_boundary", "valley_dimension"):
            assert shown[key][0] == m[key], key
        for key in ("status", "method", "arithmetic", "n_ties", "hessian_min", "grad_norm"):
            assert shown[key][0] == m["certificate"][key], key
        assert float(shown["risk"][1]) == pytest.approx(m["risk"], rel=1e-5, abs=1e-300)
        assert shown["category"][1] == m["category"] and shown["status"][1] == m["certificate"]["status"]
        assert int(shown["count"][1]) == m["count"]
        assert shown["on_boundary"][1] == ("yes" if m["on_boundary"] else "no")
    messages = page.execute_script(
        "return Array.from(document.querySelectorAll('#minima-table tr[data-minimum-why] td')).map(c => c.innerText)")
    assert messages == [m["certificate"]["message"] for m in payload["minima"]]


def test_category_table_matches_the_json(page, survey_json):
    _, payload = survey_json
    rows = page.execute_script(
        "return Array.from(document.querySelectorAll('#categories tr[data-category]')).map(r => "
        "[r.dataset.category, r.querySelector('td[data-key=count]').innerText])")
    assert {key: int(count) for key, count in rows} == {k: r["count"] for k, r in payload["rates"].items()}
    assert sum(payload["counts"].values()) == CONFIG.runs


# ------------------------------------------------------------------------------------------ command line
def _cli(*args, cwd):
    return subprocess.run([sys.executable, "-m", "cellscape", *args], capture_output=True, text=True, cwd=cwd)


def test_cli_report_and_survey_report(tmp_path, survey_json):
    path, payload = survey_json
    done = _cli("report", str(path), "--out", "page.html", "--max-minima", "1", "--resolution", "9", "--no-atlas",
                cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    text = (tmp_path / "page.html").read_text()
    assert text.startswith("<!DOCTYPE html>") and 'id="atlas"' not in text and 'data-figure="plane-0"' in text
    done = _cli("survey", "--data", "builtin:three-point", "--hidden", "2", "--runs", "2", "--steps", "100",
                "--report", "out", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert json.loads((tmp_path / "out" / "survey.json").read_text())["config"]["runs"] == 2
    assert (tmp_path / "out" / "report.html").read_text().count("<figure") >= 2
    for args, name in ((["report", "missing.json"], "SURVEY_JSON"), (["report", str(path), "--out", "x.txt"], "--out"),
                       (["survey", "--runs", "1", "--report", str(path)], "--report")):
        done = _cli(*args, cwd=tmp_path)
        assert done.returncode == 2 and "Traceback" not in done.stderr
        assert done.stderr.count("\n") == 1 and f"`{name}`" in done.stderr


def test_write_report_makes_the_directory(tmp_path, survey_json):
    _, payload = survey_json
    target = write_report(payload, tmp_path / "new" / "dir", max_minima=0, resolution=9, atlas=False)
    assert target.name == "report.html" and target.read_text().count("<figure") == 4  # summary, construction
