r"""Sweeps: a grid of surveys described in a TOML file, run in parallel and kept in an SQLite database.

A sweep file has a ``[sweep]`` table (``name``, ``description``) and a ``[grid]`` table whose keys are the fields
of :class:`~cellscape.survey.SurveyConfig` (whatever fields it has) plus ``seeds``. A value given as a list is a
grid axis; for a field that holds a tuple (``hidden``) a list of lists is an axis and a list of integers is one
value. ``seeds = [0, 1, 2]`` or ``seeds = {start = 0, count = 10}`` is the seed axis (default ``[0]``).
Several ``[[grid]]`` tables give the union of their grids (for designs that are not one Cartesian product)::

    [sweep]
    name = "leaky-vs-relu"
    description = "How often do leaky ReLU networks end in spurious minima, compared with ReLU?"

    [grid]
    data = "builtin:separable"
    hidden = [[4], [8]]                       # an axis: two architectures
    activation = ["relu", "leaky_relu:0.1"]   # an axis
    loss = "hinge"
    runs = 32
    steps = 5000
    seeds = {start = 0, count = 4}

``[sweep] kind`` says what every task runs (:class:`TaskKind`): ``survey`` (the default, as above) or
``escape``, whose ``[grid]`` keys are then the fields of :class:`~cellscape.atlas.escape.EscapeConfig` (the
cell-escape experiment of the atlas: data, width, activation, outputs, runs, steps, lr, ...).

The unit of work and of resumption is a *task*: one grid point with one seed, that is one
:class:`~cellscape.survey.SurveyConfig`, run by :func:`~cellscape.survey.run_survey` (``runs`` networks trained as
one batch, every endpoint certified, the certified minima grouped into distinct minima), or one
:class:`~cellscape.atlas.escape.EscapeConfig`, run by :func:`~cellscape.atlas.escape.run_escape` (``runs``
descents, each run's category its :class:`~cellscape.atlas.escape.EscapeOutcome`). Each task has a stable
key, a digest of its whole configuration (:func:`task_key`), so a restarted sweep recognises finished tasks even if
the grid was reordered. :func:`run_sweep` runs the unfinished tasks on a local process pool or a Dask cluster and
commits each task's results in one transaction as it completes (:mod:`cellscape.sweep_store`): a sweep killed at
any moment loses only the tasks in flight, and a restart repeats none that finished. :func:`summarize` gives, per
grid point, the rate of every endpoint category with its Wilson interval, and :func:`export_results` writes the
runs (or minima, tasks, summary) to CSV or Parquet.

Examples:
    A sweep of two seeds, run in this process, summarised and exported:

    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> sweep = parse_sweep({"sweep": {"name": "tiny"}, "grid": {"runs": 2, "steps": 10, "seeds": [0, 1]}})
    >>> done = run_sweep(sweep, folder / "tiny.sqlite", workers=0)
    >>> done.n_done, done.n_failed
    (2, 0)
    >>> report = summarize(folder / "tiny.sqlite")
    >>> point = report.points[0]
    >>> point.n_runs, sum(rate.count for rate in point.categories.values())
    (4, 4)
    >>> export_results(folder / "tiny.sqlite", folder / "runs.csv")
    4
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import enum
import hashlib
import itertools
import json
import math
import os
import platform
import socket
import sys
import time
import traceback
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from cellscape import sweep_store as store
from cellscape._validation import check_enum, check_float, check_int, invalid
from cellscape.atlas.escape import EscapeConfig, EscapeOutcome
from cellscape.exceptions import CellscapeError, MissingExtraError
from cellscape.statistics import Rate, rate
from cellscape.survey import EndpointCategory, SurveyConfig

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

__all__ = [
    # configuration
    "TaskKind", "SweepTask", "SweepConfig", "load_sweep", "parse_sweep", "task_key",
    # running
    "SweepSummary", "run_sweep", "run_task",
    # results
    "PointSummary", "SweepReport", "summarize", "ExportTable", "ResultsTable", "results_table", "ExportFormat",
    "export_results",
]

SEED_AXIS = "seeds"
"""The key of the seed axis in ``[grid]`` (``SurveyConfig.seed`` itself is not a grid key)."""

KIND_KEY = "kind"
"""The key naming a task's :class:`TaskKind` in its stored configuration (absent for surveys)."""


class TaskKind(str, enum.Enum):
    """What every task of a sweep runs (``[sweep] kind``).

    ``survey``: :func:`~cellscape.survey.run_survey` of a :class:`~cellscape.survey.SurveyConfig`; each run's
    category is its :class:`~cellscape.survey.EndpointCategory` and the certified minima are kept.
    ``escape``: :func:`~cellscape.atlas.escape.run_escape` of an :class:`~cellscape.atlas.escape.EscapeConfig`;
    each run's category is its :class:`~cellscape.atlas.escape.EscapeOutcome` (genuine or not starting cell,
    stayed in it or left), and there are no minima.

    Examples:
        >>> TaskKind.ESCAPE.config_class.__name__, [c.value for c in TaskKind.ESCAPE.categories][:2]
        ('EscapeConfig', ['genuine_stayed', 'genuine_left'])
    """

    SURVEY = "survey"
    ESCAPE = "escape"

    @property
    def config_class(self) -> type[SurveyConfig] | type[EscapeConfig]:
        return SurveyConfig if self is TaskKind.SURVEY else EscapeConfig

    @property
    def categories(self) -> type[EndpointCategory] | type[EscapeOutcome]:
        return EndpointCategory if self is TaskKind.SURVEY else EscapeOutcome

    @classmethod
    def of(cls, config: SurveyConfig | EscapeConfig | Mapping[str, Any]) -> TaskKind:
        """The kind of a configuration, or of a stored configuration dict (``kind`` key, default survey)."""
        if isinstance(config, Mapping):
            return cls(config.get(KIND_KEY, cls.SURVEY.value))
        return cls.ESCAPE if isinstance(config, EscapeConfig) else cls.SURVEY


