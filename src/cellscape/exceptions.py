"""Exceptions raised by cellscape.

Every error that a user can cause derives from :class:`CellscapeError`, so a caller (and the command line) can
catch one type. Messages are one line and name the parameter, what was expected and what was got.
"""

from __future__ import annotations

__all__ = ["CellscapeError", "InvalidInputError", "MissingExtraError", "ExactArithmeticError"]


class CellscapeError(Exception):
    """Base class of every error cellscape raises on purpose."""


class InvalidInputError(CellscapeError, ValueError):
    """An argument has the wrong type, shape or value."""


class MissingExtraError(CellscapeError, ImportError):
    """An optional dependency (an *extra*) is needed but not installed."""


class ExactArithmeticError(CellscapeError):
    """A computation was asked for in exact rational arithmetic but cannot be exact (e.g. a logarithm)."""
