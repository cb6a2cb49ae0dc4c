"""What every plot function shares: a new or given axes, and the paper-ready defaults."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from cellscape._validation import check_int, invalid

FIGSIZE = (4.8, 3.6)
"""The default figure size in inches: one column of a two-column paper at full width, readable when printed."""

FONT_SIZE = 9
"""Tick and label size in points (legible at ``FIGSIZE``)."""


def pyplot() -> Any:
    """``matplotlib.pyplot``, on the Agg backend unless a backend was already chosen (no display needed)."""
    import matplotlib

    if "matplotlib.pyplot" not in sys.modules:
        matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def axes(ax: Any = None, *, figsize: tuple[float, float] = FIGSIZE) -> Any:
    """The given axes, or the axes of a new figure of ``figsize`` (constrained layout)."""
    if ax is not None:
        return ax
    plt = pyplot()
    fig = plt.figure(figsize=figsize, layout="constrained")
    ax = fig.add_subplot()
    ax.tick_params(labelsize=FONT_SIZE)
    return ax


FIGURE_SUFFIXES = (".png", ".svg")
"""The file types figures are written as."""


def figure_path(path: str | os.PathLike[str], *, name: str = "path", func: str = "figure_path") -> Path:
    """``path`` as a :class:`~pathlib.Path`, checked to end in ``.png`` or ``.svg`` and to lie in an existing
    directory (``name`` and ``func`` name the parameter and the caller in the error).

    Raises:
        InvalidInputError: naming ``name`` otherwise.

    Examples:
        >>> figure_path("regions.svg").suffix
        '.svg'
    """
    if not isinstance(path, (str, os.PathLike)):
        raise invalid(name, func, "a path ending in .png or .svg", type(path).__name__, raw=True)
    target = Path(path)
    if target.suffix.lower() not in FIGURE_SUFFIXES:
        raise invalid(name, func, "a path ending in .png or .svg", str(path))
    if not target.parent.is_dir():
        raise invalid(name, func, "a path in an existing directory", f"{str(path)!r} (no such directory)",
                      raw=True)
    return target


def save_figure(ax: Any, path: str | os.PathLike[str], *, dpi: int = 300, func: str = "save") -> Path:
    """Write the figure of ``ax`` to a ``.png`` or ``.svg`` file (:func:`figure_path`) and return its path.

    Raises:
        InvalidInputError: for another suffix, a missing directory or a bad ``dpi``.
    """
    target = figure_path(path, func=func)
    ax.figure.savefig(target, dpi=check_int(dpi, name="dpi", func=func, minimum=1))
    return target


class SavedFigure:
    """What every plot result shares (a frozen dataclass with an ``ax`` field): :meth:`save`."""

    ax: Any

    def save(self, path: str | os.PathLike[str], *, dpi: int = 300) -> Path:
        """Write the figure to a ``.png`` or ``.svg`` file and return its path.

        Raises:
            InvalidInputError: for another suffix, a missing directory or a bad ``dpi``.
        """
        return save_figure(self.ax, path, dpi=dpi, func=f"{type(self).__name__}.save")
