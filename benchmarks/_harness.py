"""The timing harness shared by every benchmark: cases, variants, measurement, tables and JSON.

A benchmark module builds a :class:`Case`: a set of :class:`Variant` objects that do the *same* work in
different ways, one of them the baseline, plus a ``check`` that compares what the variants compute.
:func:`run_case` then

1. calls every variant once for a single step (the *first call*: it pays for JIT compilation, op caches and
   allocations) and hands the one-step results to ``check``, which raises :class:`CheckError` when the
   variants disagree;
2. calls every variant once more for a single step (the *steady call*); ``first - steady`` estimates the
   one-off compilation cost, and ``steady`` decides whether a slow variant is timed over fewer steps to fit
   the time budget (times are reported per step, so this keeps the comparison fair);
3. times ``repeats`` runs of every variant, interleaved round-robin so that a drift of the machine's load
   affects all variants alike, and reports the median time per step and the ratio baseline / variant.

On a shared machine other processes compete for the cores and make the timings noisy (PyTorch's threads above
all), so the CPU time that *other* processes used during the run (all CPU time on the machine, from
``/proc/stat``, minus this process's) is recorded and reported, with the load average before and after.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

__all__ = ["CheckError", "Variant", "Case", "VariantResult", "CaseResult", "run_case", "machine_info",
           "render_case", "write_json"]


class CheckError(RuntimeError):
    """The variants of a benchmark do not compute the same result, so their timings are not comparable."""


@dataclasses.dataclass(frozen=True)
class Variant:
    """One way of doing the benchmark's work.

    Args:
        name: short name shown in the table.
        description: one line on what exactly is timed.
        run: ``run(n_steps)`` does ``n_steps`` steps from the initial state, waits until the result is
            computed (``block_until_ready`` for JAX) and returns it.
        steps: steps per timed run (fewer when the variant would exceed the case's time budget).
        reset: called (untimed) before every run, for variants that mutate their state in place.
        baseline: whether this is the variant every other one is compared with (exactly one per case).
        reducible: whether the harness may time fewer than ``steps`` steps to fit the time budget (not for a
            variant whose steps per call are part of what is measured, such as a chunked loop).
    """

    name: str
    description: str
    run: Callable[[int], Any]
    steps: int
    reset: Callable[[], None] | None = None
    baseline: bool = False
    reducible: bool = True


@dataclasses.dataclass(frozen=True)
class Case:
    """A benchmark ready to run.

    Args:
        name: the benchmark's name (``--only NAME``).
        title: one line for the table's title.
        config: the input sizes and settings, recorded in the JSON output.
        variants: the variants, exactly one of them the baseline.
        check: ``check({variant name: one-step result})`` returns ``{label: value}`` facts to report (such as
            the largest difference between variants) and raises :class:`CheckError` if the variants disagree.
        repeats: timed runs per variant; the median is reported.
        budget_s: the most seconds one timed run may take; a slower variant is timed over fewer steps.
        max_wall_s: after this many seconds, stop after the current round of repeats (but do at least 3), so
            that a busy machine cannot make the run drag on; ``None`` for no limit.
        targets: ``{variant name: smallest acceptable speed-up over the baseline}``, reported, never asserted.
    """

    name: str
    title: str
    config: Mapping[str, Any]
    variants: Sequence[Variant]
    check: Callable[[Mapping[str, Any]], Mapping[str, float]]
    repeats: int = 5
    budget_s: float = 3.0
    max_wall_s: float | None = None
    targets: Mapping[str, float] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        n_baselines = sum(v.baseline for v in self.variants)
        if n_baselines != 1:
            raise ValueError(f"Case {self.name!r} must have exactly one baseline variant. Got {n_baselines}.")
        names = [v.name for v in self.variants]
        if len(set(names)) != len(names):
            raise ValueError(f"Variant names of case {self.name!r} must be unique. Got {names}.")

    @property
    def baseline(self) -> Variant:
        return next(v for v in self.variants if v.baseline)


@dataclasses.dataclass(frozen=True)
class VariantResult:
    """Timings of one variant, in seconds; ``*_per_step`` values are per step of the whole batch."""

    name: str
    description: str
    baseline: bool
    steps_requested: int
    steps_timed: int
    repeats: int
    first_call_s: float
    steady_call_s: float
    per_step_s: tuple[float, ...]
    speedup: float  # baseline median / this median (1 for the baseline)

    @property
    def median_s(self) -> float:
        return statistics.median(self.per_step_s)

    @property
    def compile_s(self) -> float:
        """One-off cost of the first call (JIT compilation, caches), estimated as first minus steady call."""
        return max(self.first_call_s - self.steady_call_s, 0.0)

    @property
    def reduced(self) -> bool:
        return self.steps_timed < self.steps_requested

    def to_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "per_step_s": list(self.per_step_s),
                "median_per_step_s": self.median_s, "min_per_step_s": min(self.per_step_s),
                "max_per_step_s": max(self.per_step_s), "compile_estimate_s": self.compile_s,
                "steps_reduced": self.reduced}


@dataclasses.dataclass(frozen=True)
class CaseResult:
    name: str
    title: str
    config: Mapping[str, Any]
    checks: Mapping[str, float]
    variants: tuple[VariantResult, ...]
    targets: Mapping[str, float]
    wall_s: float
    load_average: tuple[float | None, float | None]  # 1-minute load average before and after
    other_cores: float | None  # mean number of cores that other processes kept busy during the run
    repeats_requested: int

    def target_status(self) -> list[tuple[str, float, float, bool]]:
        """``(variant, target, measured speed-up, met)`` for every target."""
        by_name = {v.name: v for v in self.variants}
        return [(name, target, by_name[name].speedup, by_name[name].speedup >= target)
                for name, target in self.targets.items()]

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "title": self.title, "config": dict(self.config),
                "checks": dict(self.checks), "wall_s": self.wall_s, "load_average": list(self.load_average),
                "other_processes_cores": self.other_cores, "repeats_requested": self.repeats_requested,
                "variants": [v.to_dict() for v in self.variants],
                "targets": [{"variant": n, "min_speedup": t, "speedup": s, "met": m}
                            for n, t, s, m in self.target_status()]}


def _timed(variant: Variant, n_steps: int) -> tuple[float, Any]:
    if variant.reset is not None:
        variant.reset()
    start = time.perf_counter()
    out = variant.run(n_steps)
    return time.perf_counter() - start, out


def run_case(case: Case, *, log: Callable[[str], None] = lambda _: None) -> CaseResult:
    """Check and time every variant of ``case`` (see the module docstring for the protocol).

    Raises:
        CheckError: when the variants disagree after one step.
    """
    start, load_before, cpu_before = time.perf_counter(), _load_average(), _cpu_seconds()
    first, one_step = {}, {}
    for v in case.variants:
        log(f"{case.name}: first call of {v.name}")
        first[v.name], one_step[v.name] = _timed(v, 1)
    checks = dict(case.check(one_step))
    del one_step

    steady, steps = {}, {}
    for v in case.variants:
        steady[v.name], _ = _timed(v, 1)
        one = min(first[v.name], steady[v.name])  # the faster of the two: a load spike should not cut steps
        fits = int(case.budget_s // max(one, 1e-9))
        steps[v.name] = max(1, min(v.steps, fits)) if v.reducible else v.steps

    per_step: dict[str, list[float]] = {v.name: [] for v in case.variants}
    for r in range(case.repeats):
        log(f"{case.name}: repeat {r + 1}/{case.repeats}")
        for v in case.variants:
            seconds, _ = _timed(v, steps[v.name])
            per_step[v.name].append(seconds / steps[v.name])
        if case.max_wall_s is not None and r + 1 >= 3 and time.perf_counter() - start > case.max_wall_s:
            break

    base = statistics.median(per_step[case.baseline.name])
    results = tuple(
        VariantResult(name=v.name, description=v.description, baseline=v.baseline, steps_requested=v.steps,
                      steps_timed=steps[v.name], repeats=len(per_step[v.name]), first_call_s=first[v.name],
                      steady_call_s=steady[v.name], per_step_s=tuple(per_step[v.name]),
                      speedup=base / statistics.median(per_step[v.name]))
        for v in case.variants)
    return CaseResult(name=case.name, title=case.title, config=dict(case.config), checks=checks,
                      variants=results, targets=dict(case.targets), wall_s=time.perf_counter() - start,
                      load_average=(load_before, _load_average()), repeats_requested=case.repeats,
                      other_cores=_other_cores(cpu_before, _cpu_seconds(), time.perf_counter() - start))


def _cpu_seconds() -> tuple[float, float] | None:
    """``(busy CPU seconds of the whole machine, CPU seconds of this process)``, or None without /proc/stat."""
    try:
        with open("/proc/stat") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    busy = sum(fields[:8]) - idle  # user nice system idle iowait irq softirq steal (guest is inside user)
    own = os.times()
    return busy / os.sysconf("SC_CLK_TCK"), own.user + own.system


def _other_cores(before: tuple[float, float] | None, after: tuple[float, float] | None,
                 wall_s: float) -> float | None:
    if before is None or after is None or wall_s <= 0:
        return None
    others = (after[0] - before[0]) - (after[1] - before[1])
    return max(others, 0.0) / wall_s


def _load_average() -> float | None:
    """The 1-minute load average, or None where the platform has none."""
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return None


# ---------------------------------------------------------------------------------------------- reporting
def machine_info() -> dict[str, Any]:
    """CPU count, platform and library versions, for the JSON record."""
    try:
        import cellscape  # first: it switches JAX to float64
    except ImportError:
        cellscape = None
    import jax
    import jaxlib
    import numpy as np

    info: dict[str, Any] = {
        "timestamp": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "cpu_count": os.cpu_count(),
        "cpu_affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "platform": platform.platform(),
        "processor": _cpu_model(),
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "jax": jax.__version__,
        "jaxlib": jaxlib.__version__,
        "jax_backend": jax.default_backend(),
        "jax_devices": [str(d) for d in jax.devices()],
        "jax_enable_x64": bool(jax.config.jax_enable_x64),
    }
    try:
        import torch
    except ImportError:
        info["torch"] = None
    else:
        info["torch"] = torch.__version__
        info["torch_num_threads"] = torch.get_num_threads()
    info["cellscape"] = None if cellscape is None else cellscape.__version__
    return info


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def _fmt_time(seconds: float) -> str:
    if seconds >= 1.0:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds * 1e6:.1f} µs"


def render_case(result: CaseResult, console: Any) -> None:
    """Print the result of one case as a rich table, followed by the checks, notes and targets."""
    from rich.table import Table

    table = Table(title=f"[bold]{result.name}[/bold]: {result.title}", title_justify="left")
    table.add_column("variant")
    table.add_column("median / step", justify="right")
    table.add_column("min - max / step", justify="right")
    table.add_column("speed-up vs baseline", justify="right")
    table.add_column("steps x repeats", justify="right")
    table.add_column("first call", justify="right")
    table.add_column("compile (est.)", justify="right")
    for v in result.variants:
        name = f"{v.name} [dim](baseline)[/dim]" if v.baseline else v.name
        steps = f"{v.steps_timed}{'*' if v.reduced else ''} x {v.repeats}"
        spread = f"{_fmt_time(min(v.per_step_s))} - {_fmt_time(max(v.per_step_s))}"
        table.add_row(name, _fmt_time(v.median_s), spread, f"{v.speedup:.2f}x", steps,
                      _fmt_time(v.first_call_s), _fmt_time(v.compile_s))
    console.print(table)
    for v in result.variants:
        console.print(f"  [bold]{v.name}[/bold]: {v.description}")
    for v in result.variants:
        if v.reduced:
            steps = f"{v.steps_timed} step{'s' if v.steps_timed > 1 else ''}"
            console.print(f"  * {v.name} was timed over {steps} instead of {v.steps_requested} to keep the "
                          "run short; times are per step, so the ratio is unaffected.")
    done = result.variants[0].repeats
    if done < result.repeats_requested:
        console.print(f"  [yellow]only {done} of {result.repeats_requested} repeats were timed: the run "
                      "exceeded its wall-time limit (a busy machine?)[/yellow]")
    for label, value in result.checks.items():
        console.print(f"  check: {label} = {value:.3g}")
    for name, target, speedup, met in result.target_status():
        if met:
            console.print(f"  target: {name} is {speedup:.1f}x faster than the baseline "
                          f"(target {target:g}x): met")
        else:
            console.print(f"  [yellow]WARNING: {name} is {speedup:.1f}x faster than the baseline, below the "
                          f"target of {target:g}x[/yellow]")
    before, after = result.load_average
    if before is not None and after is not None:
        console.print(f"  load average (1 min) before / after: {before:.2f} / {after:.2f}")
    if result.other_cores is not None:
        busy = result.other_cores > 0.1 * (os.cpu_count() or 1)
        note = " [yellow]WARNING: the machine was shared, timings are noisy[/yellow]" if busy else ""
        console.print(f"  other processes kept {result.other_cores:.2f} of {os.cpu_count()} cores busy "
                      f"during the run{note}")
    console.print(f"  compile (est.) = first call - second call of one step; "
                  f"wall time {result.wall_s:.1f} s\n")


def write_json(
    path: str, info: Mapping[str, Any], options: Mapping[str, Any], results: Sequence[CaseResult]
) -> None:
    """Write the machine info, the options and every case's results to ``path``."""
    data = {"machine": dict(info), "options": dict(options),
            "benchmarks": {r.name: r.to_dict() for r in results}}
    with open(path, "w") as f:
        json.dump(data, f, indent=2)
        f.write("\n")
