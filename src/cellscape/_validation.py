"""Input checks at the public boundary, with one message format.

Every message reads ``"`param` of `func` must be <expected>. Got <got> instead."`` on one line.
"""

from __future__ import annotations

import enum
import math
from typing import Any, TypeVar

import numpy as np

from cellscape.exceptions import InvalidInputError

E = TypeVar("E", bound=enum.Enum)


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value).replace("\n", " ")
    return text if len(text) <= limit else text[: limit - 3] + "..."


def invalid(param: str, func: str, expected: str, got: Any, *, raw: bool = False) -> InvalidInputError:
    """Build the one-line error for a bad argument; ``raw`` means ``got`` is already phrased."""
    got_text = got if raw else _short(got)
    return InvalidInputError(f"`{param}` of `{func}` must be {expected}. Got {got_text} instead.")


def check_int(value: Any, *, name: str, func: str, minimum: int | None = None) -> int:
    """Return ``value`` as an ``int``, checking it is an integer at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        expected = "an integer" if minimum is None else f"an integer >= {minimum}"
        raise invalid(name, func, expected, value)
    if minimum is not None and value < minimum:
        raise invalid(name, func, f"an integer >= {minimum}", value)
    return int(value)


def check_float(
    value: Any,
    *,
    name: str,
    func: str,
    minimum: float | None = None,
    strict_minimum: bool = False,
    maximum: float | None = None,
) -> float:
    """Return ``value`` as a finite ``float`` in the given range."""
    lo = "-inf" if minimum is None else repr(minimum)
    hi = "inf" if maximum is None else repr(maximum)
    bracket = "(" if (minimum is None or strict_minimum) else "["
    closing = ")" if maximum is None else "]"
    expected = f"a finite float in {bracket}{lo}, {hi}{closing}"
    if isinstance(value, bool):
        raise invalid(name, func, expected, value)
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise invalid(name, func, expected, value) from None
    if not math.isfinite(number):
        raise invalid(name, func, expected, value)
    if minimum is not None and (number < minimum or (strict_minimum and number == minimum)):
        raise invalid(name, func, expected, value)
    if maximum is not None and number > maximum:
        raise invalid(name, func, expected, value)
    return number


def check_enum(value: Any, enum_type: type[E], *, name: str, func: str) -> E:
    """Return the member of ``enum_type`` named by ``value`` (a member or its string value)."""
    if isinstance(value, enum_type):
        return value
    try:
        return enum_type(value)
    except ValueError:
        options = ", ".join(repr(m.value) for m in enum_type)
        raise invalid(name, func, f"one of {options}", value) from None


def check_finite(array: np.ndarray, *, name: str, func: str) -> None:
    """Reject arrays holding NaN or infinite values, saying where the first one is."""
    bad = ~np.isfinite(array)
    if bad.any():
        where = tuple(int(i) for i in np.argwhere(bad)[0])
        raise invalid(
            name, func, "finite (no NaN or infinite entries)", f"{array[where]!r} at index {where}", raw=True
        )
