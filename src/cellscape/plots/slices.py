"""Plots of landscape slices (:mod:`cellscape.slices`): the risk with its true cells.

:func:`plot_slice_1d` draws the risk along a line or path, coloured by cell, with the kinks marked (exact ones
from the rational restriction) and the path's points labelled. :func:`plot_slice_2d` fills each cell of a plane
with its own colour, draws the boundaries (the first layer's exact lines where there are few, and every cell
change on the grid), puts risk contours on top and marks the given points.

Examples:
    >>> import numpy as np
    >>> from cellscape import init_params, mlp
    >>> from cellscape.slices import slice_2d
    >>> arch = mlp(2, [3], 1)
    >>> X = np.array([[0.0, 1.0], [1.0, 0.0], [1.0, 1.0]]); y = np.array([[0.0], [0.0], [1.0]])
    >>> drawn = plot_slice_2d(slice_2d(arch, init_params(arch, seed=0), X, y, resolution=21))
    >>> drawn.cells.get_array().shape
    (21, 21)
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from cellscape._validation import check_int, invalid
from cellscape.plots._axes import FONT_SIZE, SavedFigure, axes
from cellscape.slices import Slice1D, Slice2D

__all__ = ["Slice1DPlot", "plot_slice_1d", "Slice2DPlot", "plot_slice_2d"]

CELL_COLORMAP = "tab20"
"""Qualitative colours for cells, reused in turn (cell ``i`` takes colour ``i mod 20``)."""


@dataclasses.dataclass(frozen=True)
class Slice1DPlot(SavedFigure):
    """What :func:`plot_slice_1d` drew: the axes, the risk curve (a ``LineCollection``, one segment per grid
    step, coloured by cell), the kink markers (``None`` without exact kinks) and the path's point markers."""

    ax: Any
    curve: Any
    kinks: Any
    points: Any



def plot_slice_1d(line: Slice1D, *, ax: Any = None, labels: Any = None, log: bool = False,
                  title: str | None = None) -> Slice1DPlot:
    """Draw the risk along a slice, coloured by cell, with the kinks and the path's points.

    Args:
        line: a :class:`~cellscape.slices.Slice1D`.
        ax: the axes to draw on (default: a new figure).
        labels: names of the path's points (default ``theta_0, theta_1, ...``; not used along a direction).
        log: a logarithmic risk axis.
        title: the title (default none).

    Returns:
        A :class:`Slice1DPlot`.

    Raises:
        InvalidInputError: for labels that do not match the path's points.
    """
    from matplotlib.collections import LineCollection

    ax = axes(ax)
    risk = line.risk
    segments = np.stack([np.column_stack([line.t[:-1], risk[:-1]]), np.column_stack([line.t[1:], risk[1:]])],
                        axis=1)
    colours = _cell_colours(line.cells[:-1])
    curve = LineCollection(segments, colors=colours, linewidths=1.6)
    ax.add_collection(curve)
    ax.set_xlim(line.t[0], line.t[-1])
    span = np.ptp(risk) if np.ptp(risk) > 0 else max(abs(float(risk[0])), 1.0)
    ax.set_ylim(float(risk.min()) - 0.05 * span, float(risk.max()) + 0.12 * span)
    kinks = None
    if line.kinks:
        kt = np.array([float(k.t) for k in line.kinks])
        kinks = ax.plot(kt, np.interp(kt, line.t, risk), linestyle="none", marker="|", markersize=7, color="0.2",
                        label=f"kinks ({len(kt)}, exact)")[0]
    points = None
    if line.along_path:
        n_points = len(line.breaks)
        names = [f"$\\theta_{i}$" for i in range(n_points)] if labels is None else list(labels)
        if len(names) != n_points:
            raise invalid("labels", "plot_slice_1d", f"{n_points} names (one per point of the path)", labels)
        at = np.interp(line.breaks, line.t, risk)
        points = ax.plot(line.breaks, at, linestyle="none", marker="o", markersize=5, color="black")[0]
        for x, r, name in zip(line.breaks, at, names):
            ax.annotate(name, (x, r), textcoords="offset points", xytext=(0, 6), ha="center", fontsize=FONT_SIZE)
    if log:
        ax.set_yscale("log")
    ax.set_xlabel("distance along the path" if line.along_path else "t (along the direction)", fontsize=FONT_SIZE)
    ax.set_ylabel(f"risk ({line.loss})", fontsize=FONT_SIZE)
    if kinks is not None:
        ax.legend(fontsize=FONT_SIZE - 1, frameon=False)
    if title:
        ax.set_title(title, fontsize=FONT_SIZE + 1)
    return Slice1DPlot(ax=ax, curve=curve, kinks=kinks, points=points)


@dataclasses.dataclass(frozen=True)
class Slice2DPlot(SavedFigure):
    """What :func:`plot_slice_2d` drew: the axes, the cell image (``AxesImage`` of the cell labels), the image of
    the grid's cell changes (``None`` when the exact lines are every boundary), the exact first-layer lines (a
    ``LineCollection`` or ``None``), the risk contours (``QuadContourSet``) and the marks."""

    ax: Any
    cells: Any
    boundaries: Any
    lines: Any
    contours: Any
    marks: tuple[Any, ...]



