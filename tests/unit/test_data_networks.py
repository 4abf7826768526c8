"""Simulated building networks: devices as segments, attacks where the labels say, and seen."""

from __future__ import annotations

import numpy as np
import pytest
from smartfed.data import ATTACK_KINDS, NETWORK_FEATURES, load_sites


@pytest.fixture(scope="module")
def scenario():
    return load_sites("network", "simulated", 12, 3, 0)


def column(name: str) -> int:
    return NETWORK_FEATURES.index(name)


def test_every_device_is_a_segment_of_one_minute_windows(scenario):
    for site in scenario:
        assert site.task == "network" and site.features == NETWORK_FEATURES
        assert site.step_s == 60
        assert site.profile["simulated"] is True
        assert sum(site.profile["devices"].values()) == len(site.segments)
        assert len({len(s) for s in site.segments}) == 1
        assert all(np.isfinite(s).all() for s in site.segments)


def test_labels_are_one_exactly_on_the_rows_of_the_attacks(scenario):
    for site in scenario:
        expected = [np.zeros(len(s), dtype=np.int8) for s in site.segments]
        for episode in site.episodes:
            assert not expected[episode.segment][episode.start : episode.stop].any(), (
                "attacks overlap"
            )
            expected[episode.segment][episode.start : episode.stop] = 1
        for labels, wanted in zip(site.labels, expected):
            np.testing.assert_array_equal(labels, wanted)


def test_every_attack_kind_appears_in_the_default_scenario(scenario):
    assert {e.kind for s in scenario for e in s.episodes} == set(ATTACK_KINDS)


def test_sites_differ_in_size_device_mix_and_attack_rate(scenario):
    rows = [s.rows for s in scenario]
    assert min(rows) * 10 < max(rows)
    assert sum(rows) < 300_000
    assert len({tuple(s.profile["devices"].values()) for s in scenario}) == 12
    rates = [np.concatenate(s.labels).mean() for s in scenario]
    assert max(rates) > 2 * min(rates) and max(rates) < 0.1


def test_floods_and_scans_show_in_their_signature_features(scenario):
    for site in scenario:
        for e in site.episodes:
            rows = site.segments[e.segment][e.start : e.stop]
            if e.kind == "syn_flood":
                assert rows[:, column("syn_ratio")].min() > 0.9
                assert rows[:, column("flows")].min() > np.log1p(1_000)
            elif e.kind == "port_scan":
                assert rows[:, column("failed_conn_ratio")].min() > 0.6
                spread = np.maximum(
                    rows[:, column("distinct_dst_ports")], rows[:, column("distinct_dst_hosts")]
                )
                assert spread.min() > np.log1p(50)
            elif e.kind == "exfiltration":
                assert rows[:, column("bytes_out")].min() > np.log1p(10e6)


def test_beacons_make_a_device_reach_outside_the_site(scenario):
    beacons = [(s, e) for s in scenario for e in s.episodes if e.kind == "c2_beaconing"]
    assert beacons
    for site, e in beacons:
        rows = site.segments[e.segment][e.start : e.stop]
        assert rows[:, column("external_ratio")].mean() > 0.3


def test_a_site_is_the_same_whatever_the_number_of_sites(scenario):
    again = load_sites("network", "simulated", 13, 2, 0)
    for a, b in zip(scenario, again):
        assert a.episodes == b.episodes
        for x, y in zip(a.segments, b.segments):
            np.testing.assert_array_equal(x, y)
