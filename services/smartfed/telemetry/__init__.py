"""OpenTelemetry set-up and context propagation for every smartfed process.

Configured only by the standard ``OTEL_*`` environment variables; with none set, tracing and
metrics are no-ops and no exporter thread runs. Typical use::

    from smartfed import telemetry

    telemetry.configure_telemetry("smartfed-simulate")
    with telemetry.span("round", federation="hvac", round=3):
        carrier = telemetry.inject_context()      # pass to a Ray actor or as HTTP headers
    ...
    # in the Ray actor
    telemetry.ensure_configured()
    with telemetry.span("site.fit", parent=carrier, site="b07", round=3):
        ...
"""

from smartfed.telemetry._attributes import KEYS as ATTRIBUTE_KEYS
from smartfed.telemetry._attributes import fl_attributes
from smartfed.telemetry._configure import (
    Telemetry,
    configure_telemetry,
    current,
    ensure_configured,
    shutdown,
    worker_env_vars,
)
from smartfed.telemetry._logs import LOG_FORMAT, TraceContextFilter
from smartfed.telemetry._metrics import FederationMetrics
from smartfed.telemetry._propagation import extract_context, inject_context
from smartfed.telemetry._settings import TelemetryConfigError, TelemetrySettings
from smartfed.telemetry._spans import (
    record_dropout,
    record_rejected_update,
    record_straggler,
    set_attributes,
    span,
)

__all__ = [
    "ATTRIBUTE_KEYS",
    "LOG_FORMAT",
    "FederationMetrics",
    "Telemetry",
    "TelemetryConfigError",
    "TelemetrySettings",
    "TraceContextFilter",
    "configure_telemetry",
    "current",
    "ensure_configured",
    "extract_context",
    "fl_attributes",
    "inject_context",
    "record_dropout",
    "record_rejected_update",
    "record_straggler",
    "set_attributes",
    "shutdown",
    "span",
    "worker_env_vars",
]
