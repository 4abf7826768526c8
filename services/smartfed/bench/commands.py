"""``smartfed bench``: how fast, how big, how close to the limit.

    smartfed bench [--quick] [--json] [--output DIR] [--only KIND ...]
    smartfed bench reference --clients N [--rows 2000] [--epochs 1] [--rounds 5] [--seed 0] [--json]
    smartfed bench personalization [--task sensor] [--seed 0] [--rounds 20] [--lambdas 1e-4 1e-3]

The first writes ``DIR/bench.json`` and prints a table of the figures beside their goals; the
second runs the reference workload both ways (federated and a plain loop) and prints both; the
third compares the ways a site can use the shared model (see smartfed.bench.personalization).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table

from smartfed.bench.suite import GOALS, KINDS
from smartfed.exit_codes import ExitCode


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``smartfed bench`` and ``smartfed bench reference`` to the ``smartfed`` parser."""
    bench = subparsers.add_parser(
        "bench", help="benchmarks: round overhead, aggregation, wire, scoring, start-up"
    )
    bench.add_argument(
        "--quick", action="store_true", help="smaller sizes, no start-up run (about a minute)"
    )
    bench.add_argument("--json", action="store_true", help="print bench.json to stdout")
    bench.add_argument(
        "--output", type=Path, default=Path("."), help="folder for bench.json (default: here)"
    )
    bench.add_argument(
        "--only",
        action="append",
        choices=KINDS,
        default=None,
        metavar="KIND",
        help=f"run only this kind (repeatable): {', '.join(KINDS)}",
    )
    bench.set_defaults(handler=run_bench)
    commands = bench.add_subparsers(dest="bench_command")

    p = commands.add_parser("reference", help="the standard federated-learning comparison workload")
    p.add_argument("--clients", type=int, required=True)
    p.add_argument("--rows", type=int, default=2000, help="rows of 32 features per client")
    p.add_argument("--epochs", type=int, default=1, help="local epochs per round")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--workers", type=int, default=None, help="Ray worker processes (default: one per core)"
    )
    p.add_argument(
        "--mode",
        choices=["both", "federated", "plain"],
        default="both",
        help="both: federated here, then the plain loop in a fresh process",
    )
    p.add_argument("--json", action="store_true", help="print the figures as JSON to stdout")
    p.set_defaults(handler=run_reference)

    p = commands.add_parser(
        "personalization", help="global, fine-tuned, Ditto, clustered and local-only models on one scenario"
    )
    p.add_argument("--task", choices=["sensor", "network"], default="sensor")
    p.add_argument("--sites", type=int, default=12)
    p.add_argument("--rounds", type=int, default=20)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--lambdas", type=float, nargs="+", default=[1e-4, 1e-3], help="Ditto lambdas, one run each")
    p.add_argument("--output", type=Path, default=Path("."), help="folder for personalization.json (default: here)")
    p.add_argument("--json", action="store_true", help="print personalization.json to stdout")
    p.set_defaults(handler=run_personalization)


def run_bench(args: argparse.Namespace, console: Console) -> int:
    from smartfed.bench.suite import FULL, QUICK, run_suite

    report = run_suite(QUICK if args.quick else FULL, only=args.only or KINDS)
    args.output.mkdir(parents=True, exist_ok=True)
    path = args.output / "bench.json"
    path.write_text(json.dumps(report, indent=2) + "\n")
    console.print(summary_table(report))
    console.print(
        f"figures in {path} ({report['seconds']:.0f} s, "
        f"load average {report['machine']['load_average_start']:.1f} at start)"
    )
    if args.json:
        print(json.dumps(report, indent=2))
    return ExitCode.OK


def summary_table(report: dict) -> Table:
    table = Table(title="smartfed bench")
    table.add_column("figure")
    table.add_column("value", justify="right")
    table.add_column("goal", justify="right")
    for name, goal in GOALS.items():
        if name in report:
            meets = (
                report[name] <= goal if name != "fedavg_vs_copy_bandwidth" else report[name] >= goal
            )
            mark = "[green]met[/]" if meets else "[red]missed[/]"
            sign = ">=" if name == "fedavg_vs_copy_bandwidth" else "<="
            table.add_row(name, f"{report[name]:.3g}", f"{sign} {goal} {mark}")
    if "aggregation" in report:
        for strategy, gb_per_s in report["aggregation"]["gb_per_s"].items():
            table.add_row(f"aggregation {strategy} GB/s", f"{gb_per_s:.3g}", "")
    if "communication" in report:
        for encoding, figures in report["communication"]["upload_bytes_per_site_per_round"].items():
            table.add_row(f"upload bytes/site/round {encoding}", f"{figures['bytes']:,}", "")
    if "scoring" in report:
        scoring = report["scoring"]
        table.add_row("score p50 ms", f"{scoring['score_p50_ms']:.3g}", "")
        table.add_row("batch / bare forward", f"{scoring['batch_vs_forward']:.3g}", "")
    if "startup" in report:
        table.add_row("start-up to round 1 s", f"{report['startup']['first_round_s']:.3g}", "")
    if "rounds" in report:
        for sites, row in report["rounds"]["by_sites"].items():
            table.add_row(
                f"round s at {sites} sites (plain)",
                f"{row['federated']['later_round_mean_s']:.3g} "
                f"({row['plain']['later_round_mean_s']:.3g})",
                "",
            )
            table.add_row(
                f"peak PSS MB at {sites} sites", f"{row['federated']['peak_pss_mb']:.0f}", ""
            )
            if "secure_aggregation_vs_federated" in row:
                table.add_row(
                    f"secure aggregation round / plain round at {sites} sites",
                    f"{row['secure_aggregation_vs_federated']:.3g}",
                    "",
                )
        if "peak_pss_mb_per_site" in report["rounds"]:
            table.add_row(
                "PSS MB per added site", f"{report['rounds']['peak_pss_mb_per_site']:.3g}", ""
            )
    return table


