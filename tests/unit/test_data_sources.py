"""load_sites: its public surface, the real UCI rooms, CSV directories and the errors it gives."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import smartfed.data
from smartfed.data import FAULT_KINDS, DataError, load_sites


def test_public_surface_is_pinned():
    assert smartfed.data.__all__ == [
        "ATTACK_KINDS",
        "FAULT_KINDS",
        "NETWORK_FEATURES",
        "SENSOR_FEATURES",
        "DataError",
        "Episode",
        "SiteSeries",
        "available_sites",
        "load_sites",
    ]


def test_the_same_seed_gives_the_same_sites():
    a = load_sites("network", "simulated", 2, 1, 5)
    b = load_sites("network", "simulated", 2, 1, 5)
    for x, y in zip(a, b):
        assert x.episodes == y.episodes and x.profile == y.profile
        for p, q in zip(x.segments, y.segments):
            np.testing.assert_array_equal(p, q)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (
            ("weather", "simulated", 3, 1, 0),
            "task 'weather' is not one of sensor, network; pick one of them",
        ),
        (
            ("sensor", "simulated", 0, 1, 0),
            "sites is 0, expected at least 1; ask for one site or more",
        ),
        (
            ("sensor", "simulated", 2, 3, 0),
            "organizations is 3 for 2 sites, expected 1 to 2: every organization needs at least one site",
        ),
        (("sensor", "simulated", 2, 1, -1), "seed is -1, expected a non-negative integer"),
        (
            ("sensor", "no/such/dir", 2, 1, 0),
            (
                "data 'no/such/dir' is neither 'simulated', 'uci-appliances' nor an existing directory; "
                "pass one of the two names or the path of a directory of per-site CSV files"
            ),
        ),
        (
            ("network", "uci-appliances", 2, 1, 0),
            (
                "data 'uci-appliances' holds building sensor readings, not network flows; use it with "
                "task 'sensor', or use data 'simulated' for task 'network'"
            ),
        ),
        (
            ("sensor", "uci-appliances", 12, 3, 0),
            (
                "sites is 12, but data 'uci-appliances' has 9 rooms, one site each; ask for 9 sites or "
                "fewer (--sites 9)"
            ),
        ),
    ],
)
def test_bad_scenarios_are_refused_with_what_to_do(arguments, message):
    with pytest.raises(DataError) as error:
        load_sites(*arguments)
    assert str(error.value) == message


def test_bad_scale_is_refused():
    with pytest.raises(DataError, match=r"^scale is 0.0, expected more than 0 and at most 1$"):
        load_sites("sensor", "simulated", 1, 1, 0, scale=0.0)


def test_uci_appliances_gives_nine_rooms_of_temperature_and_humidity_with_faults():
    rooms = load_sites("sensor", "uci-appliances", 9, 3, 0)
    assert [r.site for r in rooms] == [f"site-{i:03d}" for i in range(1, 10)]
    assert len({r.profile["room"] for r in rooms}) == 9
    for room in rooms:
        assert room.features == ("temperature_c", "humidity_pct")
        assert room.step_s == 600 and room.rows == 19_735
        assert room.profile["simulated"] is False
        assert 0.02 < room.labels[0].mean() < 0.08
        expected = np.zeros(room.rows, dtype=np.int8)
        for e in room.episodes:
            expected[e.start : e.stop] = 1
        np.testing.assert_array_equal(room.labels[0], expected)
    assert {e.kind for r in rooms for e in r.episodes} == set(FAULT_KINDS)
    kitchen = rooms[0].segments[0][rooms[0].labels[0] == 0]
    assert 15.0 < np.median(kitchen[:, 0]) < 25.0 and 25.0 < np.median(kitchen[:, 1]) < 60.0


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


GOOD = (
    "timestamp,co2,temp,label\n"
    "2024-03-01T08:00:00,420,21.0,0\n"
    "2024-03-01T08:05:00,430,21.1,1\n"
    "2024-03-01T08:10:00,440,21.2,1\n"
    "2024-03-01T08:15:00,445,21.2,0\n"
    "2024-03-01T09:15:00,450,21.3,0\n"
    "2024-03-01T09:20:00,460,21.3,1\n"
)


def test_csv_directory_gives_one_site_per_file_with_organizations_from_folders(
    tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "data/org-a/b1.csv", GOOD)
    write(
        tmp_path / "data/org-b/b2.csv",
        "timestamp,temp,co2\n2024-03-01T08:00:00Z,21.5,500\n2024-03-01T08:05:00Z,21.6,510\n",
    )
    write(
        tmp_path / "data/b3.csv",
        "timestamp,co2,temp\n2024-03-01 08:00,400,20\n2024-03-01 08:05,401,20\n",
    )
    b3, b1, b2 = load_sites("sensor", "data", 3, 2, 0)

    assert (b1.site, b1.organization, b2.organization, b3.organization) == (
        "b1",
        "org-a",
        "org-b",
        "org-1",
    )
    assert b1.features == b2.features == ("co2", "temp")
    np.testing.assert_array_equal(b2.segments[0], np.float32([[500, 21.5], [510, 21.6]]))
    # The hour without readings splits b1 into two segments; label runs become episodes.
    assert b1.step_s == 300 and [len(s) for s in b1.segments] == [4, 2]
    assert [(e.kind, e.segment, e.start, e.stop) for e in b1.episodes] == [
        ("labelled", 0, 1, 3),
        ("labelled", 1, 1, 2),
    ]
    assert b2.labels[0].tolist() == [0, 0]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "timestamp,co2,temp\n2024-03-01T08:00:00,420,21\n2024-03-01T08:05:00,abc,21\n",
            "data/org-a/b1.csv line 3: column 'co2' is 'abc', expected a number; fix or remove the row",
        ),
        (
            "timestamp,co2,temp\n2024-03-01T08:00:00,nan,21\n",
            "data/org-a/b1.csv line 2: column 'co2' is 'nan', expected a finite number; fix or remove the row",
        ),
        (
            "timestamp,co2,temp\n2024-03-01T08:00:00,420\n",
            "data/org-a/b1.csv line 2: 2 fields, but the header has 3; fix or remove the row",
        ),
        (
            "time,co2,temp\n2024-03-01T08:00:00,420,21\n",
            (
                "data/org-a/b1.csv line 1: no 'timestamp' column in header ['time', 'co2', 'temp']; "
                "name the time column 'timestamp'"
            ),
        ),
        (
            "timestamp,co2,temp\n2024-03-01T08:00:00,420,21\n\n2024-03-01 noon,420,21\n",
            (
                "data/org-a/b1.csv line 4: column 'timestamp' is '2024-03-01 noon', expected an ISO 8601 "
                "time such as '2024-03-01T08:05:00'; fix or remove the row"
            ),
        ),
        (
            "timestamp,co2,temp\n2024-03-01T08:05:00,420,21\n2024-03-01T08:00:00,420,21\n",
            (
                "data/org-a/b1.csv line 3: timestamp '2024-03-01T08:00:00' is not after the previous "
                "row's; sort the file by time and drop duplicate rows"
            ),
        ),
        (
            "timestamp,co2,temp,label\n2024-03-01T08:00:00,420,21,yes\n",
            "data/org-a/b1.csv line 2: column 'label' is 'yes', expected 0 or 1; fix or remove the row",
        ),
        (
            "timestamp,co2,co2\n2024-03-01T08:00:00,420,21\n",
            "data/org-a/b1.csv line 1: column 'co2' appears twice; give every column its own name",
        ),
        (
            "timestamp,co2\n",
            "data/org-a/b1.csv: a header but no data rows; add readings or remove the file",
        ),
        (
            "",
            "data/org-a/b1.csv: the file is empty, expected a header line with a 'timestamp' column",
        ),
        (
            "timestamp,label\n2024-03-01T08:00:00,0\n",
            "data/org-a/b1.csv line 1: no sensor columns besides 'timestamp'; add at least one",
        ),
    ],
)
def test_a_malformed_csv_file_is_named_with_its_line_and_the_fix(
    tmp_path, monkeypatch, text, message
):
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "data/org-a/b1.csv", text)
    with pytest.raises(DataError) as error:
        load_sites("sensor", "data", 1, 1, 0)
    assert str(error.value) == message


def test_sites_with_other_sensor_columns_are_refused_naming_the_odd_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "data/org-a/b1.csv", GOOD)
    write(tmp_path / "data/org-b/b2.csv", "timestamp,co2,humidity\n2024-03-01T08:00:00,420,40\n")
    with pytest.raises(DataError) as error:
        load_sites("sensor", "data", 2, 1, 0)
    assert str(error.value) == (
        "data/org-b/b2.csv: sensor columns ['co2', 'humidity'] differ from ['co2', 'temp'] in "
        "data/org-a/b1.csv; every site must have the same sensor columns"
    )


def test_csv_directory_errors_for_missing_files_too_many_sites_and_clashing_names(
    tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data").mkdir()
    with pytest.raises(DataError) as error:
        load_sites("sensor", "data", 1, 1, 0)
    assert str(error.value) == (
        "data: no CSV files, expected one per site as data/SITE.csv or data/ORGANIZATION/SITE.csv"
    )

    write(tmp_path / "data/org-a/b1.csv", GOOD)
    write(tmp_path / "data/org-b/b1.csv", GOOD)
    with pytest.raises(DataError) as error:
        load_sites("sensor", "data", 3, 1, 0)
    assert str(error.value) == (
        "sites is 3, but data holds 2 site files; ask for 2 sites or fewer (--sites 2)"
    )
    with pytest.raises(DataError) as error:
        load_sites("sensor", "data", 2, 1, 0)
    assert str(error.value) == (
        "data/org-b/b1.csv: site id 'b1' is also the name of data/org-a/b1.csv; site ids come "
        "from file names and must be unique, so rename one of them"
    )


def test_only_loads_the_named_sites_exactly_as_in_the_full_scenario():
    full = load_sites("sensor", "simulated", 6, 2, 3)
    some = load_sites("sensor", "simulated", 6, 2, 3, only={"site-002", "site-005"})
    assert [s.site for s in some] == ["site-002", "site-005"]
    for mine, theirs in zip(some, (full[1], full[4])):
        assert mine.organization == theirs.organization and mine.episodes == theirs.episodes
        np.testing.assert_array_equal(mine.segments[0], theirs.segments[0])
    rooms = load_sites("sensor", "uci-appliances", 9, 3, 0, only={"site-009"})
    assert [r.profile["room"] for r in rooms] == ["parents room"]
