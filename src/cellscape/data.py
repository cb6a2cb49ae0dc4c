r"""Data sets: loading from files, wrapping arrays, and seeded builtin generators.

A :class:`Dataset` holds inputs ``X`` of shape ``(n, d_in)`` and targets ``y`` of shape ``(n, d_out)`` as
float64 arrays, plus, for data defined by rationals, the exact values as :class:`fractions.Fraction` object
arrays.
:func:`load_data` reads a specification string:

* ``path/to/file.npz``: arrays ``X`` of shape ``(n, d)`` and ``y`` of shape ``(n,)`` or ``(n, d_out)``;
* ``path/to/file.csv``: numbers, one sample per row, all columns but the last are ``X``, the last is ``y``; an
  optional header row (recognised as a first row that is not numeric) may name several target columns ``y*``;
* ``builtin:NAME``: one of :data:`BUILTINS` (see :func:`list_builtins`), generated from ``seed``.

Every generator draws from ``numpy.random.default_rng(seed)`` (or the ``numpy.random.Generator`` passed as
``seed``), so a seed reproduces a data set bit for bit.

Examples:
    >>> data = load_data("builtin:three-point")
    >>> data.X.shape, data.y.shape
    ((3, 2), (3, 1))
    >>> from cellscape.affine import best_affine_fit
    >>> best_affine_fit(data.X_exact, data.y_exact, exact=True).risk_exact  # half-SSE 1/3, mean 1/9
    Fraction(1, 9)
"""

from __future__ import annotations

import csv
import dataclasses
import os
import zipfile
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from cellscape._backend import to_numpy
from cellscape._validation import check_float, check_int, invalid
from cellscape.affine import best_affine_fit
from cellscape.exceptions import InvalidInputError
from cellscape.networks import make_rng

__all__ = [
    "Dataset",
    "from_arrays",
    "load_data",
    "list_builtins",
    "BUILTINS",
    "make_teacher",
    "make_gaussian",
    "make_separable",
    "make_nonaffine",
    "make_xor",
    "make_spirals",
    "make_three_point",
    "make_signals",
    "make_digits",
]

Seed = int | np.random.Generator | None


