"""Coordinate-wise trimmed mean: per weight, drop the largest and smallest deltas, average the rest.

Dong Yin, Yudong Chen, Kannan Ramchandran, Peter Bartlett, "Byzantine-Robust Distributed
Learning: Towards Optimal Statistical Rates", ICML 2018.

With K updates and trim fraction beta, floor(beta * K) values are dropped at each end of every
coordinate, so up to that many byzantine sites cannot move it beyond the honest range, while the
remaining values are averaged (less noisy than the median). The default beta = 0.1 tolerates one
bad site in ten. Example counts are ignored, as for the median: a byzantine site could claim any.
"""

from __future__ import annotations

import logging
import math

import numpy as np

from smartfed.strategies._order_statistics import mean_of_ranks
from smartfed.strategies.base import Strategy, check_updates

log = logging.getLogger(__name__)


class TrimmedMean(Strategy):
    name = "trimmed_mean"

    def __init__(self, *, trim_fraction: float = 0.1) -> None:
        if not 0 <= trim_fraction < 0.5:
            raise ValueError(
                f"trim_fraction is {trim_fraction}; it must lie in [0, 0.5) because it is trimmed "
                "at both ends, and 0.5 or more would trim every update (use median instead)"
            )
        self.trim_fraction = float(trim_fraction)

    def aggregate(self, current: np.ndarray, deltas: np.ndarray, weights: np.ndarray) -> np.ndarray:
        check_updates(current, deltas, weights, minimum=1, strategy=self.name)
        sites = deltas.shape[0]
        trimmed = math.floor(self.trim_fraction * sites)
        if trimmed == 0 and self.trim_fraction > 0:
            log.warning(
                "trimmed mean drops no update of %s (trim_fraction=%s): this round is a plain "
                "mean; it needs %s or more updates to drop one at each end",
                sites,
                self.trim_fraction,
                math.ceil(1 / self.trim_fraction),
            )
        return current + mean_of_ranks(deltas, trimmed, sites - 1 - trimmed)
