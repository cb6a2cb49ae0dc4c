r"""Rates with their uncertainty: binomial proportions with Wilson score intervals.

Every rate cellscape reports (how often training ends in a spurious minimum, how often a cell is genuine) is a
:class:`Rate`: ``count`` of ``total`` independent trials with a Wilson interval at level ``confidence``. The
Wilson interval keeps its nominal coverage far better than the normal (Wald) interval at small counts and never
leaves :math:`[0, 1]` (Brown, Cai and DasGupta, Statistical Science 2001).

Examples:
    >>> r = rate(3, 20)
    >>> round(r.estimate, 3), round(r.low, 4), round(r.high, 4)
    (0.15, 0.0524, 0.3604)
    >>> print(r)
    3/20 = 15.0% [5.2%, 36.0%]
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
from scipy.special import ndtri

from cellscape._validation import check_float, check_int, invalid

__all__ = ["Rate", "rate", "wilson_interval"]


def wilson_interval(successes: Any, trials: Any, *, confidence: float = 0.95) -> tuple[Any, Any]:
    r"""The Wilson score interval for a binomial proportion (elementwise over arrays).

    With :math:`\hat p = k / n` and :math:`z = \Phi^{-1}((1 + c) / 2)`:

    .. math::  \frac{\hat p + z^2 / 2n \pm z \sqrt{\hat p (1 - \hat p) / n + z^2 / 4n^2}}{1 + z^2 / n}.

    It never leaves :math:`[0, 1]` and stays informative at :math:`k = 0` (upper end :math:`z^2 / (n + z^2)`).

    Args:
        successes: ``k``, integers in ``[0, n]``. trials: ``n >= 1``. confidence: the level ``c`` in (0, 1).

    Returns:
        ``(low, high)``: floats, or arrays of the broadcast shape.

    Raises:
        InvalidInputError: for counts outside ``0 <= k <= n``, ``n < 1``, or a level outside (0, 1).

    Examples:
        >>> low, high = wilson_interval(0, 10)   # z^2 / (10 + z^2) with z = 1.95996...
        >>> float(low), round(float(high), 4)
        (0.0, 0.2775)
    """
    func = "wilson_interval"
    c = check_float(confidence, name="confidence", func=func, minimum=0.0, strict_minimum=True, maximum=1.0)
    if c == 1.0:
        raise invalid("confidence", func, "a finite float in (0.0, 1.0)", confidence)
    k = np.asarray(successes)
    n = np.asarray(trials)
    if not (np.issubdtype(k.dtype, np.integer) and np.issubdtype(n.dtype, np.integer)):
        raise invalid("successes", func, "integer counts", f"dtypes {k.dtype} and {n.dtype}", raw=True)
    if np.any(n < 1) or np.any(k < 0) or np.any(k > n):
        raise invalid("successes", func, "counts with 0 <= successes <= trials and trials >= 1",
                      f"successes {k.tolist()} of trials {n.tolist()}", raw=True)
    z = float(ndtri(0.5 + c / 2))
    n = n.astype(np.float64)
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    low, high = np.clip(centre - half, 0.0, 1.0), np.clip(centre + half, 0.0, 1.0)
    low, high = np.where(k == 0, 0.0, low), np.where(k == n, 1.0, high)  # exact ends (no rounding above 0 / 1)
    if low.ndim == 0:
        return float(low), float(high)
    return low, high


@dataclasses.dataclass(frozen=True)
class Rate:
    """A proportion ``count / total`` with its Wilson score interval ``[low, high]`` at level ``confidence``
    (``nan`` ends when ``total`` is 0)."""

    count: int
    total: int
    low: float
    high: float
    confidence: float = 0.95

    @property
    def estimate(self) -> float:
        """``count / total`` (``nan`` when ``total`` is 0)."""
        return self.count / self.total if self.total else math.nan

    def to_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "estimate": self.estimate}

    def __str__(self) -> str:
        if not self.total:
            return f"{self.count}/0"
        return f"{self.count}/{self.total} = {100 * self.estimate:.1f}% [{100 * self.low:.1f}%, {100 * self.high:.1f}%]"


def rate(count: int, total: int, *, confidence: float = 0.95) -> Rate:
    """The :class:`Rate` of ``count`` successes in ``total`` trials (:func:`wilson_interval`).

    Raises:
        InvalidInputError: for counts outside ``0 <= count <= total`` or a level outside (0, 1).
    """
    count = check_int(count, name="count", func="rate", minimum=0)
    total = check_int(total, name="total", func="rate", minimum=0)
    if total == 0:
        if count:
            raise invalid("count", "rate", "at most total (0)", count)
        return Rate(0, 0, math.nan, math.nan, confidence)
    low, high = wilson_interval(count, total, confidence=confidence)
    return Rate(count, total, float(low), float(high), confidence)
