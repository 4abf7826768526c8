"""Shortened simulated sites written as a CSV directory, for the round benchmarks.

The worker pool generates simulated sites at full length (weeks of readings each), which makes
a round of 100 or 1,000 sites take minutes. ``load_sites(scale=...)`` shortens them, but the
pool's data request has no scale; a directory of CSV files is a data source the pool reads as
it is, inside each worker, so the benchmark writes the shortened sites once and hands the pool
that directory. Both the pool and the plain loop then train on exactly the same readings.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from smartfed.data import load_sites

# Any fixed start works: only the gaps between timestamps matter to the reader.
_START_S = datetime(2026, 1, 1, tzinfo=UTC).timestamp()
# Consecutive segments are separated by more than twice the step, so the reader splits them again.
_SEGMENT_GAP_STEPS = 3


def write_sites(
    folder: Path, task: str, sites: int, organizations: int, seed: int, scale: float
) -> Path:
    """``folder/ORGANIZATION/SITE.csv`` for every site of the scenario; returns ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    for series in load_sites(task, "simulated", sites, organizations, seed, scale=scale):
        (folder / series.organization).mkdir(exist_ok=True)
        lines = [",".join(("timestamp", *series.features, "label"))]
        clock_s = _START_S
        for values, labels in zip(series.segments, series.labels, strict=True):
            times_s = clock_s + series.step_s * np.arange(len(values))
            for time_s, row, label in zip(times_s, values, labels, strict=True):
                stamp = datetime.fromtimestamp(time_s, UTC).isoformat()
                lines.append(",".join((stamp, *(f"{v:.6g}" for v in row), str(int(label)))))
            clock_s = times_s[-1] + _SEGMENT_GAP_STEPS * series.step_s if len(values) else clock_s
        (folder / series.organization / f"{series.site}.csv").write_text("\n".join(lines) + "\n")
    return folder
