"""Trace context across a Ray actor call and an HTTP hop, exported to a real Jaeger."""

from __future__ import annotations

import http.server
import os
import threading
import urllib.request
import uuid

import pytest
from opentelemetry.trace import SpanKind, format_trace_id
from smartfed import telemetry

pytestmark = pytest.mark.otlp


@pytest.fixture
def otlp_to_jaeger(jaeger, monkeypatch):
    """The driver exports to Jaeger under a service name no other test uses."""
    for name in list(os.environ):
        if name.startswith("OTEL_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", jaeger.otlp_http_endpoint)
    service = f"smartfed-test-{uuid.uuid4().hex[:8]}"
    telemetry.configure_telemetry(service)
    yield service
    telemetry.shutdown()


@pytest.fixture
def traced_worker(ray_cluster, otlp_to_jaeger):
    """A Ray actor that traces like a site worker, started with the driver's OTEL_* variables."""

    # Defined here so that Ray ships the class by value: workers cannot import test modules.
    @ray_cluster.remote(num_cpus=0)
    class TracedWorker:
        def __init__(self) -> None:
            telemetry.ensure_configured()

        def fit(self, site: str, round: int, trace_context: dict[str, str]) -> dict:
            with telemetry.span("site.fit", parent=trace_context, site=site, round=round):
                with telemetry.span("site.encode", site=site):
                    telemetry.set_attributes(update_bytes=4096)
                return {"pid": os.getpid(), "trace_context": telemetry.inject_context()}

        def flush(self) -> bool:
            return telemetry.current().force_flush()

    runtime_env = {"env_vars": telemetry.worker_env_vars()}
    worker = TracedWorker.options(runtime_env=runtime_env).remote()
    yield worker
    ray_cluster.kill(worker)


def spans_by_name(trace: dict) -> dict[str, list[dict]]:
    found: dict[str, list[dict]] = {}
    for span in trace["spans"]:
        found.setdefault(span["operationName"], []).append(span)
    return found


def tags(span: dict) -> dict[str, object]:
    return {tag["key"]: tag["value"] for tag in span["tags"]}


def parent_id(span: dict) -> str | None:
    parents = [ref["spanID"] for ref in span["references"] if ref["refType"] == "CHILD_OF"]
    return parents[0] if parents else None


def process_of(trace: dict, span: dict) -> tuple[str, int]:
    process = trace["processes"][span["processID"]]
    pid = {tag["key"]: tag["value"] for tag in process["tags"]}["process.pid"]
    return process["serviceName"], pid


def test_a_round_span_is_the_parent_of_fit_spans_in_the_ray_worker_process(
    jaeger, otlp_to_jaeger, traced_worker, ray_cluster
):
    sites = ["b01", "b02"]
    with (
        telemetry.span("federation.run", federation="hvac"),
        telemetry.span("round", federation="hvac", round=1, strategy="fedavg"),
    ):
        replies = ray_cluster.get(
            [traced_worker.fit.remote(site, 1, telemetry.inject_context()) for site in sites]
        )
        with telemetry.span("aggregate", round=1):
            pass
    assert ray_cluster.get(traced_worker.flush.remote())
    telemetry.current().force_flush()

    (trace,) = jaeger.wait_for_spans(otlp_to_jaeger, count=7)
    named = spans_by_name(trace)
    (run,), (round_,), (aggregate,) = named["federation.run"], named["round"], named["aggregate"]
    fits, encodes = named["site.fit"], named["site.encode"]
    assert parent_id(run) is None
    assert parent_id(round_) == run["spanID"]
    assert parent_id(aggregate) == round_["spanID"]
    assert sorted(tags(fit)["fl.site"] for fit in fits) == sites
    for fit in fits:
        assert parent_id(fit) == round_["spanID"]
        assert tags(fit)["fl.round"] == 1
    fit_ids = {fit["spanID"] for fit in fits}
    assert all(parent_id(encode) in fit_ids for encode in encodes)
    assert {tags(encode)["fl.update_bytes"] for encode in encodes} == {4096}
    assert tags(round_)["fl.strategy"] == "fedavg"

    # The fit spans were recorded in the worker process and exported by its own provider.
    worker_pid = replies[0]["pid"]
    assert worker_pid != os.getpid()
    assert process_of(trace, round_) == (otlp_to_jaeger, os.getpid())
    assert {process_of(trace, span) for span in fits + encodes} == {("smartfed-worker", worker_pid)}
    # The context the worker hands back points at its fit span: a hop back to the driver.
    returned = {reply["trace_context"]["traceparent"].split("-")[2] for reply in replies}
    assert returned == fit_ids


class TracedUploadHandler(http.server.BaseHTTPRequestHandler):
    """An HTTP endpoint that continues the caller's trace from its request headers."""

    def do_POST(self) -> None:
        with telemetry.span(
            "upload.receive", parent=self.headers, kind=SpanKind.SERVER, site="b03"
        ):
            pass
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the test asserts on spans, not on access lines."""


@pytest.fixture
def upload_server():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), TracedUploadHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_traceparent_headers_carry_the_trace_across_an_http_hop(
    jaeger, otlp_to_jaeger, upload_server
):
    with telemetry.span("site.upload", kind=SpanKind.CLIENT, site="b03", round=2) as upload:
        headers = telemetry.inject_context()
        request = urllib.request.Request(
            f"{upload_server}/updates", data=b"{}", method="POST", headers=headers
        )
        with urllib.request.urlopen(request, timeout=5) as reply:
            assert reply.status == 204
    telemetry.current().force_flush()

    (trace,) = jaeger.wait_for_spans(otlp_to_jaeger, count=2)
    named = spans_by_name(trace)
    (receive,) = named["upload.receive"]
    assert parent_id(receive) == named["site.upload"][0]["spanID"]
    assert receive["traceID"] == trace_id_hex(upload)
    assert tags(receive)["span.kind"] == "server"


def test_spans_reach_jaeger_over_otlp_grpc_too(jaeger, otlp_to_jaeger, monkeypatch):
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", jaeger.otlp_grpc_endpoint)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
    service = f"{otlp_to_jaeger}-grpc"
    telemetry.configure_telemetry(service)

    with telemetry.span("round", federation="hvac", round=7):
        pass
    telemetry.current().force_flush()

    (trace,) = jaeger.wait_for_spans(service, count=1)
    assert tags(trace["spans"][0])["fl.round"] == 7


def trace_id_hex(span) -> str:
    return format_trace_id(span.get_span_context().trace_id)
