"""Sweeps: grid parsing, stable task keys, results equal to run_survey, resumption after SIGKILL, retries of
failed tasks, Dask, summaries with Wilson intervals, CSV and Parquet export, and the two commands."""

import csv
import dataclasses
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from cellscape.atlas.escape import EscapeOutcome, run_escape
from cellscape.cli import main
from cellscape.exceptions import InvalidInputError, MissingExtraError
from cellscape.statistics import wilson_interval
from cellscape.survey import EndpointCategory, SurveyConfig, run_survey
from cellscape.sweep import (
    TaskKind,
    _exclusive,
    export_results,
    load_sweep,
    parse_sweep,
    results_table,
    run_sweep,
    summarize,
    task_key,
)

# Tiny tasks: the three-point set with a 2-2-1 ReLU network; at 2000 steps seed 1 ends in global and spurious
# minima, so every table has rows. Tests that run in this process share these shapes (one JIT compilation).
TINY = {"data": "builtin:three-point", "hidden": [2], "runs": 4, "steps": 2000}


def run_cli(args, capsys):
    with pytest.raises(SystemExit) as info:
        main(args)
    out = capsys.readouterr()
    return info.value.code, out.out, out.err


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def db_rows(db, sql, params=()):
    conn = sqlite3.connect(db)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


# ------------------------------------------------------------------------------------------------ parsing
def test_grid_expansion_order_and_values():
    sweep = parse_sweep({"sweep": {"name": "s", "description": "d"},
                         "grid": {"hidden": [[2], [3, 3]], "activation": ["relu", "leaky_relu:0.1"],
                                  "loss": "squared", "runs": 4, "seeds": {"start": 5, "count": 2}}})
    assert (sweep.name, sweep.description, sweep.axes) == ("s", "d", ("hidden", "activation", "seeds"))
    got = [(t.config.hidden, t.config.activation, t.seed) for t in sweep.tasks]
    assert got == [((2,), "relu", 5), ((2,), "relu", 6), ((2,), "leaky_relu:0.1", 5), ((2,), "leaky_relu:0.1", 6),
                   ((3, 3), "relu", 5), ((3, 3), "relu", 6), ((3, 3), "leaky_relu:0.1", 5),
                   ((3, 3), "leaky_relu:0.1", 6)]
    assert all(t.config.runs == 4 and t.config.loss == "squared" for t in sweep.tasks)
    assert len({t.key for t in sweep.tasks}) == 8 and len({t.point for t in sweep.tasks}) == 4
    # a list of integers is one value of a tuple field; seeds default to SurveyConfig's
    one = parse_sweep({"grid": {"hidden": [4, 4]}})
    assert [t.config.hidden for t in one.tasks] == [(4, 4)] and one.tasks[0].seed == SurveyConfig().seed
    assert one.axes == () and one.name == "sweep"


def test_task_keys_ignore_order_and_spelling():
    a = parse_sweep({"grid": {"activation": ["relu", "abs"], "lr": 0.1, "hidden": [[2], [3]], "seeds": [0, 1]}})
    b = parse_sweep({"grid": {"seeds": [1, 0], "hidden": [[3], [2]], "lr": 1e-1, "activation": ["abs", "relu"]}})
    assert {t.key for t in a.tasks} == {t.key for t in b.tasks}
    task = a.tasks[0]
    assert task.key == task_key(task.config) and task.point == task_key(task.config, seed=False)
    assert task.key == task_key(dataclasses.replace(task.config, hidden=list(task.config.hidden)))


def test_several_grids_are_united():
    sweep = parse_sweep({"grid": [{"activation": "relu", "lr": [0.1, 0.05]},
                                  {"activation": "abs", "lr": 0.1},
                                  {"activation": "relu", "lr": 0.1}]})  # a repeat of the first grid's point
    assert [(t.config.activation, t.config.lr) for t in sweep.tasks] == [("relu", 0.1), ("relu", 0.05),
                                                                         ("abs", 0.1)]
    assert set(sweep.axes) == {"lr", "activation"}


