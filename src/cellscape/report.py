r"""The survey report: one self-contained HTML page showing what a survey found, with its figures embedded.

:func:`survey_report` reads a survey (a :class:`~cellscape.survey.SurveyResult`, or the JSON that
``cellscape survey --json`` writes), loads its data again from the stored configuration (seeded, so the same
data), checks that every stored minimum has its stored risk on them, and assembles five sections:

1. **Summary**: the configuration, the endpoint categories with their 95% Wilson intervals, every run's final
   risk (:mod:`cellscape.plots.survey`).
2. **Distinct minima**: one row per distinct certified minimum with its certificate (status, deciding method,
   arithmetic, ties, smallest Hessian eigenvalue, gradient norm, the certificate's sentence). Every cell carries
   the JSON value it shows in ``data-value``.
3. **Slices**: a plane through each of the first ``max_minima`` minima along two filter-normalised random
   directions, coloured by cell with the minimum marked (:func:`cellscape.slices.slice_2d`), and the segment from
   the lowest minimum to each other one with its exact kinks (:func:`cellscape.slices.slice_1d`): the barrier
   between them.
4. **Valley paths**: for each theory construction the survey built (:func:`cellscape.survey.constructed_minima`),
   the segment from the constructed minimum to its witness of lower risk, and for the linear-region minimum its
   valley (the same construction at other scales, :func:`cellscape.constructions.valley_path`); for every shown
   minimum of a one-hidden-layer network with a valley, a path inside its cell's minimising set
   (:func:`cellscape.constructions.cell_minimum_set`). The risk along a valley is constant.
5. **Atlas**: when the survey's network is one the atlas maps (one hidden layer with biases, one output, squared
   loss), the atlas of the same data and width (:func:`cellscape.atlas.atlas`, trained output weights and an
   output bias): every genuine cell minimum, which of them the survey reached, and whether the lowest is certified
   global. With more than ``atlas_cells`` cells the atlas samples that many and says so.

Every figure is a PNG embedded as a ``data:`` URI, so the page is one file that opens offline. What could not be
drawn is said on the page (and in :attr:`SurveyReport.notes`), never silently left out.

Examples:
    >>> from cellscape.survey import SurveyConfig, run_survey
    >>> survey = run_survey(SurveyConfig(data="builtin:three-point", hidden=(2,), runs=4, steps=500))
    >>> report = survey_report(survey, max_minima=1, resolution=11, atlas=False)
    >>> report.html.startswith("<!DOCTYPE html>"), [f.key for f in report.figures][:3]
    (True, ['categories', 'risks', 'plane-0'])
"""

from __future__ import annotations

import base64
import dataclasses
import html
import io
import json
import math
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from cellscape._validation import check_float, check_int, invalid
from cellscape.exceptions import CellscapeError
from cellscape.losses import LossName, parse_loss, risk
from cellscape.networks import Architecture, Params, as_params
from cellscape.survey import as_survey_dict, config_from_dict

__all__ = ["ReportFigure", "SurveyReport", "survey_report", "write_report"]

RISK_RTOL = 1e-9
"""How closely a stored minimum's risk must be reproduced on the reloaded data (relative, at least 1e-12 absolute)."""

_DPI = 110


@dataclasses.dataclass(frozen=True)
class ReportFigure:
    """A figure of the report: its ``key`` (unique, used as the HTML id ``fig-KEY``), its section, title,
    caption and the PNG bytes embedded in the page."""

    key: str
    section: str
    title: str
    caption: str
    png: bytes

    @property
    def size(self) -> tuple[int, int]:
        """The PNG's ``(width, height)`` in pixels (from its header)."""
        return int.from_bytes(self.png[16:20], "big"), int.from_bytes(self.png[20:24], "big")


