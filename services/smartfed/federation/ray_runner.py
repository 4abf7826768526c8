"""Hosting EdgeClients in Ray actors: many simulated sites per worker process.

One actor per site would cost ~400 MB each (every actor imports torch), so a small pool of
``SiteWorker`` actors, about one per core, each holds its share of the sites. A site's data is
generated or read inside its worker and never travels: what crosses the Ray object store is
weight vectors, deltas, sums and metrics, as numpy arrays and plain dicts.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace

import numpy as np
import ray

from smartfed import telemetry
from smartfed.data import load_sites
from smartfed.data.sites import site_id
from smartfed.federation.client import EdgeClient, FitConfig, FitResult, train_epochs
from smartfed.models.autoencoder import ModelSpec, WindowAutoencoder, flat_weights
from smartfed.privacy.federated import PrivacySettings, SitePrivacy

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DataRequest:
    task: str
    data: str
    sites: int
    organizations: int
    seed: int
    # Shortens every simulated site by this factor (see load_sites): the benchmarks' cheap path.
    scale: float = 1.0


def start_ray(num_cpus: int) -> None:
    """A local Ray cluster whose listeners stay on 127.0.0.1."""
    if ray.is_initialized():
        return
    from ray._private import ray_constants

    if ray_constants.ENABLE_RAY_CLUSTER:
        raise RuntimeError(
            "ray was imported before smartfed with RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER unset, so a local "
            "cluster would listen on every interface; set RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 in the "
            "environment, or import smartfed before ray"
        )
    ray.init(
        num_cpus=num_cpus,
        include_dashboard=False,
        _node_ip_address="127.0.0.1",
        logging_level=logging.WARNING,
        log_to_driver=False,
    )


# Several threads per worker so that stalled sites (stragglers, sleeping past the deadline, for
# a few rounds at once) do not hold up the sites queued behind them; the lock keeps the shared
# model to one user at a time, so the computing is still one site after another.
@ray.remote(num_cpus=1, max_concurrency=8)
class SiteWorker:
    """The sites of one worker process, and the one model they take turns training."""

    def __init__(self) -> None:
        import torch

        # This process exports its own spans (the fit spans) to the endpoint the driver's
        # OTEL_* variables name; without them it records nothing.
        telemetry.ensure_configured()
        # One thread per worker: the pool already fills the cores, and oversubscribed BLAS
        # threads make every small site slower.
        torch.set_num_threads(1)
        self._series: list = []
        self._clients: dict[str, EdgeClient] = {}
        self._delays_s: dict[str, float] = {}
        self._lock = threading.Lock()

    def load(self, request: DataRequest, share: tuple[int, int]) -> dict[str, dict]:
        """Load every ``count``-th site from ``index`` on; per site its metadata, no readings.

        Simulated sites are generated one by one, so only this worker's are made; real data
        (UCI, CSV) is read whole and this worker keeps its share.
        """
        index, count = share
        self._seed = request.seed
        if request.data == "simulated":
            wanted = {site_id(i) for i in range(index, request.sites, count)}
            self._series = load_sites(
                request.task,
                request.data,
                request.sites,
                request.organizations,
                request.seed,
                scale=request.scale,
                only=wanted,
            )
        else:
            self._series = load_sites(
                request.task, request.data, request.sites, request.organizations, request.seed
            )[index::count]
        return {
            s.site: {"organization": s.organization, "features": list(s.features), "rows": s.rows, "profile": s.profile}
            for s in self._series
        }

    def prepare(self, spec: ModelSpec, delays_s: dict[str, float]) -> None:
        self._clients = {s.site: EdgeClient(s, spec, self._seed) for s in self._series}
        self._series = []
        self._model = WindowAutoencoder(spec)
        self._delays_s = {site: delay for site, delay in delays_s.items() if site in self._clients}

    def normalization_sums(self) -> dict[str, np.ndarray]:
        return {site: c.normalization_sums() for site, c in self._clients.items()}

    def set_normalization(self, mean: np.ndarray, std: np.ndarray) -> None:
        for client in self._clients.values():
            client.set_normalization(mean, std)

    def configure_privacy(self, settings: dict) -> None:
        self._privacy = {site: SitePrivacy(site, PrivacySettings(**settings)) for site in self._clients}

    def privacy_step(self, stage: str, requests: dict[str, bytes]) -> dict[str, bytes]:
        """One secure aggregation exchange for this worker's sites: bytes in, bytes out."""
        with self._lock:
            return {
                site: self._privacy[site].step(stage, request, len(self._clients[site].windows("train")))
                for site, request in requests.items()
            }

    def fit(
        self,
        site: str,
        weights: np.ndarray,
        config: dict,
        trace_context: dict[str, str] | None = None,
        plan: dict | None = None,
    ) -> dict:
        """Local training of ``site``; its span is a child of the round that ``trace_context`` carries."""
        client = self._clients[site]
        with telemetry.span(
            "site.fit", parent=trace_context, round=config["round"], site=site, organization=client.organization
        ):
            with self._lock:
                result = client.fit(self._model, weights, FitConfig(**config))
                update = asdict(result)
                # What leaves the site is the payload: clipped, noised, compressed or masked as the
                # federation's privacy settings say, and always encoded by smartfed.wire.
                privacy = self._privacy[site]
                with telemetry.span("site.protect", round=config["round"], site=site):
                    update["delta"] = privacy.protect(result.delta, config["round"], plan or {})
            payload_bytes = len(update["delta"])
            telemetry.set_attributes(update_bytes=payload_bytes, num_examples=result.num_examples)
            telemetry.current().metrics.record_update(
                federation=privacy.settings.federation, site=site, update_bytes=payload_bytes
            )
            delay_s = self._delays_s.get(site, 0.0)
            if delay_s:
                time.sleep(delay_s)
                update["seconds"] += delay_s
        return update

    def flush_telemetry(self) -> bool:
        """Export buffered spans now: ending the pool kills this process before its exit handlers run."""
        return telemetry.current().force_flush()

    def evaluate(
        self,
        weights: np.ndarray | dict[str, np.ndarray],
        with_roc: bool = False,
        adapt: dict | None = None,
        personal: bool = False,
    ) -> list[dict]:
        """Metrics of every site; ``weights`` is one global vector or one vector per site.

        With ``personal`` a site that holds a Ditto personal model scores with it instead.
        With ``adapt`` (a FitConfig as a dict) each other site also fine-tunes the weights on its
        own training windows, and keeps whichever of the two models does better on its
        validation windows: the model a deployed site would score with.
        """
        rows = []
        with self._lock:
            for site, client in self._clients.items():
                if personal and client.personal_weights is not None:
                    chosen = client.evaluate(self._model, client.personal_weights, with_roc)
                    rows.append(asdict(replace(chosen, personalised=True)))
                    continue
                site_weights = weights[site] if isinstance(weights, dict) else weights
                if adapt is None:
                    chosen = client.evaluate(self._model, site_weights, with_roc)
                else:
                    chosen = client.evaluate_adapted(self._model, site_weights, FitConfig(**adapt), with_roc)
                rows.append(asdict(chosen))
        return rows

    def train_local_only(self, initial: np.ndarray, config: dict, epochs: int) -> dict[str, np.ndarray]:
        """Each site alone, from the same initial weights, for the federated run's epochs."""
        trained = {}
        with self._lock:
            for site, client in self._clients.items():
                result = client.fit(self._model, initial, FitConfig(**{**config, "local_epochs": epochs}))
                trained[site] = initial + result.delta
        return trained

    def training_windows(self) -> np.ndarray:
        """All training windows of this worker's sites: only for the centralized baseline."""
        return np.concatenate([c.windows("train").x for c in self._clients.values()])

    def train_pooled(self, initial: np.ndarray, x: np.ndarray, config: dict, epochs: int) -> np.ndarray:
        from smartfed.models.autoencoder import load_flat_weights

        with self._lock:
            load_flat_weights(self._model, initial)
            train_epochs(
                self._model,
                x,
                epochs=epochs,
                batch_size=config["batch_size"],
                learning_rate=config["learning_rate"],
                seed=config.get("round", 0),
            )
            return flat_weights(self._model)


