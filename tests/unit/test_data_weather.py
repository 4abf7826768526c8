"""Real TMY3 weather: read as the file says, interpolated between hours, wrapped at year end."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from smartfed.data.weather import outdoor_weather, read_epw, stations, typical_year, weather_file

CHICAGO = "USA_IL_Chicago-OHare.Intl.AP.725300"


def _raw_rows(station: str) -> list[list[str]]:
    with weather_file(station).open(newline="", encoding="latin-1") as handle:
        return list(csv.reader(handle))[8:]


def test_sixteen_stations_ship_and_each_has_a_full_clean_year():
    assert len(stations()) == 16
    for station in stations():
        year = typical_year(station)
        assert year.temperature_c.shape == year.humidity_pct.shape == year.daylight_lux.shape == (8760,)
        assert -40 < year.temperature_c.min() < year.temperature_c.max() < 50
        assert 0 <= year.humidity_pct.min() and year.humidity_pct.max() <= 100
        # Night is dark and noon in summer is bright, at every station.
        assert year.daylight_lux.min() == 0 and year.daylight_lux.max() > 80_000


def test_readings_are_the_files_own_columns():
    rows = _raw_rows(CHICAGO)
    year = typical_year(CHICAGO)
    for k in (0, 4000, 8759):
        assert year.temperature_c[k] == float(rows[k][6])
        assert year.humidity_pct[k] == float(rows[k][8])
        assert year.daylight_lux[k] == float(rows[k][16])


def test_five_minute_steps_interpolate_between_hourly_readings_and_wrap_into_january():
    year = typical_year(CHICAGO)
    # Day 10 starts at hour 240; reading 239 is at the end of hour 239, i.e. at hour 240.
    weather = outdoor_weather(CHICAGO, 10.0, 13, 300)
    assert weather.temperature_c[0] == pytest.approx(year.temperature_c[239])
    assert weather.temperature_c[12] == pytest.approx(year.temperature_c[240])
    assert weather.temperature_c[6] == pytest.approx(year.temperature_c[239:241].mean())
    # From noon on 31 December across midnight: the values continue from 1 January.
    late = outdoor_weather(CHICAGO, 364.5, 24 * 12, 300)
    assert late.temperature_c[-1] == pytest.approx(np.interp(11 / 12, [0, 1], year.temperature_c[10:12]))
    assert np.isfinite(late.temperature_c).all()


def test_a_missing_reading_is_an_error_naming_the_file_and_row(tmp_path):
    rows = _raw_rows(CHICAGO)
    rows[41][6] = "99.9"
    broken = tmp_path / "broken.epw"
    with broken.open("w", newline="") as handle:
        handle.write("header\n" * 8)
        csv.writer(handle).writerows(rows)
    with pytest.raises(ValueError, match=r"broken\.epw: temperature_c is missing on data row 42"):
        read_epw(broken)


def test_an_unknown_station_lists_the_shipped_ones():
    with pytest.raises(ValueError, match="choose one of USA_AZ_Phoenix"):
        typical_year("Atlantis")