@dataclasses.dataclass(frozen=True)
class SurveyReport:
    """A survey's report.

    Attributes:
        title: the page title.
        html: the whole page (UTF-8 text; every figure embedded).
        figures: the figures, in page order.
        notes: what the report could not show, and why (also on the page).
    """

    title: str
    html: str
    figures: tuple[ReportFigure, ...]
    notes: tuple[str, ...]

    def write(self, path: str | os.PathLike[str]) -> Path:
        """Write the page to ``path`` (its directory must exist) and return the path.

        Raises:
            InvalidInputError: when the file cannot be written.
        """
        target = Path(path)
        try:
            target.write_text(self.html, encoding="utf-8")
        except OSError as err:
            raise invalid("path", "SurveyReport.write", "a writable file", f"{str(path)!r} ({err.strerror})",
                          raw=True) from None
        return target


# --------------------------------------------------------------------------------------------------- assembly
@dataclasses.dataclass
class _Page:
    """The report being assembled: HTML parts, figures and notes, with progress."""

    progress: Callable[[int, int], None] | None
    total: int
    parts: list[str] = dataclasses.field(default_factory=list)
    figures: list[ReportFigure] = dataclasses.field(default_factory=list)
    notes: list[str] = dataclasses.field(default_factory=list)
    in_grid: bool = False

    def add(self, text: str) -> None:
        if self.in_grid:  # consecutive figures share a grid; anything else ends it
            self.parts.append("</div>")
            self.in_grid = False
        self.parts.append(text)

    def note(self, text: str) -> None:
        self.notes.append(text)
        self.add(f'<p class="note">{html.escape(text)}</p>')

    def figure(self, key: str, section: str, title: str, caption: str, drawn: Any) -> None:
        from cellscape.plots._axes import pyplot

        buffer = io.BytesIO()
        fig = drawn.ax.figure
        fig.savefig(buffer, format="png", dpi=_DPI)
        pyplot().close(fig)
        figure = ReportFigure(key, section, title, caption, buffer.getvalue())
        self.figures.append(figure)
        width, height = figure.size
        data = base64.b64encode(figure.png).decode("ascii")
        if not self.in_grid:
            self.parts.append('<div class="figures">')
            self.in_grid = True
        self.parts.append(f'<figure id="fig-{key}" data-figure="{key}"><img src="data:image/png;base64,{data}" '
                 f'width="{width}" height="{height}" alt="{html.escape(title)}">'
                 f'<figcaption><b>{html.escape(title)}.</b> {html.escape(caption)}</figcaption></figure>')
        self.step()

    def step(self) -> None:
        if self.progress is not None:
            self.progress(len(self.figures), max(self.total, len(self.figures)))


