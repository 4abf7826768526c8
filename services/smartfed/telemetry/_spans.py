"""Spans and span events with ``fl.*`` attributes, on the current process's tracer."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from opentelemetry import trace

from smartfed.telemetry._attributes import fl_attributes
from smartfed.telemetry._configure import current
from smartfed.telemetry._propagation import extract_context


@contextmanager
def span(
    name: str,
    *,
    parent: Mapping[str, str] | None = None,
    kind: trace.SpanKind = trace.SpanKind.INTERNAL,
    **attributes: object,
) -> Iterator[trace.Span]:
    """A span named ``name``, current inside the block, with ``fl.<key>`` attributes.

    ``parent`` is a carrier from ``inject_context()`` received over a Ray call or HTTP; without
    it the span is a child of the current span. An exception leaving the block is recorded on
    the span and sets its status to error.
    """
    context = extract_context(parent) if parent is not None else None
    with current().tracer.start_as_current_span(
        name, context=context, kind=kind, attributes=fl_attributes(attributes)
    ) as opened:
        yield opened


def set_attributes(**attributes: object) -> None:
    """Add ``fl.*`` attributes known only after the span started (update size, epsilon)."""
    trace.get_current_span().set_attributes(fl_attributes(attributes))


def record_straggler(*, site: str, round: int, waited_s: float) -> None:
    """A site answered after the others; the round waited ``waited_s`` for it."""
    _event("fl.straggler", site=site, round=round, waited_s=waited_s)


def record_dropout(*, site: str, round: int, reason: str) -> None:
    """A sampled site did not report this round (failure, deadline, budget exhausted)."""
    _event("fl.dropout", site=site, round=round, reason=reason)


def record_rejected_update(*, federation: str, site: str, round: int, reason: str) -> None:
    """An update failed validation; also counted in the ``fl.uploads.rejected`` metric."""
    _event("fl.update_rejected", site=site, round=round, reason=reason)
    current().metrics.record_rejected_upload(federation=federation, site=site, reason=reason)


def _event(name: str, **attributes: object) -> None:
    trace.get_current_span().add_event(name, fl_attributes(attributes))
