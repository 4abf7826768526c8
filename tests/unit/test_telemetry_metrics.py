"""The federation's metric instruments, read back in memory and as Prometheus text."""

import os

import pytest
from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from prometheus_client import CollectorRegistry, generate_latest
from smartfed import telemetry


@pytest.fixture(autouse=True)
def clean_otel_env(monkeypatch):
    for name in list(os.environ):
        if name.startswith("OTEL_"):
            monkeypatch.delenv(name)
    yield
    telemetry.shutdown()


def points(reader: InMemoryMetricReader) -> dict[str, list[tuple[dict, object]]]:
    """Metric name -> [(attributes, value or histogram sum)]."""
    found: dict[str, list[tuple[dict, object]]] = {}
    for resource_metrics in reader.get_metrics_data().resource_metrics:
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                found[metric.name] = [
                    (dict(point.attributes), getattr(point, "value", getattr(point, "sum", None)))
                    for point in metric.data.data_points
                ]
    return found


def test_every_instrument_records_with_fl_attributes():
    reader = InMemoryMetricReader()
    metrics = telemetry.configure_telemetry(
        "smartfed-test", extra_metric_readers=(reader,)
    ).metrics

    metrics.record_round(
        federation="hvac", duration_s=2.5, sites_sampled=12, sites_reported=9, sites_dropped=3
    )
    metrics.record_update(federation="hvac", site="b01", update_bytes=4096)
    metrics.record_training_loss(federation="hvac", site="b01", loss=0.25)
    metrics.record_validation_f1(federation="hvac", f1=0.91)
    metrics.record_epsilon_spent(federation="hvac", epsilon=1.5)
    metrics.record_scoring(site="b01", latency_s=0.004, anomaly_rate=0.02)
    telemetry.record_rejected_update(federation="hvac", site="b02", round=1, reason="too large")

    hvac = {"fl.federation": "hvac"}
    b01 = {"fl.federation": "hvac", "fl.site": "b01"}
    assert points(reader) == {
        "fl.round.duration": [(hvac, 2.5)],
        "fl.sites.sampled": [(hvac, 12)],
        "fl.sites.reported": [(hvac, 9)],
        "fl.sites.dropped": [(hvac, 3)],
        "fl.update.size": [(b01, 4096)],
        "fl.training.loss": [(b01, 0.25)],
        "fl.validation.f1": [(hvac, 0.91)],
        "fl.privacy.epsilon_spent": [(hvac, 1.5)],
        "fl.scoring.latency": [({"fl.site": "b01"}, 0.004)],
        "fl.scoring.anomaly_rate": [({"fl.site": "b01"}, 0.02)],
        "fl.uploads.rejected": [
            ({"fl.federation": "hvac", "fl.site": "b02", "fl.reason": "too large"}, 1)
        ],
    }


def test_a_prometheus_reader_exposes_the_metrics_without_an_otlp_endpoint():
    registry = CollectorRegistry()
    metrics = telemetry.configure_telemetry(
        "smartfed-test", extra_metric_readers=(PrometheusMetricReader(registry=registry),)
    ).metrics

    metrics.record_round(
        federation="hvac", duration_s=1.0, sites_sampled=4, sites_reported=4, sites_dropped=0
    )

    exposition = generate_latest(registry).decode()
    assert 'fl_sites_sampled_total{fl_federation="hvac"' in exposition
    assert "fl_round_duration_seconds_bucket{fl_federation=\"hvac\",le=\"0.5\"" in exposition


def test_metrics_are_no_ops_when_nothing_is_configured():
    off = telemetry.configure_telemetry("smartfed-test")

    off.metrics.record_update(federation="hvac", site="b01", update_bytes=1)

    assert off.meter_provider is None
