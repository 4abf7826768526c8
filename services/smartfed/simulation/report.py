"""The run's report: report.json for machines, report.md and PNG plots for people."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from smartfed.data.weather import stations
from smartfed.simulation.comparison import f1_difference
from smartfed.simulation.config import SimulationConfig

log = logging.getLogger(__name__)

METRICS = ("f1", "precision", "recall", "auroc")
SETTINGS = ("federated", "local_only", "centralized")
LABELS = {"federated": "federated", "local_only": "local-only", "centralized": "centralized (pooled)"}


@dataclass
class SettingResult:
    evaluations: list[dict]

    def summary(self) -> dict:
        means = {m: float(np.mean([e["metrics"][m] for e in self.evaluations])) for m in METRICS}
        per_site = [
            {
                "site": e["site"],
                "organization": e["organization"],
                "rows": e["rows"],
                "personalised": e["personalised"],
                **e["metrics"],
            }
            for e in sorted(self.evaluations, key=lambda e: e["site"])
        ]
        return {**means, "per_site": per_site}

    def f1_by_site(self) -> dict[str, float]:
        return {e["site"]: e["metrics"]["f1"] for e in self.evaluations}


def build_report(
    config: SimulationConfig,
    sites: dict[str, dict],
    settings: dict[str, SettingResult],
    history: list[dict],
    wall_seconds: float,
    failure: dict | None,
) -> dict:
    report: dict = {
        "task": config.task,
        "data": config.data_kind,
        "data_simulated": config.data == "simulated",
        "sites": len(sites),
        "organizations": len({m["organization"] for m in sites.values()}),
        "rounds": config.rounds,
        "seed": config.seed,
        "strategy": config.strategy,
        "personalization": config.personalization,
        **({"ditto_lambda": config.ditto_lambda} if config.personalization == "ditto" else {}),
        "status": "failed" if failure else "completed",
    }
    for name, result in settings.items():
        report[name] = result.summary()
    if "federated" in settings:
        federated = settings["federated"].f1_by_site()
        report["comparison"] = {
            name: f1_difference(federated, result.f1_by_site(), config.seed)
            for name, result in settings.items()
            if name != "federated"
        }
    report["history"] = history
    report["wall_seconds"] = wall_seconds
    if failure:
        report["failure"] = failure
    return report


def write_report(report: dict, settings: dict[str, SettingResult], output: Path) -> None:
    output.mkdir(parents=True, exist_ok=True)
    (output / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    plots = write_plots(report, settings, output)
    (output / "report.md").write_text(render_markdown(report, plots))
    log.info("report written to %s (report.json, report.md, %d plots)", output, len(plots))


def render_markdown(report: dict, plots: list[str]) -> str:
    lines = [
        f"# smartfed simulation: {report['task']} task",
        "",
        (
            f"{report['sites']} sites in {report['organizations']} organizations, {report['rounds']} rounds of "
            f"`{report['strategy']}` with `{report['personalization']}` personalisation, seed {report['seed']}, "
            f"data: {report['data']}; "
            f"{report['wall_seconds']:.0f} s wall time."
        ),
        "",
    ]
    if report["task"] == "network" and report["data_simulated"]:
        lines += [
            (
                "**The network traffic in this run is simulated**: no real labelled IoT intrusion data "
                "ships with any package this project can install."
            ),
            "",
        ]
    if report["task"] == "sensor" and report["data_simulated"]:
        lines += [
            (
                "The buildings in this run are simulated, with outdoor weather from real TMY3 "
                f"typical years of {len(stations())} US stations, and faults injected and labelled."
            ),
            "",
        ]
    if report["status"] == "failed":
        lines += [f"**The federation failed**: {report['failure']['message']}", ""]
    lines += privacy_lines(report)
    present = [s for s in SETTINGS if s in report]
    lines += ["| setting | mean F1 | precision | recall | AUROC |", "|---|---|---|---|---|"]
    for name in present:
        r = report[name]
        lines.append(f"| {LABELS[name]} | {r['f1']:.3f} | {r['precision']:.3f} | {r['recall']:.3f} | {r['auroc']:.3f} |")
    lines.append("")
    for name, comparison in report.get("comparison", {}).items():
        lines += [comparison_line(LABELS[name], comparison), ""]
    if "local_only" in report:
        lines += ["## Per site (smallest first)", "", "| site | organization | rows | " + " | ".join(f"F1 {LABELS[s]}" for s in present) + " |",
                  "|---|---|---|" + "---|" * len(present)]
        by_site = {s: {row["site"]: row for row in report[s]["per_site"]} for s in present}
        for row in sorted(report["federated"]["per_site"], key=lambda r: r["rows"]):
            cells = " | ".join(f"{by_site[s][row['site']]['f1']:.3f}" for s in present)
            lines.append(f"| {row['site']} | {row['organization']} | {row['rows']} | {cells} |")
        lines.append("")
    lines += ["## Rounds", "", "| round | sampled | reported | loss | F1 | seconds |", "|---|---|---|---|---|---|"]
    for h in report["history"]:
        lines.append(f"| {h['round']} | {h['sites_sampled']} | {h['sites_reported']} | {h['loss']:.4f} | {h['f1']:.3f} | {h['seconds']:.2f} |")
    lines.append("")
    lines += [f"![{Path(p).stem}]({p})" for p in plots]
    return "\n".join(lines) + "\n"


def comparison_line(baseline: str, comparison: dict) -> str:
    line = f"Federated minus {baseline}: {comparison['difference']:+.3f} mean F1 over {comparison['sites']} sites"
    if comparison["ci95"] is None:
        return line + " (too few sites for an interval)."
    low, high = comparison["ci95"]
    return line + f" (95% interval, paired bootstrap over sites: {low:+.3f} to {high:+.3f})."


def privacy_lines(report: dict) -> list[str]:
    """What protected the updates, what they cost on the wire, and the privacy budget spent."""
    privacy = report.get("privacy")
    if privacy is None:
        return []
    parts = [f"updates sent with `{privacy['compression']}` encoding, {report['bytes_per_round'] / 1e3:.1f} kB per round"]
    if privacy["secure_aggregation"]:
        parts.append(f"secure aggregation (SecAgg+), {privacy['dropout']:.0%} of sites vanishing after upload")
    dp = privacy["dp"]
    if dp:
        parts.append(
            f"client-level DP with {dp['placement']} noise: ε = {report['epsilon']:.2f} spent of "
            f"{dp['epsilon_budget']} at δ = {dp['delta']}, noise multiplier {dp['noise_multiplier']:.3f}, "
            f"clip norm {dp['clip_norm']}"
        )
    lines = ["**Privacy**: " + "; ".join(parts) + ".", ""]
    if "stopped" in report:
        lines += [f"**The federation stopped early** ({report['stopped']['reason']}): {report['stopped']['message']}", ""]
    return lines


def write_plots(report: dict, settings: dict[str, SettingResult], output: Path) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    present = [s for s in SETTINGS if s in settings]
    order = sorted(settings["federated"].evaluations, key=lambda e: e["rows"])
    sites = [e["site"] for e in order]

    fig, ax = plt.subplots(figsize=(max(6, len(sites) * 0.6), 4))
    width = 0.8 / len(present)
    for i, name in enumerate(present):
        f1 = settings[name].f1_by_site()
        ax.bar(np.arange(len(sites)) + i * width, [f1[s] for s in sites], width, label=LABELS[name])
    ax.set_xticks(np.arange(len(sites)) + width * (len(present) - 1) / 2, sites, rotation=60, fontsize=7)
    ax.set_ylabel("test F1")
    ax.set_title("F1 per site, smallest site first")
    ax.legend()
    written.append(_save(fig, output / "per_site_f1.png"))

    if report["history"]:
        fig, (top, bottom) = plt.subplots(2, 1, sharex=True, figsize=(6, 5))
        rounds = [h["round"] for h in report["history"]]
        top.plot(rounds, [h["f1"] for h in report["history"]], marker="o")
        top.set_ylabel("mean test F1")
        bottom.plot(rounds, [h["loss"] for h in report["history"]], marker="o", color="tab:red")
        bottom.set_ylabel("training loss")
        bottom.set_xlabel("round")
        top.set_title("global model per round")
        written.append(_save(fig, output / "rounds.png"))

    fig, ax = plt.subplots(figsize=(5, 5))
    for name in present:
        curves = [e["roc"] for e in settings[name].evaluations if e["roc"][0]]
        if curves:
            ax.plot(curves[0][0], np.mean([c[1] for c in curves], axis=0), label=f"{LABELS[name]} (mean over sites)")
    ax.plot([0, 1], [0, 1], linestyle=":", color="grey")
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_title("ROC")
    ax.legend(loc="lower right")
    written.append(_save(fig, output / "roc.png"))

    if "local_only" in settings:
        fed, local = settings["federated"].f1_by_site(), settings["local_only"].f1_by_site()
        rows = [e["rows"] for e in order]
        fig, ax = plt.subplots(figsize=(6, 4))
        ax.scatter(rows, [fed[s] - local[s] for s in sites])
        ax.axhline(0, color="grey", linestyle=":")
        ax.set_xscale("log")
        ax.set_xlabel("rows of data at the site")
        ax.set_ylabel("F1 federated − local-only")
        ax.set_title("what federation gains, by site size")
        written.append(_save(fig, output / "gain_by_site_size.png"))
    return written


def _save(fig, path: Path) -> str:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    import matplotlib.pyplot as plt

    plt.close(fig)
    return path.name
