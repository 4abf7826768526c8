"""The benchmark suite: every figure, each beside the limit it is judged against.

The suite runs the benchmarks that need no Ray first, then the start-up of a fresh
``smartfed simulate`` (its own Ray cluster, in a child process), then the round benchmarks on
this process's Ray cluster, so that never two clusters run at once.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Collection
from dataclasses import asdict, dataclass

log = logging.getLogger(__name__)

KINDS = ("aggregation", "communication", "scoring", "startup", "rounds")
# The goals; a figure is reported whether or not it meets them.
GOALS = {"overhead_ratio": 1.2, "fedavg_vs_copy_bandwidth": 0.5, "score_p99_ms": 5.0}


@dataclass(frozen=True)
class SuiteSettings:
    """Sizes of one run of the suite; ``QUICK`` and ``FULL`` are the two the command offers."""

    aggregation_sites: int
    aggregation_dim: int
    secagg_sites: int
    # Size of the matrix FedAvg and the copy stream; None: 1.5 times the last-level cache.
    streaming_matrix_mb: float | None
    repeats: int
    scoring_readings: int
    round_sites: tuple[int, ...]
    rounds: int
    # How much of each simulated site's duration the round benchmarks keep (load_sites scale).
    round_scale: float
    # One worker pool per site count (peak memory per count) or one for all (faster start).
    pool_per_size: bool
    # Site counts whose rounds also run with secure aggregation.
    secure_aggregation_sites: tuple[int, ...]
    startup: bool
    workers: int = max(1, min(os.cpu_count() or 1, 8))


QUICK = SuiteSettings(
    aggregation_sites=50,
    aggregation_dim=200_000,
    secagg_sites=12,
    streaming_matrix_mb=None,
    repeats=3,
    scoring_readings=2_000,
    round_sites=(12, 100),
    rounds=3,
    round_scale=0.01,
    pool_per_size=False,
    secure_aggregation_sites=(12,),
    startup=False,
)
FULL = SuiteSettings(
    aggregation_sites=100,
    aggregation_dim=500_000,
    secagg_sites=100,
    streaming_matrix_mb=None,
    repeats=5,
    scoring_readings=20_000,
    round_sites=(12, 100, 1_000),
    rounds=4,
    round_scale=0.01,
    pool_per_size=True,
    secure_aggregation_sites=(12, 100),
    startup=True,
)


def run_suite(settings: SuiteSettings, only: Collection[str] = KINDS) -> dict:
    """The figures of the chosen benchmark kinds, as a JSON-ready dict."""
    unknown = sorted(set(only) - set(KINDS))
    if unknown:
        raise ValueError(f"unknown benchmark kinds {unknown}; choose from {list(KINDS)}")
    import ray
    import torch

    started = time.perf_counter()
    # A cluster that was up before the suite (a test session's) is left running after it.
    ray_was_up = ray.is_initialized()
    report: dict = {"settings": asdict(settings), "machine": machine()}
    model_dim = sensor_model_parameters()
    threads = torch.get_num_threads()
    # One thread, as in a Ray worker and on a small edge box; on a machine shared with other
    # work, more threads mostly wait for each other.
    torch.set_num_threads(1)
    try:
        if "aggregation" in only:
            from smartfed.bench.aggregation import measure_aggregation

            log.info("bench: aggregation throughput over %d updates", settings.aggregation_sites)
            figures = measure_aggregation(
                settings.aggregation_sites,
                settings.aggregation_dim,
                settings.repeats,
                settings.secagg_sites,
                model_dim,
                settings.streaming_matrix_mb,
            )
            report["aggregation"] = figures
            report["fedavg_vs_copy_bandwidth"] = figures["fedavg_vs_copy_bandwidth"]
        if "communication" in only:
            from smartfed.bench.communication import measure_communication

            report["communication"] = measure_communication(model_dim)
        if "scoring" in only:
            from smartfed.bench.scoring import measure_scoring

            log.info("bench: scoring %d readings on the edge path", settings.scoring_readings)
            report["scoring"] = measure_scoring(settings.scoring_readings)
            report["score_p99_ms"] = report["scoring"]["score_p99_ms"]
        if "startup" in only and settings.startup:
            from smartfed.bench.startup import measure_startup

            log.info("bench: start-up of smartfed simulate in a fresh process")
            report["startup"] = measure_startup()
        if "rounds" in only:
            from smartfed.bench.rounds import measure_rounds

            log.info(
                "bench: rounds at %s sites through Ray and in a plain loop",
                ", ".join(map(str, settings.round_sites)),
            )
            report["rounds"] = measure_rounds(
                list(settings.round_sites),
                settings.rounds,
                settings.round_scale,
                settings.workers,
                pool_per_size=settings.pool_per_size,
                secure_aggregation_sites=settings.secure_aggregation_sites,
            )
            report["overhead_ratio"] = headline_overhead(report["rounds"]["by_sites"])
    finally:
        torch.set_num_threads(threads)
        if not ray_was_up:
            stop_ray()
    report["machine"]["load_average_end"] = os.getloadavg()[0]
    report["seconds"] = time.perf_counter() - started
    return report


def headline_overhead(by_sites: dict[str, dict]) -> float:
    """The ratio at 100 sites, the issue's yardstick; else at the largest count measured."""
    if "100" in by_sites:
        return by_sites["100"]["overhead_ratio"]
    return by_sites[max(by_sites, key=int)]["overhead_ratio"]


def sensor_model_parameters() -> int:
    """Parameters of the detector the simulation trains on sensor data: the size of an update."""
    from smartfed.data import load_sites
    from smartfed.models.autoencoder import ModelSpec, WindowAutoencoder
    from smartfed.simulation.config import WINDOW_ROWS

    (site,) = load_sites("sensor", "simulated", 1, 1, 0, scale=0.01)
    spec = ModelSpec(n_features=len(site.features), window=WINDOW_ROWS["sensor"])
    return sum(p.numel() for p in WindowAutoencoder(spec).parameters())


def machine() -> dict:
    return {"cpus": os.cpu_count(), "load_average_start": os.getloadavg()[0]}


def stop_ray() -> None:
    import ray

    if ray.is_initialized():
        ray.shutdown()
