"""Secure aggregation: the aggregator sees masked vectors only, and still gets the exact sum."""

import time
from dataclasses import dataclass, field

import numpy as np
import pytest
from scipy import stats
from smartfed.privacy import (
    Quantizer,
    SecAggClient,
    SecAggConfig,
    SecAggResult,
    SecAggRound,
    SecAggServer,
    SecureAggregationError,
    check_strategy_compatible,
    combine_organizations,
)
from smartfed.privacy.messages import from_bytes, to_bytes
from smartfed.strategies.base import Strategy, SumStrategy

LENGTH = 10_000
DEFAULTS = SecAggConfig()


@dataclass
class Wiretap:
    """Everything that reached the aggregator, as it arrived."""

    masked: dict[str, np.ndarray] = field(default_factory=dict)
    messages: list[bytes] = field(default_factory=list)


def run_round(
    updates: dict[str, np.ndarray],
    config: SecAggConfig = DEFAULTS,
    *,
    drop_before_upload: frozenset[str] = frozenset(),
    drop_after_upload: frozenset[str] = frozenset(),
    wiretap: Wiretap | None = None,
) -> SecAggResult:
    """One round with every message serialized, as it would cross a process boundary."""
    wiretap = wiretap if wiretap is not None else Wiretap()
    setup = SecAggRound("sensor-eu", 4, list(updates), LENGTH, config)
    clients = {site: SecAggClient(site, setup) for site in updates}
    server = SecAggServer(setup)

    def carry(messages):
        data = to_bytes(messages)
        wiretap.messages.append(data)
        return from_bytes(data)

    forwarded = server.collect_adverts(carry([client.advertise() for client in clients.values()]))
    shares = [
        s for site, client in clients.items() for s in carry(client.share_keys(forwarded[site]))
    ]
    routed = server.route_shares(shares)
    for site, client in clients.items():
        if site not in drop_before_upload:
            masked = client.masked_input(updates[site], routed[site])
            wiretap.masked[site] = masked.copy()
            server.receive_masked(site, masked)
    survivors, dropped = server.unmask_request()
    revealed = [
        share
        for site in survivors
        if site not in drop_after_upload
        for share in carry(clients[site].unmask(survivors, dropped))
    ]
    return server.unmask(revealed)


