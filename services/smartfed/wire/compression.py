"""Lossy encodings of float32 update tensors, chosen per federation with ``--compression``.

Every scheme maps the named float32 tensors of an update to the tensors actually stored in
the payload, and back. The stored names are derived from the update's names, so the decoder
knows exactly which tensors, shapes and dtypes to demand before it reads a single value:

- ``none``: each tensor as it is.
- ``fp16``: each tensor as float16 (half the bytes; ~3 significant digits).
- ``int8``: each tensor as int8 with one float32 scale per tensor (max |x| / 127), the scales
  stored together in ``__scales__`` in name order (a quarter of the bytes). Given an
  :class:`ErrorFeedback`, the rounding error of one round is added to the next update, so
  rounding errors do not pile up in the global model.
- ``topk``: per tensor, the ``fraction`` of entries largest in magnitude as flat int32 indices
  (``<name>::indices``, strictly increasing) and their float32 values (``<name>::values``).
  What is not sent is kept in an :class:`ErrorFeedback` the site holds across rounds and added
  to the next update, so small coordinates are delayed rather than lost (Stich et al., 2018,
  "Sparsified SGD with Memory").
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from smartfed.wire.errors import WireError

SCALES = "__scales__"
INDICES = "::indices"
VALUES = "::values"
INT8_LEVELS = 127

Spec = dict[str, tuple[tuple[int, ...], str]]


@dataclass
class ErrorFeedback:
    """What top-k or int8 left out of earlier updates, by tensor name; one per site, kept.

    ``fraction`` is the share of entries top-k sends; int8 ignores it.
    """

    fraction: float = 0.1
    residual: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not 0 < self.fraction <= 1:
            raise WireError(
                f"top-k fraction is {self.fraction}; it must be in (0, 1], e.g. 0.1 for 10%"
            )

    def keep(self, numel: int) -> int:
        return max(1, math.ceil(self.fraction * numel))


def check_name(name: str) -> None:
    if not name or name.startswith("__") or "::" in name:
        raise WireError(
            f"tensor name {name!r} is reserved by the wire format; names must be non-empty, "
            "must not start with '__' and must not contain '::'"
        )


def stored_spec(expected: Spec, compression: str) -> Spec:
    """The tensors a payload of ``expected`` tensors must hold under ``compression``.

    For top-k the indices and values have a length only the sender knows, so their shape is
    given as ``(-1,)`` and checked separately against the tensor's size.
    """
    names = sorted(expected)
    if compression == "none":
        return dict(expected)
    for name in names:
        if expected[name][1] != "float32":
            raise WireError(
                f"tensor {name!r} is {expected[name][1]}; compression {compression!r} applies only "
                "to float32 tensors; send it with compression 'none'"
            )
    if compression == "fp16":
        return {name: (expected[name][0], "float16") for name in names}
    if compression == "int8":
        spec: Spec = {name: (expected[name][0], "int8") for name in names}
        spec[SCALES] = ((len(names),), "float32")
        return spec
    spec = {}
    for name in names:
        spec[name + INDICES] = ((-1,), "int32")
        spec[name + VALUES] = ((-1,), "float32")
    return spec


def compress(
    tensors: dict[str, np.ndarray], compression: str, feedback: ErrorFeedback | None
) -> dict[str, np.ndarray]:
    names = sorted(tensors)
    if compression == "none":
        return {name: np.ascontiguousarray(tensors[name]) for name in names}
    if compression == "fp16":
        return {name: tensors[name].astype(np.float16) for name in names}
    if compression == "int8":
        stored: dict[str, np.ndarray] = {}
        scales = np.zeros(len(names), np.float32)
        for i, name in enumerate(names):
            values = tensors[name].astype(np.float32)
            if feedback is not None:
                values = values + feedback.residual.get(name, 0.0)
            peak = float(np.max(np.abs(values))) if values.size else 0.0
            scales[i] = peak / INT8_LEVELS
            if scales[i] > 0:
                quantized = np.rint(values / scales[i])
            else:
                quantized = np.zeros(values.shape)
            stored[name] = np.clip(quantized, -INT8_LEVELS, INT8_LEVELS).astype(np.int8)
            if feedback is not None:
                feedback.residual[name] = values - stored[name].astype(np.float32) * scales[i]
        stored[SCALES] = scales
        return stored
    if feedback is None:
        raise WireError(
            "compression 'topk' needs an ErrorFeedback that the site keeps between rounds; "
            "pass error_feedback=ErrorFeedback(fraction=...)"
        )
    stored = {}
    for name in names:
        flat = tensors[name].astype(np.float32).ravel()
        if flat.size >= 2**31:
            raise WireError(
                f"tensor {name!r} has {flat.size} entries; top-k indices are int32, so at most "
                "2^31 - 1"
            )
        corrected = flat + feedback.residual.get(name, 0.0)
        keep = feedback.keep(flat.size)
        chosen = np.sort(np.argpartition(np.abs(corrected), flat.size - keep)[flat.size - keep :])
        stored[name + INDICES] = chosen.astype(np.int32)
        stored[name + VALUES] = corrected[chosen].astype(np.float32)
        corrected[chosen] = 0.0
        feedback.residual[name] = corrected
    return stored


def check_topk(name: str, indices: np.ndarray, values: np.ndarray, numel: int) -> None:
    """Refuse sparse parts that could not have come from :func:`compress`."""
    if indices.ndim != 1 or values.shape != indices.shape:
        raise WireError(
            f"tensor {name!r}: top-k indices have shape {indices.shape} and values {values.shape}; "
            "both must be 1-D and of the same length"
        )
    if not 1 <= indices.size <= numel:
        raise WireError(
            f"tensor {name!r}: {indices.size} top-k entries for a tensor of {numel}; expected 1 to "
            f"{numel}"
        )
    if indices[0] < 0 or indices[-1] >= numel or np.any(np.diff(indices) <= 0):
        raise WireError(
            f"tensor {name!r}: top-k indices must be strictly increasing and within [0, {numel}); "
            "the payload is malformed"
        )


def decompress(
    stored: dict[str, np.ndarray], expected: Spec, compression: str
) -> dict[str, np.ndarray]:
    names = sorted(expected)
    if compression == "none":
        return {name: np.array(stored[name]) for name in names}
    if compression == "fp16":
        return {name: stored[name].astype(np.float32) for name in names}
    if compression == "int8":
        scales = stored[SCALES]
        if np.any(scales < 0):
            raise WireError(
                f"int8 scales {scales.tolist()} include a negative value; scales are max |x| / 127 "
                ">= 0"
            )
        return {name: stored[name].astype(np.float32) * scales[i] for i, name in enumerate(names)}
    dense = {}
    for name in names:
        shape = expected[name][0]
        numel = math.prod(shape)
        indices, values = stored[name + INDICES], stored[name + VALUES]
        check_topk(name, indices, values, numel)
        flat = np.zeros(numel, np.float32)
        flat[indices] = values
        dense[name] = flat.reshape(shape)
    return dense
