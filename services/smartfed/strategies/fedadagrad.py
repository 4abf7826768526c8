"""FedAdagrad: Adagrad on the server, over the round's mean delta.

Sashank J. Reddi, Zachary Charles, Manzil Zaheer, Zachary Garrett, Keith Rush, Jakub Konečný,
Sanjiv Kumar, H. Brendan McMahan, "Adaptive Federated Optimization", ICLR 2021.

v_t = v_{t-1} + delta_t ** 2: the sum of all squared deltas, so the step of every weight only
shrinks over the federation; there is no beta2. The first step is about (1 - beta1) * eta per
weight, ten times smaller than FedAdam's, hence eta = 0.1 by default (see ``_fedopt``).
"""

from __future__ import annotations

import numpy as np

from smartfed.strategies._fedopt import FedOpt


class FedAdagrad(FedOpt):
    name = "fedadagrad"

    def __init__(self, *, eta: float = 0.1, beta1: float = 0.9, tau: float = 1e-3) -> None:
        super().__init__(eta=eta, beta1=beta1, tau=tau)

    def _update_second_moment(self, v: np.ndarray, delta_sq: np.ndarray) -> None:
        v += delta_sq
