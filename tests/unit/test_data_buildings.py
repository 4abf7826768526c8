"""Simulated buildings: labelled faults where the labels say, physics that holds, non-IID sites."""

from __future__ import annotations

import numpy as np
import pytest
from smartfed.data import FAULT_KINDS, SENSOR_FEATURES, load_sites
from smartfed.data.buildings import BUILDING_TYPES, SENSOR_SPECS, STEP_S, simulate_zones
from smartfed.data.faults import inject_faults
from smartfed.data.weather import stations


@pytest.fixture(scope="module")
def scenario():
    return load_sites("sensor", "simulated", 12, 3, 0)


@pytest.fixture(scope="module")
def clean_and_faulty():
    rng = np.random.default_rng(7)
    clean = simulate_zones(rng, BUILDING_TYPES[0], stations()[10], 3, 14 * 288, 100.0, 0, 1.0)
    faulty, labels, episodes = inject_faults(rng, clean, SENSOR_SPECS, 0.05, STEP_S)
    return clean, faulty, labels, episodes


def test_every_site_has_zones_of_the_six_sensor_features_at_five_minute_steps(scenario):
    for site in scenario:
        assert site.features == SENSOR_FEATURES
        assert site.step_s == 300
        assert 2 <= len(site.segments) <= 6
        assert site.profile["zones"] == len(site.segments)
        assert {"building_type", "weather_station", "zones", "days", "noise_level"} <= set(site.profile)
        assert all(np.isfinite(s).all() for s in site.segments)


def test_sites_are_named_in_order_and_dealt_round_robin_to_organizations(scenario):
    assert [s.site for s in scenario] == [f"site-{i:03d}" for i in range(1, 13)]
    assert [s.organization for s in scenario] == ["org-1", "org-2", "org-3"] * 4


def test_labels_are_one_exactly_on_the_rows_of_the_episodes(scenario):
    for site in scenario:
        expected = [np.zeros(len(s), dtype=np.int8) for s in site.segments]
        for episode in site.episodes:
            assert 0 <= episode.start < episode.stop <= len(site.segments[episode.segment])
            assert not expected[episode.segment][episode.start : episode.stop].any(), (
                "episodes overlap"
            )
            expected[episode.segment][episode.start : episode.stop] = 1
        for labels, wanted in zip(site.labels, expected):
            np.testing.assert_array_equal(labels, wanted)


def test_every_fault_kind_appears_in_the_default_scenario(scenario):
    assert {e.kind for s in scenario for e in s.episodes} == set(FAULT_KINDS)


def test_three_to_six_percent_of_rows_are_faulty_and_test_rows_get_their_share(scenario):
    for site in scenario:
        labels = np.concatenate(site.labels)
        assert 0.02 <= labels.mean() <= 0.08, (site.site, labels.mean())
    tail = np.concatenate(
        [labels[int(0.6 * len(labels)) :] for s in scenario for labels in s.labels]
    )
    assert 0.02 <= tail.mean() <= 0.08


def test_a_third_of_sites_have_days_and_the_rest_weeks_of_data(scenario):
    days = [s.profile["days"] for s in scenario]
    assert sum(d <= 6 for d in days) == 4
    assert all(d >= 10 for d in days if d > 6)
    assert max(s.rows for s in scenario) <= 60_000
    assert min(s.rows for s in scenario) * 5 < max(s.rows for s in scenario)


def test_sites_differ_in_building_type_weather_station_and_noise(scenario):
    for key in ("building_type", "weather_station", "noise_level"):
        assert len({s.profile[key] for s in scenario}) >= 3, key


def test_faults_change_only_their_own_rows_and_feature(clean_and_faulty):
    clean, faulty, labels, episodes = clean_and_faulty
    for z in range(len(clean)):
        outside = labels[z] == 0
        np.testing.assert_array_equal(faulty[z][outside], clean[z][outside])
    for e in episodes:
        rows = slice(e.start, e.stop)
        before, after = clean[e.segment][rows], faulty[e.segment][rows]
        columns = range(6) if e.feature is None else [SENSOR_FEATURES.index(e.feature)]
        for c in range(6):
            if c not in columns:
                np.testing.assert_array_equal(after[:, c], before[:, c])
        changed = any(not np.array_equal(after[:, c], before[:, c]) for c in columns)
        assert changed, e


