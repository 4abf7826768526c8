"""The ``fl.*`` attribute namespace shared by spans, span events and metrics.

Only the keys listed here may be set, and only to scalars: a span is exported to a backend
outside the site, so a list of readings must never reach one by accident. Add a key here, with
what it means, before a caller uses it.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping

NAMESPACE = "fl"

KEYS: dict[str, str] = {
    "federation": "federation name",
    "round": "server round number, from 1",
    "site": "site (building) id",
    "organization": "organization that owns the site",
    "strategy": "aggregation strategy name",
    "update_bytes": "size of one encoded model update",
    "epsilon": "differential-privacy epsilon spent so far",
    "model_version": "global model version in the registry",
    "task": "detection task: sensor or network",
    "worker": "index of the Ray worker actor hosting simulated sites",
    "sites_sampled": "sites asked to train this round",
    "sites_reported": "sites whose update arrived before the deadline",
    "sites_dropped": "sites that failed or missed the deadline",
    "num_examples": "training windows a site used this round",
    "reason": "why an update was rejected or a site dropped out",
    "waited_s": "how long the round waited for a straggler",
}

Scalar = str | bool | int | float


def fl_attributes(values: Mapping[str, object]) -> dict[str, Scalar]:
    """``{"round": 3}`` -> ``{"fl.round": 3}``, refusing unknown keys and non-scalar values."""
    attributes: dict[str, Scalar] = {}
    for key, value in values.items():
        if key not in KEYS:
            raise ValueError(
                f"telemetry attribute {key!r} is not in the fl.* namespace: use one of "
                f"{', '.join(KEYS)}, or add it to smartfed.telemetry._attributes.KEYS"
            )
        # numpy scalars (a loss, a count) are numbers but not Python ints and floats: the
        # exporters only take the latter.
        if isinstance(value, str | bool):
            pass
        elif isinstance(value, numbers.Integral):
            value = int(value)
        elif isinstance(value, numbers.Real):
            value = float(value)
        else:
            raise TypeError(
                f"telemetry attribute fl.{key} is a {type(value).__name__}: attributes take one "
                "str, bool, int or float; record a summary (a count, a size), never readings"
            )
        attributes[f"{NAMESPACE}.{key}"] = value
    return attributes
