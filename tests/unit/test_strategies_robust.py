"""Robust strategies: coordinate-wise median and trimmed mean, Krum and Multi-Krum."""

import logging

import numpy as np
import pytest
from smartfed.strategies import Krum, Median, MultiKrum, StrategyError, TrimmedMean
from smartfed.strategies.krum import krum_scores, pairwise_sq_distances


def column(*values: float) -> np.ndarray:
    """Updates of a one-weight model: one delta per site."""
    return np.array(values, dtype=np.float32)[:, None]


def counts(sites: int) -> np.ndarray:
    return np.ones(sites, dtype=np.float32)


ZERO = np.zeros(1, dtype=np.float32)


def test_median_of_an_odd_count_is_the_middle_value():
    new = Median().aggregate(ZERO + 10, column(1, 5, 2), counts(3))

    np.testing.assert_array_equal(new, [12.0])


def test_median_of_an_even_count_is_the_mean_of_the_two_middle_values():
    new = Median().aggregate(ZERO, column(1, 5, 2, 10), counts(4))

    np.testing.assert_array_equal(new, [3.5])


def test_median_works_coordinate_by_coordinate_and_ignores_example_counts():
    deltas = np.array([[1, 30], [2, 10], [100, 20]], dtype=np.float32)

    new = Median().aggregate(
        np.zeros(2, dtype=np.float32), deltas, np.array([1, 1, 1000], dtype=np.float32)
    )

    np.testing.assert_array_equal(new, [2, 20])


def test_median_agrees_with_numpy_across_many_column_blocks():
    rng = np.random.default_rng(3)
    deltas = rng.standard_normal((6, 200_003), dtype=np.float32)
    original = deltas.copy()

    new = Median().aggregate(np.zeros(200_003, dtype=np.float32), deltas, counts(6))

    np.testing.assert_allclose(new, np.median(deltas, axis=0), rtol=1e-6)
    np.testing.assert_array_equal(deltas, original)


def test_median_leaves_a_one_weight_model_update_untouched():
    deltas = column(3, 1, 2)

    Median().aggregate(ZERO, deltas, counts(3))

    np.testing.assert_array_equal(deltas, column(3, 1, 2))


def test_trimmed_mean_drops_the_extremes_of_each_coordinate():
    deltas = np.array(
        [[1, -50], [2, 1], [3, 1], [4, 1], [5, 1], [6, 1], [7, 1], [8, 1], [9, 1], [100, 1]],
        dtype=np.float32,
    )

    new = TrimmedMean().aggregate(np.zeros(2, dtype=np.float32), deltas, counts(10))

    # One value dropped at each end of each column: (2 + ... + 9) / 8 and eight ones.
    np.testing.assert_allclose(new, [44 / 8, 1.0], rtol=1e-6)


def test_trimmed_mean_with_a_larger_fraction_trims_more():
    new = TrimmedMean(trim_fraction=0.3).aggregate(
        ZERO, column(-100, 1, 2, 3, 4, 5, 6, 7, 8, 900), counts(10)
    )

    # floor(0.3 * 10) = 3 dropped at each end: (3 + 4 + 5 + 6) / 4
    np.testing.assert_allclose(new, [4.5], rtol=1e-6)


def test_trimmed_mean_warns_when_the_round_is_too_small_to_trim(caplog):
    with caplog.at_level(logging.WARNING, logger="smartfed.strategies.trimmed_mean"):
        new = TrimmedMean().aggregate(ZERO, column(1, 2, 6), counts(3))

    np.testing.assert_allclose(new, [3.0])
    assert caplog.messages == [
        (
            "trimmed mean drops no update of 3 (trim_fraction=0.1): this round is a plain mean; "
            "it needs 10 or more updates to drop one at each end"
        )
    ]


def test_trimmed_mean_refuses_a_fraction_that_would_trim_everything():
    with pytest.raises(ValueError) as error:
        TrimmedMean(trim_fraction=0.5)

    assert str(error.value) == (
        "trim_fraction is 0.5; it must lie in [0, 0.5) because it is trimmed at both ends, "
        "and 0.5 or more would trim every update (use median instead)"
    )


@pytest.fixture
def planted_round() -> tuple[np.ndarray, int]:
    """Seven honest updates close together and two byzantine ones far from them (rows 2 and 6)."""
    rng = np.random.default_rng(11)
    honest_direction = rng.standard_normal(50).astype(np.float32)
    deltas = honest_direction + 0.05 * rng.standard_normal((9, 50)).astype(np.float32)
    deltas[2] = -10 * honest_direction
    deltas[6] = honest_direction + 3.0
    return deltas.astype(np.float32), 2


