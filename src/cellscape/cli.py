"""The ``cellscape`` command line: a thin typer layer that parses options, calls the library and prints.

Bad input exits with status 2 and a one-line ``error:`` message, never a traceback.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table

from cellscape.exceptions import CellscapeError, InvalidInputError

app = typer.Typer(
    name="cellscape",
    help="Exact loss-surface analysis of networks with piecewise-linear activations.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()
err_console = Console(stderr=True)

JsonOption = Annotated[Path | None, typer.Option("--json", help="Write the whole result as JSON to this file.")]


def _parse_widths(text: str) -> tuple[int, ...]:
    try:
        widths = tuple(int(w) for w in text.split(",") if w.strip())
    except ValueError:
        raise InvalidInputError(
            f"`--hidden` of `cellscape` must be comma-separated integers such as 8 or 16,16. Got {text!r} instead."
        ) from None
    return widths


def _write_json(path: Path | None, payload: dict[str, Any], *, name: str = "--json") -> None:
    if path is None:
        return
    try:
        path.write_text(json.dumps(payload, indent=2) + "\n")
    except OSError as err:
        raise InvalidInputError(f"`{name}` of `cellscape` must be a writable file. Got {str(path)!r} "
                                f"({err.strerror}) instead.") from None
    err_console.print(f"wrote {path}")


def _progress():
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), console=err_console, transient=False)


def _fmt(x: float) -> str:
    return f"{x:.6g}"


def _affine_risk(dataset: Any) -> float | None:
    """The dataset's best affine risk as a float (built-ins store it as a number or as a fraction string)."""
    value = dataset.info.get("best_affine_risk")
    return None if value is None else float(Fraction(str(value)))


_CATEGORY_LABELS = {"global": "global", "spurious": "spurious", "saddle": "saddle",
                    "not_converged": "not converged", "inconclusive": "inconclusive"}


def _print_risk_table(title: str, columns: list[str], rows: list[list[str]], *, risks: list[float],
                      affine: float | None, ratio_at: int, hidden: int, noun: str) -> None:
    """A table of risk levels, with a ``risk / affine`` column at ``ratio_at`` when the best affine risk is
    known, and a line saying how many rows were left out."""
    if affine:
        columns = columns[:ratio_at] + ["risk / affine"] + columns[ratio_at:]
        rows = [row[:ratio_at] + [f"{r / affine:.3f}"] + row[ratio_at:] for row, r in zip(rows, risks)]
    table = Table(title=title)
    for col in columns:
        table.add_column(col, justify="right", no_wrap=col == "risk", min_width=11 if col == "risk" else None)
    for row in rows:
        table.add_row(*row)
    console.print(table)
    if hidden > 0:
        console.print(f"... and {hidden} more {noun} (--max-groups or --json shows them all)")


@app.command()
def survey(
    data: Annotated[str, typer.Option(help="Dataset: a .npz/.csv file or builtin:NAME.")] = "builtin:nonaffine",
    hidden: Annotated[str, typer.Option(help="Hidden widths, comma-separated (e.g. 8 or 16,16).")] = "3",
    activation: Annotated[str, typer.Option(help="relu, leaky_relu:0.1, hardtanh:-1,1, abs or pwl:BPS:SLOPES:OFFSET.")
                          ] = "relu",
    loss: Annotated[str, typer.Option(help="squared, absolute, huber:D, hinge, logistic, ...")] = "squared",
    runs: Annotated[int, typer.Option(help="Number of networks trained from random starts.")] = 64,
    steps: Annotated[int, typer.Option(help="The most gradient-descent steps.")] = 40000,
    lr: Annotated[float, typer.Option(help="Step size.")] = 0.1,
    gtol: Annotated[float, typer.Option(help="A run stops once its gradient norm is at most this.")] = 1e-10,
    optimizer: Annotated[str, typer.Option(help="gd, sgd (needs --batch-size) or adam.")] = "gd",
    batch_size: Annotated[int | None, typer.Option(help="Minibatch size for sgd and adam (default: all).")] = None,
    init: Annotated[str, typer.Option(help="uniform, or linear-region (every unit in one linear piece).")
                    ] = "uniform",
    seed: Annotated[int, typer.Option(help="Seed of data, initialisation and minibatches.")] = 0,
    rtol: Annotated[float, typer.Option(help="Relative tolerance for grouping endpoints by risk.")] = 1e-3,
    max_groups: Annotated[int, typer.Option(help="Print at most this many risk groups and minima.")] = 20,
    show_runs: Annotated[bool, typer.Option("--show-runs", help="Also print one row per run.")] = False,
    json_path: JsonOption = None,
    report: Annotated[Path | None, typer.Option(help="Also write DIR/survey.json and the HTML report "
                                                "DIR/report.html (see cellscape report).")] = None,
) -> None:
    """Train many networks at once, certify where they end, and group the endpoints by risk and by function."""
    from cellscape.survey import SurveyConfig, run_survey

    if report is not None and report.exists() and not report.is_dir():
        raise InvalidInputError(f"`--report` of `cellscape survey` must be a directory. Got {str(report)!r}, a "
                                "file, instead.")

    config = SurveyConfig(data=data, hidden=_parse_widths(hidden), activation=activation, loss=loss, runs=runs,
                          steps=steps, lr=lr, gtol=gtol, seed=seed, risk_rtol=rtol, optimizer=optimizer,
                          batch_size=batch_size, init=init)
    dataset = config.load_dataset()
    with _progress() as bar:
        task = bar.add_task(f"training {runs} networks (network-steps)", total=max(runs * steps, 1))
        result = run_survey(config, dataset=dataset,
                            progress=lambda done, total: bar.update(task, completed=done, total=max(total, 1)))
    affine = _affine_risk(dataset)
    console.print(f"[bold]data[/bold] {dataset.name}: n = {dataset.X.shape[0]}, d = {dataset.X.shape[1]}"
                  + (f", best affine risk {_fmt(affine)}" if affine is not None else ""))
    console.print(f"[bold]network[/bold] {'-'.join(map(str, result.architecture['widths']))} "
                  f"{activation}, loss {loss}; {runs} runs, at most {steps} {optimizer} steps of size {lr}"
                  + (f" on minibatches of {batch_size}" if batch_size else "") + f", {init} start, seed {seed}")
    groups, minima = result.groups[:max_groups], result.minima[:max_groups]
    _print_risk_table(
        f"Endpoints grouped by risk (within {rtol:g} relative)",
        ["risk", "runs", "converged", "cells", "median |grad|", "min radius"],
        [[_fmt(g.risk_min), str(g.count), str(g.n_converged), str(g.n_cells), f"{g.median_grad_norm:.1e}",
          f"{g.min_radius:.1e}"] for g in groups],
        risks=[g.risk_min for g in groups], affine=affine, ratio_at=1, hidden=len(result.groups) - max_groups,
        noun="groups")
    _print_risk_table(
        "Distinct certified minima (runs whose predictions on the data agree)",
        ["minimum", "risk", "runs", "category", "boundary", "valley dim"],
        [[str(m.index), _fmt(m.risk), str(m.count), m.category.value, "yes" if m.on_boundary else "no",
          "?" if m.valley_dimension is None else str(m.valley_dimension)] for m in minima],
        risks=[m.risk for m in minima], affine=affine, ratio_at=2, hidden=len(result.minima) - max_groups,
        noun="minima")
    for entry in result.constructed:
        if "refused" in entry:
            console.print(f"[bold]constructed[/bold] {entry['name']}: not built ({entry['refused']})")
        else:
            console.print(f"[bold]constructed[/bold] {entry['name']} minimum at risk {_fmt(entry['risk'])}: "
                          f"{entry['status']}, {'spurious' if entry['spurious'] else 'not shown spurious'}; "
                          f"{entry['runs_at_risk']} run(s) ended at that risk")
    counts = ", ".join(f"{label} {result.rates[key]}" for key, label in _CATEGORY_LABELS.items()
                       if result.counts[key])
    console.print(f"[bold]endpoints[/bold] (95% Wilson intervals) {counts}; minima non-differentiable "
                  f"{result.rates['on_boundary']}")
    if show_runs:
        runs_table = Table(title="Runs")
        for col in ("run", "risk", "|grad|", "radius", "ties", "cell", "group", "category"):
            runs_table.add_column(col, justify="right")
        for r in result.runs:
            runs_table.add_row(str(r.index), _fmt(r.risk), _fmt(r.grad_norm), _fmt(r.radius), str(r.n_ties),
                               r.cell, str(r.group), r.category.value + ("*" if r.on_boundary else ""))
        console.print(runs_table)
    n_div = sum(r.diverged for r in result.runs)
    if n_div:
        console.print(f"[yellow]{n_div} run(s) diverged (non-finite step); their last finite point is shown")
    payload = result.to_dict()
    _write_json(json_path, payload)
    if report is not None:
        _make_dir(report, "--report", "cellscape survey")
        _write_json(report / "survey.json", payload, name="--report")
        _write_report(payload, report / "report.html", name="--report", func="cellscape survey")


