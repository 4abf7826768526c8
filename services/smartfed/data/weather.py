"""Synthetic outdoor weather for a site: temperature, humidity and daylight at each time step.

Real typical-year (TMY3) files ship with the EnergyPlus package, but that package carries the
whole simulation engine for 16 weather files, so the climates below are synthetic: each is a handful
of numbers (annual mean, seasonal and daily swing, humidity, latitude, cloudiness) chosen to
resemble a climate zone, and the weather is built from them as

- a seasonal cosine (coldest around 20 January in the northern hemisphere),
- a daily cosine peaking mid-afternoon, its swing damped under cloud,
- slow "weather front" wander with a correlation time of about two days,
- relative humidity that falls as the day warms (absolute moisture roughly constant over a day),
- solar elevation from latitude and day of year, attenuated by cloud cover, as daylight lux.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from smartfed.data.signals import wander


@dataclass(frozen=True)
class Climate:
    name: str
    annual_mean_c: float
    seasonal_swing_c: float
    daily_swing_c: float
    humidity_pct: float
    latitude_deg: float
    cloudiness: float


CLIMATES: tuple[Climate, ...] = (
    Climate("hot-humid", 24.5, 5.0, 7.0, 75.0, 26.0, 0.45),
    Climate("hot-dry", 23.0, 10.0, 14.0, 30.0, 33.5, 0.15),
    Climate("mixed-humid", 13.0, 12.0, 9.0, 65.0, 39.0, 0.45),
    Climate("marine", 11.5, 6.5, 8.0, 75.0, 47.5, 0.65),
    Climate("cold", 9.0, 14.0, 9.5, 68.0, 42.0, 0.5),
    Climate("very-cold", 6.0, 16.0, 10.0, 70.0, 46.8, 0.5),
)

_CLEAR_SKY_LUX = 110_000.0


@dataclass(frozen=True)
class Weather:
    temperature_c: np.ndarray
    humidity_pct: np.ndarray
    daylight_lux: np.ndarray


def hours_and_days(
    start_day_of_year: float, steps: int, step_s: int
) -> tuple[np.ndarray, np.ndarray]:
    """Local hour of day (0-24) and fractional day of year at each step from a midnight start."""
    elapsed_days = np.arange(steps) * step_s / 86_400.0
    return (elapsed_days % 1.0) * 24.0, start_day_of_year + elapsed_days


def outdoor_weather(
    rng: np.random.Generator, climate: Climate, start_day_of_year: float, steps: int, step_s: int
) -> Weather:
    hour, day = hours_and_days(start_day_of_year, steps, step_s)
    steps_per_day = 86_400 // step_s

    # Cloud cover in [0, 1]: slow wander around the climate's cloudiness.
    cloud = np.clip(climate.cloudiness + 0.3 * wander(rng, (steps,), steps_per_day // 4), 0.0, 1.0)

    seasonal = -climate.seasonal_swing_c * np.cos(2.0 * np.pi * (day - 20.0) / 365.0)
    daily = (
        0.5
        * climate.daily_swing_c
        * (1.0 - 0.5 * cloud)
        * np.cos(2.0 * np.pi * (hour - 15.0) / 24.0)
    )
    fronts = 3.0 * wander(rng, (steps,), 2 * steps_per_day)
    temperature_c = climate.annual_mean_c + seasonal + daily + fronts

    humidity_pct = (
        climate.humidity_pct - 2.2 * daily + 8.0 * wander(rng, (steps,), steps_per_day) + 10 * cloud
    )
    humidity_pct = np.clip(humidity_pct, 8.0, 100.0)

    # Solar elevation: declination from day of year, hour angle from solar time.
    declination = np.radians(-23.44) * np.cos(2.0 * np.pi * (day + 10.0) / 365.0)
    latitude = np.radians(climate.latitude_deg)
    hour_angle = np.radians(15.0 * (hour - 12.0))
    sin_elevation = np.sin(latitude) * np.sin(declination) + np.cos(latitude) * np.cos(
        declination
    ) * np.cos(hour_angle)
    daylight_lux = _CLEAR_SKY_LUX * np.clip(sin_elevation, 0.0, None) * (1.0 - 0.75 * cloud)

    return Weather(temperature_c, humidity_pct, daylight_lux)
