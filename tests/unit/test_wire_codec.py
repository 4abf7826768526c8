"""Updates and models as safetensors plus a JSON header: round trips and every refusal."""

import json
import pickle

import numpy as np
import pytest
from safetensors.numpy import save
from smartfed.wire import (
    ErrorFeedback,
    WireError,
    decode_model,
    decode_update,
    encode_model,
    encode_update,
    spec_of,
)
from smartfed.wire.header import tensor_digest

HEADER = {"federation": "sensor-eu", "round": 3, "site": "site-07"}
LIMIT = 10_000_000


@pytest.fixture
def update() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {
        "delta": rng.normal(0, 0.05, 10_000).astype(np.float32),
        "bias": rng.normal(0, 0.05, (4, 8)).astype(np.float32),
    }


def stored_header(**changes: object) -> str:
    fields = {
        "kind": "update",
        "federation": "sensor-eu",
        "round": 3,
        "site": "site-07",
        "schema_version": 1,
        "sha256": "",
        "compression": "none",
    }
    fields.update(changes)
    return json.dumps(fields)


def forged(tensors: dict[str, np.ndarray], **changes: object) -> bytes:
    """A payload built by hand, as a buggy or hostile sender might."""
    changes.setdefault("sha256", tensor_digest(tensors))
    return save(tensors, metadata={"smartfed": stored_header(**changes)})


def test_update_round_trips_exactly_without_compression(update):
    payload = encode_update(update, HEADER)
    tensors, header = decode_update(
        payload, spec_of(update), LIMIT, federation="sensor-eu", round=3
    )

    assert set(tensors) == set(update)
    for name in update:
        np.testing.assert_array_equal(tensors[name], update[name])
    assert (header.federation, header.round, header.site, header.compression) == (
        "sensor-eu",
        3,
        "site-07",
        "none",
    )
    assert header.schema_version == 1 and len(header.sha256) == 64


@pytest.mark.parametrize(
    ("compression", "tolerance"),
    [("fp16", 1e-3 * 0.25), ("int8", 0.25 / 127 / 2 + 1e-7)],
)
def test_lossy_compression_stays_within_its_rounding_error(update, compression, tolerance):
    tensors, header = decode_update(
        encode_update(update, HEADER, compression), spec_of(update), LIMIT
    )

    assert header.compression == compression
    for name in update:
        assert tensors[name].dtype == np.float32
        assert np.max(np.abs(tensors[name] - update[name])) <= tolerance


def test_int8_payload_is_at_most_027_of_the_fp32_payload(update):
    fp32 = encode_update(update, HEADER, "none")
    int8 = encode_update(update, HEADER, "int8")

    assert len(int8) <= 0.27 * len(fp32)


def test_topk_sends_the_largest_entries_and_keeps_the_rest_for_the_next_round():
    feedback = ErrorFeedback(fraction=0.25)
    delta = np.array([0.1, -4.0, 0.2, 3.0, 0.0, -0.3, 0.05, 1.0], dtype=np.float32)

    first, _ = decode_update(
        encode_update({"delta": delta}, HEADER, "topk", error_feedback=feedback),
        spec_of({"delta": delta}),
        LIMIT,
    )
    second, _ = decode_update(
        encode_update({"delta": np.zeros(8, np.float32)}, HEADER, "topk", error_feedback=feedback),
        spec_of({"delta": delta}),
        LIMIT,
    )

    np.testing.assert_array_equal(first["delta"], [0, -4.0, 0, 3.0, 0, 0, 0, 0])
    np.testing.assert_allclose(second["delta"], [0, 0, 0, 0, 0, -0.3, 0, 1.0])
    np.testing.assert_allclose(feedback.residual["delta"], [0.1, 0, 0.2, 0, 0, 0, 0.05, 0])


def test_topk_with_error_feedback_delivers_every_coordinate_over_rounds():
    feedback = ErrorFeedback(fraction=0.1)
    rng = np.random.default_rng(1)
    sent = np.zeros(1000, np.float32)
    truth = np.zeros(1000, np.float32)
    for _ in range(30):
        delta = rng.normal(0, 1, 1000).astype(np.float32)
        truth += delta
        decoded, _ = decode_update(
            encode_update({"delta": delta}, HEADER, "topk", error_feedback=feedback),
            spec_of({"delta": delta}),
            LIMIT,
        )
        sent += decoded["delta"]

    np.testing.assert_allclose(sent + feedback.residual["delta"], truth, atol=1e-3)


def test_int8_with_error_feedback_carries_rounding_errors_into_the_next_round():
    feedback = ErrorFeedback()
    rng = np.random.default_rng(2)
    sent = np.zeros(1000, np.float32)
    truth = np.zeros(1000, np.float32)
    for _ in range(20):
        delta = rng.normal(0, 0.01, 1000).astype(np.float32)
        delta[0] = 0.5
        truth += delta
        payload = encode_update({"delta": delta}, HEADER, "int8", error_feedback=feedback)
        sent += decode_update(payload, spec_of({"delta": delta}), LIMIT)[0]["delta"]

    np.testing.assert_allclose(sent + feedback.residual["delta"], truth, atol=1e-5)
    # Without feedback the small coordinates' rounding errors would add up over 20 rounds.
    assert np.max(np.abs(sent - truth)) <= 0.5 / 127


