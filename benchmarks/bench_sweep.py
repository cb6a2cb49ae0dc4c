"""What a sweep costs per task beyond the survey itself: the database, the process pool, Dask.

One *step* here is one task (one grid point with one seed: `run_survey` of a tiny configuration), so the times
are per task and the ratios are overhead factors. Each variant runs k tasks (seeds 0..k-1 of one grid point):

- `direct` (baseline): `run_survey(config)` for each task in this process, nothing stored;
- `inline`: `run_sweep(..., workers=0)` into a new database: the same surveys in this process, plus the SQLite
  bookkeeping (one transaction with an fsync per task, the session rows, the final WAL checkpoint);
- `pool`: `run_sweep(..., workers=1)`: a fresh spawned process per sweep, which imports JAX and compiles (a few
  seconds, amortised over the k tasks: the per-task figure falls as k grows);
- `dask`: `run_sweep(..., scheduler=...)` on a long-lived `distributed.LocalCluster` (one worker process, one
  thread), as a real cluster would be: after its first task the worker's compilations are cached, so the
  overhead is scheduling and result transfer.

Every variant computes the same risks (checked bit for bit on the first task). The tasks are tiny on purpose:
the smaller the survey, the larger the share of the overhead; a study's real tasks (thousands of steps, dozens
of runs) take seconds to minutes each, and the fixed costs vanish beside them.
"""

from __future__ import annotations

import atexit
import itertools
import shutil
import tempfile
from pathlib import Path
from typing import Any

from benchmarks._harness import Case, CheckError, Variant
from cellscape.survey import SurveyConfig, run_survey
from cellscape.sweep import parse_sweep, run_sweep

NAME = "sweep"
FULL = {"data": "builtin:nonaffine", "hidden": [8], "runs": 16, "steps": 2000, "tasks": 8, "repeats": 3,
        "max_wall_s": 300.0}
QUICK = {"data": "builtin:three-point", "hidden": [2], "runs": 2, "steps": 50, "tasks": 2, "repeats": 1,
         "max_wall_s": 60.0}


def make_case(quick: bool = False) -> Case:
    """The benchmark at full size, or small with ``quick``."""
    cfg = QUICK if quick else FULL
    grid = {k: cfg[k] for k in ("data", "hidden", "runs", "steps")}
    folder = Path(tempfile.mkdtemp(prefix="cellscape-bench-sweep-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)  # runs after the cluster's close (LIFO)
    counter = itertools.count()
    cluster: dict[str, Any] = {}

    def scheduler() -> str:
        """A LocalCluster started on first use and closed when the benchmarks end."""
        if "address" not in cluster:
            import distributed

            local = distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                                             dashboard_address=None, local_directory=str(folder / "dask"))
            cluster["address"] = local.scheduler_address
            atexit.register(local.close)
        return cluster["address"]

    def risks_in(db: Path) -> list[float]:
        import sqlite3

        conn = sqlite3.connect(db)
        try:
            return [r[0] for r in conn.execute(
                "SELECT risk FROM runs JOIN tasks ON tasks.key = runs.task ORDER BY tasks.seed, run")]
        finally:
            conn.close()

    def direct(n_tasks: int) -> list[float]:
        out = []
        for seed in range(n_tasks):
            out += [r.risk for r in run_survey(SurveyConfig(**{**grid, "hidden": tuple(grid["hidden"])},
                                                            seed=seed)).runs]
        return out

    def swept(**options: Any):
        def go(n_tasks: int) -> list[float]:
            sweep = parse_sweep({"sweep": {"name": "bench"}, "grid": {**grid, "seeds": {"count": n_tasks}}})
            db = folder / f"sweep-{next(counter)}.sqlite"
            if "scheduler" in options:
                summary = run_sweep(sweep, db, scheduler=scheduler())
            else:
                summary = run_sweep(sweep, db, **options)
            if summary.n_done != n_tasks:
                raise CheckError(f"{summary.n_failed} task(s) failed: {summary.failures[:1]}")
            return risks_in(db)
        return go

    k = cfg["tasks"]
    variants = (
        Variant("direct", "run_survey(config) per task in this process, nothing stored", direct, k, baseline=True,
                reducible=False),
        Variant("inline", "run_sweep(workers=0): the same in this process, plus the SQLite writes", swept(workers=0),
                k, reducible=False),
        Variant("pool", "run_sweep(workers=1): one spawned process per sweep (import, compile), k tasks",
                swept(workers=1), k, reducible=False),
        Variant("dask", "run_sweep(scheduler=...): a long-lived LocalCluster, 1 worker process x 1 thread",
                swept(scheduler=True), k, reducible=False),
    )

    def check(one_step: dict[str, Any]) -> dict[str, float]:
        reference = one_step["direct"]
        for name, risks in one_step.items():
            if risks != reference:
                raise CheckError(f"{name} computed other risks than run_survey: {risks} vs {reference}")
        return {"tasks per sweep (k)": float(k), "runs per task": float(cfg["runs"]),
                "steps per run": float(cfg["steps"])}

    return Case(name=NAME, title=f"sweep overhead per task (one step = one task; {cfg['runs']} runs x "
                f"{cfg['steps']} steps on {cfg['data']}, hidden {cfg['hidden']}); speed-up < 1 = overhead factor",
                config={k_: v for k_, v in cfg.items()}, variants=variants, check=check, repeats=cfg["repeats"],
                budget_s=600.0, max_wall_s=cfg["max_wall_s"])