def test_stuck_and_dropped_readings_lose_the_variability_normal_readings_have(clean_and_faulty):
    clean, faulty, _, episodes = clean_and_faulty
    frozen = [e for e in episodes if e.kind in ("stuck_at", "dropout") and e.stop - e.start >= 3]
    assert frozen
    for e in frozen:
        columns = range(6) if e.feature is None else [SENSOR_FEATURES.index(e.feature)]
        for c in columns:
            if SENSOR_FEATURES[c] == "occupancy":
                continue
            assert np.ptp(faulty[e.segment][e.start : e.stop, c]) == 0.0
            assert np.ptp(clean[e.segment][e.start : e.stop, c]) > 0.0, e


def test_offsets_drifts_and_spikes_are_far_larger_than_the_sensor_noise(clean_and_faulty):
    clean, faulty, _, episodes = clean_and_faulty
    scales = {spec.name: spec.min_fault_scale for spec in SENSOR_SPECS}
    for e in episodes:
        if e.kind in ("calibration_offset", "drift", "spike", "out_of_range"):
            c = SENSOR_FEATURES.index(e.feature)
            error = np.abs(
                faulty[e.segment][e.start : e.stop, c] - clean[e.segment][e.start : e.stop, c]
            )
            assert error.max() >= scales[e.feature], e


def test_co2_and_power_rise_with_occupancy_in_every_zone(scenario):
    occupancy = SENSOR_FEATURES.index("occupancy")
    co2, power = SENSOR_FEATURES.index("co2_ppm"), SENSOR_FEATURES.index("power_kw")
    hour = 12
    for site in scenario:
        for values, labels in zip(site.segments, site.labels):
            normal = values[labels == 0]
            assert np.corrcoef(normal[:, occupancy], normal[:, co2])[0, 1] > 0.5, site.site
            # Power compares hour-on-hour changes: in a winter hospital the heating load follows
            # real cold fronts and hides the people's share in the levels, not in the changes.
            both_normal = (labels[hour:] == 0) & (labels[:-hour] == 0)
            change = (values[hour:] - values[:-hour])[both_normal]
            assert np.corrcoef(change[:, occupancy], change[:, power])[0, 1] > 0.1, site.site


def test_lights_go_on_for_people_except_in_hospitals_which_keep_them_on(scenario):
    for site in scenario:
        values = np.concatenate(site.segments)[np.concatenate(site.labels) == 0]
        people = values[:, SENSOR_FEATURES.index("occupancy")]
        light = values[:, SENSOR_FEATURES.index("light_lux")]
        if site.profile["building_type"] == "hospital":
            assert np.quantile(light, 0.05) > 50.0, site.site
        else:
            assert light[people > 0].mean() > light[people == 0].mean() + 100.0, site.site


def test_indoor_temperature_stays_within_setback_limits_outside_faults(scenario):
    for site in scenario:
        values = np.concatenate(site.segments)
        normal = np.concatenate(site.labels) == 0
        temperature = values[normal, 0]
        assert 13.0 < temperature.min() and temperature.max() < 33.0, site.site
        humidity = values[normal, 1]
        assert 0.0 <= humidity.min() and humidity.max() <= 100.0


def test_a_site_is_the_same_whatever_the_number_of_sites(scenario):
    bigger = load_sites("sensor", "simulated", 20, 3, 0)
    for a, b in zip(scenario, bigger):
        assert a.episodes == b.episodes
        for x, y in zip(a.segments, b.segments):
            np.testing.assert_array_equal(x, y)


def test_another_seed_gives_other_data(scenario):
    other = load_sites("sensor", "simulated", 2, 1, 1)
    assert not np.array_equal(other[0].segments[0][:100], scenario[0].segments[0][:100])


def test_scale_shortens_every_site_for_large_benchmarks():
    full = load_sites("sensor", "simulated", 4, 2, 0)
    small = load_sites("sensor", "simulated", 4, 2, 0, scale=0.1)
    for a, b in zip(full, small):
        assert b.rows < a.rows
        assert len(b.segments) == len(a.segments)
        assert b.episodes
