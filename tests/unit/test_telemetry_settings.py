"""Which signals the OTEL_* environment turns on, and which values it refuses."""

import pytest
from smartfed.telemetry import TelemetryConfigError, TelemetrySettings


def settings(**environ: str) -> TelemetrySettings:
    return TelemetrySettings.from_env("smartfed-test", environ)


def test_nothing_is_exported_when_no_endpoint_or_exporter_is_set():
    off = settings()

    assert off == TelemetrySettings("smartfed-test", traces_protocol=None, metrics_protocol=None)
    assert not off.exports_anything


def test_an_otlp_endpoint_turns_on_traces_and_metrics_over_http_protobuf():
    on = settings(OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:4318")

    assert (on.traces_protocol, on.metrics_protocol) == ("http/protobuf", "http/protobuf")


def test_a_per_signal_endpoint_and_protocol_turn_on_only_that_signal():
    traces_only = settings(
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT="http://127.0.0.1:4317",
        OTEL_EXPORTER_OTLP_TRACES_PROTOCOL="grpc",
    )

    assert (traces_only.traces_protocol, traces_only.metrics_protocol) == ("grpc", None)


def test_exporter_none_turns_a_signal_off_despite_an_endpoint():
    no_metrics = settings(
        OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:4318", OTEL_METRICS_EXPORTER="none"
    )

    assert (no_metrics.traces_protocol, no_metrics.metrics_protocol) == ("http/protobuf", None)


def test_sdk_disabled_turns_everything_off():
    disabled = settings(
        OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:4318", OTEL_SDK_DISABLED="TRUE"
    )

    assert not disabled.exports_anything


def test_otel_service_name_overrides_the_name_the_code_passes():
    assert settings(OTEL_SERVICE_NAME="hvac-sim").service_name == "hvac-sim"


def test_an_unknown_protocol_is_refused_with_the_choices():
    with pytest.raises(TelemetryConfigError) as error:
        settings(
            OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:4318",
            OTEL_EXPORTER_OTLP_PROTOCOL="http/json",
        )

    assert str(error.value) == (
        "OTEL_EXPORTER_OTLP_PROTOCOL='http/json' is not supported: use one of http/protobuf, "
        "grpc, or unset OTEL_EXPORTER_OTLP_PROTOCOL"
    )


def test_an_unknown_sampler_is_refused_even_when_nothing_is_exported():
    with pytest.raises(TelemetryConfigError) as error:
        settings(OTEL_TRACES_SAMPLER="sometimes")

    assert str(error.value) == (
        "OTEL_TRACES_SAMPLER='sometimes' is not supported: use one of always_on, always_off, "
        "traceidratio, parentbased_always_on, parentbased_always_off, parentbased_traceidratio, "
        "or unset OTEL_TRACES_SAMPLER"
    )
