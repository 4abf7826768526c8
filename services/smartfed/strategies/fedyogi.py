"""FedYogi: Yogi on the server, over the round's mean delta.

Sashank J. Reddi, Zachary Charles, Manzil Zaheer, Zachary Garrett, Keith Rush, Jakub Konečný,
Sanjiv Kumar, H. Brendan McMahan, "Adaptive Federated Optimization", ICLR 2021.

v_t = v_{t-1} - (1 - beta2) * delta_t ** 2 * sign(v_{t-1} - delta_t ** 2): v moves towards
delta ** 2 by a step proportional to delta ** 2 rather than to v, so it grows as fast as Adam's
but shrinks slowly after one large round, which keeps the effective learning rate from jumping
when sites' deltas vary between rounds. Its first step equals FedAdam's, hence the same
eta = 0.01 (see ``_fedopt`` for the rest).
"""

from __future__ import annotations

import numpy as np

from smartfed.strategies._fedopt import FedOpt, check_decay


class FedYogi(FedOpt):
    name = "fedyogi"

    def __init__(
        self, *, eta: float = 0.01, beta1: float = 0.9, beta2: float = 0.99, tau: float = 1e-3
    ) -> None:
        super().__init__(eta=eta, beta1=beta1, tau=tau)
        self.beta2 = check_decay("beta2", beta2, paper_value=0.99)

    def _update_second_moment(self, v: np.ndarray, delta_sq: np.ndarray) -> None:
        direction = np.sign(v - delta_sq)
        direction *= delta_sq
        direction *= np.float32(1 - self.beta2)
        v -= direction