def test_data_files_relative_to_the_sweep_and_keyed_by_content(tmp_path):
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        write(tmp_path / folder / "points.csv", "x,y\n0,0\n1,1\n2,0\n")
        write(tmp_path / folder / "study.toml", '[grid]\ndata = "points.csv"\nseeds = [0, 1]\n')
    a, b = load_sweep(tmp_path / "a" / "study.toml"), load_sweep(tmp_path / "b" / "study.toml")
    assert a.tasks[0].config.data == str((tmp_path / "a" / "points.csv").resolve())
    assert a.name == "study" and a.source.startswith("[grid]") and a.tasks[0].data_sha256 is not None
    assert [t.key for t in a.tasks] == [t.key for t in b.tasks]  # moved study, same keys
    write(tmp_path / "b" / "points.csv", "x,y\n0,0\n1,1\n2,1\n")
    assert load_sweep(tmp_path / "b" / "study.toml").tasks[0].key != a.tasks[0].key  # other data, other key


@pytest.mark.parametrize("spec, needles", [
    ({"grid": {"widths": [2]}}, ["widths", "hidden", "activation", "seeds"]),
    ({"grid": {"seed": 3}}, ["'seed'", "`seeds`"]),
    ({"grid": {}, "extra": {}}, ["extra", "sweep, grid"]),
    ({"sweep": {"title": "x"}, "grid": {"runs": 2}}, ["title", "name, description"]),
    ({"sweep": {"name": ""}, "grid": {"runs": 2}}, ["sweep.name"]),
    ({"sweep": {"name": "x"}}, ["grid", "no [grid]"]),
    ({"grid": {"runs": 0}}, ["`runs`", ">= 1"]),
    ({"grid": {"runs": 2.5}}, ["`runs`", "integer"]),
    ({"grid": {"activation": ["relu", "bogus"]}}, ["`activation`", "bogus", "grid point"]),
    ({"grid": {"activation": []}}, ["grid.activation", "non-empty"]),
    ({"grid": {"activation": ["relu", "relu"]}}, ["grid.activation", "distinct"]),
    ({"grid": {"hidden": 8}}, ["grid.hidden", "[[4], [8, 8]]"]),
    ({"grid": {"hidden": [[2], [0]]}}, ["`hidden`", ">= 1"]),
    ({"grid": {"seeds": 5}}, ["grid.seeds", "{start = 0, count = 10}"]),
    ({"grid": {"seeds": [0, 0]}}, ["grid.seeds", "distinct"]),
    ({"grid": {"seeds": {"start": 0}}}, ["grid.seeds"]),
    ({"grid": {"seeds": {"count": -1}}}, ["grid.seeds.count"]),
    ({"grid": {"data": "missing.csv"}}, ["grid.data", "missing.csv"]),
    ({"grid": [{"runs": 2}, {"bogus": 1}]}, ["grid[1]", "bogus"]),
    ({"sweep": {"kind": "train"}, "grid": {"runs": 2}}, ["`sweep.kind`", "'survey'", "'escape'"]),
    ({"sweep": {"kind": "escape"}, "grid": {"hidden": [2]}}, ["grid", "'hidden'", "width", "outputs"]),
    ({"sweep": {"kind": "escape"}, "grid": {"width": [2, 0]}}, ["`width`", "grid point"]),
])
def test_bad_sweeps_give_one_line_naming_the_key(spec, needles, tmp_path):
    with pytest.raises(InvalidInputError) as info:
        parse_sweep(spec, base_dir=tmp_path)
    message = str(info.value)
    assert "\n" not in message
    for needle in needles:
        assert needle in message, message


def test_bad_toml_names_the_file_and_line(tmp_path):
    path = write(tmp_path / "bad.toml", '[grid]\nruns = 4\nhidden [2]\n')
    with pytest.raises(InvalidInputError, match=r"bad\.toml.*line 3") as info:
        load_sweep(path)
    assert "\n" not in str(info.value)
    with pytest.raises(InvalidInputError, match="no such file|No such file"):
        load_sweep(tmp_path / "absent.toml")