def test_topk_without_error_feedback_is_refused(update):
    with pytest.raises(WireError) as raised:
        encode_update(update, HEADER, "topk")

    assert str(raised.value) == (
        "compression 'topk' needs an ErrorFeedback that the site keeps between rounds; "
        "pass error_feedback=ErrorFeedback(fraction=...)"
    )


def test_global_model_round_trips_as_float32_state_dict():
    state = {
        "encoder.0.weight": np.ones((16, 6), np.float32),
        "encoder.0.bias": np.zeros(16, np.float32),
    }

    decoded, header = decode_model(
        encode_model(state, federation="sensor-eu", round=9), spec_of(state), LIMIT
    )

    assert header.kind == "model" and header.site == "aggregator" and header.round == 9
    for name, array in state.items():
        np.testing.assert_array_equal(decoded[name], array)


def test_model_with_non_float32_tensor_is_refused():
    with pytest.raises(WireError) as raised:
        encode_model({"steps": np.zeros(1, np.int64)}, federation="f", round=1)

    assert (
        str(raised.value) == "model tensor 'steps' is int64; global models travel as float32 only"
    )


def test_model_payload_is_refused_where_an_update_is_expected(update):
    with pytest.raises(WireError) as raised:
        decode_update(encode_model(update, federation="sensor-eu", round=3), spec_of(update), LIMIT)

    assert str(raised.value) == "payload kind is 'model'; expected 'update'"


def test_payload_over_the_size_limit_is_refused_before_parsing(update):
    payload = encode_update(update, HEADER)

    with pytest.raises(WireError) as raised:
        decode_update(payload, spec_of(update), 1000)

    assert str(raised.value) == (
        f"payload is {len(payload)} bytes; the limit is 1000 bytes; raise the limit if the model "
        "grew, "
        "or send the update with compression 'int8' or 'topk'"
    )


def test_pickled_payload_is_refused_without_being_unpickled(update):
    with pytest.raises(WireError) as raised:
        decode_update(pickle.dumps(update), spec_of(update), LIMIT)

    assert str(raised.value).startswith("payload is not a valid safetensors file: ")


def test_safetensors_without_the_smartfed_header_is_refused(update):
    with pytest.raises(WireError) as raised:
        decode_update(save(update), spec_of(update), LIMIT)

    assert (
        str(raised.value)
        == "payload has no 'smartfed' header in its metadata; the sender must use smartfed.wire"
    )


def test_header_that_is_not_json_is_refused(update):
    with pytest.raises(WireError) as raised:
        decode_update(save(update, metadata={"smartfed": "{oops"}), spec_of(update), LIMIT)

    assert str(raised.value).startswith("payload header is not valid JSON (")


def test_header_with_missing_fields_is_refused(update):
    with pytest.raises(WireError) as raised:
        decode_update(
            save(update, metadata={"smartfed": json.dumps({"round": 3})}), spec_of(update), LIMIT
        )

    assert str(raised.value) == (
        "payload header has fields ['round']; schema version 1 needs exactly ['compression', "
        "'federation', 'kind', 'round', 'schema_version', 'sha256', 'site']"
    )


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"schema_version": 2},
            (
                "payload has schema version 2; this build reads version 1; upgrade the older side "
                "so both speak the same version"
            ),
        ),
        ({"round": -1}, "header field 'round' is -1; it must be an integer >= 0"),
        ({"round": "3"}, "header field 'round' is '3'; it must be an integer >= 0"),
        ({"site": 7}, "header field 'site' is 7; it must be a string"),
        ({"site": ""}, "header fields 'federation' and 'site' must not be empty"),
        (
            {"compression": "zip"},
            "header compression 'zip' is unknown; expected one of ['none', 'fp16', 'int8', 'topk']",
        ),
        (
            {"kind": "gradient"},
            "header kind 'gradient' is unknown; expected one of ['update', 'model']",
        ),
    ],
)
def test_header_with_a_bad_field_is_refused(update, changes, message):
    with pytest.raises(WireError) as raised:
        decode_update(forged(update, **changes), spec_of(update), LIMIT)

    assert str(raised.value) == message


def test_update_for_another_federation_is_refused(update):
    with pytest.raises(WireError) as raised:
        decode_update(
            encode_update(update, HEADER), spec_of(update), LIMIT, federation="network-us"
        )

    assert (
        str(raised.value)
        == "payload is for federation 'sensor-eu'; this is federation 'network-us'"
    )


