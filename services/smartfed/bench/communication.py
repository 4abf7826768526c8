"""Bytes a site sends per round, for each update encoding, and what each encoding loses.

A site uploads its weight delta as one float32 vector encoded by ``smartfed.wire`` (safetensors
plus the JSON header), as the simulation's workers do; each round it also downloads the global
model. The error is the relative L2 distance between the delta and what the aggregator decodes;
for top-k it is the error of one round, before error feedback carries the rest into the next.
"""

from __future__ import annotations

import numpy as np

from smartfed.wire import ErrorFeedback, decode_update, encode_model, encode_update, spec_of

ENCODINGS = ("none", "fp16", "int8", "topk")
# What ``--compression`` calls ``none`` is the float32 payload the figures are compared with.
LABELS = {"none": "fp32", "fp16": "fp16", "int8": "int8", "topk": "topk"}
TOPK_FRACTION = 0.1
_MAX_BYTES = 2**30


def measure_communication(dim: int, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    delta = {"delta": rng.normal(0.0, 0.01, dim).astype(np.float32)}
    header = {"federation": "bench-wire", "round": 1, "site": "site-001"}
    upload: dict[str, dict[str, float]] = {}
    for encoding in ENCODINGS:
        feedback = ErrorFeedback(TOPK_FRACTION) if encoding == "topk" else None
        payload = encode_update(delta, header, encoding, error_feedback=feedback)
        decoded, _ = decode_update(payload, spec_of(delta), _MAX_BYTES)
        error = np.linalg.norm(decoded["delta"] - delta["delta"]) / np.linalg.norm(delta["delta"])
        upload[LABELS[encoding]] = {"bytes": len(payload), "relative_error": float(error)}
    for figures in upload.values():
        figures["vs_fp32"] = figures["bytes"] / upload["fp32"]["bytes"]
    model_bytes = len(encode_model({"weights": delta["delta"]}, federation="bench-wire", round=1))
    return {
        "parameters": dim,
        "topk_fraction": TOPK_FRACTION,
        "upload_bytes_per_site_per_round": upload,
        "download_bytes_per_site_per_round": model_bytes,
    }