# -------------------------------------------------------------------------------------------- running
def check_matches_run_survey(db, sweep):
    """Every task's rows equal a direct run_survey of its configuration, bit for bit."""
    for task in sweep.tasks:
        direct = run_survey(task.config)
        rows = db_rows(db, "SELECT run, risk, grad_norm, category, status, on_boundary, n_ties, steps, converged, "
                       "diverged, minimum, record FROM runs WHERE task = ? ORDER BY run", (task.key,))
        assert len(rows) == len(direct.runs)
        minimum_of = {r: m.index for m in direct.minima for r in m.runs}
        for row, run in zip(rows, direct.runs):
            assert row[:10] == (run.index, run.risk, run.grad_norm, run.category.value, run.status,
                                int(run.on_boundary), run.n_ties, run.steps, int(run.converged), int(run.diverged))
            assert row[10] == minimum_of.get(run.index)
            assert json.loads(row[11]) == json.loads(json.dumps(direct.to_dict()["runs"][run.index]))
        minima = db_rows(db, "SELECT minimum, risk, count, category, on_boundary, valley_dimension, runs FROM minima "
                         "WHERE task = ? ORDER BY minimum", (task.key,))
        assert minima == [(m.index, m.risk, m.count, m.category.value, int(m.on_boundary), m.valley_dimension,
                           json.dumps(list(m.runs))) for m in direct.minima]
        (result,) = db_rows(db, "SELECT result FROM tasks WHERE key = ?", (task.key,))[0]
        expected = json.loads(json.dumps(direct.to_dict()))
        del expected["runs"]
        assert json.loads(result) == expected


@pytest.mark.slow
def test_pool_sweep_matches_run_survey_and_exports(tmp_path):
    sweep = parse_sweep({"sweep": {"name": "pool"}, "grid": {**TINY, "seeds": [0, 1]}})
    db = tmp_path / "pool.sqlite"
    seen = []
    summary = run_sweep(sweep, db, workers=2, progress=lambda done, total: seen.append((done, total)))
    assert (summary.executor, summary.n_done, summary.n_failed, summary.n_pending) == ("process", 2, 0, 0)
    assert seen[0] == (0, 2) and seen[-1] == (2, 2)
    assert db_rows(db, "PRAGMA integrity_check") == [("ok",)]
    assert db_rows(db, "PRAGMA journal_mode") == [("wal",)]
    check_matches_run_survey(db, sweep)
    n_minima = db_rows(db, "SELECT COUNT(*) FROM minima")[0][0]
    assert n_minima >= 2  # the tables are not trivially empty

    # the summary: counts per category over both seeds, with Wilson intervals
    report = summarize(db)
    (point,) = report.points
    assert (report.n_done, point.n_runs, point.seeds, point.n_minima) == (2, 8, (0, 1), n_minima)
    counts = dict(db_rows(db, "SELECT category, COUNT(*) FROM runs GROUP BY category"))
    for category in EndpointCategory:
        rate = point.categories[category.value]
        assert rate.count == counts.get(category.value, 0) and rate.total == 8
        assert (rate.low, rate.high) == tuple(float(v) for v in wilson_interval(rate.count, 8))
    assert point.lowest_minimum == db_rows(db, "SELECT MIN(risk) FROM minima")[0][0]
    assert [p.n_runs for p in summarize(db, by_seed=True).points] == [4, 4]
    json.dumps(report.to_dict())

    # export: one CSV row per run; Parquet holds the same rows
    pyarrow_parquet = pytest.importorskip("pyarrow.parquet")
    assert export_results(db, tmp_path / "runs.csv") == 8
    with open(tmp_path / "runs.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 8 and [float(r["risk"]) for r in rows] == [r[0] for r in db_rows(
        db, "SELECT risk FROM runs JOIN tasks ON tasks.key = runs.task ORDER BY tasks.position, run")]
    assert rows[0]["hidden"] == "2" and rows[0]["data"] == "builtin:three-point"
    assert export_results(db, tmp_path / "runs.parquet") == 8
    table = pyarrow_parquet.read_table(tmp_path / "runs.parquet")
    assert table.schema.metadata[b"cellscape.sweep"] == b"pool"
    parquet_rows = table.to_pylist()
    assert [r["risk"] for r in parquet_rows] == [float(r["risk"]) for r in rows]
    assert [str(r["task"]) + r["category"] for r in parquet_rows] == [r["task"] + r["category"] for r in rows]
    assert list(table.column_names) == list(rows[0])
    for name, n in (("minima", n_minima), ("tasks", 2), ("summary", 1)):
        assert export_results(db, tmp_path / f"{name}.csv", table=name) == n
        assert export_results(db, tmp_path / f"{name}.parquet", table=name) == n
    assert results_table(db, table="tasks").rows[0]["n_runs"] == 4


