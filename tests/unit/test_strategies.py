"""Sum-based strategies (FedAvg, FedProx, the FedOpt family), shared checks and the registry."""

import math

import numpy as np
import pytest
from smartfed import strategies
from smartfed.strategies import (
    STRATEGIES,
    FedAdagrad,
    FedAdam,
    FedAvg,
    FedProx,
    FedYogi,
    StrategyError,
    SumStrategy,
    make_strategy,
)


def f32(*values: float) -> np.ndarray:
    return np.array(values, dtype=np.float32)


# Two sites; with example counts 1 and 3 the weighted mean delta is [2.5, 5.0].
DELTAS = np.array([[1.0, 2.0], [3.0, 6.0]], dtype=np.float32)
COUNTS = f32(1, 3)


def test_fedavg_steps_by_the_example_weighted_mean_delta():
    new = FedAvg().aggregate(f32(10, 10), DELTAS, COUNTS)

    assert new.dtype == np.float32
    np.testing.assert_array_equal(new, f32(12.5, 15.0))


def test_fedavg_server_learning_rate_scales_the_step():
    new = FedAvg(server_lr=0.5).aggregate(f32(10, 10), DELTAS, COUNTS)

    np.testing.assert_array_equal(new, f32(11.25, 12.5))


def test_apply_sum_gives_the_same_weights_as_aggregate():
    weighted_sum = f32(1 * 1 + 3 * 3, 1 * 2 + 3 * 6)

    new = FedAvg().apply_sum(f32(10, 10), weighted_sum, total_weight=4.0)

    np.testing.assert_array_equal(new, FedAvg().aggregate(f32(10, 10), DELTAS, COUNTS))


def test_float32_weighted_sum_stays_within_float32_rounding_of_a_float64_reference():
    rng = np.random.default_rng(7)
    deltas = rng.standard_normal((200, 5_000), dtype=np.float32)
    counts = rng.integers(1, 100_000, size=200).astype(np.float32)
    current = np.zeros(5_000, dtype=np.float32)

    new = FedAvg().aggregate(current, deltas, counts)

    reference = counts.astype(np.float64) @ deltas.astype(np.float64) / counts.sum(dtype=np.float64)
    scale = np.abs(counts.astype(np.float64)) @ np.abs(deltas.astype(np.float64)) / counts.sum()
    assert np.max(np.abs(new - reference) / scale) < 200 * 2.0**-24


def test_fedavg_does_not_modify_its_inputs():
    current, deltas, counts = f32(10, 10), DELTAS.copy(), COUNTS.copy()

    FedAvg(server_lr=0.5).aggregate(current, deltas, counts)

    np.testing.assert_array_equal(current, f32(10, 10))
    np.testing.assert_array_equal(deltas, DELTAS)


def test_fedprox_aggregates_like_fedavg_and_sends_mu_to_the_sites():
    prox = FedProx()

    np.testing.assert_array_equal(prox.aggregate(f32(10, 10), DELTAS, COUNTS), f32(12.5, 15.0))
    assert prox.client_config() == {"proximal_mu": 0.01}
    assert FedProx(mu=0.5).client_config() == {"proximal_mu": 0.5}
    assert FedAvg().client_config() == {}


def test_sum_based_strategies_are_the_ones_secure_aggregation_can_serve():
    sum_based = {name for name, cls in STRATEGIES.items() if issubclass(cls, SumStrategy)}

    assert sum_based == {"fedavg", "fedprox", "fedadam", "fedyogi", "fedadagrad"}
    assert all(STRATEGIES[name].sum_based for name in sum_based)
    assert not any(cls.sum_based for name, cls in STRATEGIES.items() if name not in sum_based)


# FedOpt: with beta1 = beta2 = 0.5, tau = 1 (so v starts at 1) and eta = 1, a mean delta of
# [1, -7] gives m = 0.5 * [1, -7] = [0.5, -3.5] in every member.
OPT = {"eta": 1.0, "beta1": 0.5, "tau": 1.0}
FIRST_DELTA = np.array([[1.0, -7.0]], dtype=np.float32)
ONE_SITE = f32(1)


