"""One tracer and meter provider per process, configured from the environment.

Every process that records spans configures its own providers: the driver, each Ray worker
process, each service. A Ray worker inherits the ``OTEL_*`` variables from the process that
started the cluster, or gets them from ``runtime_env={"env_vars": worker_env_vars()}``, and calls
``ensure_configured()`` before its first span.

The providers are kept here rather than installed as OpenTelemetry's global providers: the
global ones can be set once per process, and tests configure several times. Libraries that
instrument themselves (FastAPI, httpx) take ``Telemetry.tracer_provider`` explicitly.

When the environment configures no exporter, no SDK provider is created: spans come from the
API's no-op tracer, which still carries an incoming parent context through, and no exporter
thread runs.
"""

from __future__ import annotations

import atexit
import logging
import os
from dataclasses import dataclass

from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    MetricExporter,
    MetricReader,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter

from smartfed.telemetry._metrics import FederationMetrics
from smartfed.telemetry._settings import TelemetrySettings

log = logging.getLogger(__name__)

INSTRUMENTATION_SCOPE = "smartfed"
DEFAULT_WORKER_SERVICE_NAME = "smartfed-worker"


@dataclass(frozen=True)
class Telemetry:
    """The providers of one process; ``tracer_provider`` is ``None`` when tracing is off."""

    service_name: str
    tracer: trace.Tracer
    meter: metrics.Meter
    metrics: FederationMetrics
    tracer_provider: TracerProvider | None
    meter_provider: MeterProvider | None

    @property
    def tracing_enabled(self) -> bool:
        return self.tracer_provider is not None

    def force_flush(self, timeout_s: float = 10.0) -> bool:
        """Export what is buffered now; a Ray actor calls this before the driver ends the cluster,
        which kills worker processes without running their exit handlers."""
        timeout_ms = int(timeout_s * 1000)
        flushed = True
        if self.tracer_provider is not None:
            flushed = self.tracer_provider.force_flush(timeout_ms) and flushed
        if self.meter_provider is not None:
            flushed = self.meter_provider.force_flush(timeout_ms) and flushed
        return flushed

    def shutdown(self, timeout_s: float = 10.0) -> None:
        """Flush, then stop the exporter threads; the providers record nothing afterwards."""
        self.force_flush(timeout_s)
        if self.tracer_provider is not None:
            self.tracer_provider.shutdown()
        if self.meter_provider is not None:
            self.meter_provider.shutdown(timeout_millis=timeout_s * 1000)


_active: Telemetry | None = None
_disabled: Telemetry | None = None
_exit_flush_registered = False


def configure_telemetry(
    service_name: str,
    *,
    extra_span_processors: tuple[SpanProcessor, ...] = (),
    extra_metric_readers: tuple[MetricReader, ...] = (),
) -> Telemetry:
    """Build this process's providers from the ``OTEL_*`` environment and make them current.

    The extras are processors and readers the caller owns: a service's Prometheus reader behind
    ``/metrics``, a test's in-memory exporter. They get a provider even when OTLP export is
    off. A previously configured ``Telemetry`` is flushed and shut down first.
    """
    global _active, _exit_flush_registered
    settings = TelemetrySettings.from_env(service_name)
    if _active is not None:
        _active.shutdown()
        _active = None

    if not settings.exports_anything and not extra_span_processors and not extra_metric_readers:
        log.debug("telemetry off for %s: no OTLP endpoint or exporter configured", service_name)
        _active = _off(settings.service_name)
        return _active

    # process.pid tells the driver's spans from each Ray worker's in the backend.
    resource = Resource.create(
        {
            "service.name": settings.service_name,
            "service.namespace": "smartfed",
            "process.pid": os.getpid(),
        }
    )
    processors = list(extra_span_processors)
    if settings.traces_protocol is not None:
        processors.append(BatchSpanProcessor(_span_exporter(settings.traces_protocol)))
    tracer_provider = None
    if processors:
        # The sampler comes from OTEL_TRACES_SAMPLER (checked in the settings); the default,
        # parentbased_always_on, makes a Ray worker follow the driver's sampling decision.
        tracer_provider = TracerProvider(resource=resource, shutdown_on_exit=False)
        for processor in processors:
            tracer_provider.add_span_processor(processor)
    readers = list(extra_metric_readers)
    if settings.metrics_protocol is not None:
        readers.append(PeriodicExportingMetricReader(_metric_exporter(settings.metrics_protocol)))
    meter_provider = (
        MeterProvider(resource=resource, metric_readers=readers, shutdown_on_exit=False)
        if readers
        else None
    )
    # One exit handler for whichever providers are current then, instead of one per provider
    # ever built: those would shut down, at exit, providers already shut down on reconfiguring.
    if not _exit_flush_registered:
        atexit.register(shutdown)
        _exit_flush_registered = True

    tracer = (
        tracer_provider.get_tracer(INSTRUMENTATION_SCOPE)
        if tracer_provider is not None
        else trace.NoOpTracer()
    )
    meter = (
        meter_provider.get_meter(INSTRUMENTATION_SCOPE)
        if meter_provider is not None
        else metrics.NoOpMeter(INSTRUMENTATION_SCOPE)
    )
    _active = Telemetry(
        settings.service_name,
        tracer,
        meter,
        FederationMetrics(meter),
        tracer_provider,
        meter_provider,
    )
    log.info(
        "telemetry for %s: traces %s, metrics %s",
        settings.service_name,
        settings.traces_protocol or ("local processors only" if processors else "off"),
        settings.metrics_protocol or ("local readers only" if readers else "off"),
    )
    return _active


def ensure_configured(service_name: str = DEFAULT_WORKER_SERVICE_NAME) -> Telemetry:
    """The current ``Telemetry``, configuring it from the environment on first use.

    Meant for code that runs in a process it did not start, a Ray actor's ``__init__`` or a
    task: the first call configures, later calls (a reused worker process) cost a lookup.
    """
    if _active is None:
        return configure_telemetry(service_name)
    return _active


def current() -> Telemetry:
    """The configured ``Telemetry``, or the no-op one when nothing was configured."""
    return _active if _active is not None else _off(DEFAULT_WORKER_SERVICE_NAME)


def shutdown(timeout_s: float = 10.0) -> None:
    """Flush and stop the current providers; later spans are no-ops until configured again."""
    global _active
    if _active is not None:
        _active.shutdown(timeout_s)
        _active = None


def worker_env_vars() -> dict[str, str]:
    """The ``OTEL_*`` variables of this process, for a Ray ``runtime_env``'s ``env_vars``."""
    return {name: value for name, value in os.environ.items() if name.startswith("OTEL_")}


def _off(service_name: str) -> Telemetry:
    global _disabled
    if _disabled is None or _disabled.service_name != service_name:
        meter = metrics.NoOpMeter(INSTRUMENTATION_SCOPE)
        _disabled = Telemetry(
            service_name, trace.NoOpTracer(), meter, FederationMetrics(meter), None, None
        )
    return _disabled


def _span_exporter(protocol: str) -> SpanExporter:
    # Imported on use: a process that exports nothing never loads grpc or requests. The
    # exporters read endpoint, headers, timeout and certificates from OTEL_EXPORTER_OTLP_*.
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        return OTLPSpanExporter()
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter()


def _metric_exporter(protocol: str) -> MetricExporter:
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter

        return OTLPMetricExporter()
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter

    return OTLPMetricExporter()
