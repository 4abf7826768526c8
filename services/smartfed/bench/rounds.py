"""Round overhead and scale: federated rounds through Ray against the same training in a loop.

The federated side is what ``smartfed simulate`` runs each round: the aggregator samples every
site, the Ray worker pool trains them in its worker processes, the updates come back encoded by
the wire codec and FedAvg steps from them. The plain side is the same clients (same readings,
same normalisation, same seeds) fitted one after another in this process, with the same FedAvg:
the pure compute of a round. Their ratio is what the framework costs.

Round 1 of each side pays one-off costs (torch's first backward pass in every process), so the
figures that compare are the means of the later rounds; round 1 is reported on its own.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Collection

import numpy as np
import torch

from smartfed.bench.memory import PeakMemory, tree_memory_mb
from smartfed.data import load_sites
from smartfed.federation.aggregator import Aggregator, SamplingPolicy
from smartfed.federation.client import EdgeClient, FitConfig, normalised_clients
from smartfed.federation.ray_runner import DataRequest, WorkerPool, start_ray
from smartfed.models.autoencoder import ModelSpec, WindowAutoencoder, flat_weights
from smartfed.privacy.federated import PrivacySettings, RoundPrivacy
from smartfed.simulation.config import WINDOW_ROWS
from smartfed.strategies import make_strategy

log = logging.getLogger(__name__)

TASK = "sensor"
FEDERATION = "bench-rounds"
# The simulation's defaults, so a benchmark round is a simulation round.
BATCH_SIZE = 128
LEARNING_RATE = 2e-3
# No healthy site misses a round this long, even on a busy machine; a miss would shrink the round.
ROUND_DEADLINE_S = 600.0


def measure_rounds(
    site_counts: list[int],
    rounds: int,
    scale: float,
    workers: int,
    seed: int = 0,
    pool_per_size: bool = True,
    secure_aggregation_sites: Collection[int] = (),
) -> dict[str, object]:
    """Per site count: round times of both sides, their ratio and peak memory; the trend across.

    With ``pool_per_size`` every site count gets a pool hosting just its sites, so peak memory
    follows the count; without it one pool hosts the largest count and the smaller rounds use
    the first sites of it, which saves starting the worker processes again (the quick suite).
    At the counts in ``secure_aggregation_sites`` the federated rounds run once more with
    secure aggregation, whose key exchange and unmasking add two pool calls and the
    aggregator's unmasking to every round.
    """
    if rounds < 2:
        raise ValueError(f"rounds is {rounds}; at least 2 are needed, since round 1 is warm-up")
    start_ray(num_cpus=workers)
    counts = sorted(site_counts)
    groups = [[n] for n in counts] if pool_per_size else [counts]
    by_sites = {}
    cluster_mb, _ = tree_memory_mb()
    for group in groups:
        hosted = max(group)
        organizations = min(3, hosted)
        request = DataRequest(TASK, "simulated", hosted, organizations, seed, scale)
        pool = WorkerPool(request, min(workers, hosted))
        try:
            spec = ModelSpec(n_features=len(pool.features()), window=WINDOW_ROWS[TASK])
            pool.prepare(spec)
            pool.normalize()
            clients = plain_clients(request, spec)
            for sites in group:
                federated = federated_rounds(pool, spec, sites, rounds, seed)
                plain = plain_rounds(clients[:sites], spec, rounds, seed)
                row = by_sites[str(sites)] = {
                    "sites": sites,
                    "sites_hosted": hosted,
                    "federated": federated,
                    "plain": plain,
                    "overhead_ratio": federated["later_round_mean_s"]
                    / plain["later_round_mean_s"],
                    # Workers included; the slope across counts is the cost of a site.
                    "pss_above_cluster_mb_per_site": max(
                        federated["peak_pss_mb"] - cluster_mb, 0.0
                    )
                    / sites,
                }
                if sites in secure_aggregation_sites:
                    secure = federated_rounds(pool, spec, sites, rounds, seed, True)
                    row["secure_aggregation"] = secure
                    row["secure_aggregation_vs_federated"] = (
                        secure["later_round_mean_s"] / federated["later_round_mean_s"]
                    )
                log.info(
                    "rounds at %d sites: %.3f s federated, %.3f s plain loop, overhead %.2f",
                    sites,
                    federated["later_round_mean_s"],
                    plain["later_round_mean_s"],
                    by_sites[str(sites)]["overhead_ratio"],
                )
        finally:
            pool.shutdown()
    trend = growth(by_sites, memory=pool_per_size)
    return {
        "scale": scale,
        "rounds": rounds,
        "workers": workers,
        "cluster_pss_mb": cluster_mb,
        "pool_per_size": pool_per_size,
        "by_sites": by_sites,
        **trend,
    }


def growth(by_sites: dict[str, dict], memory: bool) -> dict[str, float]:
    """Seconds (and MB, when each count had its own pool) per added site: least-squares slopes."""
    rows = list(by_sites.values())
    if len(rows) < 2:
        return {}
    sites = np.array([r["sites"] for r in rows], dtype=np.float64)
    seconds = np.array([r["federated"]["later_round_mean_s"] for r in rows])
    trend = {"round_s_per_site": float(np.polyfit(sites, seconds, 1)[0])}
    if memory:
        memory_mb = np.array([r["federated"]["peak_pss_mb"] for r in rows])
        trend["peak_pss_mb_per_site"] = float(np.polyfit(sites, memory_mb, 1)[0])
    return trend


def federated_rounds(
    pool: WorkerPool,
    spec: ModelSpec,
    sites: int,
    rounds: int,
    seed: int,
    secure_aggregation: bool = False,
) -> dict:
    """``rounds`` rounds of the first ``sites`` sites the pool hosts."""
    organizations = dict(sorted(pool.organizations.items())[:sites])
    strategy = make_strategy("fedavg")
    torch.manual_seed(seed)
    initial = flat_weights(WindowAutoencoder(spec))
    aggregator = Aggregator(strategy, organizations, SamplingPolicy(1.0, 2), initial, seed)
    # By default updates travel wire-encoded, unmasked, uncompressed, as in `smartfed simulate`.
    settings = PrivacySettings(federation=FEDERATION, secure_aggregation=secure_aggregation)
    privacy = RoundPrivacy(settings, strategy, initial.size, 1.0, rounds, seed)
    pool.configure_privacy(privacy.site_settings())
    seconds, fit_s = [], []
    memory = PeakMemory()
    for round_number in range(1, rounds + 1):
        started = time.perf_counter()
        state = aggregator.sample(round_number)
        plans = privacy.open_round(round_number, state.sampled, pool)
        pending = pool.dispatch(state.sampled, aggregator.weights, fit_config(round_number), plans)
        for result in pool.collect(pending, ROUND_DEADLINE_S, privacy.decode):
            aggregator.accept(state, result)
        aggregator.close(state, lambda results: privacy.summed(results, pool))
        seconds.append(time.perf_counter() - started)
        fit_s.append(sum(r.seconds for r in state.results))
        memory.sample()
    return {
        **round_figures(seconds),
        # Training time inside the workers summed over sites: what the pool spreads out.
        "fit_s_mean": float(np.mean(fit_s[1:])),
        "peak_pss_mb": memory.peak_mb,
        "memory_measure": memory.measure,
        "final_weights_norm": float(np.linalg.norm(aggregator.weights)),
    }


def plain_clients(request: DataRequest, spec: ModelSpec) -> list[EdgeClient]:
    """The pool's sites as clients in this process, in site order, normalised like the pool's."""
    series = load_sites(
        request.task, request.data, request.sites, request.organizations, request.seed, scale=request.scale
    )
    return normalised_clients(sorted(series, key=lambda s: s.site), spec, request.seed)


def plain_rounds(clients: list[EdgeClient], spec: ModelSpec, rounds: int, seed: int) -> dict:
    """The same clients, data, seeds and FedAvg in one process, one thread, no framework."""
    torch.manual_seed(seed)
    model = WindowAutoencoder(spec)
    weights = flat_weights(model)
    strategy = make_strategy("fedavg")
    threads = torch.get_num_threads()
    # A Ray worker trains with one thread; so does the loop it is compared with.
    torch.set_num_threads(1)
    try:
        seconds = []
        for round_number in range(1, rounds + 1):
            started = time.perf_counter()
            results = [c.fit(model, weights, fit_config(round_number)) for c in clients]
            deltas = np.stack([r.delta for r in results])
            counts = np.array([r.num_examples for r in results], dtype=np.float32)
            weights = strategy.aggregate(weights, deltas, counts).astype(np.float32)
            seconds.append(time.perf_counter() - started)
    finally:
        torch.set_num_threads(threads)
    return {**round_figures(seconds), "final_weights_norm": float(np.linalg.norm(weights))}


def round_figures(seconds: list[float]) -> dict[str, float]:
    return {"first_round_s": seconds[0], "later_round_mean_s": float(np.mean(seconds[1:]))}


def fit_config(round_number: int) -> FitConfig:
    return FitConfig(round=round_number, batch_size=BATCH_SIZE, learning_rate=LEARNING_RATE)
