"""The `smartfed` command."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from rich.console import Console
from rich.logging import RichHandler

from smartfed.bench import register as register_bench
from smartfed.exit_codes import EXIT_HELP, ExitCode
from smartfed.registry.commands import register as register_models

log = logging.getLogger("smartfed")

# The embedded default: twelve buildings finish within a few minutes on a two-core machine.
DEFAULT_SIMULATED_SITES = 12


def add_simulate(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("simulate", help="run a whole federation over simulated buildings on this machine")
    p.add_argument("--task", choices=["sensor", "network"], default="sensor", help="sensor data quality or network security")
    p.add_argument("--sites", type=int, default=None, help="default: 12 simulated, or every site a real data source holds")
    p.add_argument("--organizations", type=int, default=3)
    p.add_argument("--rounds", type=int, default=20)
    p.add_argument("--strategy", default="fedavg", help="fedavg, fedprox, fedadam, fedyogi, fedadagrad, median, trimmed_mean, krum, multi_krum")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--output", type=Path, default=Path("runs/default"), help="folder for report.json, report.md and plots")
    p.add_argument("--data", default="simulated", help="simulated, uci-appliances, or a folder with one CSV per site")
    p.add_argument("--store", default=None, help="model store: a folder (default OUTPUT/models) or s3://BUCKET/PREFIX")
    p.add_argument("--sample-fraction", type=float, default=1.0, help="fraction of sites asked each round")
    p.add_argument("--min-sites", type=int, default=2, help="quorum: updates a round needs before its deadline")
    p.add_argument("--local-epochs", type=int, default=1)
    p.add_argument("--round-deadline-s", type=float, default=120.0, help="seconds a round waits for updates")
    p.add_argument("--straggler-fraction", type=float, default=0.0, help="fraction of sites that stall every round")
    p.add_argument("--straggler-delay-s", type=float, default=0.0, help="how long a stalling site stalls")
    p.add_argument("--personalize-epochs", type=int, default=3, help="local fine-tuning of a shared model before a site scores with it")
    p.add_argument("--personalization", choices=["finetune", "ditto"], default=None, help="finetune: tune the global model at each site after the last round; ditto: each site trains a personal model alongside it every round (default: ditto for sensor, finetune for network)")
    p.add_argument("--ditto-lambda", type=float, default=1e-4, help="with --personalization ditto: pull of the personal model towards the global one")
    p.add_argument("--workers", type=int, default=None, help="Ray worker actors hosting the sites (default: one per core)")
    p.add_argument("--no-baselines", action="store_true", help="skip the local-only and centralized comparison")
    p.add_argument("--secure-aggregation", action="store_true", help="the aggregator sees only the sum of updates (SecAgg+)")
    p.add_argument("--dropout", type=float, default=0.0, metavar="FRACTION", help="with --secure-aggregation: sites that vanish after uploading")
    p.add_argument("--dp-epsilon", type=float, default=None, metavar="E", help="client-level DP budget ε over all rounds")
    p.add_argument("--dp-delta", type=float, default=1e-5, metavar="D", help="DP δ (default 1e-5)")
    p.add_argument("--dp-clip-norm", type=float, default=1.0, help="L2 bound on each site's update under DP")
    p.add_argument("--dp-placement", choices=["central", "distributed"], default=None, help="who adds the DP noise (default: distributed with secure aggregation)")
    p.add_argument("--compression", choices=["none", "fp16", "int8", "topk"], default="none", help="update encoding on the wire")
    p.add_argument("--json", action="store_true", help="print report.json to stdout")
    p.set_defaults(handler=run_simulate)


def run_simulate(args: argparse.Namespace, console: Console) -> ExitCode:
    from pydantic import ValidationError

    from smartfed.data import DataError, available_sites
    from smartfed.federation.aggregator import RoundFailed
    from smartfed.registry.store import StoreError
    from smartfed.simulation.config import SimulationConfig
    from smartfed.simulation.run import run_simulation
    from smartfed.telemetry import TelemetryConfigError

    sites = args.sites if args.sites is not None else (available_sites(args.data) or DEFAULT_SIMULATED_SITES)
    options = {
        "task": args.task, "data": args.data, "sites": sites, "organizations": args.organizations,
        "rounds": args.rounds, "strategy": args.strategy, "seed": args.seed, "output": args.output,
        "store": args.store, "sample_fraction": args.sample_fraction, "min_sites": args.min_sites,
        "local_epochs": args.local_epochs, "round_deadline_s": args.round_deadline_s,
        "straggler_fraction": args.straggler_fraction, "straggler_delay_s": args.straggler_delay_s,
        "personalize_epochs": args.personalize_epochs, "personalization": args.personalization,
        "ditto_lambda": args.ditto_lambda, "baselines": not args.no_baselines,
    }
    options.update(
        secure_aggregation=args.secure_aggregation, dropout=args.dropout, dp_epsilon=args.dp_epsilon,
        dp_delta=args.dp_delta, dp_clip_norm=args.dp_clip_norm, dp_placement=args.dp_placement,
        compression=args.compression,
    )
    if args.workers is not None:
        options["workers"] = args.workers
    try:
        config = SimulationConfig(**options)
    except ValidationError as error:
        for problem in error.errors():
            field = "--" + "-".join(str(p) for p in problem["loc"]).replace("_", "-") if problem["loc"] else "settings"
            console.print(f"[red]error:[/] {field}: {problem['msg'].removeprefix('Value error, ')}")
        return ExitCode.BAD_INPUT
    try:
        report = run_simulation(config, console)
    except (DataError, TelemetryConfigError) as error:
        console.print(f"[red]error:[/] {error}")
        return ExitCode.BAD_INPUT
    except RoundFailed as error:
        console.print(f"[red]error:[/] {error}")
        return ExitCode.ROUND_FAILED
    except StoreError as error:
        console.print(f"[red]error:[/] {error}")
        return ExitCode.STORE_FAILED
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        summary = "  ".join(f"{name} F1 {report[name]['f1']:.3f}" for name in ("federated", "local_only", "centralized") if name in report)
        console.print(f"[green]done[/] in {report['wall_seconds']:.0f} s: {summary}; report in {config.output}/report.md")
    return ExitCode.OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="smartfed", description="Federated anomaly detection for smart buildings.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log internals (DEBUG)")
    subparsers = parser.add_subparsers(dest="command", required=True)
    add_simulate(subparsers)
    register_models(subparsers)
    register_bench(subparsers)
    return parser


def configure_logging(verbose: bool, console: Console) -> None:
    from smartfed.telemetry import TraceContextFilter

    handler = RichHandler(console=console, show_path=False, rich_tracebacks=False)
    # Every record carries trace_id and span_id; -v shows them, so a log line leads to its trace.
    handler.addFilter(TraceContextFilter())
    line = "%(message)s  [trace %(trace_id)s span %(span_id)s]" if verbose else "%(message)s"
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, format=line, handlers=[handler], force=True)
    # Third-party chatter stays out of the story of a run.
    for noisy in ("ray", "urllib3", "matplotlib", "filelock"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    console = Console(stderr=True)
    configure_logging(args.verbose, console)
    try:
        code = args.handler(args, console)
    except KeyboardInterrupt:
        code = ExitCode.INTERRUPTED
    if code != ExitCode.OK:
        console.print(f"exit {int(code)}: {EXIT_HELP[code]}")
    return int(code)


if __name__ == "__main__":
    sys.exit(main())
