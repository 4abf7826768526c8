"""The embedded end-to-end run: a federation over simulated buildings on this machine.

Three settings are trained on the same sites with the same budget of local epochs and compared
on the same test windows: federated (the product), local-only (each site alone) and centralized
(all training data pooled: the privacy-violating upper bound).
"""

from __future__ import annotations

import logging
import time

import numpy as np
import torch
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from smartfed import telemetry
from smartfed.federation.aggregator import Aggregator, RoundFailed, RoundState, SamplingPolicy
from smartfed.federation.client import FitConfig
from smartfed.federation.ray_runner import DataRequest, WorkerPool, start_ray
from smartfed.models.autoencoder import (
    ModelSpec,
    WindowAutoencoder,
    flat_weights,
    tensors_from_flat,
)
from smartfed.privacy import SecureAggregationError
from smartfed.privacy.federated import RoundPrivacy
from smartfed.registry import open_store
from smartfed.registry.store import PublishRequest
from smartfed.simulation.config import SimulationConfig
from smartfed.simulation.report import SettingResult, build_report, write_report
from smartfed.strategies import make_strategy
from smartfed.telemetry import FederationMetrics
from smartfed.wire import encode_model

log = logging.getLogger(__name__)


def run_simulation(config: SimulationConfig, console: Console | None = None) -> dict:
    """Run the federation and both baselines; writes and returns the report."""
    console = console or Console(stderr=True)
    started = time.perf_counter()
    config.output.mkdir(parents=True, exist_ok=True)
    strategy = make_strategy(config.strategy)
    store = open_store(config.store_uri)

    # Traces and metrics follow the OTEL_* environment (off when it names no endpoint); the
    # pool hands the same variables to its workers.
    telemetry.ensure_configured("smartfed-simulate")
    # Sites load or generate their own data inside the workers; the driver only learns metadata.
    start_ray(num_cpus=config.workers)
    request = DataRequest(config.task, config.data, config.sites, config.organizations, config.seed)
    pool = WorkerPool(request, min(config.workers, config.sites))
    try:
        features = pool.features()
        spec = ModelSpec(n_features=len(features), window=config.window)
        pool.prepare(spec, straggler_delays(config, sorted(pool.sites)))
        pool.normalize()
        torch.manual_seed(config.seed)
        model = WindowAutoencoder(spec)
        initial = flat_weights(model)
        log.info(
            "federation %s: %d sites in %d organizations, %s data, %d features, model of %d parameters",
            config.federation, len(pool.sites), len(set(pool.organizations.values())), config.data_kind,
            len(features), initial.size,
        )
        aggregator = Aggregator(
            strategy,
            pool.organizations,
            SamplingPolicy(config.sample_fraction, config.min_sites),
            initial,
            config.seed,
        )
        # What each site does to its update before it leaves, and how the aggregator reads it.
        privacy = RoundPrivacy(config.privacy, strategy, initial.size, config.sample_rate, config.rounds, config.seed)
        pool.configure_privacy(privacy.site_settings())
        history: list[dict] = []
        round_failure: RoundFailed | None = None
        try:
            with telemetry.span("federation.run", federation=config.federation, strategy=config.strategy, task=config.task):
                train_rounds(config, pool, aggregator, model, store, history, console, privacy)
        except RoundFailed as error:
            round_failure = error
            log.error("%s; writing the report of the rounds before it", error)
        failure = (
            {"round": round_failure.round, "reason": round_failure.reason, "message": str(round_failure)}
            if round_failure
            else None
        )

        # Each site may fine-tune a shared model (federated or centralized alike) and keeps the
        # tuned one only if it does better on its validation windows: like for like with the
        # local-only models. Under Ditto a site scores with the personal model it trained
        # alongside the global one instead (a site never sampled has none, and fine-tunes).
        adapt = (
            fit_config(config, round_number=0, strategy_options={}, epochs=config.personalize_epochs)
            if config.personalize_epochs
            else None
        )
        personal = config.personalization == "ditto"
        settings = {"federated": SettingResult(pool.evaluate(aggregator.weights, with_roc=True, adapt=adapt, personal=personal))}
        if config.baselines and failure is None:
            fit = fit_config(config, round_number=0, strategy_options={})
            epochs = config.rounds * config.local_epochs
            with console.status("baseline: each site training alone"):
                local = pool.train_local_only(initial, fit, epochs)
                settings["local_only"] = SettingResult(pool.evaluate(local, with_roc=True))
            with console.status("baseline: one model on all data pooled"):
                central = pool.train_centralized(initial, fit, epochs)
                settings["centralized"] = SettingResult(pool.evaluate(central, with_roc=True, adapt=adapt))
        report = build_report(
            config, pool.sites, settings, history, time.perf_counter() - started, failure
        )
        report.update(privacy.report_fields(history))
        write_report(report, settings, config.output)
        if round_failure is not None:
            raise round_failure
        return report
    finally:
        pool.shutdown()