SWEEP_SCRIPT = """
import sys
from cellscape.sweep import run_sweep
if __name__ == "__main__":
    run_sweep(sys.argv[1], sys.argv[2], workers=1)
"""


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="SIGKILL and /proc")
def test_sigkill_then_restart_loses_and_repeats_nothing(tmp_path):
    # TINY, but each task trains for 20000 steps (gtol 0: no early stop), about a second, so that the sweep is
    # still running when the first task has been committed
    config = write(tmp_path / "kill.toml", '[sweep]\nname = "kill"\n[grid]\ndata = "builtin:three-point"\n'
                   'runs = 4\nhidden = [2]\nsteps = 20000\ngtol = 0.0\nseeds = {start = 0, count = 3}\n')
    db = tmp_path / "kill.sqlite"
    script = write(tmp_path / "sweep_script.py", SWEEP_SCRIPT)
    proc = subprocess.Popen([sys.executable, str(script), str(config), str(db)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        done = []
        while time.monotonic() < deadline and proc.poll() is None:
            if db.exists():
                try:
                    done = db_rows(db, "SELECT key, finished, session, pid FROM tasks WHERE status = 'done'")
                except sqlite3.OperationalError:  # the schema is being created
                    done = []
                if done:
                    break
            time.sleep(0.02)
        assert proc.poll() is None, proc.stderr.read().decode()
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(30)
        proc.stderr.close()
    assert len(done) in (1, 2), "the sweep should be killed part way"
    worker = done[0][3]
    deadline = time.monotonic() + 10
    while _alive(worker) and time.monotonic() < deadline:  # the orphaned pool worker notices and exits
        time.sleep(0.1)
    assert not _alive(worker)
    assert db_rows(db, "PRAGMA integrity_check") == [("ok",)]
    before = {key: (finished, session) for key, finished, session, _ in
              db_rows(db, "SELECT key, finished, session, pid FROM tasks WHERE status = 'done'")}
    assert len(before) >= 1 and db_rows(db, "SELECT finished FROM sessions") == [(None,)]  # killed session

    summary = run_sweep(config, db, workers=0)
    assert (summary.n_skipped, summary.n_done, summary.n_failed, summary.n_pending) == (len(before),
                                                                                        3 - len(before), 0, 0)
    after = {key: (finished, session) for key, finished, session in
             db_rows(db, "SELECT key, finished, session FROM tasks WHERE status = 'done'")}
    assert len(after) == 3 and all(after[key] == before[key] for key in before)  # not run again
    assert db_rows(db, "SELECT MAX(attempts) FROM tasks") == [(1,)]
    assert db_rows(db, "SELECT COUNT(*), COUNT(DISTINCT task || '/' || run) FROM runs") == [(12, 12)]
    assert db_rows(db, "PRAGMA integrity_check") == [("ok",)]
    assert run_sweep(config, db, workers=0).n_done == 0  # a third time: nothing to do


def test_failed_tasks_are_recorded_and_retried(tmp_path):
    data = write(tmp_path / "points.csv", "x1,x2,y\n1,0,0\n0,1,0\n0.5,0.5,1\n")  # the three-point set
    config = write(tmp_path / "retry.toml", '[grid]\ndata = "points.csv"\nhidden = [2]\nruns = 4\n'
                   'steps = 2000\nseeds = [0, 1]\n')
    db = tmp_path / "retry.sqlite"
    sweep = load_sweep(config)
    text = data.read_text()
    data.unlink()  # the file goes missing between planning and running (a network drive, say)
    summary = run_sweep(sweep, db, workers=0)
    assert (summary.n_done, summary.n_failed, summary.n_pending) == (0, 2, 2)
    rows = db_rows(db, "SELECT status, attempts, error, traceback FROM tasks")
    assert len(rows) == 2
    assert all(s == "failed" and a == 1 and "InvalidInputError" in e and "no such file" in e and "Traceback" in t
               for s, a, e, t in rows)
    report = summarize(db)
    assert report.n_failed == 2 and "no such file" in report.failures[0][1] and report.points[0].n_runs == 0
    write(data, text)
    summary = run_sweep(sweep, db, workers=0)
    assert (summary.n_done, summary.n_failed, summary.n_pending) == (2, 0, 0)
    assert db_rows(db, "SELECT status, attempts, error, traceback FROM tasks") == [("done", 2, None, None)] * 2
    assert db_rows(db, "SELECT COUNT(*) FROM runs") == [(8,)]


def test_sweep_command_with_a_failing_task_exits_1(tmp_path, capsys):
    # the hinge loss needs labels -1/+1: on the three-point set its task fails inside run_survey, the other runs
    config = write(tmp_path / "mixed.toml", '[grid]\ndata = "builtin:three-point"\nhidden = [2]\nruns = 4\n'
                   'steps = 2000\nloss = ["squared", "hinge"]\n')
    code, out, err = run_cli(["sweep", str(config), "--workers", "0"], capsys)
    assert code == 1 and "1 task(s) run" in out and "1 failed" in out and "again to retry" in err
    assert "hinge" in out  # the failure's message is printed
    (error,) = db_rows(tmp_path / "mixed.sqlite", "SELECT error FROM tasks WHERE status = 'failed'")[0]
    assert error.startswith("InvalidInputError: `y` of `train`") and "hinge" in error


def test_another_sweep_on_the_database_is_refused_and_extending_is_explicit(tmp_path):
    db = tmp_path / "s.sqlite"
    first = parse_sweep({"grid": {**TINY, "seeds": [0]}})
    run_sweep(first, db, workers=0)
    other = parse_sweep({"grid": {**TINY, "activation": "abs", "seeds": [0]}})
    with pytest.raises(InvalidInputError, match=r"`db`.*1 of its 1 tasks are not in the sweep") as info:
        run_sweep(other, db, workers=0)
    assert "\n" not in str(info.value)
    more = parse_sweep({"grid": {**TINY, "seeds": [1, 0]}})
    with pytest.raises(InvalidInputError, match="--extend"):
        run_sweep(more, db, workers=0)
    summary = run_sweep(more, db, workers=0, extend=True)
    assert (summary.n_skipped, summary.n_done, summary.n_tasks) == (1, 1, 2)
    assert db_rows(db, "SELECT seed FROM tasks ORDER BY position") == [(0,), (1,)]
    assert len(db_rows(db, "SELECT id FROM sessions")) == 2
    with _exclusive(db), pytest.raises(InvalidInputError, match="locked by another process"):
        run_sweep(more, db, workers=0)


def test_bad_run_arguments(tmp_path):
    sweep = parse_sweep({"grid": {"runs": 2}})
    with pytest.raises(InvalidInputError, match="`workers`"):
        run_sweep(sweep, tmp_path / "a.sqlite", workers=-1)
    with pytest.raises(InvalidInputError, match="`workers`.*scheduler"):
        run_sweep(sweep, tmp_path / "a.sqlite", workers=2, scheduler="tcp://127.0.0.1:1")
    with pytest.raises(InvalidInputError, match="no such folder"):
        run_sweep(sweep, tmp_path / "missing" / "a.sqlite", workers=0)
    write(tmp_path / "junk.sqlite", "not a database, just text " * 100)
    with pytest.raises(InvalidInputError, match="`db`"):
        run_sweep(sweep, tmp_path / "junk.sqlite", workers=0)
    with pytest.raises(InvalidInputError, match="no such file"):
        summarize(tmp_path / "absent.sqlite")


def test_missing_extras_name_the_sweep_extra(tmp_path, monkeypatch):
    db = tmp_path / "s.sqlite"
    run_sweep(parse_sweep({"grid": TINY}), db, workers=0)
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    monkeypatch.setitem(sys.modules, "distributed", None)
    with pytest.raises(MissingExtraError, match=r"cellscape\[sweep\]"):
        export_results(db, tmp_path / "runs.parquet")
    with pytest.raises(MissingExtraError, match=r"cellscape\[sweep\]"):
        run_sweep(parse_sweep({"grid": TINY}), db, scheduler="tcp://127.0.0.1:1")
    with pytest.raises(InvalidInputError, match="`fmt`"):
        export_results(db, tmp_path / "runs.xlsx")
    with pytest.raises(InvalidInputError, match="`table`"):
        export_results(db, tmp_path / "runs.csv", table="cells")


# ----------------------------------------------------------------------------------------------------- Dask
@pytest.fixture
def dask_cluster(tmp_path):
    """A real Dask scheduler and one worker (one thread), started as processes on localhost and stopped after."""
    pytest.importorskip("distributed")
    scheduler_file = tmp_path / "scheduler.json"
    common = ["--no-dashboard", "--host", "127.0.0.1"]
    logs = open(tmp_path / "dask.log", "w")
    procs = [subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_scheduler", "--scheduler-file",
                               str(scheduler_file), "--port", "0", *common], stdout=logs, stderr=logs)]
    try:
        deadline = time.monotonic() + 60
        while not scheduler_file.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        address = json.loads(scheduler_file.read_text())["address"]
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "distributed.cli.dask_worker", "--scheduler-file", str(scheduler_file),
             "--nthreads", "1", "--no-nanny", "--local-directory", str(tmp_path / "dask-worker"), *common],
            stdout=logs, stderr=logs))
        yield address
    finally:
        for proc in reversed(procs):  # the worker first, then the scheduler
            proc.terminate()
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        logs.close()


