"""The personalisation study: what each way of using the shared model gives a site, on one scenario.

    smartfed bench personalization [--task sensor] [--seed 0] [--rounds 20] [--lambdas 1e-4 1e-3]

Every variant is trained on the same sites, from the same initial weights, for the same local
epochs, and scored on the same test windows as ``smartfed simulate`` scores them:

- ``global``: the FedAvg model as it is;
- ``finetune``: that model fine-tuned at each site, kept where validation says it is better;
- ``ditto λ``: Ditto personal models trained beside the FedAvg rounds, one run per λ;
- ``clusters``: FedAvg within groups of sites of one building type, which the simulated
  buildings' profiles give (an oracle clustering: it shows what grouping could reach at best);
- ``local-only``: each site alone.

It runs in this process, without Ray, so that its figures depend on nothing but the scenario
and the seed; each variant's mean F1 comes with its difference to local-only and that
difference's paired bootstrap interval over sites.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from rich.progress import Progress

from smartfed.data import load_sites
from smartfed.federation.client import EdgeClient, FitConfig, SiteEvaluation, normalised_clients
from smartfed.models.autoencoder import ModelSpec, WindowAutoencoder, flat_weights
from smartfed.simulation.comparison import f1_difference
from smartfed.simulation.config import WINDOW_ROWS
from smartfed.strategies import make_strategy

log = logging.getLogger(__name__)

PERSONALIZE_EPOCHS = 3


@dataclass(frozen=True)
class Study:
    task: str = "sensor"
    sites: int = 12
    organizations: int = 3
    rounds: int = 20
    seed: int = 0
    lambdas: tuple[float, ...] = (1e-4, 1e-3)
    # Shortens every simulated site (load_sites scale): the tests' cheap path.
    scale: float = 1.0
    batch_size: int = 128
    learning_rate: float = 2e-3

    def __post_init__(self) -> None:
        if self.rounds < 1:
            raise ValueError(f"--rounds is {self.rounds}; it must be at least 1")
        bad = [value for value in self.lambdas if not value > 0]
        if bad:
            raise ValueError(f"--lambdas holds {bad}; every Ditto lambda must be > 0")

    def fit_config(self, round_number: int, epochs: int = 1, personal_lambda: float = 0.0) -> FitConfig:
        return FitConfig(
            round=round_number,
            local_epochs=epochs,
            batch_size=self.batch_size,
            learning_rate=self.learning_rate,
            personal_lambda=personal_lambda,
        )


def run_study(study: Study, progress: Progress | None = None) -> dict:
    """Every variant's per-site F1 and mean, with its difference to local-only."""
    started = time.perf_counter()
    torch.set_num_threads(1)
    series = load_sites(study.task, "simulated", study.sites, study.organizations, study.seed, scale=study.scale)
    spec = ModelSpec(n_features=len(series[0].features), window=WINDOW_ROWS[study.task])
    torch.manual_seed(study.seed)
    model = WindowAutoencoder(spec)
    initial = flat_weights(model)
    building_types = {s.site: s.profile.get("building_type") for s in series}

    def fresh_clients() -> list[EdgeClient]:
        # Ditto's personal models live in the clients, so each run gets its own.
        return normalised_clients(series, spec, study.seed)

    clients = fresh_clients()

    @functools.cache
    def global_weights() -> np.ndarray:
        return fedavg(study, clients, model, initial)

    def finetuned() -> dict[str, SiteEvaluation]:
        adapt = study.fit_config(0, epochs=PERSONALIZE_EPOCHS)
        return {c.site: c.evaluate_adapted(model, global_weights(), adapt) for c in clients}

    variants: dict[str, Callable[[], dict[str, SiteEvaluation]]] = {
        "global": lambda: {c.site: c.evaluate(model, global_weights()) for c in clients},
        "finetune": finetuned,
    }
    for personal_lambda in study.lambdas:
        variants[f"ditto {personal_lambda:g}"] = lambda lam=personal_lambda: ditto(study, fresh_clients(), model, initial, lam)
    if all(building_types.values()):
        variants["clusters"] = lambda: clustered(study, clients, model, initial, building_types)
    variants["local-only"] = lambda: local_only(study, clients, model, initial)

    scores: dict[str, dict[str, float]] = {}
    task = progress.add_task("personalisation study", total=len(variants)) if progress else None
    for name, run in variants.items():
        if progress is not None:
            progress.update(task, description=name)
        evaluations = run()
        scores[name] = {site: e.metrics["f1"] for site, e in sorted(evaluations.items())}
        log.info("%s: mean F1 %.3f", name, np.mean(list(scores[name].values())))
        if progress is not None:
            progress.advance(task)

    local = scores["local-only"]
    return {
        "task": study.task,
        "sites": len(series),
        "rounds": study.rounds,
        "seed": study.seed,
        "variants": {
            name: {
                "f1": float(np.mean(list(per_site.values()))),
                "per_site": per_site,
                "minus_local_only": None if name == "local-only" else f1_difference(per_site, local, study.seed),
            }
            for name, per_site in scores.items()
        },
        "seconds": time.perf_counter() - started,
    }


def fedavg(
    study: Study,
    clients: Sequence[EdgeClient],
    model: WindowAutoencoder,
    initial: np.ndarray,
    personal_lambda: float = 0.0,
) -> np.ndarray:
    strategy = make_strategy("fedavg")
    weights = initial
    for round_number in range(1, study.rounds + 1):
        results = [c.fit(model, weights, study.fit_config(round_number, personal_lambda=personal_lambda)) for c in clients]
        weights = strategy.aggregate(
            weights,
            np.stack([r.delta for r in results]),
            np.array([r.num_examples for r in results], dtype=np.float64),
        )
    return weights


def ditto(
    study: Study, clients: Sequence[EdgeClient], model: WindowAutoencoder, initial: np.ndarray, personal_lambda: float
) -> dict[str, SiteEvaluation]:
    fedavg(study, clients, model, initial, personal_lambda)
    return {c.site: c.evaluate(model, c.personal_weights) for c in clients}


def clustered(
    study: Study,
    clients: Sequence[EdgeClient],
    model: WindowAutoencoder,
    initial: np.ndarray,
    groups: dict[str, str | None],
) -> dict[str, SiteEvaluation]:
    evaluations = {}
    for group in sorted({g for g in groups.values() if g is not None}):
        members = [c for c in clients if groups[c.site] == group]
        weights = fedavg(study, members, model, initial)
        evaluations.update({c.site: c.evaluate(model, weights) for c in members})
    return evaluations


def local_only(
    study: Study, clients: Sequence[EdgeClient], model: WindowAutoencoder, initial: np.ndarray
) -> dict[str, SiteEvaluation]:
    evaluations = {}
    for client in clients:
        trained = initial + client.fit(model, initial, study.fit_config(0, epochs=study.rounds)).delta
        evaluations[client.site] = client.evaluate(model, trained)
    return evaluations
