"""The server optimizer the FedOpt family shares; each member only differs in its second moment.

Sashank J. Reddi, Zachary Charles, Manzil Zaheer, Zachary Garrett, Keith Rush, Jakub Konečný,
Sanjiv Kumar, H. Brendan McMahan, "Adaptive Federated Optimization", ICLR 2021 (Algorithm 2).

The mean delta of a round acts as a pseudo-gradient (a descent direction the sites found), and
the server steps along it with an adaptive optimizer::

    m_t = beta1 * m_{t-1} + (1 - beta1) * delta_t          (m_{-1} = 0)
    v_t = second_moment(v_{t-1}, delta_t ** 2)              (v_{-1} = tau ** 2)
    x_{t+1} = x_t + eta * m_t / (sqrt(v_t) + tau)

without the bias correction of Adam, as in the paper. The state (m, v) lives in the strategy
object, so one instance serves one model for the whole federation.

Defaults: beta1 = 0.9 and beta2 = 0.99 (FedAdam, FedYogi) are the values the paper fixes in all
its experiments. The paper tunes eta and tau per task on log grids; tau = 1e-3 is a
mid-grid value that keeps the step bounded for weights whose deltas are near zero. The default eta of each member is chosen so that its first round moves every
weight whose delta is well above tau by about 0.01.
"""

from __future__ import annotations

from abc import abstractmethod

import numpy as np

from smartfed.strategies.base import StrategyError, SumStrategy


class FedOpt(SumStrategy):
    """Adaptive server optimizer over the mean delta; subclasses define ``_update_second_moment``."""

    def __init__(self, *, eta: float, beta1: float, tau: float) -> None:
        if not eta > 0:
            raise ValueError(f"eta is {eta}; the server learning rate must be > 0")
        if not tau > 0:
            raise ValueError(f"tau is {tau}; the adaptivity must be > 0 (1e-3 by default)")
        self.eta = float(eta)
        self.beta1 = check_decay("beta1", beta1, paper_value=0.9)
        self.tau = float(tau)
        self._first_moment: np.ndarray | None = None
        self._second_moment: np.ndarray | None = None

    def apply_mean_delta(self, current: np.ndarray, mean_delta: np.ndarray) -> np.ndarray:
        m, v = self._moments(current.shape[0])

        # In-place float32 updates of the state: the step needs a few vectors of the model's
        # size, and ``mean_delta`` (which may belong to the caller) is only read.
        m *= np.float32(self.beta1)
        m += np.float32(1 - self.beta1) * mean_delta
        self._update_second_moment(v, np.square(mean_delta))

        step = np.sqrt(v)
        step += np.float32(self.tau)
        np.divide(m, step, out=step)
        step *= np.float32(self.eta)
        step += current
        return step

    def _moments(self, dim: int) -> tuple[np.ndarray, np.ndarray]:
        if self._first_moment is None or self._second_moment is None:
            self._first_moment = np.zeros(dim, dtype=np.float32)
            self._second_moment = np.full(dim, self.tau**2, dtype=np.float32)
        elif self._first_moment.shape[0] != dim:
            raise StrategyError(
                f"{self.name} holds optimizer state for {self._first_moment.shape[0]} weights but "
                f"the model has {dim}; one strategy instance serves one model: create a new one"
            )
        return self._first_moment, self._second_moment

    @abstractmethod
    def _update_second_moment(self, v: np.ndarray, delta_sq: np.ndarray) -> None:
        """Turn v_{t-1} into v_t in place, given the squared mean delta."""


def check_decay(option: str, value: float, paper_value: float) -> float:
    """A moment decay rate must lie in [0, 1); anything else makes the moments diverge."""
    if not 0 <= value < 1:
        raise ValueError(
            f"{option} is {value}; it must lie in [0, 1) (the paper uses {paper_value})"
        )
    return float(value)