def survey_report(survey: Any, *, max_minima: int = 4, resolution: int = 61, span: float = 0.5,
                  atlas: bool = True, atlas_cells: int = 20_000, seed: int = 0,
                  progress: Callable[[int, int], None] | None = None) -> SurveyReport:
    """Build the HTML report of a survey (module docstring).

    Args:
        survey: a :class:`~cellscape.survey.SurveyResult` or its JSON form (:func:`cellscape.survey.load_survey`
            reads a file).
        max_minima: slice through at most this many distinct minima (the lowest ones; all are in the table).
        resolution: grid points per axis of the planes.
        span: the planes reach ``span`` along each filter-normalised direction on both sides of the minimum (Li
            et al. draw 1; at 1 a small network's plane crosses dozens of cells and hides the basin, so the
            default is 0.5).
        atlas: add the atlas section where it applies.
        atlas_cells: enumerate the atlas completely up to this many cells, else sample this many.
        seed: seeds the planes' random directions, the valley samples and the atlas's sampling.
        progress: called as ``progress(figures_done, figures_planned)``.

    Returns:
        A :class:`SurveyReport`.

    Raises:
        InvalidInputError: for anything but a survey, or bad options.
        CellscapeError: when the data loaded from the stored configuration do not reproduce the stored minima's
            risks (a data file changed since the survey, say).

    Notes:
        The cost is that of the slices (one compiled grid evaluation per plane, an exact line restriction per
        segment) and of the atlas (bounded by ``atlas_cells`` cell solves), not of the survey: nothing is
        trained again.
    """
    func = "survey_report"
    payload = as_survey_dict(survey, func=func)
    max_minima = check_int(max_minima, name="max_minima", func=func, minimum=0)
    resolution = check_int(resolution, name="resolution", func=func, minimum=3)
    span = check_float(span, name="span", func=func, minimum=0.0, strict_minimum=True)
    atlas_cells = check_int(atlas_cells, name="atlas_cells", func=func, minimum=1)
    seed = check_int(seed, name="seed", func=func, minimum=0)
    if progress is not None and not callable(progress):
        raise invalid("progress", func, "a callable progress(done, total) or None", progress)
    config = config_from_dict(payload["config"], func=func)
    data = config.load_dataset()
    arch = Architecture.from_dict(payload["architecture"])
    loss = parse_loss(config.loss)
    minima = list(payload["minima"])
    points = _stored_points(arch, minima, data, loss)
    shown = [i for i in range(len(minima)) if points[i] is not None][:max_minima]
    constructed = [c for c in payload.get("constructed", []) if "refused" not in c]
    planned = (2 + 2 * len(shown) - (1 if shown else 0) + len(constructed)
               + any(c["name"] == "linear-region" for c in constructed))
    page = _Page(progress, planned)
    title = f"cellscape survey: {arch.describe()} on {payload['dataset']['name']}"
    page.add(_head(title))
    page.add(f"<h1>{html.escape(title)}</h1>")
    _summary(page, payload, config)
    _minima_table(page, payload)
    _slices(page, arch, data, loss, minima, points, shown, resolution=resolution, span=span, seed=seed)
    _valleys(page, arch, data, loss, config, constructed, minima, points, shown, seed=seed)
    if atlas:
        _atlas(page, arch, data, loss, config, minima, atlas_cells=atlas_cells, seed=seed)
    page.add(f'<footer>cellscape {html.escape(str(payload.get("cellscape_version", "?")))}; '
             "every figure above is embedded in this file.</footer></body></html>")
    page.total = len(page.figures)  # the plan counted figures that some sections may not draw
    page.step()
    return SurveyReport(title=title, html="\n".join(page.parts), figures=tuple(page.figures), notes=tuple(page.notes))


def write_report(survey: Any, directory: str | os.PathLike[str], *, name: str = "report.html",
                 **options: Any) -> Path:
    """Build the report of a survey (:func:`survey_report`, ``options`` passed on) and write it as
    ``directory/name`` (the directory is made when missing); returns the page's path.

    Raises:
        InvalidInputError: for a directory that cannot be made or written, and as :func:`survey_report`.
    """
    target = Path(directory)
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise invalid("directory", "write_report", "a directory that can be made",
                      f"{str(directory)!r} ({err.strerror})", raw=True) from None
    return survey_report(survey, **options).write(target / name)


# --------------------------------------------------------------------------------------------------- sections
_STYLE = """
body { font-family: system-ui, sans-serif; max-width: 1180px; margin: 2em auto; padding: 0 1em; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.25em; margin-top: 2em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; vertical-align: top; }
td.text, th.text { text-align: left; }
.row { display: flex; flex-wrap: wrap; gap: 1.5em; align-items: flex-start; }
.figures { display: grid; grid-template-columns: repeat(auto-fill, minmax(500px, 1fr)); gap: 1em; }
figure { margin: 0; }
figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
tr.why td { text-align: left; color: #444; border-top: none; }
figcaption { font-size: 0.85em; }
p.note { color: #8a5a00; }
footer { margin-top: 3em; font-size: 0.8em; color: #666; }
"""


def _head(title: str) -> str:
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f"<style>{_STYLE}</style></head><body>")


def _fmt(value: Any, spec: str = ".6g") -> str:
    if value is None:
        return "\u2014"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, str):
        return value
    if isinstance(value, int) and spec != "d":
        return str(value)
    return format(value, spec)