def _make_dir(path: Path, name: str, func: str) -> None:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise InvalidInputError(f"`{name}` of `{func}` must be a directory that can be made. Got {str(path)!r} "
                                f"({err.strerror}) instead.") from None


def _write_report(payload: dict[str, Any], target: Path, *, name: str, func: str, **options: Any) -> None:
    """Build the HTML report of a survey with a progress bar and write it to ``target``."""
    from cellscape.report import survey_report

    with _progress() as bar:
        task = bar.add_task("report figures", total=None)
        built = survey_report(payload, progress=lambda done, total: bar.update(task, completed=done, total=total),
                              **options)
    try:
        built.write(target)
    except InvalidInputError:
        raise InvalidInputError(f"`{name}` of `{func}` must name a writable file. Got {str(target)!r} "
                                "instead.") from None
    for note in built.notes:
        console.print(f"[yellow]note:[/yellow] {escape(note)}")
    err_console.print(f"wrote {target} ({len(built.figures)} figures)")


@app.command("report")
def report_(
    survey_json: Annotated[Path, typer.Argument(help="The survey's JSON (cellscape survey --json FILE).")],
    out: Annotated[Path, typer.Option(help="The HTML page to write.")] = Path("report.html"),
    max_minima: Annotated[int, typer.Option(help="Slice through at most this many minima (the lowest).")] = 4,
    resolution: Annotated[int, typer.Option(help="Grid points per axis of the planes.")] = 61,
    span: Annotated[float, typer.Option(help="The planes reach this far along each filter-normalised "
                                        "direction.")] = 0.5,
    atlas: Annotated[bool, typer.Option("--atlas/--no-atlas", help="Add the atlas where it applies (one hidden "
                                        "layer, one output, squared loss).")] = True,
    atlas_cells: Annotated[int, typer.Option(help="Enumerate the atlas up to this many cells, else sample as "
                                             "many.")] = 20_000,
    seed: Annotated[int, typer.Option(help="Seed of the planes' directions, valley samples and atlas "
                                      "sampling.")] = 0,
) -> None:
    """Write a survey's HTML report: summary, minima with certificates, slices, valleys, atlas; one file."""
    from cellscape.survey import load_survey

    payload = load_survey(survey_json, name="SURVEY_JSON", func="cellscape report")
    if out.suffix.lower() not in (".html", ".htm") or not out.parent.is_dir():
        raise InvalidInputError(f"`--out` of `cellscape report` must be an .html file in an existing directory. "
                                f"Got {str(out)!r} instead.")
    _write_report(payload, out, name="--out", func="cellscape report", max_minima=max_minima,
                  resolution=resolution, span=span, atlas=atlas, atlas_cells=atlas_cells, seed=seed)


