"""Updates and global models as safetensors bytes with a JSON header; never pickle.

A payload is a safetensors file whose metadata holds one key, ``smartfed``, with the
:class:`UpdateHeader` as JSON. Decoding trusts nothing in the payload: it checks the size
limit first, then the header, then that the stored tensors are exactly those the receiver
expects (names, shapes, dtypes), then the hash, then that every float is finite, and only
then rebuilds the float32 tensors.
"""

from __future__ import annotations

import json
import math
import struct

import numpy as np
from safetensors import SafetensorError
from safetensors.numpy import load, save

from smartfed.wire.compression import (
    INDICES,
    VALUES,
    ErrorFeedback,
    Spec,
    check_name,
    compress,
    decompress,
    stored_spec,
)
from smartfed.wire.errors import WireError
from smartfed.wire.header import (
    COMPRESSIONS,
    METADATA_KEY,
    SCHEMA_VERSION,
    UpdateHeader,
    tensor_digest,
)

AGGREGATOR = "aggregator"
HEADER_FIELDS = ("federation", "round", "site")


def encode_update(
    tensors: dict[str, np.ndarray],
    header: dict[str, object],
    compression: str = "none",
    *,
    error_feedback: ErrorFeedback | None = None,
) -> bytes:
    """One site's update as bytes; ``header`` gives ``federation``, ``round`` and ``site``.

    With ``compression="topk"`` the site's ``error_feedback`` is updated in place.
    """
    if set(header) != set(HEADER_FIELDS):
        raise WireError(
            f"update header has fields {sorted(header)}; expected exactly {sorted(HEADER_FIELDS)}"
        )
    return _encode(
        tensors,
        "update",
        header["federation"],
        header["round"],
        header["site"],
        compression,
        error_feedback,
    )


def decode_update(
    payload: bytes,
    expected: Spec,
    max_bytes: int,
    *,
    federation: str | None = None,
    round: int | None = None,
) -> tuple[dict[str, np.ndarray], UpdateHeader]:
    """The float tensors of an update and its header, or :class:`WireError` saying why not.

    ``expected`` maps each tensor name to its shape and dtype. Give ``federation`` and
    ``round`` to refuse an update meant for another federation or replayed from another round.
    """
    return _decode(payload, expected, max_bytes, "update", federation, round)


def encode_model(state: dict[str, np.ndarray], *, federation: str, round: int) -> bytes:
    """A global model's state dict (float32 tensors) as bytes, written by the aggregator."""
    for name, array in state.items():
        if array.dtype != np.float32:
            raise WireError(
                f"model tensor {name!r} is {array.dtype}; global models travel as float32 only"
            )
    return _encode(state, "model", federation, round, AGGREGATOR, "none", None)


def decode_model(
    payload: bytes,
    expected: Spec,
    max_bytes: int,
    *,
    federation: str | None = None,
) -> tuple[dict[str, np.ndarray], UpdateHeader]:
    """A global model's state dict and header, validated like an update."""
    return _decode(payload, expected, max_bytes, "model", federation, None)


def spec_of(tensors: dict[str, np.ndarray]) -> Spec:
    """The ``expected`` argument that describes ``tensors``: what the receiver should demand."""
    return {name: (tuple(array.shape), array.dtype.name) for name, array in tensors.items()}


def _encode(
    tensors: dict[str, np.ndarray],
    kind: str,
    federation: object,
    round: object,
    site: object,
    compression: str,
    error_feedback: ErrorFeedback | None,
) -> bytes:
    if compression not in COMPRESSIONS:
        raise WireError(
            f"compression {compression!r} is unknown; choose one of {list(COMPRESSIONS)}"
        )
    if not tensors:
        raise WireError("nothing to encode: the tensor dict is empty")
    for name, array in tensors.items():
        check_name(name)
        if not isinstance(array, np.ndarray):
            raise WireError(f"tensor {name!r} is a {type(array).__name__}; pass numpy arrays")
        if array.dtype.kind == "f" and not np.all(np.isfinite(array)):
            raise WireError(f"tensor {name!r} holds NaN or infinite values; refusing to send them")
    stored_spec(spec_of(tensors), compression)
    stored = compress(tensors, compression, error_feedback)
    header = UpdateHeader(
        kind=kind,
        federation=federation,
        round=round,
        site=site,
        schema_version=SCHEMA_VERSION,
        sha256=tensor_digest(stored),
        compression=compression,
    )
    header.validate()
    return save(stored, metadata={METADATA_KEY: header.to_json()})


