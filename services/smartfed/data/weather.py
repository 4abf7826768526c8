"""Outdoor weather for a simulated site, from a real typical meteorological year (TMY3).

The EnergyPlus package (``pyenergyplus-lbnl``) ships sixteen NREL TMY3 files for US stations,
from Miami to Chicago and San Francisco to Phoenix. A site is placed at one of them and its
weeks of data start on some day of that station's typical year, so fronts, cloudy days, heat
waves and the seasons are the ones a building there really sees. The files are hourly; the
readings are interpolated linearly to the simulation step:

- dry-bulb temperature (°C),
- relative humidity (%),
- global horizontal illuminance (lux), the daylight that windows let in.

A site whose data runs past 31 December continues on 1 January of the same typical year.
"""

from __future__ import annotations

import csv
import functools
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

_HOURS_PER_YEAR = 8760
# EPW data rows follow eight header lines; the columns used here, and the value each column
# writes when the reading is missing.
_HEADER_LINES = 8
_COLUMNS = {"temperature_c": (6, 99.9), "humidity_pct": (8, 999.0), "daylight_lux": (16, 999_999.0)}


@dataclass(frozen=True)
class Weather:
    """Readings at consecutive times: simulation steps, or the hours of a typical year."""

    temperature_c: np.ndarray
    humidity_pct: np.ndarray
    daylight_lux: np.ndarray


def _weather_directory() -> Path:
    try:
        return Path(str(resources.files("pyenergyplus") / "data" / "weather"))
    except ModuleNotFoundError as error:
        raise RuntimeError(
            "the TMY3 weather files come with the pyenergyplus-lbnl package, which is not "
            "installed; install smartfed with its dependencies (make simulate does)"
        ) from error


@functools.cache
def stations() -> tuple[str, ...]:
    """The shipped stations, by file name without ``_TMY3.epw``, in a fixed order."""
    found = tuple(sorted(p.name.removesuffix("_TMY3.epw") for p in _weather_directory().glob("*_TMY3.epw")))
    if not found:
        raise RuntimeError(f"no TMY3 weather files under {_weather_directory()}; reinstall pyenergyplus-lbnl")
    return found


@functools.cache
def typical_year(station: str) -> Weather:
    """The station's 8,760 hourly readings, parsed once per process.

    Reading ``k`` is at the end of hour ``k`` of the year, so reading 0 is at 01:00 on 1 January.
    """
    return read_epw(weather_file(station))


def weather_file(station: str) -> Path:
    path = _weather_directory() / f"{station}_TMY3.epw"
    if not path.is_file():
        raise ValueError(f"no TMY3 weather file for station '{station}'; choose one of {', '.join(stations())}")
    return path


def read_epw(path: Path) -> Weather:
    """A year of hourly EnergyPlus weather; a missing reading is an error naming its row."""
    with path.open(newline="", encoding="latin-1") as handle:
        rows = list(csv.reader(handle))[_HEADER_LINES:]
    if len(rows) != _HOURS_PER_YEAR:
        raise ValueError(f"{path}: {len(rows)} hourly rows, a typical year has {_HOURS_PER_YEAR}")
    columns = {}
    for name, (column, missing) in _COLUMNS.items():
        values = np.array([float(row[column]) for row in rows])
        gaps = np.flatnonzero(values >= missing)
        if gaps.size:
            raise ValueError(
                f"{path}: {name} is missing on data row {gaps[0] + 1} ({gaps.size} rows in all)"
            )
        columns[name] = values
    return Weather(**columns)


def hours_and_days(
    start_day_of_year: float, steps: int, step_s: int
) -> tuple[np.ndarray, np.ndarray]:
    """Local hour of day (0-24) and fractional day of year at each step from a midnight start."""
    elapsed_days = np.arange(steps) * step_s / 86_400.0
    return (elapsed_days % 1.0) * 24.0, start_day_of_year + elapsed_days


def outdoor_weather(station: str, start_day_of_year: float, steps: int, step_s: int) -> Weather:
    """The station's weather at every step from midnight of ``start_day_of_year`` on."""
    year = typical_year(station)
    _, day = hours_and_days(start_day_of_year, steps, step_s)
    hours = day * 24.0
    readings_at = np.arange(1, _HOURS_PER_YEAR + 1, dtype=float)

    def at_steps(hourly: np.ndarray) -> np.ndarray:
        return np.interp(hours, readings_at, hourly, period=_HOURS_PER_YEAR)

    return Weather(
        temperature_c=at_steps(year.temperature_c),
        humidity_pct=at_steps(year.humidity_pct),
        daylight_lux=at_steps(year.daylight_lux),
    )