def site_updates(count: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {f"site-{i:03d}": rng.normal(0, 0.1, LENGTH).astype(np.float32) for i in range(count)}


def plain_sum(updates: dict[str, np.ndarray], sites) -> np.ndarray:
    return np.sum([updates[site].astype(np.float64) for site in sites], axis=0)


def quantization_bound(sites: int, config: SecAggConfig = DEFAULTS) -> float:
    step = config.clip_range / ((2**31 - 1) // sites)
    return sites * step / 2 + 1e-6


def test_unmasked_sum_equals_the_plain_sum_within_quantization_error():
    updates = site_updates(12)

    result = run_round(updates)

    assert result.sites == tuple(sorted(updates))
    error = np.max(np.abs(result.total - plain_sum(updates, updates)))
    assert error <= quantization_bound(12)


def test_masked_update_is_uniform_and_uncorrelated_with_the_true_update():
    updates = site_updates(12)
    # The most recognisable update there is: half the coordinates at +clip, half at -clip.
    updates["site-000"] = np.where(np.arange(LENGTH) % 2 == 0, 8.0, -8.0).astype(np.float32)
    wiretap = Wiretap()

    run_round(updates, wiretap=wiretap)

    masked = wiretap.masked["site-000"].astype(np.float64) / 2**32
    assert stats.kstest(masked, "uniform").pvalue > 1e-4
    assert abs(np.corrcoef(masked, updates["site-000"])[0, 1]) < 0.05
    # Nor do the coordinates the update sets high look different from the others.
    assert stats.ks_2samp(masked[0::2], masked[1::2]).pvalue > 1e-4


def test_nothing_but_masked_vectors_keys_and_sealed_shares_reaches_the_aggregator():
    updates = site_updates(5)
    wiretap = Wiretap()

    run_round(updates, wiretap=wiretap)

    quantizer = Quantizer(SecAggConfig().clip_range, len(updates))
    for site, masked in wiretap.masked.items():
        assert masked.dtype == np.uint32
        assert np.mean(masked == quantizer.quantize(updates[site])) < 0.001
    raw = {updates[site].tobytes()[:64] for site in updates}
    assert not any(chunk in message for message in wiretap.messages for chunk in raw)


def test_round_recovers_the_sum_when_30_percent_drop_out_after_uploading():
    updates = site_updates(20)
    gone = frozenset(sorted(updates)[:6])

    result = run_round(updates, drop_after_upload=gone)

    assert result.dropped_after_upload == tuple(sorted(gone))
    assert result.sites == tuple(sorted(updates))
    assert np.max(np.abs(result.total - plain_sum(updates, updates))) <= quantization_bound(20)


def test_round_removes_pairwise_masks_of_sites_that_never_uploaded():
    updates = site_updates(12)
    never = frozenset({"site-003", "site-007"})
    late = frozenset({"site-010"})

    result = run_round(updates, drop_before_upload=never, drop_after_upload=late)

    kept = sorted(set(updates) - never)
    assert result.sites == tuple(kept)
    assert result.dropped_before_upload == ("site-003", "site-007")
    assert result.dropped_after_upload == ("site-010",)
    assert np.max(np.abs(result.total - plain_sum(updates, kept))) <= quantization_bound(12)


def test_sparse_neighbourhoods_tolerate_30_percent_dropout_at_100_sites_within_seconds():
    updates = site_updates(100)
    gone = frozenset(sorted(updates)[::10] + sorted(updates)[1::10] + sorted(updates)[2::10])

    started = time.perf_counter()
    result = run_round(updates, drop_after_upload=gone)
    elapsed_s = time.perf_counter() - started

    assert len(gone) == 30 and len(result.dropped_after_upload) == 30
    assert np.max(np.abs(result.total - plain_sum(updates, updates))) <= quantization_bound(100)
    # Key exchange, sharing and masking of all 100 sites plus unmasking, on one core.
    assert elapsed_s < 15


def test_round_fails_with_the_reason_when_survivors_are_below_the_threshold():
    updates = site_updates(10)

    with pytest.raises(SecureAggregationError) as raised:
        run_round(
            updates,
            SecAggConfig(threshold=6),
            drop_after_upload=frozenset(sorted(updates)[:5]),
        )

    assert str(raised.value) == (
        "secure aggregation of round 4 failed: 5 of 10 sites answered the unmasking request, below "
        "the threshold of 6; the sum cannot be unmasked without revealing single updates"
    )


def test_round_fails_when_a_site_keeps_too_few_neighbours_to_rebuild_its_seed():
    updates = site_updates(10)
    config = SecAggConfig(neighbours=4, threshold=3)
    setup = SecAggRound("sensor-eu", 4, list(updates), LENGTH, config)
    victim = "site-000"
    gone = frozenset(setup.graph[victim][:2])

    with pytest.raises(SecureAggregationError) as raised:
        run_round(updates, config, drop_after_upload=gone)

    assert str(raised.value) == (
        f"secure aggregation of round 4 failed: cannot remove the masks of {victim}: 2 of its 4 "
        "neighbours returned shares and the threshold is 3; use fewer dropouts, more neighbours "
        "or a lower threshold"
    )


def test_site_refuses_to_reveal_both_shares_of_the_same_neighbour():
    updates = site_updates(4)
    setup = SecAggRound("sensor-eu", 4, list(updates), LENGTH, SecAggConfig())
    clients = {site: SecAggClient(site, setup) for site in updates}
    server = SecAggServer(setup)
    forwarded = server.collect_adverts([client.advertise() for client in clients.values()])
    routed = server.route_shares(
        [s for site, client in clients.items() for s in client.share_keys(forwarded[site])]
    )
    clients["site-000"].masked_input(updates["site-000"], routed["site-000"])

    with pytest.raises(SecureAggregationError) as raised:
        clients["site-000"].unmask(["site-000", "site-001", "site-002"], ["site-001"])

    assert str(raised.value) == (
        "site-000: the aggregator lists ['site-001'] as both uploaded and dropped; revealing both "
        "shares would expose their updates, so this site refuses"
    )


def test_hierarchical_sum_unmasks_per_organization_and_adds_at_the_top():
    updates = site_updates(9)
    organizations = {"acme": sorted(updates)[:4], "globex": sorted(updates)[4:]}

    results = {
        name: run_round({site: updates[site] for site in sites})
        for name, sites in organizations.items()
    }
    total = combine_organizations(results)

    assert total.sites == tuple(sorted(updates))
    assert np.max(np.abs(total.total - plain_sum(updates, updates))) <= 2 * quantization_bound(5)


def test_hierarchical_sum_refuses_an_organization_with_a_single_site():
    single = SecAggResult(np.zeros(3, np.float32), ("site-009",), (), ())
    pair = SecAggResult(np.zeros(3, np.float32), ("site-001", "site-002"), (), ())

    with pytest.raises(SecureAggregationError) as raised:
        combine_organizations({"acme": pair, "initech": single})

    assert str(raised.value) == (
        "organization initech's sum covers only ['site-009'], so it is that site's update; sample "
        "at "
        "least 2 sites per organization or aggregate flat"
    )


def test_values_beyond_the_clip_range_are_clipped_before_masking():
    updates = {"site-a": np.full(LENGTH, 100.0, np.float32), "site-b": np.zeros(LENGTH, np.float32)}

    result = run_round(updates, SecAggConfig(clip_range=2.0, threshold=1))

    np.testing.assert_allclose(result.total, 2.0, atol=1e-6)


def test_threshold_above_the_neighbourhood_is_refused():
    with pytest.raises(SecureAggregationError) as raised:
        SecAggRound("sensor-eu", 1, ["a", "b", "c"], 10, SecAggConfig(threshold=3))

    assert str(raised.value) == (
        "threshold is 3 but each site has 2 neighbours; choose a threshold between 1 and 2, or "
        "more "
        "neighbours"
    )


def test_non_sum_strategy_is_refused_with_the_reason():
    class Median(Strategy):
        name = "median"

        def aggregate(self, current, deltas, weights):
            return current

    class Mean(SumStrategy):
        name = "fedavg"

        def apply_mean_delta(self, current, mean_delta):
            return current + mean_delta

    check_strategy_compatible(Mean())
    with pytest.raises(SecureAggregationError) as raised:
        check_strategy_compatible(Median())

    assert str(raised.value) == (
        "strategy 'median' cannot run with secure aggregation: it needs each site's update (to "
        "rank, "
        "trim or compare them), and secure aggregation reveals only their sum; choose a sum-based "
        "strategy (FedAvg, FedProx or the FedOpt family) or drop --secure-aggregation"
    )


def test_malformed_protocol_message_is_refused():
    with pytest.raises(SecureAggregationError) as raised:
        from_bytes(b'[{"type": "KeyAdvert", "site": "a"}]')

    assert str(raised.value) == (
        "malformed secure aggregation message: {'type': 'KeyAdvert', 'site': 'a'}"
    )


def test_public_surface_is_pinned():
    import smartfed.privacy

    assert sorted(smartfed.privacy.__all__) == [
        "BudgetExhausted",
        "DPConfig",
        "EncryptedShare",
        "KeyAdvert",
        "PrivacyAccountant",
        "Quantizer",
        "RevealedShare",
        "SecAggClient",
        "SecAggConfig",
        "SecAggResult",
        "SecAggRound",
        "SecAggServer",
        "SecureAggregationError",
        "central_noise",
        "check_strategy_compatible",
        "clip_update",
        "combine_organizations",
        "noise_multiplier_for",
        "poisson_sample",
        "site_noise",
    ]