def test_fedadam_first_step_matches_the_hand_computed_one():
    adam = FedAdam(beta2=0.5, **OPT)

    new = adam.aggregate(f32(0, 0), FIRST_DELTA, ONE_SITE)

    # v = 0.5 * 1 + 0.5 * [1, 49] = [1, 25]; step = m / (sqrt(v) + 1) = [0.5 / 2, -3.5 / 6]
    np.testing.assert_allclose(new, [0.25, -3.5 / 6], rtol=1e-6)


def test_fedadam_carries_its_moments_into_the_next_round():
    adam = FedAdam(beta2=0.5, **OPT)
    adam.aggregate(f32(0, 0), FIRST_DELTA, ONE_SITE)

    new = adam.aggregate(f32(0, 0), np.array([[1.0, 1.0]], dtype=np.float32), ONE_SITE)

    # m = 0.5 * [0.5, -3.5] + 0.5 * [1, 1] = [0.75, -1.25]
    # v = 0.5 * [1, 25] + 0.5 * [1, 1] = [1, 13]
    np.testing.assert_allclose(new, [0.75 / 2, -1.25 / (math.sqrt(13) + 1)], rtol=1e-6)


def test_fedyogi_grows_v_additively_then_shrinks_it_by_the_squared_delta():
    yogi = FedYogi(beta2=0.5, **OPT)

    first = yogi.aggregate(f32(0, 0), FIRST_DELTA, ONE_SITE)
    # v = 1 - 0.5 * [1, 49] * sign(1 - [1, 49]) = [1 - 0, 1 + 24.5] = [1, 25.5]
    np.testing.assert_allclose(first, [0.5 / 2, -3.5 / (math.sqrt(25.5) + 1)], rtol=1e-6)

    second = yogi.aggregate(f32(0, 0), np.array([[1.0, 1.0]], dtype=np.float32), ONE_SITE)
    # m = [0.75, -1.25]; v = [1, 25.5] - 0.5 * [1, 1] * sign([1, 25.5] - 1) = [1, 25]
    np.testing.assert_allclose(second, [0.75 / 2, -1.25 / 6], rtol=1e-6)


def test_fedadagrad_first_step_matches_the_hand_computed_one():
    adagrad = FedAdagrad(**OPT)

    new = adagrad.aggregate(f32(0, 0), FIRST_DELTA, ONE_SITE)

    # v = 1 + [1, 49] = [2, 50]
    np.testing.assert_allclose(
        new, [0.5 / (math.sqrt(2) + 1), -3.5 / (math.sqrt(50) + 1)], rtol=1e-6
    )


def test_fedopt_defaults_are_the_documented_ones():
    adam, yogi, adagrad = FedAdam(), FedYogi(), FedAdagrad()

    assert (adam.eta, adam.beta1, adam.beta2, adam.tau) == (0.01, 0.9, 0.99, 1e-3)
    assert (yogi.eta, yogi.beta1, yogi.beta2, yogi.tau) == (0.01, 0.9, 0.99, 1e-3)
    assert (adagrad.eta, adagrad.beta1, adagrad.tau) == (0.1, 0.9, 1e-3)


def test_fedopt_refuses_a_model_of_another_size_than_its_state():
    adam = FedAdam()
    adam.aggregate(f32(0, 0), FIRST_DELTA, ONE_SITE)

    with pytest.raises(StrategyError) as error:
        adam.aggregate(f32(0, 0, 0), np.zeros((1, 3), dtype=np.float32), ONE_SITE)

    assert str(error.value) == (
        "fedadam holds optimizer state for 2 weights but the model has 3; "
        "one strategy instance serves one model: create a new one"
    )


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: FedAvg(server_lr=0), "server_lr is 0; it must be > 0 (1.0 is the paper's FedAvg)"),
        (lambda: FedProx(mu=-1), "mu is -1; the proximal weight must be >= 0 (0 is plain FedAvg)"),
        (lambda: FedAdam(beta1=1.0), "beta1 is 1.0; it must lie in [0, 1) (the paper uses 0.9)"),
        (lambda: FedYogi(beta2=-0.1), "beta2 is -0.1; it must lie in [0, 1) (the paper uses 0.99)"),
        (lambda: FedAdagrad(eta=0), "eta is 0; the server learning rate must be > 0"),
        (
            lambda: FedAdam(tau=0),
            "tau is 0; the adaptivity must be > 0 (1e-3 by default)",
        ),
    ],
)
def test_invalid_options_are_refused_with_the_rule(build, message):
    with pytest.raises(ValueError) as error:
        build()

    assert str(error.value) == message