def _cell(key: str, value: Any, text: str, *, left: bool = False) -> str:
    attrs = ' class="text"' if left else ""
    return (f"<td{attrs} data-key=\"{key}\" data-value=\"{html.escape(json.dumps(value))}\">"
            f"{html.escape(text)}</td>")


def _table(table_id: str, header: Sequence[str], rows: Sequence[str], *, left: Sequence[str] = ()) -> str:
    text = ' class="text"'
    head = "".join(f'<th{text if h in left else ""}>{html.escape(h)}</th>' for h in header)
    return f'<table id="{table_id}"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


def _summary(page: _Page, payload: dict[str, Any], config: Any) -> None:
    from cellscape.plots.survey import plot_categories, plot_endpoint_risks

    page.add('<section id="summary"><h2>Summary</h2>')
    rows = []
    for key, value in dataclasses.asdict(config).items():
        text = ", ".join(map(str, value)) if isinstance(value, tuple) else _fmt(value, "g")
        rows.append(f'<tr><th class="text">{html.escape(key)}</th>'
                    + _cell(key, payload["config"].get(key), text, left=True) + "</tr>")
    info = payload["dataset"]
    rows.append('<tr><th class="text">samples, inputs</th>'
                + _cell("n_samples", info["n_samples"], f'{info["n_samples"]}, d = {info["d_in"]}', left=True)
                + "</tr>")
    page.add('<div class="row">' + _table("config", ["setting", "value"], rows, left=["setting", "value"]))
    runs = len(payload["runs"])
    rows = []
    for key, r in payload["rates"].items():
        rows.append(f'<tr data-category="{key}"><td class="text">{html.escape(key)}</td>'
                    + _cell("count", r["count"], str(r["count"]))
                    + _cell("estimate", r["estimate"], f'{100 * r["estimate"]:.1f}%')
                    + _cell("interval", [r["low"], r["high"]], f'[{100 * r["low"]:.1f}%, {100 * r["high"]:.1f}%]')
                    + "</tr>")
    page.add(f"<div><p>{runs} runs; lowest final risk {_fmt(payload['best_risk'])}; "
             f"{len(payload['minima'])} distinct certified minima.</p>"
             + _table("categories", ["endpoint", "runs", "share", "95% Wilson interval"], rows, left=["endpoint"])
             + "</div></div>")
    page.figure("categories", "summary", "Where the runs ended",
                "Share of runs per endpoint category with its 95% Wilson interval; the count above each bar. "
                "Minima on a boundary are also counted as global or spurious.", plot_categories(payload))
    page.figure("risks", "summary", "Final risks",
                "Every run's final risk, runs sorted by it, coloured by category; dotted lines: the distinct "
                "certified minima; dashed: the best affine fit, where the data know it.",
                plot_endpoint_risks(payload))
    page.add("</section>")


_MINIMUM_COLUMNS = (
    ("index", "minimum", "d"), ("risk", "risk", ".6g"), ("count", "runs", "d"), ("category", "category", ""),
    ("on_boundary", "boundary", ""), ("valley_dimension", "valley dim", "d"), ("status", "certificate", ""),
    ("method", "method", ""), ("arithmetic", "arithmetic", ""), ("n_ties", "ties", "d"),
    ("hessian_min", "Hessian min", ".3g"), ("grad_norm", "|grad|", ".2e"),
)
"""The distinct-minima table: (JSON key of the minimum or of its certificate, header, number format); under each
row, the certificate's sentence (its ``message``) spans the table."""