@app.command()
def cell(
    params: Annotated[Path, typer.Option(help="Parameters: .npz (W1, b1, ...) or a torch .pt state dict.")],
    data: Annotated[str, typer.Option(help="Dataset: a .npz/.csv file or builtin:NAME.")] = "builtin:nonaffine",
    activation: Annotated[str | None, typer.Option(help="Hidden activation when the file does not say.")] = None,
    loss: Annotated[str, typer.Option(help="The loss (piecewise losses refine the cells).")] = "squared",
    seed: Annotated[int, typer.Option(help="Seed of a built-in dataset.")] = 0,
    tol: Annotated[float, typer.Option(help="Tie tolerance: |pre-activation - breakpoint| <= tol.")] = 1e-9,
    json_path: JsonOption = None,
) -> None:
    """Find the cell of saved parameters: risk, ties, margins and certified radius."""
    from cellscape.cell_report import cell_report
    from cellscape.data import load_data
    from cellscape.params_io import load_params

    arch, theta = load_params(params, activation=activation)
    dataset = load_data(data, seed=seed)
    report = cell_report(arch, theta, dataset.X, dataset.y, loss=loss, tol=tol)
    table = Table(title=f"Cells of {params} on {dataset.name} ({loss} loss, tie tolerance {tol:g})")
    for col in ("network", "risk", "cell", "ties", "min margin", "certified radius"):
        table.add_column(col, justify="right")
    for row in report.rows:
        table.add_row(str(row.index), _fmt(row.risk), row.cell, str(row.n_ties), _fmt(row.min_margin),
                      _fmt(row.radius))
    console.print(table)
    _write_json(json_path, {"command": "cell", "params": str(params), "dataset": dataset.to_dict(),
                            **report.to_dict()})


def _exact_note(value: Fraction | None) -> str:
    if value is None:
        return ""
    text = str(value)
    return f" (exact {text})" if len(text) <= 40 else f" (exact: a rational of {len(text)} characters, in --json)"


def _evidence(cert: Any) -> Table:
    """The evidence of one certificate as a two-column grid (rows only for the evidence it has)."""
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column()
    rows = [("status", cert.status.value), ("message", cert.message), ("method", cert.method),
            ("risk", _fmt(cert.risk) + _exact_note(cert.risk_exact)),
            ("|grad|" if cert.n_ties == 0 else "Clarke norm", f"{cert.grad_norm:.3e}"), ("ties M", str(cert.n_ties))]
    if cert.n_ties:
        rows.append(("adjacent pieces", f"{cert.pieces_adjacent} adjacent of {cert.pieces_examined} examined"))
    if cert.hessian_min is not None:
        rows.append(("Hessian eigenvalues", f"min {cert.hessian_min:.3e}, max {cert.hessian_max:.3e}"))
    if cert.valley_dimension is not None:
        rows.append(("valley dimension", str(cert.valley_dimension)))
    if cert.descent_decrease is not None:
        rows.append(("descent", f"risk decreases by {cert.descent_decrease:.3e} at step {cert.descent_step:.3e}"))
    rows += [("certified radius", _fmt(cert.radius)), ("arithmetic", cert.arithmetic.value)]
    for name, value in rows:
        grid.add_row(name, escape(value))
    return grid


@app.command()
def certify(
    params: Annotated[Path, typer.Option(help="Parameters: .npz (W1, b1, ...) or a torch .pt/.pth state dict.")],
    data: Annotated[str, typer.Option(help="Dataset: a .npz/.csv file or builtin:NAME.")],
    activation: Annotated[str | None, typer.Option(help="Hidden activation when the file does not say.")] = None,
    loss: Annotated[str, typer.Option(help="squared, absolute, huber:D, hinge, logistic, ...")] = "squared",
    seed: Annotated[int, typer.Option(help="Seed of a built-in dataset.")] = 0,
    exact: Annotated[bool, typer.Option("--exact", help="Re-verify the verdicts in exact rational arithmetic.")
                     ] = False,
    tie_tol: Annotated[float, typer.Option(help="Values within this of a breakpoint or loss kink are ties.")] = 1e-9,
    max_ties: Annotated[int, typer.Option(help="The most ties whose 2^M adjacent pieces are enumerated.")] = 16,
    json_path: JsonOption = None,
) -> None:
    """Certify saved parameters: a strict or non-strict local minimum, a saddle, not critical, or inconclusive."""
    from cellscape import __version__
    from cellscape.certify import certify as certify_points
    from cellscape.data import load_data
    from cellscape.params_io import load_params

    arch, theta = load_params(params, activation=activation)
    dataset = load_data(data, seed=seed)
    X, y = (dataset.X_exact, dataset.y_exact) if exact and dataset.is_exact else (dataset.X, dataset.y)
    certificates = certify_points(arch, theta, X, y, loss=loss, arithmetic="exact" if exact else "float",
                                  tie_tol=tie_tol, max_ties=max_ties)
    console.print(f"[bold]data[/bold] {dataset.name}: n = {dataset.n_samples}, d = {dataset.d_in}; "
                  f"[bold]network[/bold] {arch.describe()}, loss {loss}")
    for b, cert in enumerate(certificates):
        console.print(Panel(_evidence(cert), title=f"network {b}: {cert.status.value}", title_align="left",
                            expand=False))
    _write_json(json_path, {"cellscape_version": __version__, "command": "certify", "params": str(params),
                            "dataset": dataset.to_dict(),
                            "architecture": arch.to_dict(), "loss": loss, "arithmetic": "exact" if exact else "float",
                            "seed": seed, "certificates": [c.to_dict() for c in certificates]})


def _exact_text(value: Any) -> str:
    """`` = p/q`` for a short exact value, the number of digits for a long one, nothing for None."""
    if value is None:
        return ""
    text = str(value)
    return f" = {text}" if len(text) <= 40 else f" (exact: {len(text)} digits)"


