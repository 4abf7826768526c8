"""Coordinate-wise median of the deltas: every weight moves by the median of the sites' deltas.

Dong Yin, Yudong Chen, Kannan Ramchandran, Peter Bartlett, "Byzantine-Robust Distributed
Learning: Towards Optimal Statistical Rates", ICML 2018.

One site, or any minority of sites, cannot drag a coordinate beyond the range of the honest
values, whatever it sends. Example counts are ignored on purpose: a byzantine site could claim
any count. With an even number of updates the median is the mean of the two middle values.
"""

from __future__ import annotations

import numpy as np

from smartfed.strategies._order_statistics import mean_of_ranks
from smartfed.strategies.base import Strategy, check_updates


class Median(Strategy):
    name = "median"

    def aggregate(self, current: np.ndarray, deltas: np.ndarray, weights: np.ndarray) -> np.ndarray:
        check_updates(current, deltas, weights, minimum=1, strategy=self.name)
        sites = deltas.shape[0]
        return current + mean_of_ranks(deltas, (sites - 1) // 2, sites // 2)
