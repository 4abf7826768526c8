"""The one shape every data source hands to the federation: a site's labelled time series."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Episode:
    """One injected fault or attack: rows ``start`` to ``stop`` (exclusive) of one segment."""

    kind: str
    segment: int
    start: int
    stop: int
    feature: str | None = None


@dataclass
class SiteSeries:
    """All readings of one site, split into segments that share the feature columns.

    A segment is one continuous series: a zone of a building (sensor task) or one device's
    flow-window features (network task). ``labels[i][t]`` is 1 where row ``t`` of segment ``i``
    is anomalous. Rows are in time order, so a split by row index is a split in time.
    """

    site: str
    organization: str
    task: str
    features: tuple[str, ...]
    segments: list[np.ndarray]
    labels: list[np.ndarray]
    episodes: list[Episode] = field(default_factory=list)
    profile: dict[str, object] = field(default_factory=dict)
    step_s: int = 300

    def __post_init__(self) -> None:
        if len(self.segments) != len(self.labels):
            raise ValueError(
                f"site {self.site}: {len(self.segments)} segments but {len(self.labels)} label arrays"
            )
        for i, (values, labels) in enumerate(zip(self.segments, self.labels)):
            if values.ndim != 2 or values.shape[1] != len(self.features):
                raise ValueError(
                    f"site {self.site} segment {i}: shape {values.shape}, "
                    f"expected (rows, {len(self.features)})"
                )
            if labels.shape != (values.shape[0],):
                raise ValueError(
                    f"site {self.site} segment {i}: {labels.shape[0]} labels for {values.shape[0]} rows"
                )

    @property
    def rows(self) -> int:
        return sum(len(s) for s in self.segments)
