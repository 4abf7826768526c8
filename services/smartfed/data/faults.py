"""Labelled data-quality faults injected into sensor series, as they occur in real buildings.

Every kind changes either the values or their short-term variability, the two things a
window-based detector can see:

================== ============================================================ =========
kind               what the sensor does                                         how long
================== ============================================================ =========
stuck_at           repeats the reading it had when the fault began (frozen      2-12 h
                   firmware), while the true value moves on
drift              a growing error, from a quarter to all of 2-4 fault scales   4 h-1 day
spike              readings 3-6 fault scales away (EMI, a corrupted packet)     1-3 steps
dropout            reads 0: one sensor unplugged, or (feature ``None``) the     30 min-4 h
                   whole zone's gateway offline and its rows zero-filled
calibration_offset a constant error of 1.5-3 fault scales (a botched            2-12 h
                   recalibration)
noise_burst        extra noise of 0.75-1.5 fault scales (a loose wire, a        30 min-3 h
                   failing supply)
out_of_range       physically impossible readings: negative lux, 120 % RH,      10 min-1 h
                   85 degC (a DS18B20's power-on value), 255 people (a
                   saturated 8-bit counter)
================== ============================================================ =========

A *fault scale* is the larger of the feature's standard deviation in that segment and a floor
per feature (1.5 degC, 4 %RH, 150 ppm, ...), so a fault is always many times the sensor noise
yet still of the size a real one has. Train rows are contaminated like the rest: the
injection runs over the whole series before any split. Lengths are given in seconds and
converted to rows for the series' own step (a spike is at least one row).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from smartfed.data.placement import place_episodes
from smartfed.data.series import Episode

FAULT_KINDS: tuple[str, ...] = (
    "stuck_at",
    "drift",
    "spike",
    "dropout",
    "calibration_offset",
    "noise_burst",
    "out_of_range",
)

_LENGTH_S: dict[str, tuple[int, int]] = {
    "stuck_at": (2 * 3_600, 12 * 3_600),
    "drift": (4 * 3_600, 24 * 3_600),
    "spike": (300, 900),
    "dropout": (1_800, 4 * 3_600),
    "calibration_offset": (2 * 3_600, 12 * 3_600),
    "noise_burst": (1_800, 3 * 3_600),
    "out_of_range": (600, 3_600),
}

# A dropout takes the whole zone offline this often; otherwise a single sensor reads zero.
_GAP_SHARE = 0.4


@dataclass(frozen=True)
class SensorSpec:
    """What faults may look like on one feature column.

    ``min_fault_scale`` is the floor of the fault scale; ``impossible`` lists ranges of
    readings the quantity cannot take, from which out-of-range values are drawn;
    ``kinds`` are the faults this sensor suffers (an occupancy counter cannot be seen to
    stick at night, when zero people is what it should read anyway).
    """

    name: str
    min_fault_scale: float
    impossible: tuple[tuple[float, float], ...]
    nonnegative: bool = True
    kinds: frozenset[str] = frozenset(FAULT_KINDS)


def inject_faults(
    rng: np.random.Generator,
    segments: Sequence[np.ndarray],
    specs: Sequence[SensorSpec],
    rate: float,
    step_s: int,
) -> tuple[list[np.ndarray], list[np.ndarray], list[Episode]]:
    """Faulty copies of ``segments``, their 0/1 labels and the episodes, covering ~``rate`` of rows."""
    faulty = [np.array(s, dtype=np.float64) for s in segments]
    labels = [np.zeros(len(s), dtype=np.int8) for s in segments]
    scales = [np.maximum([spec.min_fault_scale for spec in specs], s.std(axis=0)) for s in faulty]
    length_rows = {
        kind: (max(1, lo // step_s), max(1, hi // step_s)) for kind, (lo, hi) in _LENGTH_S.items()
    }

    episodes: list[Episode] = []
    for slot in place_episodes(rng, length_rows, [len(s) for s in faulty], rate):
        feature = _pick_feature(rng, slot.kind, specs)
        values = faulty[slot.segment]
        rows = slice(slot.start, slot.stop)
        if feature is None:
            values[rows, :] = 0.0
        else:
            spec = specs[feature]
            values[rows, feature] = _faulty_column(
                rng, slot.kind, values[rows, feature], scales[slot.segment][feature], spec
            )
        labels[slot.segment][rows] = 1
        episodes.append(
            Episode(
                slot.kind,
                slot.segment,
                slot.start,
                slot.stop,
                None if feature is None else specs[feature].name,
            )
        )
    return faulty, labels, episodes


def _pick_feature(rng: np.random.Generator, kind: str, specs: Sequence[SensorSpec]) -> int | None:
    if kind == "dropout" and rng.random() < _GAP_SHARE:
        return None
    allowed = [i for i, spec in enumerate(specs) if kind in spec.kinds]
    return int(rng.choice(allowed))


def _faulty_column(
    rng: np.random.Generator, kind: str, clean: np.ndarray, scale: float, spec: SensorSpec
) -> np.ndarray:
    rows = len(clean)
    sign = 1.0 if spec.nonnegative else rng.choice([-1.0, 1.0])
    match kind:
        case "stuck_at":
            out = np.full(rows, clean[0])
        case "drift":
            out = clean + sign * rng.uniform(2.0, 4.0) * scale * np.linspace(0.25, 1.0, rows)
        case "spike":
            out = clean + sign * rng.uniform(3.0, 6.0, rows) * scale
        case "dropout":
            out = np.zeros(rows)
        case "calibration_offset":
            out = clean + sign * rng.uniform(1.5, 3.0) * scale
        case "noise_burst":
            out = clean + rng.normal(0.0, rng.uniform(0.75, 1.5) * scale, rows)
        case "out_of_range":
            low, high = spec.impossible[int(rng.integers(len(spec.impossible)))]
            level = rng.uniform(low, high)
            out = np.clip(level + rng.normal(0.0, 0.02 * (high - low), rows), low, high)
        case _:
            raise ValueError(f"unknown fault kind {kind!r}; known kinds: {', '.join(FAULT_KINDS)}")
    if spec.nonnegative and kind not in ("out_of_range",):
        out = np.maximum(out, 0.0)
    return out