def _decode(
    payload: bytes,
    expected: Spec,
    max_bytes: int,
    kind: str,
    federation: str | None,
    round: int | None,
) -> tuple[dict[str, np.ndarray], UpdateHeader]:
    if not isinstance(payload, bytes):
        raise WireError(f"payload is a {type(payload).__name__}; it must be bytes")
    if len(payload) > max_bytes:
        raise WireError(
            f"payload is {len(payload)} bytes; the limit is {max_bytes} bytes; raise the limit "
            "if the model grew, or send the update with compression 'int8' or 'topk'"
        )

    # The safetensors library validates the layout (offsets, dtypes, overlaps); the header is
    # read only once the file is known to be well formed.
    try:
        stored = load(payload)
    except SafetensorError as error:
        raise WireError(f"payload is not a valid safetensors file: {error}") from None
    header = UpdateHeader.from_json(_metadata(payload))
    if header.kind != kind:
        raise WireError(f"payload kind is {header.kind!r}; expected {kind!r}")
    if federation is not None and header.federation != federation:
        raise WireError(
            f"payload is for federation {header.federation!r}; this is federation {federation!r}"
        )
    if round is not None and header.round != round:
        raise WireError(
            f"{header.site}: update was trained in round {header.round}; this is round {round}, "
            "so it is stale or replayed and is refused"
        )

    _check_layout(stored, stored_spec(expected, header.compression), expected, header.site)
    if tensor_digest(stored) != header.sha256:
        raise WireError(
            f"{header.site}: tensor bytes hash to {tensor_digest(stored)} but the header says "
            f"{header.sha256}; the payload was altered or truncated in transit"
        )
    for name, array in stored.items():
        if array.dtype.kind == "f" and not np.all(np.isfinite(array)):
            raise WireError(f"{header.site}: tensor {name!r} holds NaN or infinite values")
    return decompress(stored, expected, header.compression), header


def _metadata(payload: bytes) -> str:
    # safetensors layout: an 8-byte little-endian header length, then the JSON header.
    (length,) = struct.unpack("<Q", payload[:8])
    metadata = json.loads(payload[8 : 8 + length]).get("__metadata__") or {}
    if METADATA_KEY not in metadata:
        raise WireError(
            f"payload has no {METADATA_KEY!r} header in its metadata; the sender must use "
            "smartfed.wire"
        )
    return metadata[METADATA_KEY]


def _check_layout(stored: dict[str, np.ndarray], spec: Spec, expected: Spec, site: str) -> None:
    missing = sorted(set(spec) - set(stored))
    unexpected = sorted(set(stored) - set(spec))
    if missing or unexpected:
        raise WireError(
            f"{site}: payload lacks tensors {missing} and carries unexpected tensors {unexpected}"
        )
    for name in sorted(spec):
        shape, dtype = spec[name]
        array = stored[name]
        if array.dtype.name != dtype:
            raise WireError(f"{site}: tensor {name!r} is {array.dtype.name}; expected {dtype}")
        if shape == (-1,):
            base = name.removesuffix(INDICES).removesuffix(VALUES)
            numel = math.prod(expected[base][0])
            if array.ndim != 1 or array.size > numel:
                raise WireError(
                    f"{site}: tensor {name!r} has shape {array.shape}; expected 1-D with at most "
                    f"{numel} entries"
                )
        elif tuple(array.shape) != tuple(shape):
            raise WireError(
                f"{site}: tensor {name!r} has shape {tuple(array.shape)}; expected {tuple(shape)}"
            )
