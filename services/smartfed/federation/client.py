"""EdgeClient: everything a site does with its own data, in every deployment mode.

It never hands out readings. What leaves it is normalisation sums (counts, sums, sums of
squares), weight deltas, example counts, losses and evaluation metrics. With Ditto
personalisation (``FitConfig.personal_lambda``) the site also keeps a personal model of its
own, which never leaves it either.
"""

from __future__ import annotations

import time
import zlib
from dataclasses import dataclass, field, replace

import numpy as np
import torch

from smartfed.data.series import SiteSeries
from smartfed.data.windows import (
    Windows,
    make_windows,
    mean_std_from_sums,
    normalization_sums,
    split_in_time,
)
from smartfed.models.autoencoder import (
    ModelSpec,
    WindowAutoencoder,
    flat_weights,
    load_flat_weights,
)
from smartfed.models.scoring import SiteScorer
from smartfed.models.threshold import detection_metrics, roc_points


@dataclass(frozen=True)
class FitConfig:
    round: int
    local_epochs: int = 1
    batch_size: int = 64
    learning_rate: float = 1e-3
    proximal_mu: float = 0.0
    # Ditto (Li et al., "Ditto: Fair and Robust Federated Learning Through Personalization",
    # ICML 2021): with a positive lambda the site also trains a personal model each round, on
    # its own loss plus lambda/2 times the squared distance to the global weights it received.
    personal_lambda: float = 0.0


@dataclass
class FitResult:
    site: str
    organization: str
    round: int
    delta: np.ndarray
    num_examples: int
    loss: float
    seconds: float


@dataclass
class SiteEvaluation:
    site: str
    organization: str
    rows: int
    threshold: float
    metrics: dict[str, float]
    validation_f1: float
    roc: tuple[list[float], list[float]] = field(default=([], []))
    personalised: bool = False


class EdgeClient:
    def __init__(self, series: SiteSeries, spec: ModelSpec, seed: int) -> None:
        self.site = series.site
        self.organization = series.organization
        self.rows = series.rows
        self.spec = spec
        self._seed = seed
        self._pieces = split_in_time(series)
        self._windows: dict[str, Windows] = {}
        self.personal_weights: np.ndarray | None = None

    def normalization_sums(self) -> np.ndarray:
        return normalization_sums(self._pieces["train"], self.spec.n_features)

    def set_normalization(self, mean: np.ndarray, std: np.ndarray) -> None:
        self._windows = {
            name: make_windows(pieces, self.spec.window, mean, std) for name, pieces in self._pieces.items()
        }

    def windows(self, split: str) -> Windows:
        if not self._windows:
            raise RuntimeError(f"site {self.site}: set_normalization must come before training")
        return self._windows[split]

    def fit(self, model: WindowAutoencoder, weights: np.ndarray, config: FitConfig) -> FitResult:
        """Local training from the global ``weights``; returns the weight delta."""
        started = time.perf_counter()
        load_flat_weights(model, weights)
        train = self.windows("train")
        loss = train_epochs(
            model,
            train.x,
            epochs=config.local_epochs,
            batch_size=config.batch_size,
            learning_rate=config.learning_rate,
            proximal_mu=config.proximal_mu,
            seed=zlib.crc32(f"{self._seed}:{self.site}:{config.round}".encode()),
        )
        delta = flat_weights(model) - weights
        if config.personal_lambda > 0:
            self._fit_personal(model, weights, config)
        return FitResult(
            site=self.site,
            organization=self.organization,
            round=config.round,
            delta=delta,
            num_examples=len(train),
            loss=loss,
            seconds=time.perf_counter() - started,
        )

    def _fit_personal(self, model: WindowAutoencoder, global_weights: np.ndarray, config: FitConfig) -> None:
        """Ditto's personal step: the site's own model, pulled towards this round's global one.

        It starts, the first time a site is sampled, from the global weights of that round; the
        global update above is what the site shares, this model is only ever scored with here.
        """
        start = global_weights if self.personal_weights is None else self.personal_weights
        load_flat_weights(model, start)
        train_epochs(
            model,
            self.windows("train").x,
            epochs=config.local_epochs,
            batch_size=config.batch_size,
            learning_rate=config.learning_rate,
            proximal_mu=config.personal_lambda,
            anchor=global_weights,
            seed=zlib.crc32(f"{self._seed}:{self.site}:{config.round}:personal".encode()),
        )
        self.personal_weights = flat_weights(model)

    def evaluate(self, model: WindowAutoencoder, weights: np.ndarray, with_roc: bool = False) -> SiteEvaluation:
        """Channel scales on training windows, threshold on validation, metrics on test."""
        load_flat_weights(model, weights)
        val, test = self.windows("val"), self.windows("test")
        scorer, val_scores = SiteScorer.calibrate(model, self.windows("train").x, val.x, val.y)
        test_scores = scorer.scores(model, test.x)
        metrics = detection_metrics(test_scores, test.y, scorer.threshold).as_dict()
        return SiteEvaluation(
            site=self.site,
            organization=self.organization,
            rows=self.rows,
            threshold=scorer.threshold,
            metrics=metrics,
            validation_f1=detection_metrics(val_scores, val.y, scorer.threshold).f1,
            roc=roc_points(test_scores, test.y) if with_roc else ([], []),
        )

    def evaluate_adapted(
        self, model: WindowAutoencoder, weights: np.ndarray, adapt: FitConfig, with_roc: bool = False
    ) -> SiteEvaluation:
        """The shared ``weights`` or their fine-tuned version, whichever does better on validation.

        That is the model a deployed site would score with: fine-tuning on its own training
        windows usually helps, but not at every site, and validation is what the site can see.
        """
        shared = self.evaluate(model, weights, with_roc)
        tuned = weights + self.fit(model, weights, adapt).delta
        personalised = self.evaluate(model, tuned, with_roc)
        return replace(personalised, personalised=True) if personalised.validation_f1 > shared.validation_f1 else shared