def plot_slice_2d(plane: Slice2D, *, ax: Any = None, levels: int = 12, log: bool = True, max_lines: int = 200,
                  title: str | None = None) -> Slice2DPlot:
    """Draw a plane slice: cells in colour, their boundaries, risk contours and the marked points.

    Args:
        plane: a :class:`~cellscape.slices.Slice2D`.
        ax: the axes to draw on (default: a new figure).
        levels: the number of contour levels.
        log: contour levels evenly spaced in log risk (when the risk is positive), else linear.
        max_lines: draw the first layer's exact boundary lines when there are at most this many (more would
            hide the picture). Cell changes between grid points are drawn too, unless those lines are every
            boundary (one hidden layer, a smooth loss).
        title: the title (default none).

    Returns:
        A :class:`Slice2DPlot`.

    Raises:
        InvalidInputError: for bad ``levels`` or ``max_lines``.
    """
    from matplotlib.collections import LineCollection
    from matplotlib.colors import ListedColormap

    levels = check_int(levels, name="levels", func="plot_slice_2d", minimum=1)
    max_lines = check_int(max_lines, name="max_lines", func="plot_slice_2d", minimum=0)
    ax = axes(ax)
    extent = (plane.alpha[0], plane.alpha[-1], plane.beta[0], plane.beta[-1])
    n = plane.n_cells
    cells = ax.imshow(plane.cells, origin="lower", extent=extent, aspect="auto", interpolation="nearest", alpha=0.55,
                      cmap=ListedColormap(_cell_colours(np.arange(n))), vmin=-0.5, vmax=n - 0.5)
    exact = 0 < len(plane.lines) <= max_lines
    boundaries = None
    if not (exact and plane.lines_are_all_boundaries):  # boundaries the exact lines do not draw: grid cell changes
        edge = np.zeros((*plane.cells.shape, 4))
        edge[plane.boundary_mask(), 3] = 0.8
        boundaries = ax.imshow(edge, origin="lower", extent=extent, aspect="auto", interpolation="nearest")
    lines = None
    if exact:
        segs = [_clip_line(c, ca, cb, extent) for c, ca, cb in plane.lines]
        segs = [s for s in segs if s is not None]
        if segs:
            lines = LineCollection(segs, colors="black", linewidths=0.6)
            ax.add_collection(lines)
    risk = plane.risk
    if log and risk.min() > 0 and risk.max() > risk.min():
        values = np.geomspace(risk.min(), risk.max(), levels + 2)[1:-1]
    else:
        values = np.linspace(risk.min(), risk.max(), levels + 2)[1:-1]
    contours = None
    if risk.max() > risk.min():
        contours = ax.contour(plane.alpha, plane.beta, risk, levels=np.unique(values), colors="0.15",
                              linewidths=0.7)
        ax.clabel(contours, fontsize=FONT_SIZE - 2, fmt="%.3g")
    drawn = []
    for mark in plane.marks:
        drawn.append(ax.plot(mark.alpha, mark.beta, marker="*", markersize=11, color="white",
                             markeredgecolor="black", linestyle="none")[0])
        ax.annotate(mark.label, (mark.alpha, mark.beta), textcoords="offset points", xytext=(6, 6),
                    fontsize=FONT_SIZE)
    ax.set_xlim(extent[0], extent[1])
    ax.set_ylim(extent[2], extent[3])
    names = {"random": ("$d_1$ (filter-normalised)", "$d_2$ (filter-normalised)"),
             "directions": ("$d_1$", "$d_2$"), "points": ("distance along $d_1$", "distance along $d_2$")}
    xlabel, ylabel = names.get(plane.basis, ("alpha", "beta"))
    ax.set_xlabel(xlabel, fontsize=FONT_SIZE)
    ax.set_ylabel(ylabel, fontsize=FONT_SIZE)
    ax.set_title(title or f"{plane.n_cells} cells, risk ({plane.loss})", fontsize=FONT_SIZE + 1)
    return Slice2DPlot(ax=ax, cells=cells, boundaries=boundaries, lines=lines, contours=contours,
                       marks=tuple(drawn))


def _cell_colours(labels: np.ndarray) -> np.ndarray:
    """RGBA colours ``(n, 4)`` of cell labels, ``tab20`` reused in turn."""
    import matplotlib

    cmap = matplotlib.colormaps[CELL_COLORMAP]
    return np.asarray(cmap((np.asarray(labels) % cmap.N) / cmap.N + 0.5 / cmap.N))


def _clip_line(c: float, ca: float, cb: float, extent: tuple[float, float, float, float]):
    """The part of ``c + ca a + cb b = 0`` inside the box ``extent``, as two end points, or ``None``."""
    a0, a1, b0, b1 = extent
    found = []
    if cb != 0:
        for a in (a0, a1):
            b = -(c + ca * a) / cb
            if b0 <= b <= b1:
                found.append((a, b))
    if ca != 0:
        for b in (b0, b1):
            a = -(c + cb * b) / ca
            if a0 <= a <= a1:
                found.append((a, b))
    if len(found) < 2:
        return None
    found.sort()
    return [found[0], found[-1]]