def run_reference(args: argparse.Namespace, console: Console) -> int:
    from smartfed.bench.reference import Workload, run_federated, run_plain

    try:
        workload = Workload(args.clients, args.rows, args.epochs, args.rounds, args.seed)
    except ValueError as error:
        console.print(f"[red]error:[/] {error}")
        return ExitCode.BAD_INPUT
    workers = args.workers or max(1, min(os.cpu_count() or 1, 8))
    result: dict = {}
    if args.mode in ("both", "federated"):
        result["federated"] = run_federated(workload, workers)
    if args.mode == "plain":
        result["plain"] = run_plain(workload)
    if args.mode == "both":
        from smartfed.bench.suite import stop_ray

        # A fresh process, so the plain loop's wall time and memory start from nothing too.
        stop_ray()
        result["plain"] = plain_in_fresh_process(args)
        result["federated_vs_plain_wall"] = (
            result["federated"]["wall_s"] / result["plain"]["wall_s"]
        )
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        console.print(reference_table(result))
    return ExitCode.OK


def run_personalization(args: argparse.Namespace, console: Console) -> int:
    from rich.progress import Progress

    from smartfed.bench.personalization import Study, run_study
    from smartfed.data import DataError

    try:
        study = Study(task=args.task, sites=args.sites, rounds=args.rounds, seed=args.seed, lambdas=tuple(args.lambdas))
    except ValueError as error:
        console.print(f"[red]error:[/] {error}")
        return ExitCode.BAD_INPUT
    try:
        with Progress(console=console, transient=True) as progress:
            result = run_study(study, progress)
    except DataError as error:
        console.print(f"[red]error:[/] {error}")
        return ExitCode.BAD_INPUT
    args.output.mkdir(parents=True, exist_ok=True)
    path = args.output / "personalization.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    console.print(personalization_table(result))
    console.print(f"figures in {path} ({result['seconds']:.0f} s)")
    if args.json:
        print(json.dumps(result, indent=2))
    return ExitCode.OK


def personalization_table(result: dict) -> Table:
    table = Table(title=f"personalisation study: {result['task']}, {result['sites']} sites, seed {result['seed']}")
    table.add_column("variant")
    table.add_column("mean F1", justify="right")
    table.add_column("minus local-only (95% interval)", justify="right")
    for name, variant in result["variants"].items():
        comparison = variant["minus_local_only"]
        if comparison is None:
            versus = ""
        elif comparison["ci95"] is None:
            versus = f"{comparison['difference']:+.3f}"
        else:
            low, high = comparison["ci95"]
            versus = f"{comparison['difference']:+.3f} ({low:+.3f} to {high:+.3f})"
        table.add_row(name, f"{variant['f1']:.3f}", versus)
    return table


def plain_in_fresh_process(args: argparse.Namespace) -> dict:
    command = [
        sys.executable,
        "-m",
        "smartfed.cli",
        "bench",
        "reference",
        "--mode",
        "plain",
        "--json",
        "--clients",
        str(args.clients),
        "--rows",
        str(args.rows),
        "--epochs",
        str(args.epochs),
        "--rounds",
        str(args.rounds),
        "--seed",
        str(args.seed),
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(
            f"the plain reference loop exited with {done.returncode}:\n{done.stderr[-2000:]}"
        )
    return json.loads(done.stdout)["plain"]


def reference_table(result: dict) -> Table:
    table = Table(title="reference workload")
    table.add_column("figure")
    modes = [m for m in ("federated", "plain") if m in result]
    for mode in modes:
        table.add_column(mode, justify="right")
    for name in (
        "wall_s",
        "ready_s",
        "first_round_s",
        "later_round_mean_s",
        "peak_pss_mb",
        "final_loss",
    ):
        table.add_row(name, *(f"{result[m][name]:.4g}" for m in modes))
    return table
