"""The aggregator's round state machine, independent of how sites are reached.

sample -> dispatch -> collect (until every sampled site answered, or the deadline) -> check the
quorum -> aggregate -> publish. The transport (Ray actors, HTTPS) lives in the runner; this class
decides who takes part, what counts and what the new global model is.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum

import numpy as np

from smartfed.federation.client import FitResult
from smartfed.strategies.base import Strategy

log = logging.getLogger(__name__)


class RoundPhase(str, Enum):
    SAMPLING = "Sampling"
    COLLECTING = "Collecting"
    AGGREGATED = "Aggregated"
    FAILED = "Failed"


class RoundFailed(RuntimeError):
    """A round could not produce a model; ``reason`` is a typed cause such as ``QuorumNotMet``."""

    def __init__(self, round_number: int, reason: str, message: str) -> None:
        super().__init__(f"round {round_number} failed ({reason}): {message}")
        self.round = round_number
        self.reason = reason


@dataclass(frozen=True)
class SamplingPolicy:
    """Which sites a round asks: a fraction of all, never fewer than ``min_sites``.

    ``min_sites`` is also the quorum: a round needs that many updates before its deadline.
    """

    sample_fraction: float = 1.0
    min_sites: int = 2

    def __post_init__(self) -> None:
        if not 0.0 < self.sample_fraction <= 1.0:
            raise ValueError(f"sample fraction {self.sample_fraction} must be in (0, 1]")
        if self.min_sites < 1:
            raise ValueError(f"min sites {self.min_sites} must be at least 1")


@dataclass
class RoundState:
    round: int
    sampled: list[str]
    phase: RoundPhase = RoundPhase.SAMPLING
    results: list[FitResult] = field(default_factory=list)
    stragglers: list[str] = field(default_factory=list)
    rejected: dict[str, str] = field(default_factory=dict)

    @property
    def reported(self) -> list[str]:
        return [r.site for r in self.results]


class Aggregator:
    def __init__(
        self,
        strategy: Strategy,
        sites: dict[str, str],
        policy: SamplingPolicy,
        initial_weights: np.ndarray,
        seed: int,
    ) -> None:
        """``sites`` maps each site id to its organization."""
        if len(sites) < policy.min_sites:
            raise ValueError(
                f"the federation has {len(sites)} sites but the quorum (--min-sites) is {policy.min_sites}; "
                "lower --min-sites or add sites"
            )
        self.strategy = strategy
        self.sites = dict(sites)
        self.policy = policy
        self.weights = initial_weights.astype(np.float32)
        self._rng = np.random.default_rng(seed)

    def sample(self, round_number: int) -> RoundState:
        """Sites for this round, spread fairly over organizations.

        Each organization gets its share of the sample (rounded up, so a small organization is
        never left out by rounding), then the sample is trimmed back to size at random.
        """
        target = max(self.policy.min_sites, math.ceil(self.policy.sample_fraction * len(self.sites)))
        by_org: dict[str, list[str]] = {}
        for site, org in sorted(self.sites.items()):
            by_org.setdefault(org, []).append(site)
        chosen: list[str] = []
        for org_sites in by_org.values():
            share = math.ceil(target * len(org_sites) / len(self.sites))
            chosen.extend(self._rng.choice(org_sites, size=min(share, len(org_sites)), replace=False).tolist())
        if len(chosen) > target:
            chosen = self._rng.choice(chosen, size=target, replace=False).tolist()
        return RoundState(round=round_number, sampled=sorted(chosen), phase=RoundPhase.COLLECTING)

    def accept(self, state: RoundState, result: FitResult) -> None:
        """Take one site's update into the round, or record why it is rejected."""
        if result.site not in state.sampled:
            state.rejected[result.site] = "NotSampled"
        elif result.round != state.round:
            state.rejected[result.site] = f"StaleRound({result.round})"
        elif result.delta.shape != self.weights.shape or not np.isfinite(result.delta).all():
            state.rejected[result.site] = "InvalidUpdate"
        else:
            state.results.append(result)
            return
        log.warning("round %d: rejected update from %s: %s", state.round, result.site, state.rejected[result.site])

    def close(
        self,
        state: RoundState,
        summation: Callable[[list[FitResult]], tuple[np.ndarray, float] | None] | None = None,
    ) -> np.ndarray:
        """Check the quorum and aggregate; the new global weights.

        ``summation`` (secure aggregation, DP) turns the round's updates into their weighted
        sum and total weight; the strategy then steps from that sum alone.
        """
        state.stragglers = sorted(set(state.sampled) - set(state.reported) - set(state.rejected))
        if len(state.results) < self.policy.min_sites:
            state.phase = RoundPhase.FAILED
            raise RoundFailed(
                state.round,
                "QuorumNotMet",
                f"{len(state.results)} of {len(state.sampled)} sampled sites reported before the deadline "
                f"({len(state.stragglers)} timed out, {len(state.rejected)} rejected); the quorum is "
                f"{self.policy.min_sites} (--min-sites). Raise --round-deadline-s or lower --min-sites.",
            )
        summed = summation(state.results) if summation is not None else None
        if summed is not None:
            self.weights = self.strategy.apply_sum(self.weights, *summed).astype(np.float32)
        else:
            deltas = np.stack([r.delta for r in state.results])
            counts = np.array([r.num_examples for r in state.results], dtype=np.float32)
            self.weights = self.strategy.aggregate(self.weights, deltas, counts).astype(np.float32)
        state.phase = RoundPhase.AGGREGATED
        return self.weights