def train_rounds(config, pool, aggregator, model, store, history, console, privacy) -> None:
    columns = (TextColumn("[bold]round"), MofNCompleteColumn(), BarColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
    metrics = telemetry.current().metrics
    with Progress(*columns, console=console, transient=False) as progress:
        bar = progress.add_task("starting", total=config.rounds)
        for round_number in range(1, config.rounds + 1):
            if not privacy.may_start_round(round_number):
                break
            # One span per round, parent of every sampled site's fit span in the Ray workers
            # (the pool passes the context with each call), the aggregation and the publish.
            with telemetry.span("round", federation=config.federation, round=round_number, strategy=config.strategy):
                round_started = time.perf_counter()
                state = aggregator.sample(round_number)
                telemetry.set_attributes(sites_sampled=len(state.sampled))
                try:
                    plans = privacy.open_round(round_number, state.sampled, pool)
                    pending = pool.dispatch(
                        state.sampled,
                        aggregator.weights,
                        fit_config(config, round_number, aggregator.strategy.client_config(), federated=True),
                        plans,
                    )
                    for result in pool.collect(pending, config.round_deadline_s, privacy.decode):
                        aggregator.accept(state, result)
                    state.rejected.update(privacy.refused())
                    with telemetry.span("aggregate", round=round_number, strategy=config.strategy):
                        weights = aggregator.close(state, lambda results: privacy.summed(results, pool))
                except SecureAggregationError as error:
                    raise RoundFailed(round_number, "SecureAggregationFailed", str(error)) from None
                finally:
                    trace_round_outcome(config, state)

                # A cheap evaluation every round, so the history shows how the global model learns.
                with telemetry.span("evaluate", round=round_number):
                    evaluations = pool.evaluate(weights)
                f1 = float(np.mean([e["metrics"]["f1"] for e in evaluations]))
                loss = float(np.average([r.loss for r in state.results], weights=[r.num_examples for r in state.results]))
                with telemetry.span("registry.publish", federation=config.federation, round=round_number):
                    manifest = store.publish(
                        PublishRequest(
                            federation=config.federation,
                            round=round_number,
                            strategy=config.strategy,
                            sites=state.reported,
                            organizations=sorted({r.organization for r in state.results}),
                            metrics={"loss": loss, "f1": f1},
                        ),
                        encode_model(tensors_from_flat(model, weights), federation=config.federation, round=round_number),
                    )
                    telemetry.set_attributes(model_version=manifest.version)
                history.append(
                    {
                        "round": round_number,
                        "sites_sampled": len(state.sampled),
                        "sites_reported": len(state.results),
                        "stragglers": state.stragglers,
                        "loss": loss,
                        "f1": f1,
                        "seconds": time.perf_counter() - round_started,
                        **privacy.round_record(),
                        "model_version": manifest.version,
                    }
                )
                record_round_metrics(metrics, config, state, history[-1])
                log.info(
                    "round %d/%d: %d of %d sites reported, %d timed out, loss %.4f, F1 %.3f",
                    round_number, config.rounds, len(state.results), len(state.sampled), len(state.stragglers), loss, f1,
                )
            progress.update(bar, advance=1, description=f"loss {loss:.4f}  F1 {f1:.3f}")


def trace_round_outcome(config: SimulationConfig, state: RoundState) -> None:
    """Who missed the round and why, as events and counts on the round span (also when it fails)."""
    for site in state.stragglers:
        telemetry.record_straggler(site=site, round=state.round, waited_s=config.round_deadline_s)
    for site, reason in state.rejected.items():
        telemetry.record_rejected_update(federation=config.federation, site=site, round=state.round, reason=reason)
    telemetry.set_attributes(
        sites_reported=len(state.results), sites_dropped=len(state.stragglers) + len(state.rejected)
    )


def record_round_metrics(metrics: FederationMetrics, config: SimulationConfig, state: RoundState, row: dict) -> None:
    metrics.record_round(
        federation=config.federation,
        duration_s=row["seconds"],
        sites_sampled=row["sites_sampled"],
        sites_reported=row["sites_reported"],
        sites_dropped=len(state.stragglers) + len(state.rejected),
    )
    metrics.record_validation_f1(federation=config.federation, f1=row["f1"])
    # Update sizes are recorded by the workers, which see the encoded payloads.
    for result in state.results:
        metrics.record_training_loss(federation=config.federation, site=result.site, loss=result.loss)
    if row.get("epsilon") is not None:
        telemetry.set_attributes(epsilon=row["epsilon"])
        metrics.record_epsilon_spent(federation=config.federation, epsilon=row["epsilon"])


def fit_config(
    config: SimulationConfig,
    round_number: int,
    strategy_options: dict[str, float],
    epochs: int | None = None,
    federated: bool = False,
) -> FitConfig:
    """What a site trains with; ``federated`` marks a round's fit, where Ditto's personal step runs."""
    return FitConfig(
        round=round_number,
        local_epochs=config.local_epochs if epochs is None else epochs,
        batch_size=config.batch_size,
        learning_rate=config.learning_rate,
        personal_lambda=config.ditto_lambda if federated and config.personalization == "ditto" else 0.0,
        **strategy_options,
    )


def straggler_delays(config: SimulationConfig, sites: list[str]) -> dict[str, float]:
    """The sites that stall in every round, chosen by the seed."""
    count = round(config.straggler_fraction * len(sites))
    if count == 0 or config.straggler_delay_s == 0:
        return {}
    rng = np.random.default_rng(config.seed + 7919)
    return {sites[i]: config.straggler_delay_s for i in sorted(rng.choice(len(sites), size=count, replace=False))}
