"""Federated Averaging: step the global model by the example-weighted mean of the deltas.

H. Brendan McMahan, Eider Moore, Daniel Ramage, Seth Hampson, Blaise Agüera y Arcas,
"Communication-Efficient Learning of Deep Networks from Decentralized Data", AISTATS 2017.

The paper replaces the global model by the weighted mean of the sites' models, which is a step of
size 1 along the mean delta. ``server_lr`` scales that step (Reddi et al., ICLR 2021, write FedAvg
this way, as server SGD on the mean delta): below 1 it damps rounds in which the sites disagree.
"""

from __future__ import annotations

import numpy as np

from smartfed.strategies.base import SumStrategy


class FedAvg(SumStrategy):
    name = "fedavg"

    def __init__(self, *, server_lr: float = 1.0) -> None:
        if not server_lr > 0:
            raise ValueError(
                f"server_lr is {server_lr}; it must be > 0 (1.0 is the paper's FedAvg)"
            )
        self.server_lr = float(server_lr)

    def apply_mean_delta(self, current: np.ndarray, mean_delta: np.ndarray) -> np.ndarray:
        if self.server_lr == 1.0:
            return current + mean_delta
        step = mean_delta * np.float32(self.server_lr)
        step += current
        return step
