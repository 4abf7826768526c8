"""Trace and span ids on log records, so a log line leads to its trace and back."""

from __future__ import annotations

import logging

from opentelemetry import trace

LOG_FORMAT = (
    "%(asctime)s %(levelname)s %(name)s trace_id=%(trace_id)s span_id=%(span_id)s %(message)s"
)
_NO_SPAN = "-"


class TraceContextFilter(logging.Filter):
    """Sets ``record.trace_id`` and ``record.span_id`` (hex, or ``-`` outside a span).

    Attach it to a handler, not a logger: a logger's filters do not see records that propagate
    up from child loggers, a handler's do.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        context = trace.get_current_span().get_span_context()
        if context.is_valid:
            record.trace_id = trace.format_trace_id(context.trace_id)
            record.span_id = trace.format_span_id(context.span_id)
        else:
            record.trace_id = record.span_id = _NO_SPAN
        return True
