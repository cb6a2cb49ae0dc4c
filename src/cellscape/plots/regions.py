"""Plots of a network's linear regions in input space (:func:`cellscape.input_regions.linear_regions`).

Examples:
    >>> from cellscape import mlp
    >>> from cellscape.input_regions import linear_regions
    >>> regions = linear_regions(mlp(2, [3], 1), [([[1, 0], [0, 1], [1, 1]], [0, 0, -1]), ([[1, 1, 1]], [0])])
    >>> drawn = plot_regions(regions)
    >>> len(drawn.regions.get_paths()) == regions.n_regions == 7
    True
"""

from __future__ import annotations

import dataclasses
import enum
from typing import Any

import numpy as np

from cellscape._validation import check_enum, check_int, invalid
from cellscape.input_regions import LinearRegions
from cellscape.plots._axes import FONT_SIZE, SavedFigure, axes

__all__ = ["RegionColoring", "RegionsPlot", "plot_regions"]

class RegionColoring(str, enum.Enum):
    """How :func:`plot_regions` fills the regions.

    ``region``: a qualitative colour per region (the 20 colours of ``tab20``, in turn). ``output``: the chosen
    output's value at the region's interior point on a colormap, with a colour bar (2-D input); in 1-D every piece
    of the graph then takes one colour.
    """

    REGION = "region"
    OUTPUT = "output"


@dataclasses.dataclass(frozen=True)
class RegionsPlot(SavedFigure):
    """What :func:`plot_regions` drew.

    Attributes:
        ax: the matplotlib axes.
        regions: one artist entry per region, in the order of ``LinearRegions.regions``: a ``PolyCollection`` of
            the filled polygons with their boundaries (2-D input) or a ``LineCollection`` of the graph's pieces
            (1-D input).
        kinks: 1-D input: the filled markers where the affine map changes (a kink of the graph); ``None`` in 2-D.
        pattern_changes: 1-D input: the hollow markers where the activation pattern changes but the affine map
            does not; ``None`` when there is none, and in 2-D.
        colorbar: the colour bar of ``color="output"`` in 2-D, else ``None``.
    """

    ax: Any
    regions: Any
    kinks: Any
    pattern_changes: Any
    colorbar: Any



