"""The throughput probe the benchmark calls."""

import pytest
from smartfed.strategies.throughput import measure_throughput


def test_throughput_reports_every_strategy_and_the_copy_yardstick():
    results = measure_throughput(["fedavg", "median", "krum"], sites=5, dim=1_000, repeats=1)

    assert list(results) == ["numpy_copy", "fedavg", "median", "krum"]
    assert all(gb_per_s > 0 for gb_per_s in results.values())


def test_throughput_refuses_an_empty_matrix():
    with pytest.raises(ValueError) as error:
        measure_throughput(["fedavg"], sites=0, dim=10, repeats=1)

    assert str(error.value) == "sites=0, dim=10, repeats=1; each must be >= 1"
