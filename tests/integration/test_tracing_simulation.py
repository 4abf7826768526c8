"""The trace tree of a small simulation, as Jaeger stores it."""

from __future__ import annotations

import os
import uuid

import pytest
from smartfed import telemetry
from smartfed.registry import open_store
from smartfed.simulation.config import SimulationConfig
from smartfed.simulation.run import run_simulation

pytestmark = pytest.mark.otlp


@pytest.fixture
def traced_simulation_service(jaeger, monkeypatch):
    """OTEL_* pointing at Jaeger, with a service name no other test uses."""
    telemetry.shutdown()  # an earlier test may have configured this process with tracing off
    for name in list(os.environ):
        if name.startswith("OTEL_"):
            monkeypatch.delenv(name)
    service = f"smartfed-sim-{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", jaeger.otlp_http_endpoint)
    monkeypatch.setenv("OTEL_SERVICE_NAME", service)
    yield service
    telemetry.shutdown()


def tags(span: dict) -> dict[str, object]:
    return {tag["key"]: tag["value"] for tag in span["tags"]}


def parent_id(span: dict) -> str | None:
    parents = [ref["spanID"] for ref in span["references"] if ref["refType"] == "CHILD_OF"]
    return parents[0] if parents else None


def pid_of(trace: dict, span: dict) -> int:
    process = trace["processes"][span["processID"]]
    return {tag["key"]: tag["value"] for tag in process["tags"]}["process.pid"]


def test_every_participating_site_fit_is_in_its_round_trace_with_no_missing_parent(
    jaeger, traced_simulation_service, ray_cluster, tmp_path
):
    config = SimulationConfig(
        task="sensor", sites=4, organizations=2, rounds=2, workers=2, baselines=False,
        output=tmp_path,
    )
    run_simulation(config)
    versions = open_store(config.store_uri).versions(config.federation)
    participants = {manifest.round: sorted(manifest.sites) for manifest in versions}

    # run + 2 rounds, each with a fit and a protect per site, aggregation, evaluation, publish.
    expected_spans = 1 + 2 * (1 + 4 * 2 + 3)
    (trace,) = jaeger.wait_for_spans(traced_simulation_service, count=expected_spans)
    spans = trace["spans"]
    by_id = {span["spanID"]: span for span in spans}
    assert all(parent_id(span) in by_id for span in spans if parent_id(span) is not None)
    (run,) = [span for span in spans if parent_id(span) is None]
    assert run["operationName"] == "federation.run"
    assert tags(run)["fl.federation"] == config.federation

    rounds = {tags(s)["fl.round"]: s for s in spans if s["operationName"] == "round"}
    assert sorted(rounds) == [1, 2]
    for round_number, round_span in rounds.items():
        assert parent_id(round_span) == run["spanID"]
        children = [s for s in spans if parent_id(s) == round_span["spanID"]]
        fits = [s for s in children if s["operationName"] == "site.fit"]
        assert sorted(tags(fit)["fl.site"] for fit in fits) == participants[round_number]
        assert {tags(fit)["fl.round"] for fit in fits} == {round_number}
        assert all(tags(fit)["fl.update_bytes"] > 0 for fit in fits)
        assert all(pid_of(trace, fit) != os.getpid() for fit in fits)
        fit_ids = {fit["spanID"] for fit in fits}
        protects = [s for s in spans if s["operationName"] == "site.protect"]
        assert len([p for p in protects if parent_id(p) in fit_ids]) == len(fits)
        assert {"aggregate", "registry.publish"} <= {s["operationName"] for s in children}
        assert tags(round_span)["fl.sites_reported"] == len(participants[round_number])