def _minima_table(page: _Page, payload: dict[str, Any]) -> None:
    page.add('<section id="minima"><h2>Distinct certified minima</h2>'
             "<p>Runs whose predictions on the training data agree are one minimum (this identifies the network's "
             "symmetries and the points of a valley); each row shows the certificate of its lowest-risk run.</p>")
    rows = []
    for m in payload["minima"]:
        cert = m.get("certificate") or {}
        cells = []
        for key, _, spec in _MINIMUM_COLUMNS:
            value = m[key] if key in m else cert.get(key)
            cells.append(_cell(key, value, _fmt(value, spec), left=key in ("category", "status", "method",
                                                                             "arithmetic")))
        message = cert.get("message")
        rows.append(f'<tr data-minimum="{m["index"]}">{"".join(cells)}</tr>'
                    f'<tr class="why" data-minimum-why="{m["index"]}">'
                    f'<td colspan="{len(_MINIMUM_COLUMNS)}" data-key="message" '
                    f'data-value="{html.escape(json.dumps(message))}">{html.escape(_fmt(message))}</td></tr>')
    if rows:
        page.add(_table("minima-table", [h for _, h, _ in _MINIMUM_COLUMNS], rows,
                        left=["category", "certificate", "method", "arithmetic"]))
    else:
        page.add('<p id="minima-table">No run ended at a certified minimum.</p>')
    page.add("</section>")


def _stored_points(arch: Architecture, minima: list[dict[str, Any]], data: Any, loss: Any) -> list[Params | None]:
    """The stored parameters of each minimum (``None`` when the JSON has none), checked against its risk."""
    points: list[Params | None] = []
    for m in minima:
        layers = m.get("params")
        if not layers:
            points.append(None)
            continue
        params = as_params(arch, [(np.asarray(W, dtype=float), None if b is None else np.asarray(b, dtype=float))
                                  for W, b in layers], name="minima.params", func="survey_report")
        found = float(risk(arch, params, data.X, data.y, loss=loss)[0])
        if not abs(found - m["risk"]) <= RISK_RTOL * abs(m["risk"]) + 1e-12:
            raise CellscapeError(f"the data loaded from the survey's configuration ({data.name}) do not reproduce "
                                 f"minimum {m['index']}: its risk on them is {found:.17g}, the survey stored "
                                 f"{m['risk']:.17g} (did the data file change?)")
        points.append(params)
    return points


def _slices(page: _Page, arch: Architecture, data: Any, loss: Any, minima: list[dict[str, Any]],
            points: list[Params | None], shown: list[int], *, resolution: int, span: float, seed: int) -> None:
    from cellscape.plots.slices import plot_slice_1d, plot_slice_2d
    from cellscape.slices import slice_2d

    page.add('<section id="slices"><h2>Slices through the minima</h2>')
    missing = [m["index"] for m, p in zip(minima, points) if p is None]
    if missing:
        page.note(f"minima {missing} have no stored parameters (a survey JSON written before cellscape stored "
                  "them): run the survey again to slice through them")
    if len(shown) < len(minima) - len(missing):
        page.note(f"slices through the {len(shown)} lowest of {len(minima) - len(missing)} minima "
                  "(max_minima); the table lists them all")
    for i in shown:
        m = minima[i]
        plane = slice_2d(arch, points[i], data.X, data.y, loss=loss, resolution=resolution, seed=seed,
                         span=(-span, span, -span, span), marks=((f"minimum {m['index']}", points[i]),))
        caption = (f"The plane through minimum {m['index']} ({m['category']}, risk {_fmt(m['risk'])}) along two "
                   f"filter-normalised random directions (seed {seed}); {plane.n_cells} cells on the "
                   f"{resolution} x {resolution} grid, each its own colour, risk contours on top.")
        page.figure(f"plane-{m['index']}", "slices", f"Plane through minimum {m['index']}", caption,
                    plot_slice_2d(plane))
    if shown:
        first = shown[0]
        for i in shown[1:]:
            line, kinks = _segment(arch, [points[first], points[i]], data, loss)
            a, b = minima[first], minima[i]
            barrier = float(np.max(line.risk)) - max(a["risk"], b["risk"])
            caption = (f"The straight segment from minimum {a['index']} (risk {_fmt(a['risk'])}) to minimum "
                       f"{b['index']} (risk {_fmt(b['risk'])}): {line.n_cells} cells, {kinks}; the risk rises "
                       f"{_fmt(max(barrier, 0.0), '.3g')} above the higher end.")
            page.figure(f"segment-{a['index']}-{b['index']}", "slices",
                        f"Segment from minimum {a['index']} to minimum {b['index']}", caption,
                        plot_slice_1d(line, labels=[f"min {a['index']}", f"min {b['index']}"]))
    page.add("</section>")


