"""The SQLite store of a sweep: one database file per sweep, written by the coordinating process only.

The sweep (:mod:`cellscape.sweep`) keeps everything it computes in one SQLite file. Workers never touch it: they
return their results to the coordinating process, which writes each task's rows in one transaction, so a task is
either fully recorded or not at all. The database runs in WAL mode with ``synchronous=FULL``: a committed task
survives a ``SIGKILL`` or a power cut, and a killed sweep never leaves a corrupt file.

Tables (see :data:`SCHEMA`):

``sweep``
    one row: the sweep's name, description, TOML text and path, the cellscape version that created it, the
    schema version, the creation time and the TOML text last used to run it.
``sessions``
    one row per invocation of the sweep: start and end time (no end: killed), cellscape and Python versions,
    host, executor (``process``, ``dask`` or ``inline``), workers, the TOML text, and the tasks done and failed.
``tasks``
    one row per task (one grid point and one seed): its key (a digest of its configuration, see
    :func:`cellscape.sweep.task_key`), grid point, seed, configuration (JSON), data digest, status
    (``pending``, ``done`` or ``failed``), attempts, the session, host and process that ran it, start and end
    time, wall seconds, cellscape version, the error and traceback of a failure, and the whole survey result
    (JSON, less the runs).
``runs``
    one row per run of a done task: risk, gradient norm, certified radius, certificate status, category, ties,
    steps, converged, diverged, the distinct minimum it belongs to (NULL if none), and the full
    :class:`~cellscape.survey.RunRecord` as JSON (non-finite floats there are the strings ``"nan"``, ``"inf"``;
    the REAL columns hold NaN as NULL). A run of an escape sweep (:class:`cellscape.sweep.TaskKind`) has its
    :class:`~cellscape.atlas.escape.EscapeOutcome` as category, its final risk, gradient norm and steps, no radius
    or certificate status (NULL), ``on_boundary`` and ``n_ties`` 0 (nothing is certified), and the whole
    :meth:`~cellscape.atlas.escape.CellEscape.records` entry as its record.
``minima``
    one row per distinct certified minimum of a done survey task (:class:`~cellscape.survey.DistinctMinimum`).

Examples:
    >>> conn = connect(":memory:")
    >>> sorted(r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'"))
    ['minima', 'runs', 'sessions', 'sqlite_sequence', 'sweep', 'tasks']
    >>> conn.close()
"""

from __future__ import annotations

import contextlib
import enum
import json
import math
import os
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from cellscape._validation import invalid

__all__ = ["SCHEMA", "SCHEMA_VERSION", "TaskStatus", "connect", "open_existing", "transaction", "insert_tasks",
           "record_outcome"]

SCHEMA_VERSION = 1
"""Bumped whenever a table changes; a database of another version is refused rather than misread."""

SCHEMA = """
CREATE TABLE IF NOT EXISTS sweep (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    name TEXT NOT NULL,
    description TEXT NOT NULL,
    config_toml TEXT NOT NULL,
    config_path TEXT,
    last_toml TEXT NOT NULL,
    cellscape_version TEXT NOT NULL,
    schema_version INTEGER NOT NULL,
    created TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS sessions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    started TEXT NOT NULL,
    finished TEXT,
    cellscape_version TEXT NOT NULL,
    python TEXT NOT NULL,
    platform TEXT NOT NULL,
    host TEXT NOT NULL,
    pid INTEGER NOT NULL,
    executor TEXT NOT NULL,
    address TEXT,
    workers INTEGER,
    config_toml TEXT NOT NULL,
    n_done INTEGER NOT NULL DEFAULT 0,
    n_failed INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS tasks (
    key TEXT PRIMARY KEY,
    point TEXT NOT NULL,
    seed INTEGER NOT NULL,
    position INTEGER NOT NULL,
    config TEXT NOT NULL,
    data_sha256 TEXT,
    status TEXT NOT NULL CHECK (status IN ('pending', 'done', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    session INTEGER REFERENCES sessions(id),
    host TEXT,
    pid INTEGER,
    started TEXT,
    finished TEXT,
    wall_s REAL,
    cellscape_version TEXT,
    error TEXT,
    traceback TEXT,
    result TEXT
);
CREATE TABLE IF NOT EXISTS runs (
    task TEXT NOT NULL REFERENCES tasks(key),
    run INTEGER NOT NULL,
    risk REAL,
    grad_norm REAL,
    radius REAL,
    status TEXT,
    category TEXT NOT NULL,
    on_boundary INTEGER NOT NULL,
    n_ties INTEGER NOT NULL,
    steps INTEGER NOT NULL,
    converged INTEGER NOT NULL,
    diverged INTEGER NOT NULL,
    minimum INTEGER,
    record TEXT NOT NULL,
    PRIMARY KEY (task, run)
);
CREATE TABLE IF NOT EXISTS minima (
    task TEXT NOT NULL REFERENCES tasks(key),
    minimum INTEGER NOT NULL,
    risk REAL,
    count INTEGER NOT NULL,
    category TEXT NOT NULL,
    on_boundary INTEGER NOT NULL,
    valley_dimension INTEGER,
    runs TEXT NOT NULL,
    PRIMARY KEY (task, minimum)
);
CREATE INDEX IF NOT EXISTS tasks_point ON tasks(point);
"""


class TaskStatus(str, enum.Enum):
    """The values of ``tasks.status``: not yet done (or killed in flight), done, or failed with an error."""

    PENDING = "pending"
    DONE = "done"
    FAILED = "failed"