@pytest.mark.slow
def test_dask_scheduler_gives_the_local_results(tmp_path, capsys, dask_cluster):
    config = write(tmp_path / "dask.toml", '[sweep]\nname = "dask"\n[grid]\ndata = "builtin:three-point"\n'
                   'hidden = [2]\nruns = 4\nsteps = 2000\nseeds = [0, 1]\n')
    db = tmp_path / "dask.sqlite"
    code, out, err = run_cli(["sweep", str(config), "--scheduler", dask_cluster, "--json",
                              str(tmp_path / "dask.json")], capsys)
    assert code == 0, out + err
    assert f"Dask at {dask_cluster}" in out and "2 task(s) run" in out
    payload = json.loads((tmp_path / "dask.json").read_text())
    assert payload["session"]["executor"] == "dask" and payload["results"]["n_done"] == 2
    assert db_rows(db, "SELECT executor, address FROM sessions") == [("dask", dask_cluster)]
    check_matches_run_survey(db, load_sweep(config))


# ------------------------------------------------------------------------------------------- escape sweeps
ESCAPE = {"sweep": {"name": "escape", "kind": "escape"},
          "grid": {"width": [2, 3], "runs": 6, "steps": 300, "n_samples": 16, "seeds": [0, 1]}}


def test_escape_sweep_matches_run_escape_and_summarises_its_outcomes(tmp_path, capsys):
    sweep = parse_sweep(ESCAPE)
    assert sweep.kind is TaskKind.ESCAPE and len(sweep.tasks) == 4 and sweep.axes == ("width", "seeds")
    assert task_key(sweep.tasks[0].config) != task_key(SurveyConfig(runs=6, steps=300, n_samples=16))
    db = tmp_path / "escape.sqlite"
    assert run_sweep(sweep, db, workers=0).n_done == 4
    for task in sweep.tasks:  # every stored run is the direct run's record, bit for bit
        direct = run_escape(task.config).records()
        rows = db_rows(db, "SELECT run, risk, grad_norm, category, steps, converged, diverged, radius, status, "
                       "on_boundary, n_ties, minimum, record FROM runs WHERE task = ? ORDER BY run", (task.key,))
        assert [json.loads(r[-1]) for r in rows] == json.loads(json.dumps(direct))
        assert [r[:7] for r in rows] == [(d["index"], d["risk"], d["grad_norm"], d["category"], d["steps"],
                                          int(d["converged"]), int(d["diverged"])) for d in direct]
        assert all(r[7:12] == (None, None, 0, 0, None) for r in rows)
    assert db_rows(db, "SELECT COUNT(*) FROM minima") == [(0,)]

    report = summarize(db)
    assert report.kind == "escape" and [p.params for p in report.points] == [{"width": 2}, {"width": 3}]
    counts = dict(db_rows(db, "SELECT category, COUNT(*) FROM runs JOIN tasks ON tasks.key = runs.task "
                          "WHERE tasks.config LIKE '%\"width\": 2%' GROUP BY category"))
    point = report.points[0]
    assert list(point.categories) == [o.value for o in EscapeOutcome] and point.on_boundary is None
    assert {k: r.count for k, r in point.categories.items() if r.count} == counts
    assert sum(r.count for r in point.categories.values()) == point.n_runs == 12
    json.dumps(report.to_dict())

    runs = results_table(db, table="runs")
    assert len(runs.rows) == 24
    assert {"stayed", "start_genuine", "final_cell_risk", "steps", "steps_taken"} <= set(runs.columns)
    assert all(set(row) == set(runs.columns) for row in runs.rows)
    tasks = results_table(db, table="tasks")
    assert "n_not_genuine_left" in tasks.columns and "n_on_boundary" not in tasks.columns
    assert sum(row["n_runs"] for row in tasks.rows) == 24
    summary = results_table(db, table="summary")
    assert summary.rows[0]["genuine_stayed_count"] == point.categories["genuine_stayed"].count
    assert export_results(db, tmp_path / "escape.csv", table="summary") == 2

    code, out, err = run_cli(["results", str(db)], capsys)
    assert code == 0, out + err
    assert "Cell escape: % of runs" in out and "gen. stayed" in out and "lowest final risk" in out