def _segment(arch: Any, path: list[Any], data: Any, loss: Any) -> tuple[Any, str]:
    """The 1-D slice along ``path`` with exact kinks where they can be had, and a phrase saying which."""
    from cellscape.slices import slice_1d

    if not loss.is_exact:
        return slice_1d(arch, path, data.X, data.y, loss=loss, exact=False), "no exact kinks (an inexact loss)"
    try:
        line = slice_1d(arch, path, data.X, data.y, loss=loss, exact=True)
    except CellscapeError as err:
        return (slice_1d(arch, path, data.X, data.y, loss=loss, exact=False),
                f"cells from the grid only (no exact kinks: {err})")
    return line, f"{len(line.kinks)} exact kinks"


def _valleys(page: _Page, arch: Architecture, data: Any, loss: Any, config: Any, constructed: list[dict[str, Any]],
             minima: list[dict[str, Any]], points: list[Params | None], shown: list[int], *, seed: int) -> None:
    from cellscape.constructions import cell_minimum_set, construct, linear_region_minimum, valley_path
    from cellscape.plots.slices import plot_slice_1d

    page.add('<section id="valleys"><h2>Valley paths and witnesses</h2>')
    hidden = list(config.hidden)
    for entry in constructed:
        name = entry["name"]
        built = construct(name, data.X, data.y, hidden=hidden, activation=config.activation, loss=config.loss)
        if built.witness_params is None:
            page.note(f"the {name} construction has no witness of lower risk on these data")
        else:
            line, kinks = _segment(built.arch, [built.params, built.witness_params], data, loss)
            caption = (f"From the constructed {name} minimum ({built.certificate.status.value}, risk "
                       f"{_fmt(built.risk)}) to its witness (risk {_fmt(built.witness_risk)}), {kinks}: the witness "
                       f"is why the minimum is spurious. {built.message}.")
            page.figure(f"witness-{name}", "valleys", f"The {name} minimum and its witness", caption,
                        plot_slice_1d(line, labels=[name, "witness"]))
        if name == "linear-region":
            lr = linear_region_minimum(data.X, data.y, hidden=hidden, activation=config.activation,
                                       loss=config.loss, witness=False)
            alphas = float(lr.alpha) * np.geomspace(0.125, 1.0, VALLEY_POINTS)
            drawn, spread, rise = _valley_plot(lr.arch, valley_path(lr, alphas), data, loss,
                                               ends=("alpha/8", "alpha"))
            caption = (f"The linear-region construction at the scales alpha/8 to alpha = {alphas[-1]:.3g} "
                       f"({VALLEY_POINTS} points): every point computes the best affine fit, so the risk stays "
                       f"{_fmt(lr.risk)} (it varies by {spread:.1e}): a valley of spurious minima (He, Wang and Tao "
                       f"2020). The valley is curved: the straight segment between its ends (dashed) rises "
                       f"{rise:.3g} above it.")
            page.figure("valley-linear-region", "valleys", "The valley of the linear-region minimum", caption,
                        drawn)
    one_hidden = arch.n_layers == 2 and arch.d_out == 1 and all(arch.bias) and loss.name is LossName.SQUARED
    for i in shown:
        m = minima[i]
        if not m.get("valley_dimension") or m.get("on_boundary") or not one_hidden:
            continue
        try:
            minimum_set = cell_minimum_set(arch, points[i], data.X, data.y, loss=loss)
            other = minimum_set.sample(1, seed=seed)
        except CellscapeError as err:
            page.note(f"no valley path through minimum {m['index']}: {err}")
            continue
        if not other:
            page.note(f"no valley path through minimum {m['index']}: no other point of its cell's minimising set "
                      "was found near it")
            continue
        path = minimum_set.path(points[i], other[0], n_points=VALLEY_POINTS)
        drawn, spread, rise = _valley_plot(arch, path, data, loss, ends=(f"min {m['index']}", "other"))
        caption = (f"A path inside the cell of minimum {m['index']} through its minimising set (straight in the "
                   f"cell's coordinates z = v (w, b), {VALLEY_POINTS} points): the risk stays {_fmt(m['risk'])} "
                   f"(it varies by {spread:.1e}); valley dimension {m['valley_dimension']}. The straight segment "
                   f"between the ends (dashed) rises {rise:.3g} above it.")
        page.figure(f"valley-{m['index']}", "valleys", f"A valley through minimum {m['index']}", caption, drawn)
    if not any(f.section == "valleys" for f in page.figures):
        page.note("no construction applies to this survey's data and network, and no shown minimum has a valley "
                  "path to draw")
    page.add("</section>")


