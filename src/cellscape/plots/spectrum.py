"""Plot a :class:`~cellscape.spectrum.HessianSpectrum`: the eigenvalues of every piece as a strip.

Examples:
    >>> from cellscape import mlp
    >>> from cellscape.spectrum import hessian_spectrum
    >>> arch = mlp(1, [1], 1)
    >>> theta = [([[1.0]], [0.0]), ([[1.0]], [0.0])]
    >>> spec = hessian_spectrum(arch, theta, [[0.0], [1.0], [2.0]], [[0.0], [1.0], [2.0]])  # sample 0 on the kink
    >>> drawn = plot_spectrum(spec)
    >>> len(drawn.strips), drawn.ax.get_xscale(), drawn.title.startswith("one-sided")
    (2, 'symlog', True)
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from cellscape._validation import check_float, check_int, invalid
from cellscape.plots._axes import FONT_SIZE, SavedFigure, axes
from cellscape.spectrum import HessianSpectrum

__all__ = ["SpectrumPlot", "plot_spectrum"]


@dataclasses.dataclass(frozen=True, eq=False)
class SpectrumPlot(SavedFigure):
    """What :func:`plot_spectrum` drew.

    Attributes:
        ax: the axes.
        strips: one scatter (``PathCollection``) per piece drawn, bottom to top in the order of
            ``HessianSpectrum.pieces``.
        zero_line: the vertical line at eigenvalue 0.
        legend: the legend (two-sided / one-sided / no cell next to the point, as present).
        title: the title text.
        linthresh: the linear range ``(-linthresh, linthresh)`` of the symlog x-axis.
    """

    ax: Any
    strips: tuple[Any, ...]
    zero_line: Any
    legend: Any
    title: str
    linthresh: float



def _short(label: str, limit: int = 36) -> str:
    return label if len(label) <= limit else label[: limit - 3] + "..."


def plot_spectrum(
    spectrum: HessianSpectrum,
    *,
    ax: Any = None,
    linthresh: float | None = None,
    max_rows: int = 32,
    marker_size: float = 60.0,
) -> SpectrumPlot:
    """Draw the eigenvalues of each piece of ``spectrum`` as a row of ticks on a symlog x-axis.

    Inside a cell there is one row, the cell's (two-sided) Hessian. At a kink there is one row per adjacent piece,
    labelled with its sign choice and drawn in the one-sided colour; pieces without a cell next to the point are
    drawn faint. The title says which case it is, how many ties and pieces, and whether they were sampled.

    Args:
        spectrum: the result of :func:`cellscape.spectrum.hessian_spectrum`.
        ax: matplotlib axes to draw on (a new figure's when ``None``).
        linthresh: half-width of the symlog axis's linear range; by default ``1e-3`` times the largest
            absolute eigenvalue (``1`` when all are 0).
        max_rows: the most pieces drawn (the first ones; the title says when some are left out).
        marker_size: the size of the tick markers (points squared).

    Returns:
        The :class:`SpectrumPlot` of what was drawn.

    Raises:
        InvalidInputError: for a ``spectrum`` that is not a :class:`~cellscape.spectrum.HessianSpectrum` or bad
            options.
    """
    func = "plot_spectrum"
    if not isinstance(spectrum, HessianSpectrum):
        raise invalid("spectrum", func, "a HessianSpectrum (from cellscape.spectrum.hessian_spectrum)",
                      type(spectrum).__name__, raw=True)
    max_rows = check_int(max_rows, name="max_rows", func=func, minimum=1)
    marker_size = check_float(marker_size, name="marker_size", func=func, minimum=0.0, strict_minimum=True)
    pieces = spectrum.pieces[:max_rows]
    values = np.concatenate([p.eigenvalues for p in pieces]) if pieces else np.zeros(0)
    if linthresh is None:
        scale = float(np.max(np.abs(values))) if values.size else 0.0
        linthresh = 1e-3 * scale if scale > 0 else 1.0
    else:
        linthresh = check_float(linthresh, name="linthresh", func=func, minimum=0.0, strict_minimum=True)

    ax = axes(ax)
    strips, handles = [], {}
    for row, piece in enumerate(pieces):
        if not piece.one_sided:
            name, color, alpha = "two-sided (the cell's Hessian)", "C0", 1.0
        elif piece.has_interior:
            name, color, alpha = "one-sided (an adjacent piece)", "C1", 1.0
        else:
            name, color, alpha = "one-sided, no cell next to the point", "C1", 0.3
        strip = ax.scatter(piece.eigenvalues, np.full(piece.eigenvalues.shape, row), marker="|", s=marker_size,
                           color=color, alpha=alpha, linewidths=1.0)
        handles.setdefault(name, strip)
        strips.append(strip)
    zero_line = ax.axvline(0.0, color="0.6", linewidth=0.8, zorder=0)
    ax.set_xscale("symlog", linthresh=linthresh)
    ax.set_yticks(range(len(pieces)))
    ax.set_yticklabels([_short(p.label) for p in pieces], fontsize=FONT_SIZE - 1)
    ax.set_ylim(-0.5, len(pieces) - 0.5)
    ax.set_xlabel(f"Hessian eigenvalue ({spectrum.method.value}; symlog, linear within ±{linthresh:.1e})",
                  fontsize=FONT_SIZE)
    if spectrum.is_smooth:
        title = f"Hessian spectrum inside a cell (P = {spectrum.n_params})"
    else:
        shown = f"{len(pieces)} of {len(spectrum.pieces)} computed" if len(pieces) < len(spectrum.pieces) else (
            f"{len(pieces)}")
        sampled = ", sampled" if spectrum.sampled else ""
        title = (f"one-sided Hessian spectra at a kink: {spectrum.n_ties} ties, {shown} of "
                 f"{spectrum.n_adjacent} pieces{sampled}")
    ax.set_title(title, fontsize=FONT_SIZE)
    legend = ax.legend(list(handles.values()), list(handles.keys()), fontsize=FONT_SIZE - 1, loc="best")
    return SpectrumPlot(ax, tuple(strips), zero_line, legend, title, float(linthresh))