def connect(path: str | os.PathLike[str]) -> sqlite3.Connection:
    """Open (creating if needed) a sweep database: WAL journal, ``synchronous=FULL``, foreign keys on, schema made.

    The connection is in autocommit mode; group writes with :func:`transaction`.

    Raises:
        InvalidInputError: when the file is not an SQLite database, or one of another schema version.
    """
    try:
        conn = sqlite3.connect(os.fspath(path), isolation_level=None, timeout=60.0)
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute("PRAGMA foreign_keys = ON")
        conn.executescript(SCHEMA)
        row = conn.execute("SELECT schema_version FROM sweep").fetchone()
    except sqlite3.DatabaseError as err:
        raise invalid("db", "connect", "an SQLite sweep database (or a new file)",
                      f"{os.fspath(path)!r} ({err})", raw=True) from None
    if row is not None and row[0] != SCHEMA_VERSION:
        conn.close()
        raise invalid("db", "connect", f"a sweep database of schema version {SCHEMA_VERSION}",
                      f"{os.fspath(path)!r} (schema version {row[0]})", raw=True)
    return conn


def open_existing(path: str | os.PathLike[str], *, func: str) -> sqlite3.Connection:
    """Open a sweep database that must already exist and hold a sweep (for reading results).

    Raises:
        InvalidInputError: when the file does not exist or holds no sweep.
    """
    if not Path(path).is_file():
        raise invalid("db", func, "an existing sweep database", f"{os.fspath(path)!r} (no such file)", raw=True)
    conn = connect(path)
    if conn.execute("SELECT COUNT(*) FROM sweep").fetchone()[0] == 0:
        conn.close()
        raise invalid("db", func, "a sweep database", f"{os.fspath(path)!r} (it holds no sweep)", raw=True)
    return conn


@contextlib.contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """``BEGIN IMMEDIATE`` ... ``COMMIT``, rolled back if the block raises: all of the block's writes or none."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def _real(value: Any) -> float | None:
    """A float for a REAL column: the JSON strings ``"nan"``, ``"inf"`` back to floats, NaN as NULL."""
    if value is None:
        return None
    number = float(value)
    return None if math.isnan(number) else number


def insert_tasks(conn: sqlite3.Connection, rows: Sequence[Mapping[str, Any]]) -> int:
    """Insert tasks not yet in the database as ``pending`` (inside the caller's transaction); return how many."""
    start = conn.execute("SELECT COALESCE(MAX(position) + 1, 0) FROM tasks").fetchone()[0]
    added = 0
    for row in rows:
        cursor = conn.execute(
            "INSERT OR IGNORE INTO tasks (key, point, seed, position, config, data_sha256, status) "
            "VALUES (?, ?, ?, ?, ?, ?, 'pending')",
            (row["key"], row["point"], row["seed"], start + added, row["config"], row["data_sha256"]))
        added += cursor.rowcount
    return added


def record_outcome(conn: sqlite3.Connection, key: str, outcome: Mapping[str, Any], *, session: int) -> bool:
    """Write one task's outcome in one transaction: its runs and minima and status ``done``, or ``failed`` with
    the error. A task already done is left alone (return ``False``), so no result is ever recorded twice."""
    with transaction(conn):
        row = conn.execute("SELECT status FROM tasks WHERE key = ?", (key,)).fetchone()
        if row is None or row[0] == TaskStatus.DONE:
            return False
        common = (session, outcome.get("host"), outcome.get("pid"), outcome.get("started"),
                  outcome.get("finished"), outcome.get("wall_s"), outcome.get("cellscape_version"))
        if outcome["status"] != TaskStatus.DONE:
            conn.execute(
                "UPDATE tasks SET status = 'failed', attempts = attempts + 1, session = ?, host = ?, pid = ?, "
                "started = ?, finished = ?, wall_s = ?, cellscape_version = ?, error = ?, traceback = ?, "
                "result = NULL WHERE key = ?",
                (*common, outcome.get("error", "unknown error"), outcome.get("traceback"), key))
            return True
        result = dict(outcome["result"])
        runs = result.pop("runs")
        minima = result.get("minima", [])
        minimum_of = {r: m["index"] for m in minima for r in m["runs"]}
        conn.executemany(
            "INSERT INTO runs (task, run, risk, grad_norm, radius, status, category, on_boundary, n_ties, steps, "
            "converged, diverged, minimum, record) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(key, r["index"], _real(r["risk"]), _real(r["grad_norm"]), _real(r.get("radius")), r.get("status"),
              r["category"], int(r.get("on_boundary", False)), r.get("n_ties", 0), r["steps"], int(r["converged"]),
              int(r["diverged"]), minimum_of.get(r["index"]), json.dumps(r)) for r in runs])
        conn.executemany(
            "INSERT INTO minima (task, minimum, risk, count, category, on_boundary, valley_dimension, runs) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [(key, m["index"], _real(m["risk"]), m["count"], m["category"], int(m["on_boundary"]),
              m["valley_dimension"], json.dumps(m["runs"])) for m in minima])
        conn.execute(
            "UPDATE tasks SET status = 'done', attempts = attempts + 1, session = ?, host = ?, pid = ?, "
            "started = ?, finished = ?, wall_s = ?, cellscape_version = ?, error = NULL, traceback = NULL, "
            "result = ? WHERE key = ?",
            (*common, json.dumps(result), key))
        return True
