"""From a site's series to model inputs: a split in time, global normalisation, sliding windows.

Each segment is cut at the same fractions of its rows, so training always precedes validation
and validation precedes test. A window is labelled anomalous when any of its rows is: the
detector answers "did something go wrong in the last ``window`` readings?".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from smartfed.data.series import SiteSeries

SPLITS = ("train", "val", "test")
DEFAULT_FRACTIONS = (0.6, 0.2, 0.2)


@dataclass(frozen=True)
class Windows:
    x: np.ndarray  # (windows, window, features) float32
    y: np.ndarray  # (windows,) int8

    def __len__(self) -> int:
        return int(self.y.shape[0])


def split_in_time(
    series: SiteSeries, fractions: tuple[float, float, float] = DEFAULT_FRACTIONS
) -> dict[str, list[tuple[np.ndarray, np.ndarray]]]:
    """Per split, the (values, labels) pieces of every segment."""
    if abs(sum(fractions) - 1.0) > 1e-9:
        raise ValueError(f"split fractions {fractions} must add up to 1")
    pieces: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {name: [] for name in SPLITS}
    for values, labels in zip(series.segments, series.labels):
        rows = len(values)
        cuts = [0, int(rows * fractions[0]), int(rows * (fractions[0] + fractions[1])), rows]
        for name, start, stop in zip(SPLITS, cuts[:-1], cuts[1:]):
            pieces[name].append((values[start:stop], labels[start:stop]))
    return pieces


def normalization_sums(pieces: list[tuple[np.ndarray, np.ndarray]], n_features: int) -> np.ndarray:
    """(3, features): row count, sum and sum of squares; what a site shares for normalisation."""
    sums = np.zeros((3, n_features), dtype=np.float64)
    for values, _ in pieces:
        v = values.astype(np.float64)
        sums[0] += len(v)
        sums[1] += v.sum(axis=0)
        sums[2] += (v * v).sum(axis=0)
    return sums


def mean_std_from_sums(total: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    count = np.maximum(total[0], 1.0)
    mean = total[1] / count
    variance = np.maximum(total[2] / count - mean * mean, 0.0)
    # A constant feature would divide by zero; std 1 leaves it centred and unscaled.
    std = np.where(variance > 1e-12, np.sqrt(variance), 1.0)
    return mean.astype(np.float32), std.astype(np.float32)


def make_windows(
    pieces: list[tuple[np.ndarray, np.ndarray]],
    window: int,
    mean: np.ndarray,
    std: np.ndarray,
) -> Windows:
    xs, ys = [], []
    for values, labels in pieces:
        if len(values) < window:
            continue
        normalised = ((values - mean) / std).astype(np.float32)
        # sliding_window_view puts the window axis last: (n, features, window) -> (n, window, features)
        xs.append(sliding_window_view(normalised, window, axis=0).transpose(0, 2, 1))
        ys.append(sliding_window_view(labels, window).max(axis=1).astype(np.int8))
    if not xs:
        n_features = len(mean)
        return Windows(np.zeros((0, window, n_features), np.float32), np.zeros(0, np.int8))
    return Windows(np.ascontiguousarray(np.concatenate(xs)), np.concatenate(ys))
