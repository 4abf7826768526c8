"""What the aggregator asks of a strategy: new global weights from the round's updates.

Weights travel as one flat float32 vector per model (the order is fixed by the model's
``state_dict``), and an update is a *delta*: the site's weights after local training minus the
global weights it started from. Strategies that only need the weighted sum of the deltas are
``sum_based``: those are the ones secure aggregation can serve, because it reveals nothing but
that sum.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

import numpy as np


class StrategyError(ValueError):
    """The round's updates cannot be aggregated by this strategy (too few, wrong shape)."""


class Strategy(ABC):
    name: ClassVar[str]
    sum_based: ClassVar[bool] = False

    def client_config(self) -> dict[str, float]:
        """Extra settings sent to every site with the round (FedProx's proximal term)."""
        return {}

    @abstractmethod
    def aggregate(self, current: np.ndarray, deltas: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """New global weights from ``current`` (D,), ``deltas`` (K, D) and ``weights`` (K,).

        ``weights`` are the sites' example counts; robust strategies may ignore them.
        """


class SumStrategy(Strategy):
    """A strategy that needs only the example-weighted mean of the deltas."""

    sum_based = True

    def aggregate(self, current: np.ndarray, deltas: np.ndarray, weights: np.ndarray) -> np.ndarray:
        check_updates(current, deltas, weights, minimum=1, strategy=self.name)
        total = float(weights.sum())

        # The sum runs in float32 as one BLAS matrix-vector product: it streams the (K, D)
        # deltas once, at memory-copy speed, with no float64 copy of the matrix (which would
        # triple the bytes touched). Each output is a K-term float32 dot product, so its
        # rounding error is at most about K * 2**-24 of sum_k |w_k * delta_k| (6e-6 for 100
        # sites): far below the noise differential privacy adds and the wire layer's
        # quantization. Example counts are exact in float32 up to 2**24 per site.
        weighted_sum = weights.astype(np.float32) @ np.asarray(deltas, dtype=np.float32)
        return self.apply_sum(current, weighted_sum, total)

    def apply_sum(
        self, current: np.ndarray, weighted_sum: np.ndarray, total_weight: float
    ) -> np.ndarray:
        """Step from the weighted delta sum; the path secure aggregation takes."""
        if total_weight <= 0:
            raise StrategyError(
                f"total example weight is {total_weight}; at least one site must report examples"
            )
        return self.apply_mean_delta(current, weighted_sum / np.float32(total_weight))

    @abstractmethod
    def apply_mean_delta(self, current: np.ndarray, mean_delta: np.ndarray) -> np.ndarray:
        """New global weights from the example-weighted mean delta."""


def check_updates(
    current: np.ndarray,
    deltas: np.ndarray,
    weights: np.ndarray,
    minimum: int,
    strategy: str = "this strategy",
) -> None:
    """Refuse a round whose arrays do not line up, before any arithmetic hides the mistake."""
    if current.ndim != 1:
        raise StrategyError(
            f"current weights have shape {current.shape}; expected a flat vector (D,): "
            "flatten the model's state_dict in its fixed order"
        )
    if deltas.ndim != 2 or deltas.shape[1] != current.shape[0]:
        raise StrategyError(
            f"updates have shape {deltas.shape}; expected (sites, {current.shape[0]}) to match the model"
        )
    if weights.shape != (deltas.shape[0],):
        raise StrategyError(
            f"weights have shape {weights.shape} for {deltas.shape[0]} updates; "
            "expected one example count per update"
        )
    if deltas.shape[0] < minimum:
        raise StrategyError(f"{deltas.shape[0]} updates; {strategy} needs at least {minimum}")
    if weights.size and float(weights.min()) < 0:
        raise StrategyError(
            f"weight {weights.min()} at update {int(weights.argmin())} is negative; "
            "weights are example counts and must be >= 0"
        )
