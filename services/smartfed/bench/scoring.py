"""Scoring latency on the path an edge takes, and batch throughput against the bare model.

The edge agent (a later issue) will score each reading as it arrives: it holds the current
global model loaded from the registry (signature verified, then decoded and validated by the
wire codec, as the simulation publishes it), normalises the reading with the federation's mean
and standard deviation, keeps the last ``window`` readings, scores the window as the site's
``SiteScorer`` does (worst channel error against the site's own scale) and compares the score
with the site's threshold. ``EdgeScorer`` is that path, so its latency is what a reading costs
before the agent wraps it in HTTP.
"""

from __future__ import annotations

import tempfile
import time
from collections import deque
from pathlib import Path

import numpy as np
import torch

from smartfed.data import load_sites
from smartfed.data.windows import mean_std_from_sums
from smartfed.federation.client import EdgeClient
from smartfed.models.autoencoder import (
    ModelSpec,
    WindowAutoencoder,
    flat_from_tensors,
    flat_weights,
    load_flat_weights,
    tensors_from_flat,
)
from smartfed.models.scoring import SiteScorer
from smartfed.registry import RegistrySettings, open_store
from smartfed.registry.signing import public_key_pem, write_private_key
from smartfed.registry.store import ModelStore, PublishRequest
from smartfed.simulation.config import WINDOW_ROWS
from smartfed.wire import decode_model, encode_model, spec_of

FEDERATION = "bench-scoring"
BATCH_SIZE = 8192
# Far above the detectors' few hundred kB; the edge refuses anything larger.
MAX_MODEL_BYTES = 64 * 2**20


class EdgeScorer:
    """One site's scorer: model from the store, rolling window, threshold."""

    def __init__(
        self,
        store: ModelStore,
        federation: str,
        spec: ModelSpec,
        mean: np.ndarray,
        std: np.ndarray,
        site_scorer: SiteScorer,
    ) -> None:
        model_bytes, self.manifest = store.load(federation)
        self.model = WindowAutoencoder(spec)
        expected = spec_of({name: p.detach().numpy() for name, p in self.model.named_parameters()})
        tensors, _ = decode_model(model_bytes, expected, MAX_MODEL_BYTES, federation=federation)
        load_flat_weights(self.model, flat_from_tensors(self.model, tensors))
        self.model.eval()
        self._mean, self._std, self.site_scorer = mean, std, site_scorer
        self._window: deque[np.ndarray] = deque(maxlen=spec.window)

    def observe(self, reading: np.ndarray) -> tuple[float, bool] | None:
        """Score and alarm once ``window`` readings have arrived; None before that."""
        self._window.append(((reading - self._mean) / self._std).astype(np.float32))
        if len(self._window) < self._window.maxlen:
            return None
        with torch.inference_mode():
            errors = self.model.channel_errors(torch.from_numpy(np.stack(self._window))[None])[0]
        value = float((errors.numpy() / self.site_scorer.channel_scale).max())
        return value, value > self.site_scorer.threshold


def measure_scoring(readings: int, seed: int = 0) -> dict:
    """Per-reading latency percentiles, model load time, batch against bare forward throughput."""
    (series,) = load_sites("sensor", "simulated", 1, 1, seed, scale=0.1)
    spec = ModelSpec(n_features=len(series.features), window=WINDOW_ROWS["sensor"])
    client = EdgeClient(series, spec, seed)
    mean, std = mean_std_from_sums(client.normalization_sums())
    client.set_normalization(mean, std)
    torch.manual_seed(seed)
    model = WindowAutoencoder(spec)
    val = client.windows("val")
    site_scorer, _ = SiteScorer.calibrate(model, client.windows("train").x, val.x, val.y)

    with tempfile.TemporaryDirectory(prefix="smartfed-bench-store-") as root:
        key = write_private_key(Path(root) / "signing-key.pem")
        publisher = open_store(
            root, settings=RegistrySettings(signing_key_file=Path(root) / "signing-key.pem")
        )
        request = PublishRequest(
            federation=FEDERATION,
            round=1,
            strategy="fedavg",
            sites=[series.site],
            organizations=[series.organization],
            metrics={},
        )
        state = tensors_from_flat(model, flat_weights(model))
        publisher.publish(request, encode_model(state, federation=FEDERATION, round=1))
        edge_store = open_store(root, trusted_public_key=public_key_pem(key.public_key()))
        started = time.perf_counter()
        scorer = EdgeScorer(edge_store, FEDERATION, spec, mean, std, site_scorer)
        load_ms = (time.perf_counter() - started) * 1e3

    rows = np.concatenate(series.segments)
    # CPU time beside wall time: where the two part, the reading waited for a core (a busy
    # machine) rather than for the scorer.
    latencies_ms, cpu_ms, alarms = [], [], 0
    for i in range(readings + spec.window - 1):
        reading = rows[i % len(rows)]
        started, started_cpu = time.perf_counter(), time.thread_time()
        outcome = scorer.observe(reading)
        elapsed_ms, elapsed_cpu_ms = (
            (time.perf_counter() - started) * 1e3,
            (time.thread_time() - started_cpu) * 1e3,
        )
        if outcome is not None:
            latencies_ms.append(elapsed_ms)
            cpu_ms.append(elapsed_cpu_ms)
            alarms += outcome[1]
    return {
        "readings": len(latencies_ms),
        "model_load_ms": load_ms,
        "score_p50_ms": float(np.percentile(latencies_ms, 50)),
        "score_p99_ms": float(np.percentile(latencies_ms, 99)),
        "score_cpu_p99_ms": float(np.percentile(cpu_ms, 99)),
        "alarm_fraction": alarms / len(latencies_ms),
        **batch_throughput(scorer.model, site_scorer, client.windows("test").x),
    }


def batch_throughput(
    model: WindowAutoencoder, site_scorer: SiteScorer, windows: np.ndarray
) -> dict[str, float]:
    """Windows per second through the site's scorer (features, forward, channel errors, scale)
    and through the bare forward pass of the same model."""
    features = model.features(torch.from_numpy(windows))

    def bare_forward() -> None:
        with torch.inference_mode():
            for start in range(0, len(features), BATCH_SIZE):
                model.decoder(model.encoder(features[start : start + BATCH_SIZE]))

    scored = len(windows) / _best_s(lambda: site_scorer.scores(model, windows))
    bare = len(windows) / _best_s(bare_forward)
    return {
        "batch_windows_per_s": scored,
        "forward_windows_per_s": bare,
        "batch_vs_forward": scored / bare,
    }


def _best_s(run, repeats: int = 5) -> float:
    run()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return min(times)
