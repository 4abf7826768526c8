"""Trace context as a small ``dict[str, str]``: W3C ``traceparent`` (and ``tracestate``).

The same carrier travels as an explicit argument of a Ray actor call and as HTTP headers, so a
site's fit span joins its round's trace whether the site runs in a Ray worker or at the edge.
Ray does not carry OpenTelemetry context on its own, and pickling a ``Context`` is not an
option across the HTTP hop, hence the explicit string carrier.
"""

from __future__ import annotations

from collections.abc import Mapping

from opentelemetry.context import Context
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

_PROPAGATOR = TraceContextTextMapPropagator()


def inject_context(context: Context | None = None) -> dict[str, str]:
    """The current span's context (or ``context``'s) as headers; empty when no span is recording,
    so tracing off sends nothing."""
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier, context=context)
    return carrier


def extract_context(carrier: Mapping[str, str]) -> Context:
    """The parent context carried by ``carrier``; an empty context when it carries none or an
    invalid ``traceparent``, which starts a new trace rather than failing the call."""
    return _PROPAGATOR.extract(carrier)