ATLAS_ROWS = 12
"""How many of the atlas's lowest genuine minima the report lists."""

ATLAS_MATCH_RTOL = 1e-6
"""A survey minimum is the atlas minimum of equal risk within this (relative, at least absolute)."""

VALLEY_POINTS = 41
"""Points at which a valley's risk is drawn (each one on the valley; nothing is interpolated between them)."""


@dataclasses.dataclass(frozen=True)
class _Drawn:
    ax: Any


def _valley_plot(arch: Architecture, path: Sequence[Any], data: Any, loss: Any, *,
                 ends: tuple[str, str]) -> tuple[_Drawn, float, float]:
    """The risk at each point of a valley path against the fraction of the path, with the straight segment
    between its ends (dashed) for contrast; returns the drawing, the spread of the risk along the valley and the
    segment's largest rise above the valley's highest risk."""
    from cellscape.plots._axes import FONT_SIZE, axes
    from cellscape.slices import slice_1d

    batch = [as_params(arch, p, name="path", func="survey_report") for p in path]
    stacked = Params(tuple(np.concatenate([np.asarray(b.weights[l]) for b in batch]) for l in range(arch.n_layers)),
                     tuple(None if batch[0].biases[l] is None else np.concatenate([np.asarray(b.biases[l])
                                                                                   for b in batch])
                           for l in range(arch.n_layers)))
    along = np.asarray(risk(arch, stacked, data.X, data.y, loss=loss))
    straight = slice_1d(arch, [path[0], path[-1]], data.X, data.y, loss=loss, exact=False, resolution=201)
    ax = axes()
    ax.plot(straight.t / straight.t[-1], straight.risk, ls="--", lw=1, color="0.55",
            label="straight segment between the ends")
    ax.plot(np.linspace(0.0, 1.0, len(path)), along, marker=".", ms=4, lw=1.6, color="C0", label="along the valley")
    ax.set_xticks([0.0, 0.5, 1.0], [ends[0], "", ends[1]], fontsize=FONT_SIZE)
    ax.set_xlabel("position along the path", fontsize=FONT_SIZE)
    ax.set_ylabel(f"risk ({loss.spec})", fontsize=FONT_SIZE)
    ax.legend(fontsize=FONT_SIZE - 1, loc="best")
    spread = float(np.max(along) - np.min(along))
    return _Drawn(ax), spread, max(0.0, float(np.max(straight.risk) - np.max(along)))