def test_updates_of_the_wrong_width_are_refused():
    with pytest.raises(StrategyError) as error:
        FedAvg().aggregate(f32(0, 0, 0), DELTAS, COUNTS)

    assert str(error.value) == "updates have shape (2, 2); expected (sites, 3) to match the model"


def test_a_matrix_as_current_weights_is_refused():
    with pytest.raises(StrategyError) as error:
        FedAvg().aggregate(np.zeros((2, 2), dtype=np.float32), DELTAS, COUNTS)

    assert str(error.value) == (
        "current weights have shape (2, 2); expected a flat vector (D,): "
        "flatten the model's state_dict in its fixed order"
    )


def test_one_weight_per_update_is_required():
    with pytest.raises(StrategyError) as error:
        FedAvg().aggregate(f32(0, 0), DELTAS, f32(1, 2, 3))

    assert (
        str(error.value)
        == "weights have shape (3,) for 2 updates; expected one example count per update"
    )


def test_a_round_without_updates_is_refused():
    with pytest.raises(StrategyError) as error:
        FedAvg().aggregate(f32(0, 0), np.zeros((0, 2), dtype=np.float32), f32())

    assert str(error.value) == "0 updates; fedavg needs at least 1"


def test_negative_example_counts_are_refused():
    with pytest.raises(StrategyError) as error:
        FedAvg().aggregate(f32(0, 0), DELTAS, f32(2, -1))

    assert (
        str(error.value)
        == "weight -1.0 at update 1 is negative; weights are example counts and must be >= 0"
    )


def test_a_round_without_examples_is_refused():
    with pytest.raises(StrategyError) as error:
        FedAvg().aggregate(f32(0, 0), DELTAS, f32(0, 0))

    assert str(error.value) == "total example weight is 0.0; at least one site must report examples"


def test_make_strategy_builds_every_registered_name_with_its_defaults():
    assert list(STRATEGIES) == [
        "fedavg",
        "fedprox",
        "fedadam",
        "fedyogi",
        "fedadagrad",
        "median",
        "trimmed_mean",
        "krum",
        "multi_krum",
    ]
    for name, cls in STRATEGIES.items():
        strategy = make_strategy(name)
        assert type(strategy) is cls
        assert strategy.name == name


def test_make_strategy_passes_options():
    strategy = make_strategy("fedadam", eta=0.5, tau=0.1)

    assert (strategy.eta, strategy.tau) == (0.5, 0.1)


def test_make_strategy_refuses_an_unknown_name_and_lists_the_valid_ones():
    with pytest.raises(ValueError) as error:
        make_strategy("fedsgd")

    assert str(error.value) == (
        "unknown strategy 'fedsgd'; valid strategies are: fedavg, fedprox, fedadam, fedyogi, "
        "fedadagrad, median, trimmed_mean, krum, multi_krum"
    )


def test_make_strategy_refuses_an_option_the_strategy_does_not_take():
    with pytest.raises(ValueError) as error:
        make_strategy("fedavg", mu=0.1)

    assert str(error.value) == "strategy 'fedavg' has no option 'mu'; its options are: server_lr"


def test_make_strategy_says_when_a_strategy_takes_no_options():
    with pytest.raises(ValueError) as error:
        make_strategy("median", trim_fraction=0.1)

    assert (
        str(error.value) == "strategy 'median' has no option 'trim_fraction'; its options are: none"
    )


def test_public_surface_is_pinned():
    assert strategies.__all__ == [
        "STRATEGIES",
        "FedAdagrad",
        "FedAdam",
        "FedAvg",
        "FedProx",
        "FedYogi",
        "Krum",
        "Median",
        "MultiKrum",
        "Strategy",
        "StrategyError",
        "SumStrategy",
        "TrimmedMean",
        "make_strategy",
    ]