class WorkerPool:
    """The actors, and which of them holds which site."""

    def __init__(self, request: DataRequest, workers: int) -> None:
        # A cluster started before OTEL_* were set (a test session's) would leave the workers
        # untraced: hand them the driver's variables explicitly.
        otel_env = telemetry.worker_env_vars()
        worker = SiteWorker.options(runtime_env={"env_vars": otel_env}) if otel_env else SiteWorker
        self.actors = [worker.remote() for _ in range(workers)]
        try:
            described = ray.get([a.load.remote(request, (i, workers)) for i, a in enumerate(self.actors)])
        except ray.exceptions.RayTaskError as error:
            # Bad input (a DataError naming the file and row) is the user's to fix: raise it
            # as it is, not wrapped in the worker's traceback.
            self.shutdown()
            raise error.cause from None
        self.owner: dict[str, ray.actor.ActorHandle] = {}
        self.sites: dict[str, dict] = {}
        for actor, sites in zip(self.actors, described):
            for site, meta in sites.items():
                self.owner[site] = actor
                self.sites[site] = meta

    @property
    def organizations(self) -> dict[str, str]:
        return {site: meta["organization"] for site, meta in self.sites.items()}

    def features(self) -> list[str]:
        """The feature names all sites share; a site that differs is named in the error."""
        first_site, first = next(iter(self.sites.items()))
        for site, meta in self.sites.items():
            if meta["features"] != first["features"]:
                raise ValueError(
                    f"site {site} has features {meta['features']} but {first_site} has {first['features']}; "
                    "every site of a federation must measure the same columns"
                )
        return first["features"]

    def prepare(self, spec: ModelSpec, delays_s: dict[str, float] | None = None) -> None:
        """Build every site's client; ``delays_s`` makes the named sites stall in each round."""
        ray.get([a.prepare.remote(spec, delays_s or {}) for a in self.actors])

    def normalize(self) -> tuple[np.ndarray, np.ndarray]:
        """Global mean and std from the sites' sums: no reading leaves a worker."""
        from smartfed.data.windows import mean_std_from_sums

        total = sum(sum(per_site.values()) for per_site in ray.get([a.normalization_sums.remote() for a in self.actors]))
        mean, std = mean_std_from_sums(total)
        ray.get([a.set_normalization.remote(mean, std) for a in self.actors])
        return mean, std

    def configure_privacy(self, settings: dict) -> None:
        ray.get([a.configure_privacy.remote(settings) for a in self.actors])

    def call(self, stage: str, requests: dict[str, bytes]) -> dict[str, bytes]:
        """A secure aggregation exchange with the named sites (the privacy SiteChannel)."""
        refs = [
            actor.privacy_step.remote(stage, {s: r for s, r in requests.items() if self.owner[s] == actor})
            for actor in self.actors
        ]
        return {site: answer for part in ray.get(refs) for site, answer in part.items()}

    def dispatch(
        self, sites: list[str], weights: np.ndarray, config: FitConfig, plans: dict[str, dict] | None = None
    ) -> dict[ray.ObjectRef, str]:
        weights_ref = ray.put(weights)
        config_dict = asdict(config)
        trace_context = telemetry.inject_context()
        plans = plans or {}
        return {
            self.owner[site].fit.remote(site, weights_ref, config_dict, trace_context, plans.get(site)): site
            for site in sites
        }

    def collect(
        self, pending: dict[ray.ObjectRef, str], deadline_s: float, decode: Callable[[dict], dict | None]
    ) -> list[FitResult]:
        """Results that arrive before the deadline; the rest are stragglers, cancelled.

        ``decode`` turns a site's payload back into its update, or refuses it (None).
        """
        ready, late = ray.wait(list(pending), num_returns=len(pending), timeout=deadline_s)
        for ref in late:
            ray.cancel(ref)
        decoded = [decode(r) for r in ray.get(ready)]
        return [FitResult(**r) for r in decoded if r is not None]

    def evaluate(
        self,
        weights: np.ndarray | dict[str, np.ndarray],
        with_roc: bool = False,
        adapt: FitConfig | None = None,
        personal: bool = False,
    ) -> list[dict]:
        adapt_dict = asdict(adapt) if adapt is not None else None
        if isinstance(weights, dict):
            refs = [
                a.evaluate.remote({s: w for s, w in weights.items() if self.owner[s] == a}, with_roc, adapt_dict, personal)
                for a in self.actors
            ]
        else:
            weights_ref = ray.put(weights)
            refs = [a.evaluate.remote(weights_ref, with_roc, adapt_dict, personal) for a in self.actors]
        return [row for rows in ray.get(refs) for row in rows]

    def train_local_only(self, initial: np.ndarray, config: FitConfig, epochs: int) -> dict[str, np.ndarray]:
        trained: dict[str, np.ndarray] = {}
        for part in ray.get([a.train_local_only.remote(initial, asdict(config), epochs) for a in self.actors]):
            trained.update(part)
        return trained

    def train_centralized(self, initial: np.ndarray, config: FitConfig, epochs: int) -> np.ndarray:
        pooled = np.concatenate(ray.get([a.training_windows.remote() for a in self.actors]))
        return ray.get(self.actors[0].train_pooled.remote(initial, pooled, asdict(config), epochs))

    def shutdown(self) -> None:
        if telemetry.current().tracing_enabled:
            try:
                ray.get([actor.flush_telemetry.remote() for actor in self.actors], timeout=30)
            except (ray.exceptions.GetTimeoutError, ray.exceptions.RayActorError) as error:
                # A worker still stalled in a straggling fit, or already dead: its last spans are lost.
                log.warning("not every worker flushed its spans before shutdown: %s", error)
        for actor in self.actors:
            ray.kill(actor)