def normalised_clients(series: list[SiteSeries], spec: ModelSpec, seed: int) -> list[EdgeClient]:
    """Clients of ``series`` in one process, normalised with all their sums as a federation does."""
    clients = [EdgeClient(s, spec, seed) for s in series]
    mean, std = mean_std_from_sums(sum(c.normalization_sums() for c in clients))
    for client in clients:
        client.set_normalization(mean, std)
    return clients


def train_epochs(
    model: WindowAutoencoder,
    x: np.ndarray,
    *,
    epochs: int,
    batch_size: int,
    learning_rate: float,
    proximal_mu: float = 0.0,
    anchor: np.ndarray | None = None,
    seed: int = 0,
) -> float:
    """Adam over shuffled mini-batches; returns the mean loss of the last epoch.

    With ``proximal_mu`` > 0 the loss adds ``proximal_mu``/2 times the squared distance to
    ``anchor`` (default: the weights training started from). From the start weights it is
    FedProx's local objective, which keeps a site with odd data from drifting too far; from the
    global weights it is Ditto's personal objective.
    """
    if len(x) == 0:
        return 0.0
    data = torch.from_numpy(x)
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=learning_rate)
    if proximal_mu <= 0:
        anchor_params = None
    elif anchor is None:
        anchor_params = [p.detach().clone() for p in model.parameters()]
    else:
        params = list(model.parameters())
        # A copy: weights that came through Ray's object store are read-only arrays.
        parts = torch.tensor(anchor).split([p.numel() for p in params])
        anchor_params = [part.view_as(p) for part, p in zip(parts, params)]
    model.train()
    epoch_loss = 0.0
    for _ in range(epochs):
        order = torch.randperm(len(data), generator=generator)
        total, batches = 0.0, 0
        for start in range(0, len(data), batch_size):
            batch = data[order[start : start + batch_size]]
            loss = model.reconstruction_error(batch).mean()
            if anchor_params is not None:
                loss = loss + proximal_mu / 2 * sum(((p - a) ** 2).sum() for p, a in zip(model.parameters(), anchor_params))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += float(loss.detach())
            batches += 1
        epoch_loss = total / batches
    return epoch_loss