def _atlas(page: _Page, arch: Architecture, data: Any, loss: Any, config: Any, minima: list[dict[str, Any]], *,
           atlas_cells: int, seed: int) -> None:
    from cellscape.atlas import atlas

    page.add('<section id="atlas"><h2>Atlas</h2>')
    if not (arch.n_layers == 2 and arch.d_out == 1 and all(arch.bias) and loss.name is LossName.SQUARED):
        page.note("the atlas maps one hidden layer with biases, one output and the squared loss; this survey's "
                  f"network is {arch.describe()} with the {loss.spec} loss")
        page.add("</section>")
        return
    try:
        found = atlas(data.X, data.y[:, 0], width=arch.widths[1], activation=config.activation, outputs="trained",
                      output_bias=True, max_cells=atlas_cells, sample_cells=atlas_cells, seed=seed)
    except CellscapeError as err:
        page.note(f"the atlas does not apply: {err}")
        page.add("</section>")
        return
    how = (f"sampled: {found.n_examined} of about {found.n_cells} cells (Gaussian weights), so minima may be missing"
           if found.sampled else f"complete: all {found.n_cells} cells")
    rows = [("cells", found.n_cells, f"{found.n_cells} ({how})"),
            ("n_genuine", found.n_genuine, str(found.n_genuine)),
            ("n_spurious", found.n_spurious, str(found.n_spurious)),
            ("lower_bound", found.lower_bound, _fmt(found.lower_bound)),
            ("global_minimum", found.global_minimum if math.isfinite(found.global_minimum) else None,
             _fmt(found.global_minimum)),
            ("global_certified", found.global_certified, _fmt(found.global_certified))]
    labels = {"cells": "cells (up to symmetry)", "n_genuine": "cells with a genuine minimum",
              "n_spurious": "genuine minima above the lowest (listed)", "lower_bound": "lowest cell optimum",
              "global_minimum": "lowest genuine minimum", "global_certified": "lowest certified global"}
    page.add("<p>Every differentiable local minimum of a one-hidden-layer network is a genuine cell optimum (Liu "
             f"2020): the atlas of width {arch.widths[1]}, {config.activation}, trained output weights and an "
             "output bias, on the survey's data.</p>")
    page.add(_table("atlas-summary", ["", "value"],
                    [f'<tr><th class="text">{labels[k]}</th>{_cell(k, v, t)}</tr>' for k, v, t in rows],
                    left=[""]))
    def matches(risk_value: float) -> list[int]:
        return [j for j, am in enumerate(found.minima)
                if abs(risk_value - am.risk) <= ATLAS_MATCH_RTOL * max(1.0, abs(am.risk))]

    listed = len(found.minima)
    complete_list = not found.sampled and listed == found.n_genuine
    body = []
    for m in minima:
        at = matches(m["risk"])
        if m.get("on_boundary"):
            text = "on a boundary: not a cell optimum (the atlas lists differentiable minima)"
        elif at:
            text = f"genuine minimum #{at[0]} of the atlas" + (" (spurious)" if found.minima[at[0]].spurious else
                                                               " (its lowest)")
        else:
            text = ("not among the atlas's genuine minima: its certificate deserves a second look" if complete_list
                    else f"not among the {listed} lowest genuine minima the atlas listed")
        body.append(f'<tr data-minimum="{m["index"]}">{_cell("index", m["index"], str(m["index"]))}'
                    f'{_cell("risk", m["risk"], _fmt(m["risk"]))}{_cell("atlas", at, text, left=True)}</tr>')
    if body:
        page.add(_table("atlas-survey", ["survey minimum", "risk", "in the atlas"], body, left=["in the atlas"]))
    body = []
    for am in found.minima[:ATLAS_ROWS]:
        reached = [m["index"] for m in minima if not m.get("on_boundary")
                   and abs(m["risk"] - am.risk) <= ATLAS_MATCH_RTOL * max(1.0, abs(am.risk))]
        body.append(f"<tr>{_cell('risk', am.risk, _fmt(am.risk))}{_cell('spurious', am.spurious, _fmt(am.spurious))}"
                    f"{_cell('reached', reached, ', '.join(map(str, reached)) or 'no', left=True)}</tr>")
    if body:
        page.add(f"<p>The {min(listed, ATLAS_ROWS)} lowest genuine minima of the atlas:</p>")
        page.add(_table("atlas-minima", ["risk", "spurious", "survey minima at this risk"], body,
                        left=["survey minima at this risk"]))
        if found.n_genuine > ATLAS_ROWS:
            page.add(f"<p>... of {found.n_genuine} cells with a genuine minimum{' found' if found.sampled else ''}."
                     "</p>")
    page.add("</section>")