# ------------------------------------------------------------------------------------------------ configuration
def _plain(value: Any) -> Any:
    """A JSON-ready copy: enums as their values, tuples as lists, paths as strings, dataclasses as dicts."""
    if isinstance(value, enum.Enum):
        return _plain(value.value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    return value


def _config_dict(config: SurveyConfig | EscapeConfig) -> dict[str, Any]:
    """Every init field of ``config`` as plain JSON values, in field order; an escape configuration first names
    its kind (a survey's does not, so survey keys stay as they were before there were kinds)."""
    kind = TaskKind.of(config)
    head = {} if kind is TaskKind.SURVEY else {KIND_KEY: kind.value}
    return {**head, **{f.name: _plain(getattr(config, f.name)) for f in dataclasses.fields(config) if f.init}}


def _digest(material: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(material, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:16]


def task_key(config: SurveyConfig | EscapeConfig, *, data_sha256: str | None = None, seed: bool = True) -> str:
    """The stable key of a task: the first 16 hex digits of the SHA-256 of its canonical configuration.

    The canonical configuration is every field of the :class:`~cellscape.survey.SurveyConfig` (or
    :class:`~cellscape.atlas.escape.EscapeConfig`, with its kind) with defaults included, as JSON with sorted
    keys; a data file enters by its content (``data_sha256``), not by its path, so moving the study does not change
    its keys. With ``seed=False`` the key names the grid point (all seeds alike).

    Args:
        config: the task's configuration.
        data_sha256: the SHA-256 of the data file, when ``config.data`` is a file.
        seed: include the seed (the task's key) or not (its grid point's key).

    Returns:
        16 hexadecimal digits.

    Examples:
        The key depends on values, not on how they were written:

        >>> task_key(SurveyConfig(lr=0.1, hidden=[4])) == task_key(SurveyConfig(lr=1e-1, hidden=(4,)))
        True
        >>> task_key(SurveyConfig(seed=1)) == task_key(SurveyConfig(seed=2))
        False
        >>> task_key(SurveyConfig(seed=1), seed=False) == task_key(SurveyConfig(seed=2), seed=False)
        True
        >>> task_key(SurveyConfig(runs=32)) == task_key(EscapeConfig(runs=32))
        False
    """
    material = _config_dict(config)
    if data_sha256 is not None:
        material["data"] = f"sha256:{data_sha256}"
    if not seed:
        del material["seed"]
    return _digest(material)


@dataclasses.dataclass(frozen=True)
class SweepTask:
    """One unit of work: one grid point with one seed.

    Attributes:
        key: the task's stable key (:func:`task_key`). point: the key of its grid point (the key without the
            seed). seed: its seed. config: what it runs (a survey, or a cell-escape experiment).
        data_sha256: the SHA-256 of the data file (``None`` for built-in data).
    """

    key: str
    point: str
    seed: int
    config: SurveyConfig | EscapeConfig
    data_sha256: str | None = None

    def config_dict(self) -> dict[str, Any]:
        """The configuration as plain JSON values (what a worker receives)."""
        return _config_dict(self.config)


@dataclasses.dataclass(frozen=True)
class SweepConfig:
    """A parsed sweep: its tasks in grid order (axes in the order written, seeds innermost).

    Attributes:
        name, description: from ``[sweep]``.
        tasks: the tasks, each once.
        kind: what every task runs (``[sweep] kind``).
        axes: the grid keys given as axes (more than one value), ``seeds`` included when there are several.
        source: the TOML text (or the JSON of the mapping given to :func:`parse_sweep`), stored with the results.
        path: the TOML file, when loaded from one.
    """

    name: str
    description: str
    tasks: tuple[SweepTask, ...]
    axes: tuple[str, ...] = ()
    source: str = ""
    path: str | None = None
    kind: TaskKind = TaskKind.SURVEY


def _is_tuple_field(field: dataclasses.Field) -> bool:
    """Whether a configuration field holds a tuple (then a list is one value and a list of lists an axis)."""
    return isinstance(field.default, tuple) or "tuple[" in str(field.type).lower()


def _axis(key: str, value: Any, field: dataclasses.Field, func: str) -> list[Any]:
    """The values of one grid key: one value, or an axis."""
    where = f"grid.{key}"
    if _is_tuple_field(field):
        if isinstance(value, list) and value and all(isinstance(v, list) for v in value):
            values = [tuple(v) for v in value]
        elif isinstance(value, list):
            values = [tuple(value)]
        else:
            raise invalid(where, func, "a list such as [8] (one value) or a list of lists such as [[4], [8, 8]] "
                          "(an axis)", value)
    elif isinstance(value, list):
        if not value:
            raise invalid(where, func, "a value or a non-empty list of values (an axis)", value)
        values = list(value)
    else:
        values = [value]
    seen = [json.dumps(_plain(v), sort_keys=True) for v in values]
    if len(set(seen)) != len(seen):
        raise invalid(where, func, "an axis of distinct values", value)
    return values


def _seeds(value: Any, func: str) -> list[int]:
    """The seed axis: a list of distinct seeds, or ``{start = S, count = N}``."""
    expected = "a list of distinct seeds such as [0, 1, 2] or a table {start = 0, count = 10}"
    if isinstance(value, Mapping):
        unknown = set(value) - {"start", "count"}
        if unknown or "count" not in value:
            raise invalid(f"grid.{SEED_AXIS}", func, expected, value)
        start = check_int(value.get("start", 0), name=f"grid.{SEED_AXIS}.start", func=func, minimum=0)
        count = check_int(value["count"], name=f"grid.{SEED_AXIS}.count", func=func, minimum=1)
        return list(range(start, start + count))
    if not isinstance(value, list) or not value:
        raise invalid(f"grid.{SEED_AXIS}", func, expected, value)
    seeds = [check_int(s, name=f"grid.{SEED_AXIS}", func=func, minimum=0) for s in value]
    if len(set(seeds)) != len(seeds):
        raise invalid(f"grid.{SEED_AXIS}", func, expected, value)
    return seeds


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _resolve_data(spec: Any, base_dir: Path | None, func: str, cache: dict[str, tuple[str, str]]
                  ) -> tuple[Any, str | None]:
    """A data file as an absolute path (relative paths are relative to the sweep file) and its SHA-256."""
    if not isinstance(spec, str) or spec.startswith("builtin:"):
        return spec, None
    if spec not in cache:
        path = Path(spec).expanduser()
        if not path.is_absolute() and base_dir is not None:
            path = base_dir / path
        if not path.is_file():
            raise invalid("grid.data", func, "built-in data (builtin:NAME) or an existing data file",
                          f"{spec!r} (no such file: {str(path)!r})", raw=True)
        cache[spec] = (str(path.resolve()), _file_sha256(path))
    return cache[spec]


def _grid_tasks(grid: Any, index: int | None, kind: TaskKind, base_dir: Path | None, func: str,
                cache: dict[str, tuple[str, str]]) -> tuple[list[SweepTask], list[str]]:
    """The tasks of one ``[grid]`` table, and its axes."""
    name = "grid" if index is None else f"grid[{index}]"
    cls = kind.config_class
    if not isinstance(grid, Mapping) or not grid:
        raise invalid(name, func, f"a non-empty table of {cls.__name__} fields and seeds", grid)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init and f.name != "seed"}
    valid = ", ".join([*fields, SEED_AXIS])
    axes: dict[str, list[Any]] = {}
    seeds = [cls().seed]
    for key, value in grid.items():
        if key == SEED_AXIS:
            seeds = _seeds(value, func)
        elif key in fields:
            axes[key] = _axis(key, value, fields[key], func)
        else:
            hint = f" (the seed axis is `{SEED_AXIS}`)" if key == "seed" else ""
            raise invalid(name, func, f"a table whose keys are among {valid}", f"the unknown key {key!r}{hint}",
                          raw=True)
    tasks = []
    for combo in itertools.product(*axes.values()):
        values = dict(zip(axes, combo))
        data_sha256 = None
        if "data" in values:
            values["data"], data_sha256 = _resolve_data(values["data"], base_dir, func, cache)
        varying = {k: v for k, v in values.items() if len(axes[k]) > 1}
        for seed in seeds:
            try:
                config = cls(**values, seed=seed)
            except CellscapeError as err:
                point = f" (at the grid point {json.dumps(_plain(varying))})" if varying else ""
                raise type(err)(f"{err}{point}") from None
            except (TypeError, ValueError) as err:
                raise invalid(name, func, f"values {cls.__name__} accepts",
                              f"{json.dumps(_plain(values))} ({err})", raw=True) from None
            tasks.append(SweepTask(key=task_key(config, data_sha256=data_sha256),
                                   point=task_key(config, data_sha256=data_sha256, seed=False),
                                   seed=seed, config=config, data_sha256=data_sha256))
    names = [k for k, v in axes.items() if len(v) > 1] + ([SEED_AXIS] if len(seeds) > 1 else [])
    return tasks, names


def parse_sweep(spec: Mapping[str, Any], *, name: str | None = None, base_dir: str | os.PathLike[str] | None = None,
                source: str | None = None) -> SweepConfig:
    """Expand a sweep description (the parsed TOML) into its tasks.

    Args:
        spec: ``{"sweep": {"name": ..., "description": ..., "kind": ...}, "grid": {...}}``; ``grid`` may be a list
            of tables (``[[grid]]``), whose tasks are united (a task in several grids runs once); ``kind`` is a
            :class:`TaskKind` (default ``survey``).
        name: the name when ``[sweep]`` gives none (default ``"sweep"``).
        base_dir: the folder relative data paths are taken from (the sweep file's folder).
        source: the text to store with the results (default: the JSON of ``spec``).

    Returns:
        The :class:`SweepConfig`.

    Raises:
        InvalidInputError: for an unknown table or key (the message lists the valid ones), a bad value (the
            message names its key and, for a value that only fails at one grid point, the point), a missing data
            file, or a grid that lists one task twice.

    Examples:
        >>> sweep = parse_sweep({"grid": {"hidden": [[2], [4]], "activation": ["relu", "abs"], "seeds": [0, 1]}})
        >>> len(sweep.tasks), sweep.axes
        (8, ('hidden', 'activation', 'seeds'))
        >>> [(t.config.hidden, t.config.activation, t.seed) for t in sweep.tasks[:3]]
        [((2,), 'relu', 0), ((2,), 'relu', 1), ((2,), 'abs', 0)]
    """
    func = "parse_sweep"
    if not isinstance(spec, Mapping):
        raise invalid("spec", func, "a mapping with the tables [sweep] and [grid]", spec)
    unknown = [k for k in spec if k not in ("sweep", "grid")]
    if unknown:
        raise invalid("spec", func, "a table whose keys are among sweep, grid", f"the unknown key {unknown[0]!r}",
                      raw=True)
    meta = spec.get("sweep", {})
    if not isinstance(meta, Mapping):
        raise invalid("sweep", func, "a table with the keys name, description, kind", meta)
    for key in meta:
        if key not in ("name", "description", KIND_KEY):
            raise invalid("sweep", func, "a table whose keys are among name, description, kind",
                          f"the unknown key {key!r}", raw=True)
    kind = check_enum(meta.get(KIND_KEY, TaskKind.SURVEY), TaskKind, name="sweep.kind", func=func)
    sweep_name = meta.get("name", name or "sweep")
    description = meta.get("description", "")
    if not isinstance(sweep_name, str) or not sweep_name.strip():
        raise invalid("sweep.name", func, "a non-empty string", sweep_name)
    if not isinstance(description, str):
        raise invalid("sweep.description", func, "a string", description)
    if "grid" not in spec:
        raise invalid("grid", func, f"a table of {kind.config_class.__name__} fields and seeds", "no [grid] table",
                      raw=True)
    grids = spec["grid"]
    folder = None if base_dir is None else Path(base_dir)
    cache: dict[str, tuple[str, str]] = {}
    if isinstance(grids, list):
        if not grids:
            raise invalid("grid", func, "a table or a non-empty list of tables", grids)
        parts = [_grid_tasks(g, i, kind, folder, func, cache) for i, g in enumerate(grids)]
    else:
        parts = [_grid_tasks(grids, None, kind, folder, func, cache)]
    tasks: dict[str, SweepTask] = {}
    axes: list[str] = []
    for i, (grid_tasks, grid_axes) in enumerate(parts):
        keys = [t.key for t in grid_tasks]
        if len(set(keys)) != len(keys):
            where = "grid" if len(parts) == 1 else f"grid[{i}]"
            raise invalid(where, func, "a grid whose points are distinct tasks",
                          "two grid points that describe the same task", raw=True)
        for task in grid_tasks:
            tasks.setdefault(task.key, task)
        axes += [a for a in grid_axes if a not in axes]
    if len(parts) > 1:
        # a key whose value differs between grids is an axis of the whole sweep too
        values: dict[str, set[str]] = {}
        for task in tasks.values():
            for k, v in task.config_dict().items():
                values.setdefault(k, set()).add(json.dumps(v))
        axes += [k for k, v in values.items() if len(v) > 1 and k != "seed" and k not in axes]
    text = source if source is not None else json.dumps(_plain(spec), indent=2, sort_keys=True)
    return SweepConfig(name=sweep_name, description=description, tasks=tuple(tasks.values()), axes=tuple(axes),
                       source=text, kind=kind)


def load_sweep(path: str | os.PathLike[str]) -> SweepConfig:
    """Read and expand a sweep file (TOML; see the module docstring for its tables).

    Relative data paths are taken relative to the file's folder; the sweep's name defaults to the file's stem.

    Args:
        path: the ``.toml`` file.

    Returns:
        The :class:`SweepConfig`, with the file's text as its ``source``.

    Raises:
        InvalidInputError: for a missing or unreadable file, invalid TOML (with the line and column), or any
            error of :func:`parse_sweep`.

    Examples:
        >>> import tempfile, pathlib
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "study.toml"
        >>> _ = path.write_text('[grid]\\nactivation = ["relu", "abs"]\\nseeds = {start = 0, count = 3}\\n')
        >>> sweep = load_sweep(path)
        >>> sweep.name, len(sweep.tasks)
        ('study', 6)
    """
    func = "load_sweep"
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        reason = getattr(err, "strerror", None) or str(err)
        raise invalid("config", func, "a readable TOML file", f"{os.fspath(path)!r} ({reason})", raw=True) from None
    try:
        spec = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise invalid("config", func, "a valid TOML file", f"{os.fspath(path)!r} ({err})", raw=True) from None
    sweep = parse_sweep(spec, name=file.stem, base_dir=file.resolve().parent, source=text)
    return dataclasses.replace(sweep, path=str(file.resolve()))


# ------------------------------------------------------------------------------------------------------ running
def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="microseconds")


