"""Which signals to export, decided from the standard OpenTelemetry environment variables.

The SDK's exporters read the endpoint, headers, timeout and certificates themselves; this module
only decides whether traces and metrics are exported at all, and over which OTLP protocol, and
refuses values the SDK would otherwise ignore with a log line nobody reads.

Nothing is exported unless the environment asks for it: an OTLP endpoint
(``OTEL_EXPORTER_OTLP_ENDPOINT`` or its per-signal form) or an explicit
``OTEL_TRACES_EXPORTER=otlp`` / ``OTEL_METRICS_EXPORTER=otlp``. ``OTEL_SDK_DISABLED=true`` and
``*_EXPORTER=none`` turn a signal off whatever else is set.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

PROTOCOLS = ("http/protobuf", "grpc")
EXPORTERS = ("otlp", "none")
# The names the SDK's sampler factory knows (opentelemetry.sdk.trace.sampling).
SAMPLERS = (
    "always_on",
    "always_off",
    "traceidratio",
    "parentbased_always_on",
    "parentbased_always_off",
    "parentbased_traceidratio",
)


class TelemetryConfigError(ValueError):
    """An OpenTelemetry environment variable holds a value this package cannot honour."""


@dataclass(frozen=True)
class TelemetrySettings:
    service_name: str
    traces_protocol: str | None
    """``None`` when traces are not exported."""
    metrics_protocol: str | None
    """``None`` when metrics are not exported over OTLP."""

    @classmethod
    def from_env(
        cls, default_service_name: str, environ: Mapping[str, str] = os.environ
    ) -> TelemetrySettings:
        # OTEL_SERVICE_NAME wins over the name the code passes, as the specification asks: an
        # operator renames a deployment's service without a code change.
        service_name = environ.get("OTEL_SERVICE_NAME", "").strip() or default_service_name
        _choice(environ, "OTEL_TRACES_SAMPLER", SAMPLERS)
        if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
            return cls(service_name, traces_protocol=None, metrics_protocol=None)
        return cls(
            service_name,
            traces_protocol=_signal_protocol(environ, "TRACES"),
            metrics_protocol=_signal_protocol(environ, "METRICS"),
        )

    @property
    def exports_anything(self) -> bool:
        return self.traces_protocol is not None or self.metrics_protocol is not None


def _signal_protocol(environ: Mapping[str, str], signal: str) -> str | None:
    exporter = _choice(environ, f"OTEL_{signal}_EXPORTER", EXPORTERS)
    if exporter == "none":
        return None
    endpoint = environ.get(f"OTEL_EXPORTER_OTLP_{signal}_ENDPOINT") or environ.get(
        "OTEL_EXPORTER_OTLP_ENDPOINT"
    )
    if exporter is None and not endpoint:
        return None
    protocol_var = f"OTEL_EXPORTER_OTLP_{signal}_PROTOCOL"
    if not environ.get(protocol_var):
        protocol_var = "OTEL_EXPORTER_OTLP_PROTOCOL"
    return _choice(environ, protocol_var, PROTOCOLS) or "http/protobuf"


def _choice(environ: Mapping[str, str], name: str, allowed: tuple[str, ...]) -> str | None:
    raw = environ.get(name, "").strip()
    if not raw:
        return None
    value = raw.lower()
    if value not in allowed:
        raise TelemetryConfigError(
            f"{name}={raw!r} is not supported: use one of {', '.join(allowed)}, "
            f"or unset {name}"
        )
    return value
