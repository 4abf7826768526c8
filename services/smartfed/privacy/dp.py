"""Client-level differential privacy for federated rounds (McMahan et al., 2018, DP-FedAvg).

What is protected is a whole site: its participation in a round changes the sum of updates by
at most ``clip_norm`` in L2 norm, because every update is clipped to that norm, and Gaussian
noise of standard deviation ``noise_multiplier * clip_norm`` on the sum hides that change.
The noise is added in one of two places:

- ``central``: the aggregator noises the (possibly securely aggregated) sum; sites must trust
  it to do so.
- ``distributed``: each of the ``n`` sampled sites adds noise of standard deviation
  ``noise_multiplier * clip_norm / sqrt(n)`` before masking, so the sum carries the central
  amount without any party adding it alone. Sites that drop out before uploading take their
  share of the noise with them, so the guarantee then holds for a smaller noise multiplier.

Accounting uses Opacus' RDP accountant: a round is one step of the subsampled Gaussian
mechanism at sampling rate ``q`` (the fraction of sites sampled). RDP amplification by
subsampling assumes each site joins a round independently with probability ``q``, which
:func:`poisson_sample` does; a fixed-size sample of the same expected size is reported with
the same ε as an approximation.
"""

from __future__ import annotations

import copy
import logging
import math
from dataclasses import dataclass

import numpy as np
from opacus.accountants import RDPAccountant
from opacus.accountants.utils import get_noise_multiplier

log = logging.getLogger(__name__)

PLACEMENTS = ("central", "distributed")


class BudgetExhausted(RuntimeError):
    """One more round would spend more privacy budget than the federation was given."""

    reason = "BudgetExhausted"


@dataclass(frozen=True)
class DPConfig:
    """A federation's privacy budget and how it is spent.

    ``clip_norm``: L2 bound on each site's update; deltas of one local epoch of the detectors
    are mostly below 1, so 1.0 clips only the outliers.
    ``noise_multiplier``: ``None`` means the smallest that spends at most the budget over
    ``rounds`` rounds, from :func:`noise_multiplier_for`.
    """

    epsilon: float
    delta: float
    clip_norm: float = 1.0
    placement: str = "central"
    noise_multiplier: float | None = None

    def __post_init__(self) -> None:
        if not self.epsilon > 0:
            raise ValueError(f"--dp-epsilon is {self.epsilon}; it must be > 0, e.g. 8")
        if not 0 < self.delta < 1:
            raise ValueError(
                f"--dp-delta is {self.delta}; it must be in (0, 1), below 1 / sites, e.g. 1e-5"
            )
        if not self.clip_norm > 0:
            raise ValueError(f"clip norm is {self.clip_norm}; it must be > 0")
        if self.placement not in PLACEMENTS:
            raise ValueError(
                f"DP placement is {self.placement!r}; choose one of {list(PLACEMENTS)}"
            )


def noise_multiplier_for(epsilon: float, delta: float, sample_rate: float, rounds: int) -> float:
    """The noise multiplier that spends at most ``(epsilon, delta)`` over ``rounds`` rounds."""
    if not 0 < sample_rate <= 1:
        raise ValueError(f"sample rate is {sample_rate}; it must be in (0, 1]")
    if rounds < 1:
        raise ValueError(f"rounds is {rounds}; it must be at least 1")
    return float(
        get_noise_multiplier(
            target_epsilon=epsilon,
            target_delta=delta,
            sample_rate=sample_rate,
            steps=rounds,
            accountant="rdp",
        )
    )


def clip_update(update: np.ndarray, clip_norm: float) -> np.ndarray:
    """``update`` scaled down, if needed, to L2 norm ``clip_norm``."""
    norm = float(np.linalg.norm(update.astype(np.float64)))
    if norm <= clip_norm:
        return update.astype(np.float32)
    return (update * (clip_norm / norm)).astype(np.float32)


def central_noise(
    total: np.ndarray, noise_multiplier: float, clip_norm: float, rng: np.random.Generator
) -> np.ndarray:
    """The aggregator's noise on the sum of clipped updates."""
    return (total + rng.normal(0.0, noise_multiplier * clip_norm, total.shape)).astype(np.float32)


def site_noise(
    update: np.ndarray,
    noise_multiplier: float,
    clip_norm: float,
    sites: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """One site's share of the noise: ``sites`` such shares sum to the central noise."""
    if sites < 1:
        raise ValueError(f"sites is {sites}; distributed noise is split over at least one site")
    std = noise_multiplier * clip_norm / math.sqrt(sites)
    return (update + rng.normal(0.0, std, update.shape)).astype(np.float32)


def poisson_sample(sites: list[str], sample_rate: float, rng: np.random.Generator) -> list[str]:
    """Each site independently with probability ``sample_rate``: the sampling RDP assumes."""
    return [site for site in sites if rng.random() < sample_rate]


class PrivacyAccountant:
    """ε spent so far by a federation, and the check that stops it before the budget is gone.

    Every round is accounted at the same noise multiplier and sampling rate, so the ε after the
    next round is computed once and reused when that round is recorded.
    """

    def __init__(self, config: DPConfig, noise_multiplier: float, sample_rate: float) -> None:
        self.config = config
        self.noise_multiplier = noise_multiplier
        self.sample_rate = sample_rate
        self.rounds = 0
        self._accountant = RDPAccountant()
        self._epsilon = 0.0
        self._next_epsilon: float | None = None

    @property
    def epsilon(self) -> float:
        """ε spent so far at the configured δ (0 before the first round)."""
        return self._epsilon

    def epsilon_after_next(self) -> float:
        if self._next_epsilon is None:
            ahead = copy.deepcopy(self._accountant)
            ahead.step(noise_multiplier=self.noise_multiplier, sample_rate=self.sample_rate)
            self._next_epsilon = float(ahead.get_epsilon(self.config.delta))
        return self._next_epsilon

    def check_budget(self) -> None:
        """Raise :class:`BudgetExhausted` if the next round would spend more than the budget."""
        ahead = self.epsilon_after_next()
        if ahead > self.config.epsilon:
            raise BudgetExhausted(
                f"round {self.rounds + 1} would raise ε from {self.epsilon:.3f} to {ahead:.3f}, "
                f"above the budget of {self.config.epsilon} at δ={self.config.delta}; the "
                "federation stops here (raise --dp-epsilon or lower the rounds to train longer)"
            )

    def step(self) -> float:
        """Record one round at the sampling rate and noise; returns ε spent so far."""
        spent = self.epsilon_after_next()
        self._accountant.step(noise_multiplier=self.noise_multiplier, sample_rate=self.sample_rate)
        self.rounds += 1
        self._epsilon, self._next_epsilon = spent, None
        log.debug("privacy: %s rounds, ε=%.3f at δ=%s", self.rounds, spent, self.config.delta)
        return spent