def plot_regions(
    regions: LinearRegions,
    *,
    ax: Any = None,
    color: RegionColoring | str = RegionColoring.REGION,
    output: int = 0,
    cmap: str = "viridis",
    edgecolor: str = "black",
    linewidth: float = 0.5,
    title: str | None = None,
) -> RegionsPlot:
    """Draw the linear regions of a network with 1-D or 2-D input.

    2-D input: every region filled as a polygon, its boundary drawn, on the domain box with equal axis scales.
    1-D input: the graph of output ``output`` drawn piece by piece (one segment per region), with filled markers at
    the kinks (where the affine map changes) and hollow ones where only the activation pattern changes.

    Args:
        regions: the result of :func:`~cellscape.input_regions.linear_regions`.
        ax: the axes to draw on; a new figure of paper size when omitted.
        color: a :class:`RegionColoring`: ``"region"`` (a colour per region) or ``"output"`` (the output's value
            at each region's interior point, with a colour bar).
        output: which output component to colour by (2-D) or to draw (1-D).
        cmap: the colormap of ``color="output"``.
        edgecolor: the colour of the region boundaries (2-D).
        linewidth: the width of the boundaries (2-D) or of the graph (1-D, doubled).
        title: the axes title; default ``"N linear regions, M affine maps"``.

    Returns:
        A :class:`RegionsPlot` of the artists drawn.

    Raises:
        InvalidInputError: for a result that is not a ``LinearRegions``, or a bad ``color`` or ``output``.
    """
    func = "plot_regions"
    if not isinstance(regions, LinearRegions):
        raise invalid("regions", func, "a LinearRegions (see cellscape.input_regions.linear_regions)",
                      type(regions).__name__, raw=True)
    coloring = check_enum(color, RegionColoring, name="color", func=func)
    output = check_int(output, name="output", func=func, minimum=0)
    if output >= regions.arch.d_out:
        raise invalid("output", func, f"an output index below d_out = {regions.arch.d_out}", output)
    import matplotlib

    ax = axes(ax)
    if title is None:
        title = f"{regions.n_regions} linear regions, {regions.n_affine_maps} affine maps"
    ax.set_title(title, fontsize=FONT_SIZE + 1)
    ax.tick_params(labelsize=FONT_SIZE)
    qualitative = matplotlib.colormaps["tab20"]
    domain = regions.domain_float
    name = "f" if regions.arch.d_out == 1 else f"f_{{{output + 1}}}"
    if regions.d_in == 2:
        from matplotlib.collections import PolyCollection

        polygons = [r.vertices_float for r in regions.regions]
        colorbar = None
        if coloring is RegionColoring.OUTPUT:
            values = np.array([float(r.evaluate_exact(r.interior_point)[output]) for r in regions.regions])
            collection = PolyCollection(polygons, array=values, cmap=cmap, edgecolors=edgecolor,
                                        linewidths=linewidth)
        else:
            collection = PolyCollection(polygons, facecolors=[qualitative(i % 20) for i in range(len(polygons))],
                                        edgecolors=edgecolor, linewidths=linewidth)
        ax.add_collection(collection)
        if coloring is RegionColoring.OUTPUT:
            colorbar = ax.figure.colorbar(collection, ax=ax)
            colorbar.set_label(f"${name}$ at the region's centre", fontsize=FONT_SIZE)
            colorbar.ax.tick_params(labelsize=FONT_SIZE)
        ax.set_xlim(*domain[0])
        ax.set_ylim(*domain[1])
        ax.set_aspect("equal")
        ax.set_xlabel("$x_1$", fontsize=FONT_SIZE)
        ax.set_ylabel("$x_2$", fontsize=FONT_SIZE)
        return RegionsPlot(ax, collection, None, None, colorbar)
    from matplotlib.collections import LineCollection

    segments = []
    for r in regions.regions:
        xs = r.vertices_float
        segments.append(np.column_stack([xs[:, 0], r.evaluate(xs)[:, output]]))
    colors = (["C0"] * len(segments) if coloring is RegionColoring.OUTPUT
              else [qualitative(2 * (i % 10)) for i in range(len(segments))])  # the darker half of tab20
    collection = LineCollection(segments, colors=colors, linewidths=2 * linewidth + 1)
    ax.add_collection(collection)
    ordered = sorted(regions.regions, key=lambda r: r.interval[0])
    kinks, flat = [], []
    for left, right in zip(ordered, ordered[1:]):
        x = right.interval[0]
        point = (float(x), float(right.evaluate_exact((x,))[output]))
        (kinks if (left.A, left.c) != (right.A, right.c) else flat).append(point)
    kink_artist = ax.scatter(*np.array(kinks).reshape(-1, 2).T, s=18, color="black", zorder=3, label="kink")
    flat_artist = None
    if flat:
        flat_artist = ax.scatter(*np.array(flat).T, s=18, facecolors="white", edgecolors="black", zorder=3,
                                 label="pattern change, same map")
        ax.legend(fontsize=FONT_SIZE - 1, frameon=False)
    ys = np.concatenate([s[:, 1] for s in segments])
    spread = float(np.ptp(ys))
    pad = 0.05 * spread if spread > 0 else max(0.5, 0.05 * float(np.abs(ys).max()))  # a constant graph
    ax.set_xlim(*domain[0])
    ax.set_ylim(float(ys.min()) - pad, float(ys.max()) + pad)
    ax.set_xlabel("$x$", fontsize=FONT_SIZE)
    ax.set_ylabel(f"${name}(x)$", fontsize=FONT_SIZE)
    return RegionsPlot(ax, collection, kink_artist, flat_artist, None)
