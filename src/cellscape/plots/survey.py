"""Plots of a survey (:mod:`cellscape.survey`): where the runs ended.

:func:`plot_categories` draws the share of runs in each endpoint category with its 95% Wilson interval;
:func:`plot_endpoint_risks` draws every run's final risk, sorted, coloured by category, with the risk levels of the
distinct certified minima. Both read the survey's JSON form (:meth:`cellscape.survey.SurveyResult.to_dict`), so
a saved survey can be drawn again without training.

Examples:
    >>> from cellscape.survey import SurveyConfig, run_survey
    >>> survey = run_survey(SurveyConfig(runs=4, steps=50)).to_dict()
    >>> drawn = plot_categories(survey)
    >>> len(drawn.bars), round(float(sum(b.get_height() for b in drawn.bars[:5])), 12)  # five categories add up
    (6, 1.0)
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

from cellscape.plots._axes import FONT_SIZE, SavedFigure, axes
from cellscape.survey import as_survey_dict

__all__ = ["CATEGORY_COLOURS", "CategoriesPlot", "plot_categories", "EndpointRisksPlot", "plot_endpoint_risks"]

CATEGORY_COLOURS = {"global": "#1b9e77", "spurious": "#d95f02", "saddle": "#7570b3", "not_converged": "#999999",
                    "inconclusive": "#e7298a", "on_boundary": "#66a61e"}
"""One colour per endpoint category (and for the minima on a boundary), the same in every survey figure."""

_LABELS = {"global": "global", "spurious": "spurious", "saddle": "saddle", "not_converged": "not converged",
           "inconclusive": "inconclusive", "on_boundary": "min. on boundary"}


@dataclasses.dataclass(frozen=True)
class CategoriesPlot(SavedFigure):
    """What :func:`plot_categories` drew: the axes, the bars (one per category, then the minima on a boundary)
    and the error bars of the Wilson intervals."""

    ax: Any
    bars: Any
    intervals: Any


def plot_categories(survey: Any, *, ax: Any = None, title: str | None = None) -> CategoriesPlot:
    """Draw the share of runs per endpoint category, each with its 95% Wilson interval.

    Args:
        survey: a :class:`~cellscape.survey.SurveyResult` or its JSON form.
        ax: the axes to draw on (default: a new figure).
        title: the title (default: the number of runs).

    Returns:
        A :class:`CategoriesPlot`.

    Raises:
        InvalidInputError: for anything but a survey.
    """
    survey = as_survey_dict(survey, func="plot_categories")
    ax = axes(ax)
    keys = [k for k in CATEGORY_COLOURS if k in survey["rates"]]
    rates = [survey["rates"][k] for k in keys]
    share = np.array([r["estimate"] for r in rates])
    low = share - np.array([r["low"] for r in rates])
    high = np.array([r["high"] for r in rates]) - share
    x = np.arange(len(keys))
    bars = ax.bar(x, share, color=[CATEGORY_COLOURS[k] for k in keys], width=0.7)
    intervals = ax.errorbar(x, share, yerr=np.vstack([low, high]), fmt="none", ecolor="black", capsize=3, lw=1)
    for xi, r in zip(x, rates):
        ax.annotate(str(r["count"]), (xi, r["high"]), textcoords="offset points", xytext=(0, 2), ha="center",
                    fontsize=FONT_SIZE - 1)
    ax.set_xticks(x, [_LABELS[k] for k in keys], rotation=30, ha="right", fontsize=FONT_SIZE)
    ax.set_ylim(0, 1.08)
    ax.set_ylabel("share of runs (95% Wilson interval)", fontsize=FONT_SIZE)
    ax.set_title(title if title is not None else f"{len(survey['runs'])} runs", fontsize=FONT_SIZE + 1)
    return CategoriesPlot(ax=ax, bars=bars, intervals=intervals)


@dataclasses.dataclass(frozen=True)
class EndpointRisksPlot(SavedFigure):
    """What :func:`plot_endpoint_risks` drew: the axes, one scatter per category present (category to
    ``PathCollection``) and the horizontal lines at the distinct minima's risks."""

    ax: Any
    points: dict[str, Any]
    levels: tuple[Any, ...]


def plot_endpoint_risks(survey: Any, *, ax: Any = None, log: bool | None = None,
                        title: str | None = None) -> EndpointRisksPlot:
    """Draw every run's final risk, runs sorted by risk, coloured by category, with a dotted line at the risk of
    each distinct certified minimum (and a dashed one at the best affine risk when the data know it).

    Args:
        survey: a :class:`~cellscape.survey.SurveyResult` or its JSON form.
        ax: the axes to draw on (default: a new figure).
        log: a logarithmic risk axis (default: when every finite risk is positive and they span more than a
            factor of 10).
        title: the title (default none).

    Returns:
        An :class:`EndpointRisksPlot`.

    Raises:
        InvalidInputError: for anything but a survey.
    """
    survey = as_survey_dict(survey, func="plot_endpoint_risks")
    ax = axes(ax)
    runs = sorted(survey["runs"], key=lambda r: (_finite(r["risk"]), r["index"]))
    risks = np.array([_finite(r["risk"]) for r in runs])
    finite = risks[np.isfinite(risks)]
    if log is None:
        log = finite.size > 0 and finite.min() > 0 and finite.max() > 10 * finite.min()
    points = {}
    for key in CATEGORY_COLOURS:
        at = [i for i, r in enumerate(runs) if r["category"] == key and np.isfinite(risks[i])]
        if at:
            points[key] = ax.scatter(at, risks[at], s=12, color=CATEGORY_COLOURS[key], label=_LABELS[key],
                                     zorder=3)
    levels = tuple(ax.axhline(m["risk"], color=CATEGORY_COLOURS.get(m["category"], "black"), ls=":", lw=0.8)
                   for m in survey["minima"])
    affine = survey.get("dataset", {}).get("info", {}).get("best_affine_risk")
    if affine is not None:
        ax.axhline(float(_fraction(affine)), color="black", ls="--", lw=0.8, label="best affine fit")
    if log:
        ax.set_yscale("log")
    ax.set_xlabel("run (sorted by final risk)", fontsize=FONT_SIZE)
    ax.set_ylabel("final risk", fontsize=FONT_SIZE)
    ax.legend(fontsize=FONT_SIZE - 1, loc="best")
    if title:
        ax.set_title(title, fontsize=FONT_SIZE + 1)
    return EndpointRisksPlot(ax=ax, points=points, levels=levels)


def _finite(value: Any) -> float:
    """A JSON risk as a float (non-finite risks are written as strings such as ``"nan"``)."""
    out = float(value)
    return out if math.isfinite(out) else math.inf


def _fraction(value: Any) -> float:
    from fractions import Fraction

    return float(Fraction(str(value)))