def test_update_from_another_round_is_refused_as_stale(update):
    with pytest.raises(WireError) as raised:
        decode_update(encode_update(update, HEADER), spec_of(update), LIMIT, round=4)

    assert str(raised.value) == (
        "site-07: update was trained in round 3; this is round 4, so it is stale or replayed and "
        "is refused"
    )


def test_missing_and_unexpected_tensors_are_named(update):
    tensors = {"delta": update["delta"], "readings": np.zeros(3, np.float32)}

    with pytest.raises(WireError) as raised:
        decode_update(forged(tensors), spec_of(update), LIMIT)

    assert (
        str(raised.value)
        == "site-07: payload lacks tensors ['bias'] and carries unexpected tensors ['readings']"
    )


def test_wrong_dtype_is_refused(update):
    tensors = dict(update, bias=update["bias"].astype(np.float64))

    with pytest.raises(WireError) as raised:
        decode_update(forged(tensors), spec_of(update), LIMIT)

    assert str(raised.value) == "site-07: tensor 'bias' is float64; expected float32"


def test_wrong_shape_is_refused(update):
    tensors = dict(update, bias=update["bias"].reshape(8, 4))

    with pytest.raises(WireError) as raised:
        decode_update(forged(tensors), spec_of(update), LIMIT)

    assert str(raised.value) == "site-07: tensor 'bias' has shape (8, 4); expected (4, 8)"


def test_tampered_tensor_bytes_fail_the_hash(update):
    payload = bytearray(encode_update(update, HEADER))
    payload[-1] ^= 0xFF

    with pytest.raises(WireError) as raised:
        decode_update(bytes(payload), spec_of(update), LIMIT)

    assert str(raised.value).startswith("site-07: tensor bytes hash to ")
    assert str(raised.value).endswith("; the payload was altered or truncated in transit")


def test_non_finite_values_are_refused_on_decode(update):
    tensors = dict(update, bias=np.full((4, 8), np.nan, np.float32))

    with pytest.raises(WireError) as raised:
        decode_update(forged(tensors), spec_of(update), LIMIT)

    assert str(raised.value) == "site-07: tensor 'bias' holds NaN or infinite values"


def test_non_finite_values_are_refused_on_encode(update):
    with pytest.raises(WireError) as raised:
        encode_update(dict(update, delta=np.array([np.inf], np.float32)), HEADER)

    assert str(raised.value) == "tensor 'delta' holds NaN or infinite values; refusing to send them"


def test_topk_indices_out_of_range_are_refused():
    expected = {"delta": ((8,), "float32")}
    tensors = {
        "delta::indices": np.array([2, 9], np.int32),
        "delta::values": np.ones(2, np.float32),
    }

    with pytest.raises(WireError) as raised:
        decode_update(forged(tensors, compression="topk"), expected, LIMIT)

    assert str(raised.value) == (
        "tensor 'delta': top-k indices must be strictly increasing and within [0, 8); the payload "
        "is malformed"
    )


def test_negative_int8_scale_is_refused():
    expected = {"delta": ((4,), "float32")}
    tensors = {"delta": np.ones(4, np.int8), "__scales__": np.array([-1.0], np.float32)}

    with pytest.raises(WireError) as raised:
        decode_update(forged(tensors, compression="int8"), expected, LIMIT)

    assert (
        str(raised.value)
        == "int8 scales [-1.0] include a negative value; scales are max |x| / 127 >= 0"
    )


def test_reserved_tensor_names_are_refused_on_encode():
    with pytest.raises(WireError) as raised:
        encode_update({"__scales__": np.zeros(1, np.float32)}, HEADER)

    assert str(raised.value) == (
        "tensor name '__scales__' is reserved by the wire format; names must be non-empty, "
        "must not start with '__' and must not contain '::'"
    )


def test_header_with_extra_or_missing_fields_is_refused_on_encode(update):
    with pytest.raises(WireError) as raised:
        encode_update(update, {"federation": "f", "round": 1})

    assert (
        str(raised.value) == "update header has fields ['federation', 'round']; "
        "expected exactly ['federation', 'round', 'site']"
    )


def test_masked_uint32_vectors_travel_uncompressed():
    masked = {"masked": np.arange(5, dtype=np.uint32) * 1_000_000_000}

    decoded, _ = decode_update(encode_update(masked, HEADER), spec_of(masked), LIMIT)

    np.testing.assert_array_equal(decoded["masked"], masked["masked"])
    with pytest.raises(WireError) as raised:
        encode_update(masked, HEADER, "int8")
    assert str(raised.value) == (
        "tensor 'masked' is uint32; compression 'int8' applies only to float32 tensors; "
        "send it with compression 'none'"
    )


def test_public_surface_is_pinned():
    import smartfed.wire

    assert sorted(smartfed.wire.__all__) == [
        "COMPRESSIONS",
        "ErrorFeedback",
        "SCHEMA_VERSION",
        "UpdateHeader",
        "WireError",
        "decode_model",
        "decode_update",
        "encode_model",
        "encode_update",
        "spec_of",
    ]
