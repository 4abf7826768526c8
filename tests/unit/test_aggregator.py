import logging

import numpy as np
import pytest
from smartfed.federation.aggregator import Aggregator, RoundFailed, RoundPhase, SamplingPolicy
from smartfed.federation.client import FitResult
from smartfed.strategies.base import SumStrategy


class MeanStep(SumStrategy):
    """The plain FedAvg step, so these tests do not depend on the strategies package."""

    name = "mean-step"

    def apply_mean_delta(self, current, mean_delta):
        return current + mean_delta


def sites(count: int, organizations: int) -> dict[str, str]:
    return {f"site-{i + 1:03d}": f"org-{i % organizations + 1}" for i in range(count)}


def result(site: str, round_number: int, delta: np.ndarray, examples: int = 10) -> FitResult:
    return FitResult(site=site, organization="org-1", round=round_number, delta=delta, num_examples=examples, loss=0.1, seconds=0.0)


def make_aggregator(count=12, organizations=3, fraction=1.0, min_sites=2, dim=4) -> Aggregator:
    return Aggregator(MeanStep(), sites(count, organizations), SamplingPolicy(fraction, min_sites), np.zeros(dim, np.float32), seed=0)


def test_sampling_gives_every_organization_a_share():
    aggregator = make_aggregator(count=12, organizations=3, fraction=0.25, min_sites=2)
    for round_number in range(1, 20):
        state = aggregator.sample(round_number)
        assert len(state.sampled) == 3
        orgs = {aggregator.sites[s] for s in state.sampled}
        assert orgs == {"org-1", "org-2", "org-3"}


def test_sampling_never_goes_below_min_sites():
    aggregator = make_aggregator(count=10, organizations=2, fraction=0.1, min_sites=4)
    assert len(aggregator.sample(1).sampled) == 4


def test_round_aggregates_the_example_weighted_mean_of_reported_updates():
    aggregator = make_aggregator(count=3, organizations=1, dim=2)
    state = aggregator.sample(1)
    aggregator.accept(state, result("site-001", 1, np.array([1.0, 0.0], np.float32), examples=30))
    aggregator.accept(state, result("site-002", 1, np.array([0.0, 1.0], np.float32), examples=10))
    weights = aggregator.close(state)
    np.testing.assert_allclose(weights, [0.75, 0.25])
    assert state.phase is RoundPhase.AGGREGATED
    assert state.stragglers == ["site-003"]


def test_round_that_misses_its_quorum_fails_with_the_reason():
    aggregator = make_aggregator(count=6, organizations=2, min_sites=4, dim=2)
    state = aggregator.sample(1)
    aggregator.accept(state, result("site-001", 1, np.zeros(2, np.float32)))
    with pytest.raises(RoundFailed) as failure:
        aggregator.close(state)
    assert failure.value.reason == "QuorumNotMet"
    assert str(failure.value) == (
        "round 1 failed (QuorumNotMet): 1 of 6 sampled sites reported before the deadline (5 timed out, "
        "0 rejected); the quorum is 4 (--min-sites). Raise --round-deadline-s or lower --min-sites."
    )
    assert state.phase is RoundPhase.FAILED


def test_stale_and_non_finite_updates_are_rejected_and_logged(caplog):
    aggregator = make_aggregator(count=3, organizations=1, min_sites=1, dim=2)
    state = aggregator.sample(2)
    with caplog.at_level(logging.WARNING):
        aggregator.accept(state, result("site-001", 1, np.zeros(2, np.float32)))
        aggregator.accept(state, result("site-002", 2, np.array([np.nan, 0.0], np.float32)))
        aggregator.accept(state, result("site-003", 2, np.ones(2, np.float32)))
    assert state.rejected == {"site-001": "StaleRound(1)", "site-002": "InvalidUpdate"}
    assert "round 2: rejected update from site-002: InvalidUpdate" in caplog.text
    np.testing.assert_allclose(aggregator.close(state), [1.0, 1.0])


def test_federation_smaller_than_its_quorum_is_refused():
    with pytest.raises(ValueError, match=r"the federation has 2 sites but the quorum \(--min-sites\) is 3"):
        make_aggregator(count=2, organizations=1, min_sites=3)
