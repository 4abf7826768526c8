"""Spans, events, context propagation and log correlation, recorded in memory."""

import logging
import os
import threading

import numpy as np
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from smartfed import telemetry


@pytest.fixture(autouse=True)
def clean_otel_env(monkeypatch):
    """Each test starts unconfigured, whatever the developer's shell exports."""
    for name in list(os.environ):
        if name.startswith("OTEL_"):
            monkeypatch.delenv(name)
    yield
    telemetry.shutdown()


@pytest.fixture
def spans():
    exporter = InMemorySpanExporter()
    telemetry.configure_telemetry(
        "smartfed-test", extra_span_processors=(SimpleSpanProcessor(exporter),)
    )
    return exporter


def test_off_mode_uses_the_no_op_tracer_and_starts_no_exporter_thread():
    threads_before = set(threading.enumerate())

    off = telemetry.configure_telemetry("smartfed-test")
    with telemetry.span("round", federation="hvac", round=1):
        carrier = telemetry.inject_context()

    assert isinstance(off.tracer, trace.NoOpTracer)
    assert (off.tracer_provider, off.meter_provider) == (None, None)
    assert carrier == {}
    assert set(threading.enumerate()) == threads_before


def test_sdk_disabled_is_off_even_with_an_endpoint(monkeypatch):
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")

    assert not telemetry.configure_telemetry("smartfed-test").tracing_enabled


def test_an_endpoint_starts_a_batch_exporter_that_shutdown_stops(monkeypatch):
    # Port 9 (discard) is closed here; no span is recorded, so nothing is sent to it.
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.setenv("OTEL_METRICS_EXPORTER", "none")
    threads_before = set(threading.enumerate())

    on = telemetry.configure_telemetry("smartfed-test")
    started = set(threading.enumerate()) - threads_before
    telemetry.shutdown()

    assert on.tracing_enabled and on.meter_provider is None
    assert started and not any(thread.is_alive() for thread in started)
    assert not telemetry.current().tracing_enabled


def test_context_survives_a_round_trip_through_a_dict_carrier(spans):
    with telemetry.span("round", federation="hvac", round=2) as round_span:
        carrier = telemetry.inject_context()
    # What a Ray actor or an HTTP handler does with the carrier it received.
    with telemetry.span("site.fit", parent=carrier, site="b07", round=2):
        pass

    round_, fit = spans.get_finished_spans()
    assert set(carrier) == {"traceparent"}
    assert carrier["traceparent"].split("-")[1] == trace.format_trace_id(
        round_span.get_span_context().trace_id
    )
    assert fit.context.trace_id == round_.context.trace_id
    assert fit.parent.span_id == round_.context.span_id and fit.parent.is_remote


def test_an_invalid_traceparent_starts_a_new_trace_instead_of_failing(spans):
    with telemetry.span("site.fit", parent={"traceparent": "not-a-trace"}, site="b07"):
        pass

    (fit,) = spans.get_finished_spans()
    assert fit.parent is None and fit.context.is_valid


def test_span_attributes_are_namespaced_and_numpy_scalars_become_python_numbers(spans):
    with telemetry.span("site.fit", site="b07", round=np.int64(3), epsilon=np.float32(0.5)):
        telemetry.set_attributes(update_bytes=4096)

    (fit,) = spans.get_finished_spans()
    assert dict(fit.attributes) == {
        "fl.site": "b07",
        "fl.round": 3,
        "fl.epsilon": 0.5,
        "fl.update_bytes": 4096,
    }
    assert type(fit.attributes["fl.round"]) is int


def test_an_attribute_outside_the_namespace_is_refused():
    with pytest.raises(ValueError) as error:
        telemetry.fl_attributes({"temperature": 21.5})

    assert str(error.value) == (
        "telemetry attribute 'temperature' is not in the fl.* namespace: use one of "
        + ", ".join(telemetry.ATTRIBUTE_KEYS)
        + ", or add it to smartfed.telemetry._attributes.KEYS"
    )


def test_a_sequence_of_values_never_reaches_a_span():
    with pytest.raises(TypeError) as error:
        telemetry.fl_attributes({"site": ["b01", "b02"]})

    assert str(error.value) == (
        "telemetry attribute fl.site is a list: attributes take one str, bool, int or float; "
        "record a summary (a count, a size), never readings"
    )


def test_stragglers_dropouts_and_rejected_updates_are_events_on_the_round_span(spans):
    with telemetry.span("round", federation="hvac", round=4):
        telemetry.record_straggler(site="b03", round=4, waited_s=1.5)
        telemetry.record_dropout(site="b05", round=4, reason="deadline")
        telemetry.record_rejected_update(
            federation="hvac", site="b09", round=4, reason="non-finite values"
        )

    (round_,) = spans.get_finished_spans()
    assert [(event.name, dict(event.attributes)) for event in round_.events] == [
        ("fl.straggler", {"fl.site": "b03", "fl.round": 4, "fl.waited_s": 1.5}),
        ("fl.dropout", {"fl.site": "b05", "fl.round": 4, "fl.reason": "deadline"}),
        ("fl.update_rejected", {"fl.site": "b09", "fl.round": 4, "fl.reason": "non-finite values"}),
    ]


def test_an_exception_in_a_span_marks_it_as_an_error(spans):
    with pytest.raises(RuntimeError), telemetry.span("aggregate", round=1):
        raise RuntimeError("quorum not met")

    (aggregate,) = spans.get_finished_spans()
    assert aggregate.status.status_code is trace.StatusCode.ERROR
    assert [event.name for event in aggregate.events] == ["exception"]


def test_ensure_configured_configures_once_and_then_returns_the_same_telemetry():
    first = telemetry.ensure_configured()

    assert telemetry.ensure_configured("another-name") is first
    assert first.service_name == "smartfed-worker"


def test_worker_env_vars_carries_only_the_otel_variables(monkeypatch):
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318")
    monkeypatch.setenv("SMARTFED_UNRELATED", "1")

    assert telemetry.worker_env_vars() == {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}


def test_log_records_carry_the_trace_and_span_ids_of_the_current_span(spans, caplog):
    caplog.handler.addFilter(telemetry.TraceContextFilter())
    logger = logging.getLogger("smartfed.test")

    with caplog.at_level(logging.INFO), telemetry.span("round", round=1) as round_span:
        logger.info("round 1 started")
    with caplog.at_level(logging.INFO):
        logger.info("between rounds")

    inside, outside = caplog.records
    context = round_span.get_span_context()
    assert (inside.trace_id, inside.span_id) == (
        trace.format_trace_id(context.trace_id),
        trace.format_span_id(context.span_id),
    )
    assert (outside.trace_id, outside.span_id) == ("-", "-")
    assert logging.Formatter(telemetry.LOG_FORMAT).format(inside).endswith(
        f"span_id={inside.span_id} round 1 started"
    )


def test_the_public_surface_is_pinned():
    assert telemetry.__all__ == [
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
