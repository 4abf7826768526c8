import pytest
from smartfed.simulation.comparison import f1_difference


def scores(values: list[float]) -> dict[str, float]:
    return {f"site-{i:03d}": v for i, v in enumerate(values)}


def test_a_gain_at_every_site_has_an_interval_above_zero_around_the_mean_gain():
    federated = scores([0.50, 0.62, 0.41, 0.70, 0.55, 0.48, 0.66, 0.59])
    baseline = scores([0.30, 0.45, 0.30, 0.48, 0.40, 0.25, 0.50, 0.41])
    comparison = f1_difference(federated, baseline)

    assert comparison["difference"] == pytest.approx(0.1775)
    low, high = comparison["ci95"]
    assert 0 < low < comparison["difference"] < high
    assert comparison["sites"] == 8


def test_gains_and_losses_that_cancel_give_an_interval_across_zero():
    federated = scores([0.6, 0.2, 0.7, 0.1, 0.5, 0.3])
    baseline = scores([0.2, 0.6, 0.3, 0.5, 0.3, 0.5])
    low, high = f1_difference(federated, baseline)["ci95"]
    assert low < 0 < high


def test_the_same_difference_everywhere_is_its_own_interval_and_two_sites_give_none():
    assert f1_difference(scores([0.5, 0.6, 0.7]), scores([0.4, 0.5, 0.6]))["ci95"] == pytest.approx([0.1, 0.1])
    assert f1_difference(scores([0.5, 0.9]), scores([0.4, 0.1]))["ci95"] is None


def test_settings_scored_on_different_sites_are_refused_with_the_sites_named():
    with pytest.raises(ValueError) as error:
        f1_difference({"site-001": 0.5, "site-002": 0.4}, {"site-001": 0.5, "site-003": 0.4})
    assert str(error.value) == "settings scored different sites: ['site-002', 'site-003'] are in only one"
