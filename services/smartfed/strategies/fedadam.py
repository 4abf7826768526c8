"""FedAdam: Adam on the server, over the round's mean delta.

Sashank J. Reddi, Zachary Charles, Manzil Zaheer, Zachary Garrett, Keith Rush, Jakub Konečný,
Sanjiv Kumar, H. Brendan McMahan, "Adaptive Federated Optimization", ICLR 2021.

v_t = beta2 * v_{t-1} + (1 - beta2) * delta_t ** 2: an exponential average, so a weight's step
adapts to the recent size of its deltas. Once (1 - beta2) * delta ** 2 dominates tau ** 2 the
first step is about eta per weight, hence eta = 0.01 by default (see ``_fedopt`` for the rest).
"""

from __future__ import annotations

import numpy as np

from smartfed.strategies._fedopt import FedOpt, check_decay


class FedAdam(FedOpt):
    name = "fedadam"

    def __init__(
        self, *, eta: float = 0.01, beta1: float = 0.9, beta2: float = 0.99, tau: float = 1e-3
    ) -> None:
        super().__init__(eta=eta, beta1=beta1, tau=tau)
        self.beta2 = check_decay("beta2", beta2, paper_value=0.99)

    def _update_second_moment(self, v: np.ndarray, delta_sq: np.ndarray) -> None:
        v *= np.float32(self.beta2)
        delta_sq *= np.float32(1 - self.beta2)
        v += delta_sq
