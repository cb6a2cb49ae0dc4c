"""The one place where inputs are converted: arrays to float64 numpy/JAX, numbers to exact rationals.

Floats convert to rationals *exactly* (their binary value), so the exact computation is about the very numbers the
float computation used; strings such as ``"1/3"`` and :class:`fractions.Fraction` give other rationals.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import flint
import numpy as np

from cellscape._validation import check_finite, invalid

__all__ = ["to_numpy", "to_fmpq", "to_fraction", "fmpq_matrix", "fmpq_to_fraction", "fmpq_null_space",
           "is_torch_tensor", "rationalize"]



def is_torch_tensor(value: Any) -> bool:
    """True for a ``torch.Tensor`` (checked without importing torch)."""
    return type(value).__module__.startswith("torch") and hasattr(value, "detach")


def to_numpy(value: Any, *, name: str, func: str, finite: bool = True) -> np.ndarray:
    """Convert numpy, JAX, torch or nested-list input to a float64 numpy array.

    Raises:
        InvalidInputError: if the value is not numeric or (with ``finite``) holds NaN or infinity.
    """
    if is_torch_tensor(value):
        value = value.detach().cpu().numpy()
    try:
        if isinstance(value, np.ndarray) and value.dtype == object:
            array = np.asarray([float(v) for v in value.ravel()], dtype=np.float64).reshape(value.shape)
        else:
            array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise invalid(name, func, "a numeric array", type(value).__name__, raw=True) from None
    if finite:
        check_finite(array, name=name, func=func)
    return array


def to_fmpq(value: Any) -> flint.fmpq:
    """Convert an int, float (exactly), Fraction, numpy scalar, string or fmpq to ``flint.fmpq``.

    Raises:
        InvalidInputError: if the value is not a finite rational number.
    """
    if isinstance(value, flint.fmpq):
        return value
    if isinstance(value, Fraction):
        return flint.fmpq(value.numerator, value.denominator)
    if isinstance(value, (bool, np.bool_)):
        raise invalid("value", "to_fmpq", "a rational number", value)
    if isinstance(value, (int, np.integer)):
        return flint.fmpq(int(value))
    if isinstance(value, (float, np.floating)):
        if not np.isfinite(value):
            raise invalid("value", "to_fmpq", "a finite rational number", value)
        num, den = float(value).as_integer_ratio()
        return flint.fmpq(num, den)
    if isinstance(value, str):
        try:
            frac = Fraction(value.strip())
        except (ValueError, ZeroDivisionError):
            raise invalid("value", "to_fmpq", "a rational number such as '1/3' or '0.25'", value) from None
        return flint.fmpq(frac.numerator, frac.denominator)
    if isinstance(value, flint.fmpz):
        return flint.fmpq(value)
    raise invalid("value", "to_fmpq", "a rational number", type(value).__name__, raw=True)


def fmpq_to_fraction(value: flint.fmpq) -> Fraction:
    """Convert ``flint.fmpq`` to :class:`fractions.Fraction`."""
    return Fraction(int(value.p), int(value.q))


def to_fraction(value: Any) -> Fraction:
    """Convert any accepted rational input to :class:`fractions.Fraction` (floats exactly)."""
    return fmpq_to_fraction(to_fmpq(value))


def fmpq_matrix(values: Any) -> flint.fmpq_mat:
    """A 2-D array-like of rationals (floats converted exactly) as ``flint.fmpq_mat``."""
    if isinstance(values, flint.fmpq_mat):
        return values
    if is_torch_tensor(values):
        values = values.detach().cpu().numpy()
    array = np.asarray(values, dtype=object)
    if array.ndim == 1:
        array = array.reshape(-1, 1)
    if array.ndim != 2:
        raise invalid("values", "fmpq_matrix", "a 2-D array", f"{array.ndim}-D", raw=True)
    rows, cols = array.shape
    return flint.fmpq_mat(rows, cols, [to_fmpq(v) for v in array.ravel()])


def rationalize(values: Any, denominator: int) -> np.ndarray:
    """Round every entry to the nearest multiple of ``1 / denominator``, as an object array of Fractions
    (ties round half to even, as :func:`round` does).

    Examples:
        >>> rationalize([0.333, -1.4], 3).tolist()
        [Fraction(1, 3), Fraction(-4, 3)]
    """
    array = np.asarray(values, dtype=object)
    out = np.empty(array.shape, dtype=object)
    for index, value in np.ndenumerate(array):
        out[index] = Fraction(round(to_fraction(value) * denominator), denominator)
    return out


def fmpq_null_space(A: flint.fmpq_mat) -> flint.fmpq_mat:
    """An exact basis (columns) of ``{x : A x = 0}``, one vector per free column of the reduced row echelon form.

    Examples:
        >>> fmpq_null_space(flint.fmpq_mat(1, 2, [1, 1]))
        [-1]
        [ 1]
    """
    R, rank = A.rref()
    n = A.ncols()
    pivots, row = [], 0
    for col in range(n):
        if row < rank and R[row, col] != 0:
            pivots.append(col)
            row += 1
    free = [col for col in range(n) if col not in pivots]
    basis = flint.fmpq_mat(n, len(free))
    for j, f in enumerate(free):
        basis[f, j] = 1
        for r, pcol in enumerate(pivots):
            basis[pcol, j] = -R[r, f]
    return basis