@app.command()
def construct(
    name: Annotated[str | None, typer.Argument(help="The construction (see --list).")] = None,
    list_: Annotated[bool, typer.Option("--list", help="List the constructions.")] = False,
    data: Annotated[str | None, typer.Option(help="Dataset (default: the construction's).")] = None,
    hidden: Annotated[str | None, typer.Option(help="Hidden widths, comma-separated.")] = None,
    activation: Annotated[str | None, typer.Option(help="Hidden activation.")] = None,
    loss: Annotated[str | None, typer.Option(help="The loss.")] = None,
    kernel_size: Annotated[int | None, typer.Option(help="Filter width of a convolutional construction.")] = None,
    seed: Annotated[int, typer.Option(help="Seed of a built-in dataset.")] = 0,
    exact: Annotated[bool, typer.Option("--exact", help="Build and certify in exact rationals.")] = False,
    json_path: JsonOption = None,
) -> None:
    """Build one of the papers' spurious minima on your data, certify it and show the witness."""
    from cellscape.constructions import CONSTRUCTIONS, construct as build
    from cellscape.data import load_data

    if list_ or name is None:
        table = Table(title="Constructions")
        for col in ("name", "paper", "what it builds", "defaults"):
            table.add_column(col)
        for entry in CONSTRUCTIONS.values():
            d = entry.defaults
            table.add_row(entry.name, entry.paper, entry.description,
                          f"{d['data']}, hidden {d['hidden'] or 'compiled'}, {d['activation']}, {d['loss']}"
                          + (f", kernel size {d['kernel_size']}" if "kernel_size" in d else ""))
        console.print(table)
        return
    entry = CONSTRUCTIONS.get(name)
    dataset = load_data(data or (entry.defaults["data"] if entry else "builtin:nonaffine"), seed=seed)
    X = dataset.X_exact if exact and dataset.X_exact is not None else dataset.X
    y = dataset.y_exact if exact and dataset.y_exact is not None else dataset.y
    result = build(name, X, y, hidden=None if hidden is None else list(_parse_widths(hidden)),
                   activation=activation, loss=loss, kernel_size=kernel_size, exact=exact)
    cert = result.certificate
    console.print(f"[bold]{result.name}[/bold] ({result.paper}) on {dataset.name}: {result.arch.describe()}")
    console.print(f"claimed risk {_fmt(result.claimed_risk)}{_exact_text(result.claimed_risk_exact)}; "
                  f"the point's risk {_fmt(result.risk)}{_exact_text(result.risk_exact)}")
    console.print(f"certificate: {cert.status.value} ({cert.method}, {cert.arithmetic.value}): {escape(cert.message)}",
                  soft_wrap=True)
    if result.witness_risk is not None:
        console.print(f"witness: a point of risk {_fmt(result.witness_risk)}: "
                      + ("spurious" if result.is_spurious else "not shown spurious"))
    else:
        console.print("witness: none found (the minimum may be global)")
    _write_json(json_path, {"command": "construct", "dataset": dataset.to_dict(), **result.to_dict()})