@dataclasses.dataclass(frozen=True, eq=False)
class Dataset:
    """Inputs and targets, with a name, a description and generator facts.

    Attributes:
        X: float64 inputs of shape ``(n, d_in)``.
        y: float64 targets of shape ``(n, d_out)`` (1-D targets become ``(n, 1)``).
        name: a short name (``"teacher"``, a file name, ...).
        description: one line on what the data are.
        info: JSON-ready facts: the seed and generator options, and for some builtins more (e.g. the teacher
            network, the margin, the best affine risk).
        X_exact: for data defined by rationals, an object array of :class:`~fractions.Fraction` of the shape
            of ``X``; else None.
        y_exact: likewise for ``y``.
    """

    X: np.ndarray
    y: np.ndarray
    name: str = "data"
    description: str = ""
    info: dict[str, Any] = dataclasses.field(default_factory=dict)
    X_exact: np.ndarray | None = None
    y_exact: np.ndarray | None = None

    def __post_init__(self) -> None:
        X, y = _check_arrays(self.X, self.y, func="Dataset")
        object.__setattr__(self, "X", X)
        object.__setattr__(self, "y", y)
        object.__setattr__(self, "info", dict(self.info))
        for field, shape in (("X_exact", X.shape), ("y_exact", y.shape)):
            value = getattr(self, field)
            if value is None:
                continue
            exact = np.asarray(value, dtype=object)
            if exact.ndim == 1 and field == "y_exact":
                exact = exact[:, None]
            if exact.shape != shape:
                raise invalid(field, "Dataset", f"an array of shape {shape}", f"shape {exact.shape}",
                              raw=True)
            object.__setattr__(self, field, np.vectorize(Fraction, otypes=[object])(exact))

    @property
    def n_samples(self) -> int:
        return int(self.X.shape[0])

    @property
    def d_in(self) -> int:
        return int(self.X.shape[1])

    @property
    def d_out(self) -> int:
        return int(self.y.shape[1])

    @property
    def is_exact(self) -> bool:
        """True when exact rational values are attached."""
        return self.X_exact is not None and self.y_exact is not None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary (without the arrays)."""
        return {"name": self.name, "description": self.description, "n_samples": self.n_samples,
                "d_in": self.d_in, "d_out": self.d_out, "exact": self.is_exact,
                "info": _json_ready(self.info)}


def _json_ready(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_ready(v) for v in value]
    if isinstance(value, np.ndarray):
        return _json_ready(value.tolist())
    if isinstance(value, (np.integer, np.bool_)):
        return value.item()
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, Fraction):
        return str(value)
    return value


def _check_arrays(X: Any, y: Any, *, func: str) -> tuple[np.ndarray, np.ndarray]:
    X = to_numpy(X, name="X", func=func)
    if X.ndim != 2:
        raise invalid("X", func, "an array of shape (n_samples, d_in)", f"shape {X.shape}", raw=True)
    if X.shape[0] == 0:
        raise invalid("X", func, "at least one sample", "0 samples", raw=True)
    y = to_numpy(y, name="y", func=func)
    if y.ndim == 1:
        y = y[:, None]
    if y.ndim != 2:
        raise invalid("y", func, "an array of shape (n_samples,) or (n_samples, d_out)", f"shape {y.shape}",
                      raw=True)
    if y.shape[0] != X.shape[0]:
        raise invalid("y", func, f"{X.shape[0]} targets (one per input sample)", f"{y.shape[0]}", raw=True)
    if y.shape[1] == 0:
        raise invalid("y", func, "at least one target column", "0 columns", raw=True)
    return X.copy(), y.copy()


def from_arrays(X: Any, y: Any, *, name: str = "arrays", description: str = "") -> Dataset:
    """A :class:`Dataset` from arrays (numpy, JAX, torch or nested lists).

    Raises:
        InvalidInputError: unless ``X`` is 2-D with at least one sample, ``y`` 1-D or 2-D with as many
            samples, and both finite.

    Examples:
        >>> from_arrays([[0.0], [1.0]], [1.0, 2.0]).y.shape
        (2, 1)
    """
    X, y = _check_arrays(X, y, func="from_arrays")
    return Dataset(X, y, name=str(name), description=description or f"{X.shape[0]} samples given as arrays")


# ---------------------------------------------------------------------------------------------- files
def load_data(
    spec: str | os.PathLike[str] | Dataset,
    *,
    seed: Seed = 0,
    n_samples: int | None = None,
    d_in: int | None = None,
) -> Dataset:
    """Load a data set from a specification: a ``.npz`` or ``.csv`` path, or ``builtin:NAME``.

    Args:
        spec: the specification (see the module docstring); a :class:`Dataset` is returned unchanged.
        seed: seeds a builtin generator (an int, a ``numpy.random.Generator`` or None), and the subsample of a
            file when ``n_samples`` is given.
        n_samples: for a builtin, the number of samples (default: the generator's); for a file, a random
            subsample of that size (in file order).
        d_in: for a builtin, the input width (default: the generator's); for a file, the width it must have.

    Returns:
        The :class:`Dataset`; ``info`` records the source (path and format, or generator and seed).

    Raises:
        InvalidInputError: for a missing file, an unknown extension or builtin name, missing arrays,
            non-numeric CSV cells, or sizes the source cannot provide.

    Examples:
        >>> load_data("builtin:teacher", seed=3, n_samples=10).X.shape
        (10, 2)
    """
    func = "load_data"
    if n_samples is not None:
        n_samples = check_int(n_samples, name="n_samples", func=func, minimum=1)
    if d_in is not None:
        d_in = check_int(d_in, name="d_in", func=func, minimum=1)
    if isinstance(spec, Dataset):
        return spec
    if not isinstance(spec, (str, os.PathLike)):
        raise invalid("spec", func, "a path to a .npz or .csv file or 'builtin:NAME'", spec)
    text = os.fspath(spec)
    if text.startswith("builtin:"):
        name = text[len("builtin:"):].strip()
        if name not in BUILTINS:
            raise invalid("spec", func, f"builtin:NAME with NAME one of {_builtin_names()}", text)
        kwargs: dict[str, Any] = {"seed": seed}
        if n_samples is not None:
            kwargs["n_samples"] = n_samples
        if d_in is not None:
            kwargs["d_in"] = d_in
        return BUILTINS[name][0](**kwargs)
    path = Path(text)
    suffix = path.suffix.lower()
    if suffix not in (".npz", ".csv"):
        raise invalid("spec", func, "a path ending in .npz or .csv, or 'builtin:NAME' with NAME one of "
                      f"{_builtin_names()}", text)
    if not path.is_file():
        raise invalid("spec", func, "an existing .npz or .csv file", f"{text!r} (no such file)", raw=True)
    X, y, info = _read_npz(path, func) if suffix == ".npz" else _read_csv(path, func)
    X, y = _check_arrays(X, y, func=func)
    info = {"path": str(path), "format": suffix[1:], **info}
    if d_in is not None and X.shape[1] != d_in:
        raise invalid("d_in", func, f"the input width of {text!r}, {X.shape[1]}", d_in)
    if n_samples is not None:
        if n_samples > X.shape[0]:
            raise invalid("n_samples", func, f"at most the {X.shape[0]} samples of {text!r}", n_samples)
        keep = np.sort(make_rng(seed, func=func).choice(X.shape[0], size=n_samples, replace=False))
        X, y = X[keep], y[keep]
        info.update(subsample=keep.tolist(), seed=_seed_info(seed))
    return Dataset(X, y, name=path.name, description=f"{X.shape[0]} samples read from {path.name}", info=info)


def _read_npz(path: Path, func: str) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    try:
        with np.load(path, allow_pickle=False) as archive:
            missing = [key for key in ("X", "y") if key not in archive.files]
            if missing:
                raise invalid("spec", func, "a .npz file with arrays 'X' and 'y'",
                              f"{str(path)!r} holding {sorted(archive.files)}", raw=True)
            return archive["X"], archive["y"], {}
    except InvalidInputError:
        raise
    except (OSError, ValueError, zipfile.BadZipFile) as error:
        raise invalid("spec", func, "a readable .npz file of numeric arrays",
                      f"{str(path)!r} ({type(error).__name__})", raw=True) from None


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _read_csv(path: Path, func: str) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    rows: list[tuple[int, list[str]]] = []
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            reader = csv.reader(handle)
            for row in reader:
                cells = [cell.strip() for cell in row]
                if not any(cells) or cells[0].startswith("#"):
                    continue
                rows.append((reader.line_num, cells))
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise invalid("spec", func, "a readable CSV file", f"{str(path)!r} ({type(error).__name__})",
                      raw=True) from None
    header = None
    if rows and not all(_is_number(cell) for cell in rows[0][1]):
        header = rows.pop(0)[1]
    if not rows:
        raise invalid("spec", func, "a CSV file with at least one row of numbers",
                      f"{str(path)!r} (no data rows)", raw=True)
    width = len(header) if header is not None else len(rows[0][1])
    if width < 2:
        raise invalid("spec", func, "a CSV file with at least two columns (inputs, then the target)",
                      f"{width} column in {str(path)!r}", raw=True)
    values = np.empty((len(rows), width))
    for r, (line, cells) in enumerate(rows):
        if len(cells) != width:
            raise invalid("spec", func, f"a CSV file with {width} columns in every row",
                          f"{len(cells)} in line {line} of {str(path)!r}", raw=True)
        for c, cell in enumerate(cells):
            if not _is_number(cell):
                raise invalid("spec", func, "a CSV file of numbers (after an optional header row)",
                              f"{cell!r} in line {line}, column {c + 1} of {str(path)!r}", raw=True)
            values[r, c] = float(cell)
    y_cols = [width - 1]
    if header is not None:
        named = [c for c, title in enumerate(header) if title.lower().startswith("y")]
        if named and len(named) < width:
            y_cols = named
    x_cols = [c for c in range(width) if c not in y_cols]
    info: dict[str, Any] = {"header": header} if header is not None else {}
    return values[:, x_cols], values[:, y_cols], info


# ---------------------------------------------------------------------------------------------- builtins
def _seed_info(seed: Seed) -> int | str | None:
    if isinstance(seed, np.random.Generator):
        return "numpy Generator"
    return None if seed is None else int(seed)


def _fixed_width(d_in: int, width: int, func: str) -> None:
    check_int(d_in, name="d_in", func=func, minimum=1)
    if d_in != width:
        raise invalid("d_in", func, f"{width} (this data set has fixed input width)", d_in)


def make_teacher(
    *, n_samples: int = 200, d_in: int = 2, width: int = 3, d_out: int = 1, seed: Seed = 0
) -> Dataset:
    r"""Gaussian inputs :math:`x \sim N(0, I_d)` labelled by a random one-hidden-layer ReLU teacher.

    The teacher :math:`y = W_2\, \mathrm{relu}(W_1 x + b_1) + b_2` has every weight and bias drawn from
    :math:`N(0, 1)`. It is drawn *before* the inputs (``W_1, b_1, W_2, b_2``, then ``X``), so for one seed the
    teacher does not depend on ``n_samples``. ``info["teacher"]`` holds its widths and parameters.

    Raises:
        InvalidInputError: for sizes below 1 or a bad seed.

    Examples:
        >>> data = make_teacher(n_samples=5, seed=1)
        >>> data.X.shape, data.y.shape, data.info["teacher"]["widths"]
        ((5, 2), (5, 1), [2, 3, 1])
    """
    func = "make_teacher"
    n = check_int(n_samples, name="n_samples", func=func, minimum=1)
    d = check_int(d_in, name="d_in", func=func, minimum=1)
    k = check_int(width, name="width", func=func, minimum=1)
    m = check_int(d_out, name="d_out", func=func, minimum=1)
    rng = make_rng(seed, func=func)
    W1, b1 = rng.standard_normal((k, d)), rng.standard_normal(k)
    W2, b2 = rng.standard_normal((m, k)), rng.standard_normal(m)
    X = rng.standard_normal((n, d))
    y = np.maximum(X @ W1.T + b1, 0.0) @ W2.T + b2
    teacher = {"widths": [d, k, m], "activation": "relu", "W1": W1.tolist(), "b1": b1.tolist(),
               "W2": W2.tolist(), "b2": b2.tolist()}
    return Dataset(X, y, name="teacher", description=BUILTINS["teacher"][1],
                   info={"generator": "teacher", "seed": _seed_info(seed), "n_samples": n, "d_in": d,
                         "teacher": teacher})


def make_gaussian(*, n_samples: int = 1000, d_in: int = 10, seed: Seed = 0) -> Dataset:
    r"""Pure noise: inputs :math:`x \sim N(0, I_d)` and targets :math:`y \sim N(0, 1)`, independent (the data of
    Yun, Sra and Jadbabaie's kink statistics, ICLR 2019). Drawn as ``X`` then ``y`` from ``seed``.

    Raises:
        InvalidInputError: for sizes below 1 or a bad seed.

    Examples:
        >>> data = make_gaussian(n_samples=4, d_in=3, seed=0)
        >>> data.X.shape, data.y.shape
        ((4, 3), (4, 1))
    """
    func = "make_gaussian"
    n = check_int(n_samples, name="n_samples", func=func, minimum=1)
    d = check_int(d_in, name="d_in", func=func, minimum=1)
    rng = make_rng(seed, func=func)
    X = rng.standard_normal((n, d))
    y = rng.standard_normal((n, 1))
    return Dataset(X, y, name="gaussian", description=BUILTINS["gaussian"][1],
                   info={"generator": "gaussian", "seed": _seed_info(seed), "n_samples": n, "d_in": d})


def make_separable(*, n_samples: int = 40, d_in: int = 2, margin: float = 0.2, seed: Seed = 0) -> Dataset:
    r"""Linearly separable labels -1/+1 with a margin.

    Draws a unit vector :math:`u` (a normalised Gaussian) and an offset :math:`c \sim U(-1/4, 1/4)`, then
    inputs uniform in :math:`[-1, 1]^d`, rejecting those with :math:`|u \cdot x + c| <` ``margin``; the label
    is :math:`\mathrm{sign}(u \cdot x + c)`. ``info`` holds ``margin``, ``u`` and ``c``.

    Raises:
        InvalidInputError: for sizes below 1, a margin outside ``(0, 0.5]`` or a bad seed.

    Examples:
        >>> data = make_separable(seed=0)
        >>> u, c = np.array(data.info["u"]), data.info["c"]
        >>> bool(np.all(data.y[:, 0] * (data.X @ u + c) >= data.info["margin"]))
        True
    """
    func = "make_separable"
    n = check_int(n_samples, name="n_samples", func=func, minimum=1)
    d = check_int(d_in, name="d_in", func=func, minimum=1)
    margin = check_float(margin, name="margin", func=func, minimum=0.0, strict_minimum=True, maximum=0.5)
    rng = make_rng(seed, func=func)
    u = rng.standard_normal(d)
    u /= np.linalg.norm(u)
    c = float(rng.uniform(-0.25, 0.25))
    chunks, count = [], 0
    # |u.x + c| reaches 3/4 on the cube, so every batch accepts points with positive probability
    while count < n:
        batch = rng.uniform(-1.0, 1.0, size=(2 * (n - count) + 16, d))
        batch = batch[np.abs(batch @ u + c) >= margin]
        chunks.append(batch)
        count += batch.shape[0]
    X = np.concatenate(chunks)[:n]
    y = np.where(X @ u + c > 0, 1.0, -1.0)
    return Dataset(X, y, name="separable", description=BUILTINS["separable"][1],
                   info={"generator": "separable", "seed": _seed_info(seed), "n_samples": n, "d_in": d,
                         "margin": margin, "u": u.tolist(), "c": c})


def make_nonaffine(*, n_samples: int = 40, d_in: int = 1, noise: float = 0.05, seed: Seed = 0) -> Dataset:
    r"""Inputs uniform in :math:`[-2, 2]^d` with :math:`y = |x_1| + 0.3 \sin(3 x_1) + \sigma \varepsilon`.

    No affine map fits these targets, while a one-hidden-layer ReLU network does much better: the default data
    set for studying spurious minima. ``info["best_affine_risk"]`` is the mean squared-loss risk of the best
    affine fit (:func:`cellscape.affine.best_affine_fit`). Draws ``X``, then the noise
    :math:`\varepsilon \sim N(0, 1)`.

    Raises:
        InvalidInputError: for sizes below 1, a negative noise level or a bad seed.

    Examples:
        >>> data = make_nonaffine(seed=0)
        >>> data.info["best_affine_risk"] > 0.05
        True
    """
    func = "make_nonaffine"
    n = check_int(n_samples, name="n_samples", func=func, minimum=1)
    d = check_int(d_in, name="d_in", func=func, minimum=1)
    noise = check_float(noise, name="noise", func=func, minimum=0.0)
    rng = make_rng(seed, func=func)
    X = rng.uniform(-2.0, 2.0, size=(n, d))
    y = np.abs(X[:, 0]) + 0.3 * np.sin(3.0 * X[:, 0]) + noise * rng.standard_normal(n)
    fit = best_affine_fit(X, y)
    return Dataset(X, y, name="nonaffine", description=BUILTINS["nonaffine"][1],
                   info={"generator": "nonaffine", "seed": _seed_info(seed), "n_samples": n, "d_in": d,
                         "noise": noise, "best_affine_risk": fit.risk})


_CORNERS = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
_XOR = np.array([0.0, 1.0, 1.0, 0.0])


def make_xor(*, n_samples: int | None = None, d_in: int = 2, std: float = 0.1, seed: Seed = 0) -> Dataset:
    """The XOR points ``(0,0), (0,1), (1,0), (1,1)`` with real targets ``0, 1, 1, 0``.

    Without ``n_samples``: exactly these four points (``X_exact``/``y_exact`` set; ``seed`` unused). With
    ``n_samples``: Gaussian blobs of standard deviation ``std`` around the corners, sample ``i`` around corner
    ``i mod 4``, each labelled by its corner.

    Raises:
        InvalidInputError: for ``d_in`` other than 2, a sample count below 1, a negative ``std`` or a bad
            seed.

    Examples:
        >>> make_xor().y[:, 0].tolist()
        [0.0, 1.0, 1.0, 0.0]
    """
    func = "make_xor"
    _fixed_width(d_in, 2, func)
    if n_samples is None:
        return Dataset(_CORNERS, _XOR, name="xor", description=BUILTINS["xor"][1],
                       info={"generator": "xor", "seed": None, "n_samples": 4, "d_in": 2},
                       X_exact=_CORNERS.astype(int).astype(object), y_exact=_XOR.astype(int).astype(object))
    n = check_int(n_samples, name="n_samples", func=func, minimum=1)
    std = check_float(std, name="std", func=func, minimum=0.0)
    rng = make_rng(seed, func=func)
    corner = np.arange(n) % 4
    X = _CORNERS[corner] + std * rng.standard_normal((n, 2))
    return Dataset(X, _XOR[corner], name="xor", description=BUILTINS["xor"][1],
                   info={"generator": "xor", "seed": _seed_info(seed), "n_samples": n, "d_in": 2, "std": std})


def make_spirals(
    *, n_samples: int = 100, d_in: int = 2, noise: float = 0.02, turns: float = 1.5, seed: Seed = 0
) -> Dataset:
    r"""Two interleaved spirals in the plane, labels -1 (first ``n // 2`` samples) and +1.

    Class :math:`k \in \{0, 1\}` lies on :math:`r(\theta) (\cos(\theta + k\pi), \sin(\theta + k\pi))` with
    :math:`\theta = 2\pi\,\mathrm{turns}\,\sqrt{t}`, :math:`t \sim U(0, 1)`, :math:`r = \theta / (2\pi\,
    \mathrm{turns})`, plus Gaussian noise of standard deviation ``noise``. Per class: ``t``, then the noise.

    Raises:
        InvalidInputError: for ``d_in`` other than 2, fewer than 2 samples, a negative noise, non-positive
            turns or a bad seed.

    Examples:
        >>> data = make_spirals(seed=0)
        >>> data.X.shape, sorted(set(data.y[:, 0].tolist()))
        ((100, 2), [-1.0, 1.0])
    """
    func = "make_spirals"
    _fixed_width(d_in, 2, func)
    n = check_int(n_samples, name="n_samples", func=func, minimum=2)
    noise = check_float(noise, name="noise", func=func, minimum=0.0)
    turns = check_float(turns, name="turns", func=func, minimum=0.0, strict_minimum=True)
    rng = make_rng(seed, func=func)
    parts, labels = [], []
    for k, m in enumerate((n // 2, n - n // 2)):
        theta = 2.0 * np.pi * turns * np.sqrt(rng.uniform(size=m))
        radius = theta / (2.0 * np.pi * turns)
        points = radius[:, None] * np.stack([np.cos(theta + k * np.pi), np.sin(theta + k * np.pi)], axis=1)
        parts.append(points + noise * rng.standard_normal((m, 2)))
        labels.append(np.full(m, 2.0 * k - 1.0))
    return Dataset(np.concatenate(parts), np.concatenate(labels), name="spirals",
                   description=BUILTINS["spirals"][1],
                   info={"generator": "spirals", "seed": _seed_info(seed), "n_samples": n, "d_in": 2,
                         "noise": noise, "turns": turns})


def make_three_point(*, n_samples: int = 3, d_in: int = 2, seed: Seed = 0) -> Dataset:
    """The 3-point set ``X = {(1,0), (0,1), (1/2,1/2)}``, ``y = (0, 0, 1)`` in exact rationals.

    The points are collinear, so the design matrix ``[X, 1]`` has rank 2; the best affine fit is the constant
    1/3 with half the sum of squared errors 1/3, a mean risk 1/9, while a small ReLU network fits the data
    exactly. ``seed`` is unused.

    Raises:
        InvalidInputError: for ``n_samples`` other than 3 or ``d_in`` other than 2.

    Examples:
        >>> make_three_point().info["best_affine_risk"]
        '1/9'
    """
    func = "make_three_point"
    _fixed_width(d_in, 2, func)
    if check_int(n_samples, name="n_samples", func=func, minimum=1) != 3:
        raise invalid("n_samples", func, "3 (the data set has exactly three points)", n_samples)
    half = Fraction(1, 2)
    X_exact = np.array([[Fraction(1), Fraction(0)], [Fraction(0), Fraction(1)], [half, half]], dtype=object)
    y_exact = np.array([Fraction(0), Fraction(0), Fraction(1)], dtype=object)
    return Dataset(X_exact.astype(np.float64), y_exact.astype(np.float64), name="three-point",
                   description=BUILTINS["three-point"][1],
                   info={"generator": "three-point", "seed": None, "n_samples": 3, "d_in": 2,
                         "best_affine_risk": "1/9", "best_affine_half_sse": "1/3"},
                   X_exact=X_exact, y_exact=y_exact)


def make_signals(*, n_samples: int = 40, d_in: int = 8, noise: float = 0.05, seed: Seed = 0) -> Dataset:
    r"""1-D signals of length ``d_in``: a level :math:`a \sim U[-2, 2]` plus :math:`N(0, 0.5^2)` noise at every
    position, with :math:`y = |\bar x| + 0.3 \sin(3 \bar x) + \sigma \varepsilon` (:math:`\bar x` the signal's
    mean): the :data:`nonaffine` targets for convolutional networks. Draws the levels, the position noise, then
    :math:`\varepsilon \sim N(0, 1)`.

    Raises:
        InvalidInputError: for sizes below 1, a negative noise level or a bad seed.

    Examples:
        >>> make_signals(seed=0).X.shape
        (40, 8)
    """
    func = "make_signals"
    n = check_int(n_samples, name="n_samples", func=func, minimum=1)
    L = check_int(d_in, name="d_in", func=func, minimum=1)
    noise = check_float(noise, name="noise", func=func, minimum=0.0)
    rng = make_rng(seed, func=func)
    levels = rng.uniform(-2.0, 2.0, size=(n, 1))
    X = levels + 0.5 * rng.standard_normal((n, L))
    mean = X.mean(axis=1)
    y = np.abs(mean) + 0.3 * np.sin(3.0 * mean) + noise * rng.standard_normal(n)
    return Dataset(X, y, name="signals", description=BUILTINS["signals"][1],
                   info={"generator": "signals", "seed": _seed_info(seed), "n_samples": n, "d_in": L,
                         "noise": noise})


def make_digits(*, n_samples: int | None = None, d_in: int = 3, seed: Seed = 0) -> Dataset:
    r"""scikit-learn's bundled handwritten digits (1,797 images of 8 x 8 pixels), reduced by PCA to ``d_in``
    components and scaled so the first has unit variance, with targets :math:`y = +1` for the digits 0-4 and
    :math:`-1` for 5-9: real data far too large for an exhaustive atlas. All 1,797 images by default; with
    ``n_samples``, a seeded subsample (in file order) before the PCA. Needs scikit-learn
    (``pip install 'cellscape[datasets]'``).

    Raises:
        InvalidInputError: for sizes out of range, a bad seed, or scikit-learn missing.

    Examples:
        >>> data = make_digits(d_in=2)
        >>> data.X.shape, sorted(set(data.y[:, 0].tolist())), round(float(data.X[:, 0].std()), 12)
        ((1797, 2), [-1.0, 1.0], 1.0)
    """
    func = "make_digits"
    d = check_int(d_in, name="d_in", func=func, minimum=1)
    if d > 64:
        raise invalid("d_in", func, "at most 64 (the images have 64 pixels)", d)
    try:
        from sklearn.datasets import load_digits
        from sklearn.decomposition import PCA
    except ImportError:
        raise invalid("spec", func, "scikit-learn installed for builtin:digits (pip install 'cellscape[datasets]')",
                      "no module 'sklearn'", raw=True) from None
    images, labels = load_digits(return_X_y=True)
    keep = np.arange(images.shape[0])
    if n_samples is not None:
        n = check_int(n_samples, name="n_samples", func=func, minimum=d + 1)
        if n > images.shape[0]:
            raise invalid("n_samples", func, f"at most the {images.shape[0]} images", n)
        keep = np.sort(make_rng(seed, func=func).choice(images.shape[0], size=n, replace=False))
    images, labels = images[keep].astype(np.float64), labels[keep]
    X = PCA(n_components=d, svd_solver="full").fit_transform(images)
    X = X / X[:, 0].std()
    y = np.where(labels <= 4, 1.0, -1.0)
    return Dataset(X, y, name="digits", description=BUILTINS["digits"][1],
                   info={"generator": "digits", "seed": _seed_info(seed) if n_samples is not None else None,
                         "n_samples": int(X.shape[0]), "d_in": d, "source": "sklearn.datasets.load_digits"})


#: name -> (generator, one-line description); each generator takes keyword arguments ``n_samples``, ``d_in``
#: and ``seed`` (and options of its own).
BUILTINS: dict[str, tuple[Callable[..., Dataset], str]] = {
    "teacher": (make_teacher, "Gaussian inputs labelled by a random one-hidden-layer ReLU teacher (width 3)"),
    "gaussian": (make_gaussian, "independent Gaussian inputs N(0, I_d) and targets N(0, 1) (d = 10, n = 1000)"),
    "separable": (make_separable, "linearly separable labels -1/+1 with margin 0.2 in [-1, 1]^d"),
    "nonaffine": (make_nonaffine, "y = |x_1| + 0.3 sin(3 x_1) + noise on [-2, 2]^d: no affine map fits"),
    "xor": (make_xor, "the four XOR points with targets 0/1 (exact), or noisy blobs around them"),
    "spirals": (make_spirals, "two interleaved spirals in the plane, labels -1/+1"),
    "signals": (make_signals, "1-D signals (a level plus noise, length 8) with nonaffine targets of their mean"),
    "three-point": (make_three_point, "X = {(1,0), (0,1), (1/2,1/2)}, y = (0, 0, 1): best affine risk 1/9"),
    "digits": (make_digits, "scikit-learn's 1,797 handwritten digits, PCA to 3 components, y = +1 for 0-4, -1 for "
               "5-9 (needs scikit-learn)"),
}


def _builtin_names() -> str:
    return ", ".join(map(repr, BUILTINS))


def list_builtins() -> list[tuple[str, str]]:
    """The builtin data sets as ``[(name, description), ...]``.

    Examples:
        >>> [name for name, _ in list_builtins()]
        ['teacher', 'gaussian', 'separable', 'nonaffine', 'xor', 'spirals', 'signals', 'three-point', 'digits']
    """
    return [(name, description) for name, (_, description) in BUILTINS.items()]
