"""``python -m benchmarks [--quick] [--only NAME] [--json FILE]``: run, check and time the benchmarks."""

from __future__ import annotations

import argparse
import sys

from . import BENCHMARKS, load
from ._harness import CheckError, machine_info, render_case, run_case, write_json


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes and few repeats (a smoke run)")
    parser.add_argument("--only", action="append", metavar="NAME", choices=sorted(BENCHMARKS),
                        help=f"run only this benchmark (repeatable); one of: {', '.join(sorted(BENCHMARKS))}")
    parser.add_argument("--json", metavar="FILE", help="write machine info and all results to FILE")
    args = parser.parse_args(argv)

    from rich.console import Console

    console = Console()
    if not console.is_terminal:
        console = Console(width=max(console.width, 140))
    info = machine_info()
    console.print(f"cellscape {info['cellscape']}, jax {info['jax']} ({info['jax_backend']}), "
                  f"torch {info['torch']} ({info.get('torch_num_threads')} threads), "
                  f"{info['cpu_count']} CPUs ({info['processor']}){', quick mode' if args.quick else ''}\n")

    results = []
    for name in args.only or list(BENCHMARKS):
        case = load(name)(quick=args.quick)
        try:
            with console.status(f"running {name} ...") as status:
                result = run_case(case, log=lambda msg, status=status: status.update(msg))
        except CheckError as err:
            console.print(f"[bold red]FAILED[/bold red] {name}: {err}")
            return 1
        render_case(result, console)
        results.append(result)

    if args.json:
        write_json(args.json, info, {"quick": args.quick, "only": args.only}, results)
        console.print(f"results written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