def _one_line(err: BaseException) -> str:
    text = " ".join(str(err).split())
    return f"{type(err).__name__}: {text}" if text else type(err).__name__


def _run_escape(config: Mapping[str, Any]) -> dict[str, Any]:
    """The result of one escape task as a plain dict: its configuration, counts, 2x2 table and per-run records
    (:meth:`~cellscape.atlas.escape.CellEscape.records`); no minima."""
    from cellscape import __version__
    from cellscape.atlas.escape import EscapeConfig, run_escape

    escape_config = EscapeConfig(**config)
    result = run_escape(escape_config)
    return {"cellscape_version": __version__, "command": "escape", "config": _config_dict(escape_config),
            "counts": result.counts, "table": result.table.tolist(), "minima": [], "runs": result.records()}


def run_task(config: Mapping[str, Any]) -> dict[str, Any]:
    """Run one task (in a worker): the survey of ``SurveyConfig(**config)``, or with ``config["kind"] ==
    "escape"`` the cell-escape experiment of ``EscapeConfig(**rest)``, as a plain picklable dict.

    Never raises for a failing task: the failure comes back as ``status = "failed"`` with a one-line ``error``
    and the ``traceback``, so one bad task does not stop the sweep.

    Args:
        config: the task's configuration (:meth:`SweepTask.config_dict`).

    Returns:
        ``{"status": "done", "result": SurveyResult.to_dict(), ...}`` (for escape: the configuration, counts,
        table and ``runs``, one :meth:`~cellscape.atlas.escape.CellEscape.records` dict per run) or
        ``{"status": "failed", "error": ..., "traceback": ..., ...}``, both with ``host``, ``pid``, ``started``,
        ``finished`` (UTC, ISO 8601), ``wall_s`` and ``cellscape_version``.

    Examples:
        >>> out = run_task({"runs": 2, "steps": 10})
        >>> out["status"], len(out["result"]["runs"])
        ('done', 2)
        >>> out = run_task({"runs": 0})
        >>> out["status"], out["error"].split(":")[0]
        ('failed', 'InvalidInputError')
    """
    import cellscape  # a fresh worker process: this switches JAX to float64
    from cellscape.survey import SurveyConfig, run_survey

    start = time.perf_counter()
    base = {"host": socket.gethostname(), "pid": os.getpid(), "started": _now(),
            "cellscape_version": cellscape.__version__}
    try:
        fields = {k: v for k, v in config.items() if k != KIND_KEY}
        if TaskKind.of(config) is TaskKind.ESCAPE:
            result = _run_escape(fields)
        else:
            result = run_survey(SurveyConfig(**fields)).to_dict()
    except Exception as err:  # recorded, and retried when the sweep is restarted
        return {**base, "status": store.TaskStatus.FAILED.value, "error": _one_line(err),
                "traceback": traceback.format_exc(), "finished": _now(), "wall_s": time.perf_counter() - start}
    return {**base, "status": store.TaskStatus.DONE.value, "result": result, "finished": _now(),
            "wall_s": time.perf_counter() - start}


