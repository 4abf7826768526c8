"""Client-level differential privacy: clipping, noise placement and the RDP accountant."""

import itertools
import math

import numpy as np
import pytest
from smartfed.privacy import (
    BudgetExhausted,
    DPConfig,
    PrivacyAccountant,
    central_noise,
    clip_update,
    noise_multiplier_for,
    poisson_sample,
    site_noise,
)


def test_clipping_bounds_the_l2_norm_and_leaves_small_updates_alone():
    big = np.full(100, 1.0, np.float32)
    small = np.full(100, 0.01, np.float32)

    assert np.linalg.norm(clip_update(big, 0.5)) == pytest.approx(0.5, rel=1e-6)
    np.testing.assert_array_equal(clip_update(small, 0.5), small)


def test_distributed_noise_sums_to_the_central_noise_level():
    rng = np.random.default_rng(0)
    sites, multiplier, clip = 25, 1.2, 0.5
    zero = np.zeros(200_000, np.float32)

    summed = np.sum([site_noise(zero, multiplier, clip, sites, rng) for _ in range(sites)], axis=0)
    central = central_noise(zero, multiplier, clip, rng)

    assert np.std(summed) == pytest.approx(multiplier * clip, rel=0.01)
    assert np.std(central) == pytest.approx(multiplier * clip, rel=0.01)


def test_accountant_epsilon_grows_with_every_round():
    config = DPConfig(epsilon=8.0, delta=1e-5)
    accountant = PrivacyAccountant(config, noise_multiplier=1.0, sample_rate=0.5)

    spent = [accountant.step() for _ in range(10)]

    assert accountant.epsilon == spent[-1]
    assert all(later > earlier for earlier, later in itertools.pairwise(spent))


def test_noise_multiplier_for_a_budget_spends_at_most_that_budget_over_the_rounds():
    config = DPConfig(epsilon=8.0, delta=1e-5)
    multiplier = noise_multiplier_for(8.0, 1e-5, sample_rate=0.5, rounds=10)
    accountant = PrivacyAccountant(config, multiplier, sample_rate=0.5)

    for _ in range(10):
        accountant.check_budget()
        accountant.step()

    assert 7.9 <= accountant.epsilon <= 8.0


def test_sampling_fewer_sites_per_round_needs_less_noise_for_the_same_budget():
    full = noise_multiplier_for(8.0, 1e-5, sample_rate=1.0, rounds=20)
    half = noise_multiplier_for(8.0, 1e-5, sample_rate=0.5, rounds=20)

    assert half < full


def test_budget_check_stops_the_federation_before_it_exceeds_the_budget():
    config = DPConfig(epsilon=2.0, delta=1e-5)
    accountant = PrivacyAccountant(config, noise_multiplier=1.0, sample_rate=1.0)

    with pytest.raises(BudgetExhausted) as raised:
        for _ in range(100):
            accountant.check_budget()
            accountant.step()

    assert raised.value.reason == "BudgetExhausted"
    assert accountant.epsilon <= 2.0
    assert str(raised.value) == (
        f"round {accountant.rounds + 1} would raise ε from {accountant.epsilon:.3f} to "
        f"{accountant.epsilon_after_next():.3f}, above the budget of 2.0 at δ=1e-05; the "
        "federation stops here (raise --dp-epsilon or lower the rounds to train longer)"
    )


def test_poisson_sampling_includes_each_site_at_the_sample_rate():
    rng = np.random.default_rng(3)
    sites = [f"site-{i}" for i in range(1000)]

    chosen = poisson_sample(sites, 0.3, rng)

    assert abs(len(chosen) - 300) < 4 * math.sqrt(1000 * 0.3 * 0.7)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"epsilon": 0.0, "delta": 1e-5}, "--dp-epsilon is 0.0; it must be > 0, e.g. 8"),
        (
            {"epsilon": 8.0, "delta": 1.5},
            "--dp-delta is 1.5; it must be in (0, 1), below 1 / sites, e.g. 1e-5",
        ),
        (
            {"epsilon": 8.0, "delta": 1e-5, "placement": "edge"},
            "DP placement is 'edge'; choose one of ['central', 'distributed']",
        ),
    ],
)
def test_invalid_budget_is_refused_with_the_rule(fields, message):
    with pytest.raises(ValueError) as raised:
        DPConfig(**fields)

    assert str(raised.value) == message