# ------------------------------------------------------------------------------------------------- commands
def test_sweep_and_results_commands(tmp_path, capsys):
    config = write(tmp_path / "cli.toml", '[sweep]\nname = "cli"\n[grid]\ndata = "builtin:three-point"\n'
                   'hidden = [2]\nruns = 4\nsteps = 2000\nlr = [0.1, 0.05]\n')
    code, out, err = run_cli(["sweep", str(config), "--workers", "0", "--json", str(tmp_path / "s.json")], capsys)
    assert code == 0, out + err
    assert "2 task(s) run on this process" in out and "Endpoints: % of runs" in out and "P2 lr=0.05" in out
    db = tmp_path / "cli.sqlite"  # the default: CONFIG with .sqlite
    assert db.exists() and json.loads((tmp_path / "s.json").read_text())["results"]["name"] == "cli"
    code, out, err = run_cli(["sweep", str(config), "--workers", "0"], capsys)
    assert code == 0 and "0 task(s) run" in out and "2 already done" in out

    pytest.importorskip("pyarrow")
    code, out, err = run_cli(["results", str(db), "--minima", "--csv", str(tmp_path / "r.csv"), "--parquet",
                              str(tmp_path / "r.parquet"), "--json", str(tmp_path / "r.json")], capsys)
    assert code == 0, out + err
    assert "Distinct certified minima" in out and "wrote 8 rows (runs)" in err
    with open(tmp_path / "r.csv", newline="") as f:
        assert len(list(csv.DictReader(f))) == 8
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["command"] == "results" and [p["params"] for p in report["points"]] == [
        {"lr": 0.1}, {"lr": 0.05}]
    assert all(np.isclose(sum(c["estimate"] for c in p["categories"].values()), 1.0) for p in report["points"])
    code, out, err = run_cli(["results", str(db), "--table", "summary", "--csv", str(tmp_path / "s.csv")], capsys)
    assert code == 0 and "wrote 2 rows (summary)" in err


@pytest.mark.parametrize("args, needle", [
    (["sweep", "absent.toml"], "`config` of `load_sweep`"),
    (["results", "absent.sqlite"], "`db` of `summarize`"),
])
def test_commands_bad_input_exit_2_with_one_line(args, needle, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, err = run_cli(args, capsys)
    assert code == 2 and needle in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_sweep_command_bad_key_exit_2(tmp_path, capsys):
    config = write(tmp_path / "bad.toml", '[grid]\nwidths = [2]\n')
    code, out, err = run_cli(["sweep", str(config)], capsys)
    assert code == 2 and "widths" in err and "hidden" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "bad.sqlite").exists()


def test_help_of_the_sweep_commands(capsys):
    for command in ("sweep", "results"):
        code, out, _ = run_cli([command, "--help"], capsys)
        assert code == 0 and "Usage" in out