def _lost(err: BaseException) -> dict[str, Any]:
    """The outcome of a task whose worker never returned (a dead process, a lost Dask worker)."""
    return {"status": store.TaskStatus.FAILED.value, "error": f"the worker did not return: {_one_line(err)}",
            "traceback": "".join(traceback.format_exception(type(err), err, err.__traceback__)),
            "finished": _now()}


def _watch_parent(parent: int) -> None:
    """In a pool worker: exit when the coordinating process is gone (killed), instead of lingering."""
    import threading

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, name="cellscape-sweep-parent", daemon=True).start()


def _run_inline(tasks: Sequence[SweepTask]) -> Iterator[tuple[SweepTask, dict[str, Any]]]:
    for task in tasks:
        yield task, run_task(task.config_dict())


def _run_pool(tasks: Sequence[SweepTask], workers: int) -> Iterator[tuple[SweepTask, dict[str, Any]]]:
    import concurrent.futures
    import concurrent.futures.process
    import multiprocessing

    # spawn, never fork: JAX's threads do not survive a fork
    executor = concurrent.futures.ProcessPoolExecutor(
        max_workers=min(workers, len(tasks)), mp_context=multiprocessing.get_context("spawn"),
        initializer=_watch_parent, initargs=(os.getpid(),))
    finished = False
    try:
        futures = {executor.submit(run_task, task.config_dict()): task for task in tasks}
        for future in concurrent.futures.as_completed(futures):
            try:
                outcome = future.result()
            except concurrent.futures.process.BrokenProcessPool as err:  # retried on restart
                outcome = _lost(err)
                outcome["error"] += (" (a worker process died: killed, out of memory, or a script that calls "
                                     "run_sweep without `if __name__ == '__main__':`)")
            except Exception as err:
                outcome = _lost(err)
            yield futures[future], outcome
        finished = True
    finally:
        executor.shutdown(wait=finished, cancel_futures=True)


def _import_distributed(func: str) -> Any:
    try:
        import distributed
    except ImportError:
        raise MissingExtraError(f"`{func}` needs dask.distributed for a scheduler, which is not installed. "
                                "Install it with: pip install cellscape[sweep]") from None
    return distributed


def _run_dask(tasks: Sequence[SweepTask], address: str) -> Iterator[tuple[SweepTask, dict[str, Any]]]:
    distributed = _import_distributed("run_sweep")
    try:
        client = distributed.Client(address, timeout=30, set_as_default=False)
    except (OSError, TimeoutError, ValueError) as err:
        raise invalid("scheduler", "run_sweep", "the address of a running Dask scheduler",
                      f"{address!r} ({_one_line(err)})", raw=True) from None
    try:
        by_key = {}
        futures = []
        session = uuid.uuid4().hex[:8]
        for task in tasks:
            future = client.submit(run_task, task.config_dict(), key=f"cellscape-{task.key}-{session}", pure=False)
            by_key[future.key] = task
            futures.append(future)
        for future in distributed.as_completed(futures, loop=client.loop):
            try:
                outcome = future.result()
            except Exception as err:  # a lost worker (KilledWorker), a cancelled task: retried on restart
                outcome = _lost(err)
            yield by_key[future.key], outcome
            future.release()
    finally:
        client.close()


@dataclasses.dataclass(frozen=True)
class SweepSummary:
    """What one invocation of :func:`run_sweep` did.

    Attributes:
        db: the database. name: the sweep's name. session: this invocation's row in ``sessions``.
        executor: ``"inline"``, ``"process"`` or ``"dask"``; workers: the pool's size (``None`` for Dask).
        n_tasks: tasks of the sweep. n_skipped: tasks already done before this invocation.
        n_done, n_failed: tasks this invocation completed and saw fail. n_pending: tasks still not done.
        wall_s: seconds this invocation took. failures: ``(task key, error)`` of each failure.
    """

    db: str
    name: str
    session: int
    executor: str
    workers: int | None
    n_tasks: int
    n_skipped: int
    n_done: int
    n_failed: int
    n_pending: int
    wall_s: float
    failures: tuple[tuple[str, str], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "failures": [list(f) for f in self.failures]}