@app.command()
def atlas(
    data: Annotated[str, typer.Option(help="Dataset: a .npz/.csv file or builtin:NAME.")] = "builtin:nonaffine",
    width: Annotated[int, typer.Option(help="Number of hidden units K.")] = 2,
    activation: Annotated[str, typer.Option(help="A two-piece activation: relu, leaky_relu:A or pwl:P:S1,S2:H.")
                          ] = "relu",
    outputs: Annotated[str, typer.Option(help="Output weights: trained, signs (+1 then -1) or positive.")
                       ] = "positive",
    signs: Annotated[str | None, typer.Option(help="With --outputs signs: comma-separated +1/-1.")] = None,
    output_bias: Annotated[bool, typer.Option("--output-bias", help="Add a trained output bias.")] = False,
    max_cells: Annotated[int, typer.Option(help="Enumerate up to this many cells, else sample.")] = 500_000,
    sample_cells: Annotated[int, typer.Option(help="Cells drawn when sampling.")] = 20_000,
    exact: Annotated[bool, typer.Option("--exact", help="Re-verify the listed minima in rationals.")] = False,
    critical: Annotated[bool, typer.Option("--critical", help="Also find saddles inside cells and "
                                           "non-differentiable minima on boundaries (small data).")] = False,
    n_samples: Annotated[int | None, typer.Option(help="Samples of a built-in dataset (default: its own).")
                         ] = None,
    d_in: Annotated[int | None, typer.Option(help="Input width of a built-in dataset (default: its own).")
                    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of a built-in dataset and of the sampling.")] = 0,
    show: Annotated[int, typer.Option(help="Print at most this many minima.")] = 15,
    json_path: JsonOption = None,
) -> None:
    """Map a one-hidden-layer landscape: every cell, every genuine local minimum, the global minimum."""
    from cellscape import __version__
    from cellscape.atlas import atlas as build_atlas
    from cellscape.data import load_data

    dataset = load_data(data, seed=seed, n_samples=n_samples, d_in=d_in)
    sign_list = None if signs is None else [int(v) for v in signs.replace("+", "").split(",") if v.strip()]
    with _progress() as bar:
        task = bar.add_task("solving cells", total=None)
        result = build_atlas(dataset.X, dataset.y, width=width, activation=activation, outputs=outputs,
                             signs=sign_list, output_bias=output_bias, max_cells=max_cells,
                             sample_cells=sample_cells, exact=exact, critical=critical, seed=seed,
                             progress=lambda done, total: bar.update(task, completed=done, total=total))
    console.print(f"[bold]data[/bold] {dataset.name}: N = {result.n_samples}, d = {result.d_in}"
                  + {True: "", False: " (not in general position)", None: ""}[result.general_position])
    console.print(f"[bold]model[/bold] {width} units, {result.model.activation.spec}, outputs {outputs}"
                  + (f" {list(result.model.signs)}" if outputs == "signs" else "")
                  + (", output bias" if output_bias else ""))
    console.print(f"one unit: {result.n_unit_cells} cells ({result.unit_method}); network: {result.n_cells} cells "
                  "up to unit permutations" + (f", [bold]sampled[/bold] {result.n_examined} of them (by Gaussian "
                                               "weights; the total assumes general position)"
                                               if result.sampled else ", all solved"))
    console.print(f"genuine minima {result.n_genuine}, spurious among those listed {result.n_spurious}, "
                  f"rank-deficient cells {result.n_rank_deficient}, undecided {result.n_undecided}")
    table = Table(title="Genuine local minima (lowest first)", caption="active: samples on each unit's upper piece; "
                  "dim: dimension of the set of minima (0: isolated); slack: how far inside the cell")
    for col in ("risk", "spurious", "active", "rank", "dim", "slack", "branch", "check"):
        table.add_column(col)
    for m in result.minima[:show]:
        sol = m.solution
        table.add_row(_fmt(m.risk), "yes" if m.spurious else "no", ", ".join(str(int(p.sum())) for p in m.patterns),
                      str(sol.rank), str(sol.dimension), f"{sol.slack:.1e}", ",".join(f"{b:+d}" for b in sol.branch),
                      sol.arithmetic)
    console.print(table)
    if result.critical:
        console.print(f"saddles: {result.n_saddle_cells} cells hold one"
                      + ("" if result.model.outputs.value == "trained" else " (fixed output weights: none can)"))
        boundary = Table(title="Non-differentiable local minima (lowest first)",
                         caption="ties: (sample, unit) pairs on a kink; adjacent: neighbouring pieces checked")
        for col in ("risk", "spurious", "ties", "adjacent", "branch"):
            boundary.add_column(col)
        for b in result.boundary_minima[:show]:
            boundary.add_row(_fmt(b.risk), "yes" if result.is_spurious(b.risk) else "no", str(int(b.ties.sum())),
                             str(b.adjacent), ",".join(f"{s:+d}" for s in b.branch))
        console.print(boundary)
        console.print(f"boundary minima {result.n_boundary_minima}, closed cells undecided "
                      f"{result.n_boundary_inconclusive}")
    if result.global_certified:
        console.print(f"[bold]global minimum[/bold] {_fmt(result.global_minimum)}: certified (no cell's optimum "
                      "is lower)")
    else:
        console.print(f"lowest genuine minimum {_fmt(result.global_minimum)}; lowest cell optimum "
                      f"{_fmt(result.lower_bound)} (a lower bound on the risk"
                      + (" over the sampled cells only" if result.sampled else "") + "): the global infimum lies "
                      "between them, possibly on a cell boundary (see --critical) or at infinity")
    _write_json(json_path, {"cellscape_version": __version__, "command": "atlas", "dataset": dataset.to_dict(),
                            **result.to_dict()})


@app.command()
def teacher(
    k: Annotated[str, typer.Option("--k", help="Teacher units (= input dimension): 6..20, 6,8,10 or 7.")] = "6..20",
    extra_neurons: Annotated[int, typer.Option(help="Student units beyond k (n = k + extra).")] = 0,
    runs: Annotated[int, typer.Option(help="Runs per size, from independent initialisations.")] = 1000,
    seed: Annotated[int, typer.Option(help="Seed of the initialisations.")] = 0,
    max_steps: Annotated[int, typer.Option(help="The most gradient steps of a run.")] = 1_000_000,
    json_path: Annotated[Path | None, typer.Option(
        "--json", help="Write the table as JSON after each size; sizes already in the file are not run again.")
    ] = None,
) -> None:
    """Safran and Shamir's experiment: how often gradient descent on a Gaussian teacher-student ReLU network ends in
    a spurious minimum (closed-form population risk, certified by the Hessian)."""
    from cellscape.teacher import TeacherConfig, parse_range, run_teacher_table

    configs = [TeacherConfig(k=size, extra_neurons=extra_neurons, runs=runs, seed=seed, max_steps=max_steps)
               for size in parse_range(k, name="--k")]
    with _progress() as bar:
        def on_start(config: Any):
            task = bar.add_task(f"k = {config.k}, n = {config.n} (runs)", total=config.runs)
            return lambda done, total: bar.update(task, completed=done / config.max_steps)

        rows = run_teacher_table(configs, json_path=json_path, on_start=on_start)
    table = Table(title=f"Spurious minima of gradient descent, Gaussian inputs ({runs} runs per size, seed {seed})")
    for col in ("k", "n", "spurious % [95% CI]", "min eig", "risk", "distinct", "sad/uns/unc"):
        table.add_column(col, justify="right", no_wrap=True)
    for row in rows:
        rate, counts = row["spurious"], row["counts"]
        eig, risk = row["mean_min_eigenvalue"], row["mean_spurious_risk"]
        table.add_row(str(row["k"]), str(row["n"]),
                      f"{100 * rate['estimate']:.1f} [{100 * rate['low']:.1f}, {100 * rate['high']:.1f}]",
                      "-" if eig is None else f"{eig:.2e}", "-" if risk is None else f"{risk:.3g}",
                      str(row["distinct_spurious_minima"]),
                      f"{counts['saddle']}/{counts['inconclusive']}/{counts['not_converged']}")
    console.print(table)
    wall = sum(row["wall_s"] for row in rows)
    steps = sum(row["network_steps"] for row in rows)
    console.print(f"min eig, risk: means over the spurious minima; distinct: up to permutations of units and "
                  f"coordinates; sad/uns/unc: saddles, inconclusive (degenerate or not smooth), not "
                  f"converged. {wall:.0f} s of computing, {steps / max(wall, 1e-9):.3g} network-steps/s.")
    if json_path is not None:
        err_console.print(f"wrote {json_path}")


@app.command()
def datasets(json_path: JsonOption = None) -> None:
    """List the built-in datasets (use them as builtin:NAME)."""
    from cellscape.data import list_builtins

    table = Table(title="Built-in datasets")
    table.add_column("name")
    table.add_column("description")
    rows = list_builtins()
    for name, description in rows:
        table.add_row(f"builtin:{name}", description)
    console.print(table)
    _write_json(json_path, {"datasets": [{"name": n, "description": d} for n, d in rows]})


def _rate_text(rate: Any) -> str:
    """``rate [low,high]`` in percent, or ``-`` without runs."""
    if rate.total == 0:
        return "-"
    return f"{100 * rate.estimate:.0f} [{100 * rate.low:.0f},{100 * rate.high:.0f}]"


def _point_label(params: dict[str, Any]) -> str:
    return " ".join(f"{k}={','.join(map(str, v)) if isinstance(v, list) else v}" for k, v in params.items())


def _print_sweep_report(report: Any) -> None:
    """The grid points (one line each), then their endpoint categories: rate and Wilson interval in percent."""
    from rich import box

    state = f"{report.n_done} of {report.n_tasks} tasks done"
    if report.n_failed or report.n_pending:
        state += f", {report.n_failed} failed, {report.n_pending} pending"
    console.print(f"[bold]sweep[/bold] {escape(report.name)}: {state} ({report.n_sessions} session(s), cellscape "
                  f"{', '.join(report.cellscape_versions) or '-'})")
    survey = report.kind == "survey"
    for i, p in enumerate(report.points, 1):
        if survey:
            lowest = "-" if p.lowest_minimum is None else _fmt(p.lowest_minimum)
            per_task = "-" if p.n_done == 0 else f"{p.minima_per_task:.3g}"
            found = f"{per_task} distinct minima per task, lowest minimum {lowest}"
        else:
            found = f"lowest final risk {'-' if p.best_risk is None else _fmt(p.best_risk)}"
        console.print(f"  P{i} {escape(_point_label(p.params) or p.point)}: {p.n_done}/{p.n_tasks} tasks, "
                      f"{p.n_runs} runs, {found}")
    if survey:
        title, columns = "Endpoints", ("global", "spurious", "saddle", "not conv.", "inconcl.", "boundary")
        caption = ("decided within each task (grid point and seed); boundary: minima at a non-differentiable "
                   "point")
    else:
        title, columns = "Cell escape", ("gen. stayed", "gen. left", "not stayed", "not left", "undecided")
        caption = ("gen.: the starting cell has a genuine minimum (not: it has none); stayed: the descent never "
                   "left it")
    table = Table(title=f"{title}: % of runs [{report.confidence:.0%} Wilson interval]", box=box.SIMPLE_HEAD,
                  caption=caption)
    table.add_column("point")
    for col in columns:
        table.add_column(col, justify="right")
    for i, p in enumerate(report.points, 1):
        shares = [*p.categories.values(), *([p.on_boundary] if survey else [])]
        table.add_row(f"P{i}", *(_rate_text(share) for share in shares))
    console.print(table)
    for key, error in report.failures[:5]:
        console.print(f"[yellow]failed[/yellow] task {key}: {escape(error)}")
    if len(report.failures) > 5:
        console.print(f"... and {len(report.failures) - 5} more failed tasks (--json lists them all)")


@app.command()
def sweep(
    config: Annotated[Path, typer.Argument(help="The sweep's TOML file: a table sweep (name, description, "
                                           "kind: survey or escape) and a table grid (SurveyConfig or EscapeConfig "
                                           "fields, a list being an axis; seeds).")],
    db: Annotated[Path | None, typer.Option(help="The results database (default: CONFIG with .sqlite).")] = None,
    scheduler: Annotated[str | None, typer.Option(help="Run on the Dask scheduler at this address "
                                                  "(tcp://host:port) instead of local processes.")] = None,
    workers: Annotated[int | None, typer.Option(help="Local worker processes (default: every core; 0: run in "
                                                "this process).")] = None,
    extend: Annotated[bool, typer.Option("--extend", help="Add the configuration's new tasks (more seeds, "
                                         "points) to an existing database.")] = False,
    json_path: JsonOption = None,
) -> None:
    """Run a grid of surveys (or cell-escape experiments), resumably: finished tasks are kept in SQLite and never
    run twice."""
    from cellscape import __version__
    from cellscape.sweep import load_sweep, run_sweep, summarize

    spec = load_sweep(config)
    path = db if db is not None else config.with_suffix(".sqlite")
    with _progress() as bar:
        task = bar.add_task(f"sweep {spec.name}: tasks", total=len(spec.tasks))
        done = run_sweep(spec, path, scheduler=scheduler, workers=workers, extend=extend,
                         progress=lambda finished, total: bar.update(task, completed=finished, total=total))
    where = f"Dask at {scheduler}" if done.executor == "dask" else (
        "this process" if done.executor == "inline" else f"{done.workers} local processes")
    console.print(f"{done.n_done} task(s) run on {where} in {done.wall_s:.1f} s, {done.n_skipped} already done, "
                  f"{done.n_failed} failed; results in {path}")
    report = summarize(path)
    _print_sweep_report(report)
    _write_json(json_path, {"cellscape_version": __version__, "command": "sweep", "config": str(config),
                            "db": str(path), "session": done.to_dict(), "results": report.to_dict()})
    if done.n_failed:
        err_console.print(f"{done.n_failed} task(s) failed; run the same command again to retry them")
        sys.exit(1)


@app.command()
def results(
    db: Annotated[Path, typer.Argument(help="A sweep database (made by `cellscape sweep`).")],
    csv: Annotated[Path | None, typer.Option("--csv", help="Export --table to this CSV file.")] = None,
    parquet: Annotated[Path | None, typer.Option("--parquet", help="Export --table to this Parquet file.")] = None,
    table: Annotated[str, typer.Option(help="What --csv and --parquet export: runs, minima, tasks or summary.")
                     ] = "runs",
    minima: Annotated[bool, typer.Option("--minima", help="Also print every distinct minimum.")] = False,
    by_seed: Annotated[bool, typer.Option("--by-seed", help="Summarise each seed apart.")] = False,
    confidence: Annotated[float, typer.Option(help="Level of the Wilson intervals.")] = 0.95,
    max_rows: Annotated[int, typer.Option(help="Print at most this many minima.")] = 50,
    json_path: JsonOption = None,
) -> None:
    """Summarise a sweep: per grid point, every endpoint category with its Wilson interval; export to CSV/Parquet."""
    from cellscape.sweep import export_results, results_table, summarize

    report = summarize(db, confidence=confidence, by_seed=by_seed)
    _print_sweep_report(report)
    if minima:
        rows = results_table(db, table="minima").rows
        from rich import box

        shown = Table(title="Distinct certified minima (per task)", box=box.SIMPLE_HEAD)
        for col in ("point", "seed", "minimum", "risk", "runs", "category", "boundary", "valley dim"):
            shown.add_column(col, justify="right")
        ids = {p.point: f"P{i}" for i, p in enumerate(report.points, 1)}
        for m in rows[:max_rows]:
            shown.add_row(ids.get(m["task"]) or ids.get(m["point"], m["point"]), str(m["seed"]), str(m["minimum"]),
                          _fmt(m["risk"]), str(m["count"]), m["category"], "yes" if m["on_boundary"] else "no",
                          "?" if m["valley_dimension"] is None else str(m["valley_dimension"]))
        console.print(shown)
        if len(rows) > max_rows:
            console.print(f"... and {len(rows) - max_rows} more minima (--max-rows, or --table minima --csv FILE)")
    for out, fmt in ((csv, "csv"), (parquet, "parquet")):
        if out is not None:
            n = export_results(db, out, fmt=fmt, table=table, confidence=confidence)
            err_console.print(f"wrote {n} rows ({table}) to {out}")
    _write_json(json_path, report.to_dict())


@app.command()
def regions(
    params: Annotated[Path | None, typer.Option(help="Parameters: .npz (W1, b1, ...) or a torch .pt state dict; "
                                                "without it, a random network.")] = None,
    activation: Annotated[str | None, typer.Option(help="Hidden activation of the random network (relu by "
                                                   "default), or of the file when it does not say.")] = None,
    d_in: Annotated[int, typer.Option(help="Input width of the random network: 1 or 2.")] = 2,
    hidden: Annotated[str, typer.Option(help="Hidden widths of the random network, comma-separated.")] = "8,8",
    d_out: Annotated[int, typer.Option(help="Output width of the random network.")] = 1,
    seed: Annotated[int, typer.Option(help="Seed of the random network.")] = 0,
    index: Annotated[int, typer.Option(help="Which network of a batch in the file.")] = 0,
    domain: Annotated[str | None, typer.Option(help="x0,x1 (1-D input) or x0,x1,y0,y1 (2-D), e.g. -2,2,-1,1 or "
                                               "-1/3,1; default: a box around the first layer's arrangement.")
                      ] = None,
    out: Annotated[Path | None, typer.Option(help="Draw the regions to this .png or .svg file.")] = None,
    color: Annotated[str, typer.Option(help="Fill of the drawing: region (a colour each) or output (its value).")
                     ] = "region",
    json_path: JsonOption = None,
) -> None:
    """Enumerate the linear regions of a network with 1-D or 2-D input, exactly, and draw them."""
    from cellscape import __version__
    from cellscape.input_regions import linear_regions
    from cellscape.networks import init_params, mlp
    from cellscape.params_io import load_params
    from cellscape.plots._axes import figure_path
    from cellscape.plots.regions import plot_regions

    target = None if out is None else figure_path(out, name="--out", func="cellscape regions")
    if params is None:
        arch = mlp(d_in, _parse_widths(hidden), d_out, activation=activation or "relu")
        theta = init_params(arch, seed=seed)
    else:
        arch, theta = load_params(params, activation=activation)
    box = None if domain is None else [v.strip() for v in domain.split(",")]
    bar = _progress()  # started by the first layer's report, after the inputs are checked: errors stay one line
    tasks: list[Any] = []

    def report(done: int, total: int) -> None:
        if not tasks:
            bar.start()
            tasks.append(bar.add_task("cutting by layer", total=total))
        bar.update(tasks[0], completed=done, total=total)

    try:
        result = linear_regions(arch, theta, domain=box, index=index, progress=report)
    finally:
        bar.stop()
    sides = " x ".join(f"[{_fmt(float(lo))}, {_fmt(float(hi))}]" for lo, hi in result.domain)
    console.print(f"[bold]network[/bold] {arch.describe()}" + ("" if params is None else f" from {params}"))
    console.print(f"[bold]domain[/bold] {sides}")
    console.print(f"{result.n_regions} linear regions, {result.n_affine_maps} distinct affine maps"
                  + (f" (after each hidden layer: {', '.join(map(str, result.layer_counts))})"
                     if result.layer_counts else ""))
    if target is not None:
        plot_regions(result, color=color).save(target)
        err_console.print(f"wrote {target}")
    config = {"params": None if params is None else str(params), "activation": activation, "d_in": d_in,
              "hidden": hidden, "d_out": d_out, "seed": seed, "index": index, "domain": domain}
    _write_json(json_path, {"cellscape_version": __version__, "command": "regions", "config": config,
                            **result.to_dict()})


def _parse_numbers(text: str, *, name: str, func: str) -> list[float]:
    """Comma-separated floats, or a one-line error naming the option."""
    try:
        return [float(v) for v in text.split(",")]
    except ValueError:
        raise InvalidInputError(f"`{name}` of `{func}` must be comma-separated numbers. Got {text!r} instead."
                                ) from None


@app.command("slice")
def slice_(
    params: Annotated[list[Path], typer.Argument(help="Parameter files (.npz W1, b1, ... or a torch .pt state "
                                                 "dict; of a batch, the first network): one (random directions), "
                                                 "two (the segment between them), three (their plane, or with "
                                                 "--dim 1 the path) or more (a path).")],
    data: Annotated[str, typer.Option(help="Dataset: a .npz/.csv file or builtin:NAME.")] = "builtin:nonaffine",
    dim: Annotated[int | None, typer.Option(help="1 (a line or path) or 2 (a plane); default 2 for one or three "
                                            "points, else 1.")] = None,
    loss: Annotated[str, typer.Option(help="The loss.")] = "squared",
    activation: Annotated[str | None, typer.Option(help="Hidden activation when the files do not say.")] = None,
    resolution: Annotated[int, typer.Option(help="Grid points per axis (per path segment in 1-D).")] = 201,
    span: Annotated[str | None, typer.Option(help="Plane window a0,a1,b0,b1 (default -1,1,-1,1, or around the "
                                             "three points); a line's t range t0,t1 (default -1,1).")] = None,
    exact: Annotated[bool, typer.Option("--exact/--float", help="1-D: also the exact kinks and pieces.")] = True,
    seed: Annotated[int, typer.Option(help="Seed of the random directions and of a built-in dataset.")] = 0,
    out: Annotated[Path, typer.Option(help="The figure: a .png or .svg file.")] = Path("slice.png"),
    json_path: JsonOption = None,
) -> None:
    """Slice the landscape through saved networks: the risk with its exact cells, drawn to PNG or SVG."""
    from cellscape import __version__
    from cellscape.data import load_data
    from cellscape.networks import unflatten_params
    from cellscape.params_io import load_params
    from cellscape.plots._axes import figure_path
    from cellscape.plots.slices import plot_slice_1d, plot_slice_2d
    from cellscape.slices import random_direction, slice_1d, slice_2d

    target = figure_path(out, name="--out", func="cellscape slice")
    if dim is None:
        dim = 2 if len(params) in (1, 3) else 1
    if dim not in (1, 2) or (dim == 2 and len(params) not in (1, 3)):
        raise InvalidInputError(f"`--dim` of `cellscape slice` must be 1, or 2 with one or three parameter files. "
                                f"Got {dim} with {len(params)} file(s) instead.")
    loaded = [load_params(p, activation=activation) for p in params]
    arch = loaded[0][0]
    if any(a != arch for a, _ in loaded[1:]):
        raise InvalidInputError("`params` of `cellscape slice` must be networks of one architecture. Got "
                                f"{', '.join(a.describe() for a, _ in loaded)} instead.")
    points = [theta[0] for _, theta in loaded]
    dataset = load_data(data, seed=seed)
    window = None if span is None else _parse_numbers(span, name="--span", func="cellscape slice")
    names = [p.stem for p in params]
    if dim == 2:
        plane = slice_2d(arch, points[0], dataset.X, dataset.y, points=points[1:] or None, span=window,
                         resolution=resolution, loss=loss, seed=seed)
        plot_slice_2d(plane).save(target)
        console.print(f"plane ({plane.basis}) through {', '.join(names)}: {plane.n_cells} cells on the "
                      f"{len(plane.beta)} x {len(plane.alpha)} grid, risk {_fmt(float(plane.risk.min()))} to "
                      f"{_fmt(float(plane.risk.max()))}")
        summary = {"basis": plane.basis, "n_cells": plane.n_cells, "alpha": plane.alpha.tolist(),
                   "beta": plane.beta.tolist(), "risk": plane.risk.tolist(), "cells": plane.cells.tolist(),
                   "marks": [dataclasses.asdict(m) for m in plane.marks]}
    else:
        if len(points) == 1:
            t_range = (-1.0, 1.0) if window is None else tuple(window)
            line = slice_1d(arch, points[0], dataset.X, dataset.y,
                            direction=unflatten_params(arch, random_direction(arch, points[0], seed=seed)[None]),
                            t_range=t_range,
                            loss=loss, resolution=resolution, exact=exact)
            labels = None
        else:
            line = slice_1d(arch, points, dataset.X, dataset.y, loss=loss, resolution=resolution, exact=exact)
            labels = names
        plot_slice_1d(line, labels=labels).save(target)
        kinks = "not computed (--float)" if line.kinks is None else f"{len(line.kinks)} exact kinks"
        console.print(f"line through {', '.join(names)}: {kinks}, {line.n_cells} cells on the grid, risk "
                      f"{_fmt(float(line.risk.min()))} to {_fmt(float(line.risk.max()))}")
        summary = {"t": line.t.tolist(), "risk": line.risk.tolist(), "cells": line.cells.tolist(),
                   "breaks": list(line.breaks),
                   "kinks": None if line.kinks is None else [str(k.t) for k in line.kinks]}
    err_console.print(f"wrote {target}")
    config = {"params": [str(p) for p in params], "data": data, "dim": dim, "loss": loss, "resolution": resolution,
              "span": span, "exact": exact, "seed": seed}
    _write_json(json_path, {"cellscape_version": __version__, "command": "slice", "config": config,
                            "dataset": dataset.to_dict(), **summary})


@app.command()
def spectrum(
    params: Annotated[Path, typer.Option(help="Parameters: .npz (W1, b1, ...) or a torch .pt state dict.")],
    data: Annotated[str, typer.Option(help="Dataset: a .npz/.csv file or builtin:NAME.")] = "builtin:nonaffine",
    loss: Annotated[str, typer.Option(help="The loss.")] = "squared",
    activation: Annotated[str | None, typer.Option(help="Hidden activation when the file does not say.")] = None,
    method: Annotated[str, typer.Option(help="dense, lanczos, or auto (dense up to 3,000 parameters).")] = "auto",
    k: Annotated[int, typer.Option(help="Lanczos: the k smallest and k largest eigenvalues.")] = 6,
    tol: Annotated[float, typer.Option(help="Tie tolerance: |pre-activation - breakpoint| <= tol.")] = 1e-9,
    max_pieces: Annotated[int, typer.Option(help="At a kink: enumerate up to this many adjacent pieces, else "
                                            "sample them.")] = 16,
    seed: Annotated[int, typer.Option(help="Seed of a built-in dataset, the Lanczos start and piece sampling.")
                    ] = 0,
    out: Annotated[Path | None, typer.Option(help="Draw the spectra to this .png or .svg file.")] = None,
    json_path: JsonOption = None,
) -> None:
    """The Hessian spectrum of saved parameters; at a kink the one-sided spectra of the adjacent pieces."""
    from cellscape import __version__
    from cellscape.data import load_data
    from cellscape.params_io import load_params
    from cellscape.plots._axes import figure_path
    from cellscape.plots.spectrum import plot_spectrum
    from cellscape.spectrum import hessian_spectrum

    target = None if out is None else figure_path(out, name="--out", func="cellscape spectrum")
    arch, theta = load_params(params, activation=activation)
    dataset = load_data(data, seed=seed)
    result = hessian_spectrum(arch, theta[0], dataset.X, dataset.y, loss=loss, method=method, k=k, tie_tol=tol,
                              max_pieces=max_pieces, seed=seed)
    console.print(f"[bold]{result.kind.value}[/bold] point, {result.n_params} parameters, {result.method.value}: "
                  f"{escape(result.message)}")
    table = Table(title=f"Hessian spectra of {params} on {dataset.name} ({loss} loss)")
    for col in ("piece", "side", "smallest", "largest", "eigenvalues"):
        table.add_column(col, justify="right")
    for i, piece in enumerate(result.pieces):
        table.add_row(str(i), "one-sided" if piece.one_sided else "two-sided", _fmt(piece.min), _fmt(piece.max),
                      str(len(piece.eigenvalues)))
    console.print(table)
    if result.sampled:
        console.print(f"{len(result.pieces)} of the {result.n_adjacent} adjacent pieces, sampled with seed {seed}")
    if target is not None:
        plot_spectrum(result).save(target)
        err_console.print(f"wrote {target}")
    config = {"params": str(params), "data": data, "loss": loss, "method": method, "k": k, "tol": tol,
              "max_pieces": max_pieces, "seed": seed}
    _write_json(json_path, {"cellscape_version": __version__, "command": "spectrum", "config": config,
                            "dataset": dataset.to_dict(), **result.to_dict()})


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the ``cellscape`` command: exit status 0 on success, 2 on bad input, no tracebacks.

    typer handles usage errors (unknown options, malformed numbers: status 2) and ``--help``; a
    :class:`~cellscape.exceptions.CellscapeError` raised by the library becomes a one-line ``error:`` message
    with status 2.
    """
    try:
        app(args=list(argv) if argv is not None else None, prog_name="cellscape")
    except CellscapeError as err:
        err_console.print(f"[bold red]error:[/bold red] {escape(str(err))}", highlight=False, soft_wrap=True)
        sys.exit(2)