def test_krum_never_selects_a_planted_outlier(planted_round):
    deltas, f = planted_round

    chosen = Krum(f=f).select(deltas)
    new = Krum(f=f).aggregate(np.zeros(50, dtype=np.float32), deltas, counts(9))

    assert chosen.size == 1 and chosen[0] not in (2, 6)
    np.testing.assert_array_equal(new, deltas[chosen[0]])


def test_krum_with_the_default_f_also_rejects_the_outliers(planted_round):
    deltas, _ = planted_round

    # n = 9: the largest f with 9 > 2f + 2 is 3.
    assert Krum()._byzantine(9) == 3
    assert Krum().select(deltas)[0] not in (2, 6)


def test_multi_krum_averages_the_m_best_and_leaves_the_outliers_out(planted_round):
    deltas, f = planted_round

    chosen = MultiKrum(f=f, m=5).select(deltas)
    new = MultiKrum(f=f, m=5).aggregate(np.zeros(50, dtype=np.float32), deltas, counts(9))

    assert chosen.size == 5 and not {2, 6} & set(chosen.tolist())
    np.testing.assert_allclose(new, deltas[chosen].mean(axis=0), rtol=1e-5)


def test_multi_krum_selects_n_minus_f_by_default(planted_round):
    deltas, f = planted_round

    chosen = MultiKrum(f=f).select(deltas)

    assert sorted(chosen.tolist()) == [0, 1, 3, 4, 5, 7, 8]


def test_krum_scores_sum_the_squared_distances_to_the_nearest_neighbours():
    # Points on a line at 0, 1, 3, 10; f = 0 keeps n - f - 2 = 2 neighbours.
    deltas = column(0, 1, 3, 10)

    scores = krum_scores(deltas, f=0)

    np.testing.assert_allclose(scores, [1 + 9, 1 + 4, 4 + 9, 49 + 81])


def test_pairwise_distances_stay_exact_for_updates_close_to_each_other():
    rng = np.random.default_rng(5)
    deltas = (100 + 1e-3 * rng.standard_normal((5, 300_000))).astype(np.float32)

    distances = pairwise_sq_distances(deltas)

    wide = deltas.astype(np.float64)
    reference = ((wide[:, None, :] - wide[None, :, :]) ** 2).sum(axis=2)
    np.testing.assert_allclose(distances, reference, rtol=1e-4)


def test_krum_refuses_a_round_too_small_for_its_f():
    with pytest.raises(StrategyError) as error:
        Krum(f=2).aggregate(np.zeros(1, dtype=np.float32), column(1, 2, 3, 4, 5, 6), counts(6))

    assert str(error.value) == (
        "6 updates; krum with f=2 needs more than 2f + 2 = 6: lower f or wait for more sites"
    )


def test_krum_refuses_fewer_than_three_updates():
    with pytest.raises(StrategyError) as error:
        Krum().aggregate(ZERO, column(1, 2), counts(2))

    assert str(error.value) == (
        "2 updates; krum needs at least 3 (n > 2f + 2 with f = 0): wait for more sites or use fedavg"
    )


def test_multi_krum_refuses_to_select_more_updates_than_it_has():
    with pytest.raises(StrategyError) as error:
        MultiKrum(m=4).aggregate(ZERO, column(1, 2, 3), counts(3))

    assert str(error.value) == (
        "3 updates; multi_krum with m=4 selects more than it receives: lower m or wait for more sites"
    )


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: Krum(f=-1), "f is -1; the number of byzantine sites must be an integer >= 0"),
        (lambda: Krum(f=1.5), "f is 1.5; the number of byzantine sites must be an integer >= 0"),
        (lambda: MultiKrum(m=0), "m is 0; the number of selected updates must be an integer >= 1"),
    ],
)
def test_krum_options_are_checked(build, message):
    with pytest.raises(ValueError) as error:
        build()

    assert str(error.value) == message


@pytest.mark.parametrize(
    "strategy", [Median(), TrimmedMean(), Krum(), MultiKrum()], ids=lambda s: s.name
)
def test_robust_strategies_refuse_updates_of_the_wrong_width(strategy):
    with pytest.raises(StrategyError) as error:
        strategy.aggregate(
            np.zeros(3, dtype=np.float32), np.zeros((4, 2), dtype=np.float32), counts(4)
        )

    assert str(error.value) == "updates have shape (4, 2); expected (sites, 3) to match the model"