@contextlib.contextmanager
def _exclusive(db: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``<db>.lock`` so that two sweeps never run on one database at once (the OS drops
    the lock when the process dies, however it dies)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX: no lock
        yield
        return
    lock = db.with_name(db.name + ".lock")
    with open(lock, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise invalid("db", "run_sweep", "a database no other sweep is running on",
                          f"{str(db)!r} (locked by another process through {str(lock)!r})", raw=True) from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _prepare(conn: Any, sweep: SweepConfig, db: Path, *, extend: bool) -> None:
    """Record the sweep and its tasks in a new database, or check that an existing one holds the same tasks."""
    from cellscape import __version__

    rows = [{"key": t.key, "point": t.point, "seed": t.seed, "config": json.dumps(t.config_dict()),
             "data_sha256": t.data_sha256} for t in sweep.tasks]
    with store.transaction(conn):
        if conn.execute("SELECT COUNT(*) FROM sweep").fetchone()[0] == 0:
            conn.execute(
                "INSERT INTO sweep (id, name, description, config_toml, config_path, last_toml, cellscape_version, "
                "schema_version, created) VALUES (1, ?, ?, ?, ?, ?, ?, ?, ?)",
                (sweep.name, sweep.description, sweep.source, sweep.path, sweep.source, __version__,
                 store.SCHEMA_VERSION, _now()))
            store.insert_tasks(conn, rows)
            return
        stored = {r[0] for r in conn.execute("SELECT key FROM tasks")}
        wanted = {t.key for t in sweep.tasks}
        extra, missing = stored - wanted, wanted - stored
        if extra or (missing and not extend):
            raise invalid(
                "db", "run_sweep", "a new file or the database of this sweep (the same tasks; more with extend)",
                f"{str(db)!r} ({len(extra)} of its {len(stored)} tasks are not in the sweep configuration and "
                f"{len(missing)} of the configuration's {len(wanted)} tasks are not in it; use another database"
                f"{'' if extra else ', or extend it with --extend'})", raw=True)
        store.insert_tasks(conn, [r for r in rows if r["key"] in missing])
        conn.execute("UPDATE sweep SET last_toml = ? WHERE id = 1", (sweep.source,))


def run_sweep(
    config: SweepConfig | str | os.PathLike[str],
    db: str | os.PathLike[str],
    *,
    scheduler: str | None = None,
    workers: int | None = None,
    extend: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> SweepSummary:
    """Run every task of the sweep that the database does not hold yet, committing each result as it arrives.

    A new database records the sweep (its TOML text, the cellscape version) and all its tasks as ``pending``.
    An existing one must hold exactly the sweep's tasks (compared by :func:`task_key`, so a reordered grid is the
    same sweep); with ``extend`` it may hold a subset, and the new tasks are added (more seeds, another point).
    Tasks already ``done`` are skipped; ``pending`` ones (never run, or killed in flight) and ``failed`` ones are
    run. Workers only compute (:func:`run_task`); this process writes each task's runs, minima and status in one
    transaction as the task completes, so a kill at any moment loses only the tasks in flight. A failing task is
    recorded as ``failed`` with its error and the sweep goes on. Each invocation is recorded in ``sessions``.

    Args:
        config: the sweep (:func:`load_sweep`, :func:`parse_sweep`) or the path of its TOML file.
        db: the SQLite database (created if missing).
        scheduler: the address of a Dask scheduler (``tcp://host:8786``) to run the tasks on its workers (they
            need cellscape installed, and any data file at the same path); default: a local process pool.
        workers: processes of the local pool (default: every core); ``0`` runs the tasks in this process, one
            after the other. Not used with a scheduler (the cluster has its workers). The pool spawns its
            processes, so a script that calls ``run_sweep`` must do so under ``if __name__ == "__main__":``.
        extend: allow a database holding a subset of the sweep's tasks.
        progress: called as ``progress(tasks_done, tasks_total)`` at the start and after every task.

    Returns:
        A :class:`SweepSummary` of this invocation.

    Raises:
        InvalidInputError: for a bad configuration, a database of another sweep or in use by another sweep,
            ``workers`` with a scheduler, or a scheduler that cannot be reached.
        MissingExtraError: for a scheduler without dask.distributed (the ``sweep`` extra).

    Examples:
        >>> import tempfile, pathlib
        >>> db = pathlib.Path(tempfile.mkdtemp()) / "s.sqlite"
        >>> sweep = parse_sweep({"grid": {"runs": 2, "steps": 10}})
        >>> first = run_sweep(sweep, db, workers=0)
        >>> again = run_sweep(sweep, db, workers=0)       # nothing left to do
        >>> (first.n_done, first.n_skipped), (again.n_done, again.n_skipped)
        ((1, 0), (0, 1))

    Notes:
        Each task costs one :func:`~cellscape.survey.run_survey`; a fresh worker process also pays for importing
        JAX and compiling (seconds), once per process and shape. The database write per task is one transaction
        with an ``fsync`` (milliseconds).
    """
    from cellscape import __version__

    func = "run_sweep"
    sweep = config if isinstance(config, SweepConfig) else load_sweep(config)
    if scheduler is not None:
        if not isinstance(scheduler, str) or not scheduler.strip():
            raise invalid("scheduler", func, "the address of a Dask scheduler such as 'tcp://127.0.0.1:8786'",
                          scheduler)
        if workers is not None:
            raise invalid("workers", func, "None with a scheduler (the Dask cluster has its own workers)", workers)
        _import_distributed(func)
        executor = "dask"
    else:
        workers = (os.cpu_count() or 1) if workers is None else check_int(workers, name="workers", func=func,
                                                                            minimum=0)
        executor = "inline" if workers == 0 else "process"
    path = Path(db)
    if path.parent and not path.parent.is_dir():
        raise invalid("db", func, "a file in an existing folder", f"{str(path)!r} (no such folder)", raw=True)
    start = time.perf_counter()
    with _exclusive(path):
        conn = store.connect(path)
        try:
            _prepare(conn, sweep, path, extend=extend)
            status = dict(conn.execute("SELECT key, status FROM tasks"))
            with store.transaction(conn):
                session = conn.execute(
                    "INSERT INTO sessions (started, cellscape_version, python, platform, host, pid, executor, "
                    "address, workers, config_toml) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (_now(), __version__, platform.python_version(), platform.platform(), socket.gethostname(),
                     os.getpid(), executor, scheduler, workers, sweep.source)).lastrowid
            todo = [t for t in sweep.tasks if status[t.key] != store.TaskStatus.DONE]
            skipped = len(sweep.tasks) - len(todo)
            total, done_now, failures = len(sweep.tasks), 0, []
            if progress is not None:
                progress(skipped, total)
            if todo:
                if executor == "dask":
                    outcomes = _run_dask(todo, scheduler)
                elif executor == "process":
                    outcomes = _run_pool(todo, workers)
                else:
                    outcomes = _run_inline(todo)
                with contextlib.closing(outcomes):
                    for task, outcome in outcomes:
                        store.record_outcome(conn, task.key, outcome, session=session)
                        if outcome["status"] == store.TaskStatus.DONE:
                            done_now += 1
                        else:
                            failures.append((task.key, outcome.get("error", "")))
                        if progress is not None:
                            progress(skipped + done_now + len(failures), total)
            with store.transaction(conn):
                conn.execute("UPDATE sessions SET finished = ?, n_done = ?, n_failed = ? WHERE id = ?",
                             (_now(), done_now, len(failures), session))
            pending = conn.execute("SELECT COUNT(*) FROM tasks WHERE status != 'done'").fetchone()[0]
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # the .sqlite file alone then holds everything
        finally:
            conn.close()
    return SweepSummary(db=str(path), name=sweep.name, session=session, executor=executor,
                        workers=None if executor == "dask" else workers, n_tasks=total, n_skipped=skipped,
                        n_done=done_now, n_failed=len(failures), n_pending=pending,
                        wall_s=time.perf_counter() - start, failures=tuple(failures))


# ------------------------------------------------------------------------------------------------------ results
@dataclasses.dataclass(frozen=True)
class PointSummary:
    """The results of one grid point (or of one task, with ``by_seed``), pooled over its done tasks.

    Attributes:
        point: the point's key (the task's key with ``by_seed``).
        params: the values of the configuration fields that vary across the sweep (the point's label).
        config: the whole configuration less the seed.
        seeds: the seeds of its done tasks. n_tasks, n_done, n_failed: its tasks, done and failed.
        n_runs: runs of its done tasks.
        categories: per category value of the sweep's kind (:class:`~cellscape.survey.EndpointCategory`, or
            :class:`~cellscape.atlas.escape.EscapeOutcome` for escape sweeps), the :class:`Rate` of runs in it.
        on_boundary: the :class:`Rate` of runs that ended in a certified minimum on a cell boundary (``None``
            for escape sweeps, which certify nothing).
        n_minima: distinct certified minima, summed over its tasks (each task groups its own minima).
        n_spurious_minima: those of them in the ``spurious`` category.
        minima_per_task: ``n_minima / n_done``. lowest_minimum: the lowest risk of a certified minimum.
        best_risk: the lowest risk of any endpoint. wall_s: the tasks' seconds, summed.
    """

    point: str
    params: dict[str, Any]
    config: dict[str, Any]
    seeds: tuple[int, ...]
    n_tasks: int
    n_done: int
    n_failed: int
    n_runs: int
    categories: dict[str, Rate]
    on_boundary: Rate | None
    n_minima: int
    n_spurious_minima: int
    minima_per_task: float
    lowest_minimum: float | None
    best_risk: float | None
    wall_s: float

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["categories"] = {k: r.to_dict() for k, r in self.categories.items()}
        out["on_boundary"] = None if self.on_boundary is None else self.on_boundary.to_dict()
        out["seeds"] = list(self.seeds)
        return out


@dataclasses.dataclass(frozen=True)
class SweepReport:
    """Everything :func:`summarize` found in a sweep database.

    Attributes:
        db: the database. name, description: the sweep's. created: when the database was made.
        kind: what its tasks ran (a :class:`TaskKind` value; it names the categories of ``points``).
        cellscape_versions: the versions that computed its done tasks (more than one: the results mix versions).
        n_tasks, n_done, n_failed, n_pending: its tasks by status. n_sessions: invocations of the sweep.
        axes: the configuration fields that vary across the sweep. points: one summary per grid point (per
            task with ``by_seed``), in grid order. failures: ``(task key, error)`` of each failed task.
        confidence: the level of every interval.
    """

    db: str
    name: str
    description: str
    created: str
    kind: str
    cellscape_versions: tuple[str, ...]
    n_tasks: int
    n_done: int
    n_failed: int
    n_pending: int
    n_sessions: int
    axes: tuple[str, ...]
    points: tuple[PointSummary, ...]
    failures: tuple[tuple[str, str], ...]
    confidence: float

    def to_dict(self) -> dict[str, Any]:
        from cellscape import __version__

        def clean(value: Any) -> Any:
            if isinstance(value, float) and not math.isfinite(value):
                return str(value)
            if isinstance(value, dict):
                return {k: clean(v) for k, v in value.items()}
            if isinstance(value, (list, tuple)):
                return [clean(v) for v in value]
            return value

        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        out["points"] = [p.to_dict() for p in self.points]
        return clean({"cellscape_version": __version__, "command": "results", **out})


def _load_tasks(conn: Any) -> list[dict[str, Any]]:
    columns = ["key", "point", "seed", "config", "status", "attempts", "started", "finished", "wall_s", "host",
               "pid", "cellscape_version", "error", "result"]
    rows = conn.execute(f"SELECT {', '.join(columns)} FROM tasks ORDER BY position").fetchall()
    tasks = []
    for row in rows:
        task = dict(zip(columns, row))
        task["config"] = json.loads(task["config"])
        task["result"] = None if task["result"] is None else json.loads(task["result"])
        tasks.append(task)
    return tasks


def _varying(tasks: Sequence[Mapping[str, Any]], *, keep_seed: bool) -> list[str]:
    """The configuration fields whose values differ between tasks (in field order)."""
    values: dict[str, set[str]] = {}
    for task in tasks:
        for k, v in task["config"].items():
            values.setdefault(k, set()).add(json.dumps(v, sort_keys=True))
    return [k for k, v in values.items() if len(v) > 1 and (keep_seed or k != "seed")]


def _kind(tasks: Sequence[Mapping[str, Any]]) -> TaskKind:
    """The kind of a database's tasks (one kind per database: tasks of another kind have other keys, which
    :func:`run_sweep` refuses to add)."""
    return TaskKind.of(tasks[0]["config"]) if tasks else TaskKind.SURVEY


def summarize(db: str | os.PathLike[str], *, confidence: float = 0.95, by_seed: bool = False) -> SweepReport:
    r"""Summarise a sweep database: per grid point, the rate of every endpoint category with its interval.

    For a grid point with :math:`n` runs over its done tasks, :math:`k` of them in a category, the rate is
    :math:`\hat p = k / n` with the Wilson score interval at level ``confidence``
    (:func:`cellscape.statistics.wilson_interval`):

    .. math::  \frac{\hat p + z^2 / 2n \pm z \sqrt{\hat p (1 - \hat p) / n + z^2 / 4n^2}}{1 + z^2 / n},
        \qquad z = \Phi^{-1}((1 + c) / 2).

    Args:
        db: the sweep database.
        confidence: the level ``c`` of the intervals, in (0, 1).
        by_seed: one summary per task (grid point and seed) instead of per grid point.

    Returns:
        A :class:`SweepReport`.

    Raises:
        InvalidInputError: for a missing file, a file that holds no sweep, or a bad ``confidence``.

    Examples:
        >>> import tempfile, pathlib
        >>> db = pathlib.Path(tempfile.mkdtemp()) / "s.sqlite"
        >>> _ = run_sweep(parse_sweep({"grid": {"runs": 2, "steps": 10, "seeds": [0, 1]}}), db, workers=0)
        >>> point = summarize(db).points[0]
        >>> rate = point.categories["not_converged"]     # 10 steps: no run converges
        >>> rate.count, rate.total, round(rate.low, 4), rate.high   # Wilson at k = n = 4: low = n / (n + z^2)
        (4, 4, 0.5101, 1.0)

    Notes:
        The categories are those of :func:`~cellscape.survey.run_survey`, decided within each task: ``global``
        means the lowest certified minimum *that task* found (for an escape sweep, those of
        :class:`~cellscape.atlas.escape.EscapeOutcome`). The intervals treat runs as independent trials;
        runs of one task share their data and seed, so where the data are random (built-ins that draw from the
        seed), look also at ``by_seed`` for the spread between seeds. Distinct minima are grouped within a task
        (by their predictions on the task's data) and summed over tasks.
    """
    func = "summarize"
    confidence = check_float(confidence, name="confidence", func=func, minimum=0.0, strict_minimum=True,
                             maximum=1.0)
    if confidence == 1.0:
        raise invalid("confidence", func, "a finite float in (0.0, 1.0)", confidence)
    conn = store.open_existing(db, func=func)
    try:
        name, description, created = conn.execute("SELECT name, description, created FROM sweep").fetchone()
        tasks = _load_tasks(conn)
        runs: dict[str, list[tuple[str, int, float | None]]] = {}
        for key, category, on_boundary, risk in conn.execute(
                "SELECT task, category, on_boundary, risk FROM runs ORDER BY task, run"):
            runs.setdefault(key, []).append((category, on_boundary, risk))
        minima: dict[str, list[tuple[str, float | None]]] = {}
        for key, category, risk in conn.execute("SELECT task, category, risk FROM minima ORDER BY task, minimum"):
            minima.setdefault(key, []).append((category, risk))
        n_sessions = conn.execute("SELECT COUNT(*) FROM sessions").fetchone()[0]
    finally:
        conn.close()
    axes = _varying(tasks, keep_seed=by_seed)
    kind = _kind(tasks)
    groups: dict[str, list[dict[str, Any]]] = {}
    for task in tasks:
        groups.setdefault(task["key"] if by_seed else task["point"], []).append(task)
    points = []
    for point, members in groups.items():
        done = [t for t in members if t["status"] == store.TaskStatus.DONE]
        point_runs = [r for t in done for r in runs.get(t["key"], [])]
        point_minima = [m for t in done for m in minima.get(t["key"], [])]
        n = len(point_runs)
        config = {k: v for k, v in members[0]["config"].items() if by_seed or k != "seed"}
        risks = [r[2] for r in point_runs if r[2] is not None]
        minimum_risks = [m[1] for m in point_minima if m[1] is not None]
        points.append(PointSummary(
            point=point,
            params={k: config[k] for k in axes if k in config},
            config=config,
            seeds=tuple(t["seed"] for t in done),
            n_tasks=len(members),
            n_done=len(done),
            n_failed=sum(t["status"] == store.TaskStatus.FAILED for t in members),
            n_runs=n,
            categories={c.value: rate(sum(r[0] == c.value for r in point_runs), n, confidence=confidence)
                        for c in kind.categories},
            on_boundary=(rate(sum(bool(r[1]) for r in point_runs), n, confidence=confidence)
                         if kind is TaskKind.SURVEY else None),
            n_minima=len(point_minima),
            n_spurious_minima=sum(m[0] == EndpointCategory.SPURIOUS.value for m in point_minima),
            minima_per_task=len(point_minima) / len(done) if done else math.nan,
            lowest_minimum=min(minimum_risks, default=None),
            best_risk=min(risks, default=None),
            wall_s=sum(t["wall_s"] or 0.0 for t in done),
        ))
    status = [t["status"] for t in tasks]
    return SweepReport(
        db=str(db), name=name, description=description, created=created, kind=kind.value,
        cellscape_versions=tuple(sorted({t["cellscape_version"] for t in tasks
                                         if t["status"] == store.TaskStatus.DONE})),
        n_tasks=len(tasks), n_done=status.count(store.TaskStatus.DONE),
        n_failed=status.count(store.TaskStatus.FAILED), n_pending=status.count(store.TaskStatus.PENDING),
        n_sessions=n_sessions, axes=tuple(axes), points=tuple(points),
        failures=tuple((t["key"], t["error"] or "") for t in tasks if t["status"] == store.TaskStatus.FAILED),
        confidence=confidence)


class ExportFormat(str, enum.Enum):
    """File formats of :func:`export_results`: ``csv`` (the standard library) or ``parquet`` (pyarrow, the
    ``sweep`` extra; the sweep's name and cellscape version go into the file's metadata)."""

    CSV = "csv"
    PARQUET = "parquet"


class ExportTable(str, enum.Enum):
    """What :func:`export_results` writes: one row per ``runs`` (run), ``minima`` (distinct minimum of a task),
    ``tasks`` (task, with its status, timing and counts) or ``summary`` (grid point, with every rate and its
    Wilson interval). Every row carries its task's key, grid point and seed (not ``summary``) and every
    configuration field (tuples such as ``hidden`` written ``"8,8"``)."""

    RUNS = "runs"
    MINIMA = "minima"
    TASKS = "tasks"
    SUMMARY = "summary"


def _cell(value: Any) -> Any:
    """A configuration value as one table cell: lists joined by commas, dicts as JSON."""
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True)
    return value


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


_RUN_COLUMNS = ("run", "risk", "grad_norm", "radius", "n_ties", "cell", "steps_taken", "converged", "diverged",
                "risk_group", "status", "category", "on_boundary", "minimum")
_ESCAPE_RUN_COLUMNS = ("run", "category", "stayed", "left_at", "start_genuine", "start_decided", "cell_risk",
                       "start_risk", "risk", "grad_norm", "steps_taken", "converged", "diverged", "final_genuine",
                       "final_decided", "final_cell_risk", "start_cell", "final_cell")
"""The runs of an escape sweep: :meth:`~cellscape.atlas.escape.CellEscape.records` (``index`` as ``run``,
``steps`` as ``steps_taken``)."""
_MINIMUM_COLUMNS = ("minimum", "risk", "count", "category", "on_boundary", "valley_dimension", "run_indices")
_TASK_STATUS_COLUMNS = ("status", "attempts", "started", "finished", "wall_s", "host", "pid", "cellscape_version",
                        "error")


def _run_row(record: Mapping[str, Any], minimum: int | None, kind: TaskKind) -> dict[str, Any]:
    """One run's columns from its stored record."""
    if kind is TaskKind.ESCAPE:
        row = {c: record[c] for c in _ESCAPE_RUN_COLUMNS if c in record}
        row.update(run=record["index"], steps_taken=record["steps"])
        for c in ("cell_risk", "start_risk", "risk", "grad_norm", "final_cell_risk"):
            row[c] = _float(record[c])
        return row
    return {"run": record["index"], "risk": _float(record["risk"]), "grad_norm": _float(record["grad_norm"]),
            "radius": _float(record["radius"]), "n_ties": record["n_ties"], "cell": record["cell"],
            "steps_taken": record["steps"], "converged": record["converged"], "diverged": record["diverged"],
            "risk_group": record["group"], "status": record["status"], "category": record["category"],
            "on_boundary": record["on_boundary"], "minimum": minimum}


def _table_rows(conn: Any, table: ExportTable, db: Any, confidence: float) -> tuple[list[str], list[dict]]:
    """The columns and rows of one table of results."""
    tasks = _load_tasks(conn)
    kind = _kind(tasks)
    categories = [c.value for c in kind.categories]
    boundary = kind is TaskKind.SURVEY
    fields = [f.name for f in dataclasses.fields(kind.config_class) if f.init and f.name != "seed"]
    for task in tasks:
        fields += [k for k in task["config"] if k not in fields and k != "seed"]
    if table is ExportTable.SUMMARY:
        report = summarize(db, confidence=confidence)
        head = ("point", "n_tasks", "n_done", "n_failed", "n_runs")
        shares = [*categories, *(["on_boundary"] if boundary else [])]
        tail = [f"{c}_{part}" for c in shares for part in ("count", "rate", "low", "high")]
        totals = ["n_minima", "n_spurious_minima", "minima_per_task", "lowest_minimum"] if boundary else []
        totals += ["best_risk", "wall_s"]
        own = (*head, *tail, *totals)
        names = {f: f"config_{f}" if f in own else f for f in fields}
        rows = []
        for p in report.points:
            row = {"point": p.point, **{names[f]: _cell(p.config.get(f)) for f in fields},
                   **{k: getattr(p, k) for k in head[1:]}}
            for key in shares:
                share = p.on_boundary if key == "on_boundary" else p.categories[key]
                row.update({f"{key}_count": share.count, f"{key}_rate": share.estimate, f"{key}_low": share.low,
                            f"{key}_high": share.high})
            row.update({k: getattr(p, k) for k in totals})
            rows.append(row)
        return ["point", *names.values(), *head[1:], *tail, *totals], rows
    task_columns = (*_TASK_STATUS_COLUMNS, "n_runs", *(f"n_{c}" for c in categories),
                    *(("n_on_boundary", "n_minima") if boundary else ()), "best_risk")
    own = {ExportTable.RUNS: _RUN_COLUMNS if boundary else _ESCAPE_RUN_COLUMNS, ExportTable.MINIMA: _MINIMUM_COLUMNS,
           ExportTable.TASKS: task_columns}
    names = {f: f"config_{f}" if f in (*own[table], "task", "point", "seed") else f for f in fields}
    columns = ["task", "point", "seed", *names.values(), *own[table]]
    rows = []
    for task in tasks:
        base = {"task": task["key"], "point": task["point"], "seed": task["seed"],
                **{names[f]: _cell(task["config"].get(f)) for f in fields}}
        if table is ExportTable.TASKS:
            counts = dict(conn.execute("SELECT category, COUNT(*) FROM runs WHERE task = ? GROUP BY category",
                                       (task["key"],)).fetchall())
            n_runs, n_boundary, best = conn.execute(
                "SELECT COUNT(*), COALESCE(SUM(on_boundary), 0), MIN(risk) FROM runs WHERE task = ?",
                (task["key"],)).fetchone()
            n_minima = conn.execute("SELECT COUNT(*) FROM minima WHERE task = ?", (task["key"],)).fetchone()[0]
            rows.append({**base, **{k: task[k] for k in _TASK_STATUS_COLUMNS}, "n_runs": n_runs,
                         **{f"n_{c}": counts.get(c, 0) for c in categories},
                         **({"n_on_boundary": n_boundary, "n_minima": n_minima} if boundary else {}),
                         "best_risk": best})
        elif table is ExportTable.RUNS:
            for record, minimum in conn.execute("SELECT record, minimum FROM runs WHERE task = ? ORDER BY run",
                                                (task["key"],)):
                rows.append({**base, **_run_row(json.loads(record), minimum, kind)})
        else:
            for row in conn.execute("SELECT minimum, risk, count, category, on_boundary, valley_dimension, runs "
                                    "FROM minima WHERE task = ? ORDER BY minimum", (task["key"],)):
                m = dict(zip(_MINIMUM_COLUMNS, row))
                m["on_boundary"] = bool(m["on_boundary"])
                m["run_indices"] = _cell(json.loads(m["run_indices"]))
                rows.append({**base, **m})
    return columns, rows


@dataclasses.dataclass(frozen=True)
class ResultsTable:
    """One table of a sweep's results, as plain rows (what :func:`export_results` writes).

    Attributes:
        table: which table (:class:`ExportTable`). columns: the column names, in order.
        rows: one dict per row, with every column.
    """

    table: ExportTable
    columns: tuple[str, ...]
    rows: tuple[dict[str, Any], ...]


def results_table(db: str | os.PathLike[str], *, table: ExportTable | str = ExportTable.RUNS,
                  confidence: float = 0.95) -> ResultsTable:
    """Read one table of a sweep database as rows: runs, minima, tasks or the per-point summary.

    Args:
        db: the sweep database.
        table: an :class:`ExportTable` (see there for the rows and columns).
        confidence: the level of the intervals of the ``summary`` table.

    Returns:
        The :class:`ResultsTable`.

    Raises:
        InvalidInputError: for a missing database or an unknown table.

    Examples:
        >>> import tempfile, pathlib
        >>> db = pathlib.Path(tempfile.mkdtemp()) / "s.sqlite"
        >>> _ = run_sweep(parse_sweep({"grid": {"runs": 2, "steps": 10}}), db, workers=0)
        >>> runs = results_table(db)
        >>> len(runs.rows), runs.columns[:4], runs.rows[0]["category"]
        (2, ('task', 'point', 'seed', 'data'), 'not_converged')
    """
    table = check_enum(table, ExportTable, name="table", func="results_table")
    conn = store.open_existing(db, func="results_table")
    try:
        columns, rows = _table_rows(conn, table, db, confidence)
    finally:
        conn.close()
    return ResultsTable(table=table, columns=tuple(columns), rows=tuple(rows))


def export_results(
    db: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    fmt: ExportFormat | str | None = None,
    table: ExportTable | str = ExportTable.RUNS,
    confidence: float = 0.95,
) -> int:
    """Write one table of a sweep database to CSV or Parquet: one row per run by default.

    The file is written next to ``out`` and renamed into place, so an interrupted export never leaves half a
    file. Non-finite floats are written as ``nan``/``inf`` (CSV) or as floats (Parquet); missing values (a run
    in no minimum) as empty cells or nulls.

    Args:
        db: the sweep database.
        out: the file to write.
        fmt: an :class:`ExportFormat`; default from the suffix of ``out`` (``.csv`` or ``.parquet``).
        table: an :class:`ExportTable` (``runs``, ``minima``, ``tasks`` or ``summary``).
        confidence: the level of the intervals of the ``summary`` table.

    Returns:
        The number of rows written.

    Raises:
        InvalidInputError: for a missing database, an unknown format or table, or an unwritable file.
        MissingExtraError: for Parquet without pyarrow (the ``sweep`` extra).

    Examples:
        >>> import tempfile, pathlib, csv
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> _ = run_sweep(parse_sweep({"grid": {"runs": 2, "steps": 10}}), folder / "s.sqlite", workers=0)
        >>> export_results(folder / "s.sqlite", folder / "tasks.csv", table="tasks")
        1
        >>> row = next(csv.DictReader((folder / "tasks.csv").read_text().splitlines()))
        >>> row["status"], row["n_runs"], row["hidden"]
        ('done', '2', '3')
    """
    func = "export_results"
    target = Path(out)
    if fmt is None:
        suffixes = {".csv": ExportFormat.CSV, ".parquet": ExportFormat.PARQUET, ".pq": ExportFormat.PARQUET}
        if target.suffix.lower() not in suffixes:
            raise invalid("fmt", func, "'csv' or 'parquet' (or a file ending in .csv or .parquet)",
                          f"None with the file {str(target)!r}", raw=True)
        fmt = suffixes[target.suffix.lower()]
    fmt = check_enum(fmt, ExportFormat, name="fmt", func=func)
    table = check_enum(table, ExportTable, name="table", func=func)
    if fmt is ExportFormat.PARQUET:
        try:
            import pyarrow
            import pyarrow.parquet
        except ImportError:
            raise MissingExtraError(f"`{func}` needs pyarrow for Parquet, which is not installed. "
                                    "Install it with: pip install cellscape[sweep]") from None
    if not target.parent.is_dir():
        raise invalid("out", func, "a file in an existing folder", f"{str(target)!r} (no such folder)", raw=True)
    conn = store.open_existing(db, func=func)
    try:
        name, version = conn.execute("SELECT name, cellscape_version FROM sweep").fetchone()
    finally:
        conn.close()
    result = results_table(db, table=table, confidence=confidence)
    columns, rows = list(result.columns), list(result.rows)
    partial = target.with_name(f".{target.name}.partial")
    try:
        if fmt is ExportFormat.CSV:
            import csv

            with open(partial, "w", newline="", encoding="utf-8") as f:
                writer = csv.DictWriter(f, fieldnames=columns)
                writer.writeheader()
                writer.writerows(rows)
        else:
            arrow = pyarrow.Table.from_pylist(rows) if rows else pyarrow.table({c: [] for c in columns})
            arrow = arrow.select(columns).replace_schema_metadata(
                {"cellscape.sweep": name, "cellscape.version": version, "cellscape.table": table.value})
            pyarrow.parquet.write_table(arrow, partial)
        os.replace(partial, target)
    except OSError as err:
        partial.unlink(missing_ok=True)
        raise invalid("out", func, "a writable file", f"{str(target)!r} ({err.strerror or err})", raw=True) from None
    return len(rows)
