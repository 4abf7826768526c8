"""Simulated buildings for the sensor task: zones of telemetry driven by weather and people.

Each site is one building of a type (office, school, retail, hospital) at one of the real
TMY3 weather stations of ``weather.py``, with 2-6 zones. A zone is one segment: a row every
5 minutes with the features of ``SENSOR_FEATURES``. The physics is deliberately simple, but
every reading has the cause it has in a real zone:

- occupancy: a Poisson head count around the type's weekday/weekend schedule, scaled by a
  per-day factor and slow wander;
- temperature: the zone floats towards outdoor temperature plus internal and solar gains with
  the building's thermal time constant (hours); HVAC holds it between the heating and cooling
  setpoints, occupied or set back, and reaches a new setpoint over 45-90 minutes;
- CO2: mass balance of 0.0187 m3/h exhaled per person against outdoor air at the zone's
  ventilation rate, reached with the zone's air-change time constant;
- humidity: outdoor moisture plus what occupants add, capped by the cooling coil, shown as
  relative humidity at the indoor temperature;
- light: daylight through the zone's windows (core zones see none) plus electric light while
  anyone is there (and a dim floor for exit signs);
- power: plug loads and lighting, people, and the heating or cooling load over the heat
  pump's COP, plus fans while the HVAC runs in occupied mode.

Sites differ in weather station (so in climate), type, zone count and size, sensor noise and
bias, and in how much data they have: a third of sites hold 3-6 days, the rest 3-6 weeks,
capped at 58,000 rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from smartfed.data.faults import SensorSpec, inject_faults
from smartfed.data.series import SiteSeries
from smartfed.data.signals import lag, wander
from smartfed.data.sites import organization_of, site_id, site_rng
from smartfed.data.weather import hours_and_days, outdoor_weather, stations

SENSOR_FEATURES: tuple[str, ...] = (
    "temperature_c",
    "humidity_pct",
    "co2_ppm",
    "light_lux",
    "occupancy",
    "power_kw",
)
STEP_S = 300
_STEPS_PER_HOUR = 3_600 // STEP_S
_STEPS_PER_DAY = 86_400 // STEP_S

# Sites whose index modulo 12 falls here are small (3-6 days): four in every twelve, placed so
# that with 2, 3 or 4 organizations no organization holds only small or only large sites.
_SMALL_SITE_SLOTS = frozenset({1, 4, 6, 11})
_MAX_SITE_ROWS = 58_000

SENSOR_SPECS: tuple[SensorSpec, ...] = (
    SensorSpec("temperature_c", 1.5, ((-40.0, -15.0), (55.0, 85.0)), nonnegative=False),
    SensorSpec("humidity_pct", 4.0, ((-20.0, -1.0), (101.0, 130.0))),
    SensorSpec("co2_ppm", 150.0, ((100.0, 300.0), (5_500.0, 8_000.0))),
    SensorSpec("light_lux", 100.0, ((-300.0, -10.0),)),
    SensorSpec(
        "occupancy",
        5.0,
        ((-6.0, -1.0), (250.0, 255.0)),
        kinds=frozenset({"spike", "out_of_range", "noise_burst"}),
    ),
    SensorSpec("power_kw", 0.5, ((-8.0, -1.0),)),
)

_NOISE_LEVELS = {"low": 0.5, "medium": 1.0, "high": 2.0}


@dataclass(frozen=True)
class BuildingType:
    """Schedules and design values of one kind of building.

    Occupancy schedules are (hour, share of design occupancy) knots, linearly joined.
    ``hvac_weekday``/``hvac_weekend`` are the hours of occupied-mode HVAC, ``None`` for setback
    all day; a hospital runs occupied mode around the clock.
    """

    name: str
    weekday: tuple[tuple[float, float], ...]
    weekend: tuple[tuple[float, float], ...]
    hvac_weekday: tuple[float, float] | None
    hvac_weekend: tuple[float, float] | None
    heating_c: float
    cooling_c: float
    people_per_zone: tuple[int, int]
    m3_per_person: tuple[float, float]
    ventilation_ach: tuple[float, float]
    lighting_lux: float
    night_lux: float


BUILDING_TYPES: tuple[BuildingType, ...] = (
    BuildingType(
        "office",
        (
            (0, 0.0),
            (6.5, 0.02),
            (9, 0.85),
            (12, 0.8),
            (12.5, 0.55),
            (13.5, 0.8),
            (17, 0.7),
            (19, 0.08),
            (24, 0.0),
        ),
        ((0, 0.0), (10, 0.03), (15, 0.03), (24, 0.0)),
        (6.0, 19.0),
        None,
        21.0,
        24.0,
        (8, 40),
        (25.0, 45.0),
        (1.0, 2.0),
        500.0,
        5.0,
    ),
    BuildingType(
        "school",
        (
            (0, 0.0),
            (7, 0.05),
            (8, 0.95),
            (11.5, 0.95),
            (12, 0.4),
            (12.75, 0.95),
            (15, 0.9),
            (15.5, 0.15),
            (17.5, 0.02),
            (24, 0.0),
        ),
        ((0, 0.0), (24, 0.0)),
        (6.0, 16.5),
        None,
        20.0,
        24.5,
        (18, 32),
        (7.0, 10.0),
        (3.0, 6.0),
        400.0,
        5.0,
    ),
    BuildingType(
        "retail",
        (
            (0, 0.0),
            (9, 0.05),
            (10, 0.25),
            (12.5, 0.6),
            (14.5, 0.4),
            (18, 0.7),
            (21, 0.3),
            (21.5, 0.03),
            (24, 0.0),
        ),
        ((0, 0.0), (9, 0.05), (10, 0.4), (14, 0.9), (18, 0.7), (21, 0.3), (21.5, 0.03), (24, 0.0)),
        (8.0, 22.0),
        (8.0, 22.0),
        20.0,
        24.5,
        (15, 70),
        (20.0, 40.0),
        (1.5, 3.0),
        800.0,
        30.0,
    ),
    BuildingType(
        "hospital",
        ((0, 0.45), (6, 0.5), (9, 0.95), (17, 0.9), (21, 0.6), (24, 0.45)),
        ((0, 0.45), (9, 0.8), (18, 0.75), (24, 0.45)),
        (0.0, 24.0),
        (0.0, 24.0),
        21.5,
        24.0,
        (6, 24),
        (20.0, 35.0),
        (2.0, 3.0),
        400.0,
        60.0,
    ),
)

_SETBACK_HEATING_C = 15.5
_SETBACK_COOLING_C = 29.5
_CO2_PER_PERSON_M3_H = 0.0187
_MOISTURE_PER_PERSON_KG_H = 0.06
_WATER_VAPOUR_J_KG_K = 461.5
_COIL_C = 12.0
_LIGHT_HOLD_STEPS = 30 * 60 // STEP_S


def building_site(seed: int, index: int, organizations: int, scale: float) -> SiteSeries:
    """Site ``index`` of a simulated-building scenario: its clean series plus injected faults."""
    rng = site_rng(seed, index, "sensor")
    building = BUILDING_TYPES[int(rng.integers(len(BUILDING_TYPES)))]
    station = stations()[int(rng.integers(len(stations())))]
    zones = int(rng.integers(2, 7))
    small = index % 12 in _SMALL_SITE_SLOTS
    days = rng.uniform(3.0, 6.0) if small else rng.uniform(21.0, 42.0)
    days = min(days, _MAX_SITE_ROWS / (zones * _STEPS_PER_DAY)) * scale
    steps = max(_STEPS_PER_DAY // 2, int(days * _STEPS_PER_DAY))
    noise_level = str(rng.choice(list(_NOISE_LEVELS)))
    start_day_of_year = float(rng.integers(0, 365))
    start_weekday = int(rng.integers(0, 7))
    rate = float(rng.uniform(0.03, 0.06))

    clean = simulate_zones(
        rng,
        building,
        station,
        zones,
        steps,
        start_day_of_year,
        start_weekday,
        _NOISE_LEVELS[noise_level],
    )
    segments, labels, episodes = inject_faults(rng, clean, SENSOR_SPECS, rate, STEP_S)
    return SiteSeries(
        site=site_id(index),
        organization=organization_of(index, organizations),
        task="sensor",
        features=SENSOR_FEATURES,
        segments=[s.astype(np.float32) for s in segments],
        labels=labels,
        episodes=episodes,
        profile={
            "simulated": True,
            "building_type": building.name,
            "weather_station": station,
            "zones": zones,
            "days": round(steps / _STEPS_PER_DAY, 2),
            "noise_level": noise_level,
            "start_day_of_year": int(start_day_of_year),
            "fault_rate_target": round(rate, 4),
        },
        step_s=STEP_S,
    )


def simulate_zones(
    rng: np.random.Generator,
    building: BuildingType,
    station: str,
    zones: int,
    steps: int,
    start_day_of_year: float,
    start_weekday: int,
    noise: float,
) -> list[np.ndarray]:
    """Fault-free readings of every zone, one (steps, 6) array per zone."""
    weather = outdoor_weather(station, start_day_of_year, steps, STEP_S)
    hour, _ = hours_and_days(start_day_of_year, steps, STEP_S)
    day = np.arange(steps) // _STEPS_PER_DAY
    weekend = (start_weekday + day) % 7 >= 5
    shape = (zones, steps)

    def per_zone(low: float, high: float) -> np.ndarray:
        return rng.uniform(low, high, (zones, 1))

    # Occupancy: schedule x per-day factor x slow wander, counted as Poisson heads.
    people = rng.integers(*building.people_per_zone, size=(zones, 1), endpoint=True)
    schedule = np.where(
        weekend,
        _schedule(building.weekend, hour),
        _schedule(building.weekday, hour),
    )
    daily_factor = rng.lognormal(0.0, 0.15, (zones, day[-1] + 1))[:, day]
    slow = np.clip(1.0 + 0.15 * wander(rng, shape, 2 * _STEPS_PER_HOUR), 0.5, 1.5)
    expected = people * schedule * daily_factor * slow
    occupancy = rng.poisson(expected).astype(float)

    # HVAC mode and setpoints.
    occupied_mode = np.where(
        weekend, _in_hours(building.hvac_weekend, hour), _in_hours(building.hvac_weekday, hour)
    )
    heating_c = np.where(occupied_mode, building.heating_c, _SETBACK_HEATING_C)
    cooling_c = np.where(occupied_mode, building.cooling_c, _SETBACK_COOLING_C)

    # Zone geometry: volume from design occupancy, 3 m ceilings; core zones have no windows.
    volume_m3 = people * per_zone(*building.m3_per_person)
    area_m2 = volume_m3 / 3.0
    window_factor = per_zone(0.004, 0.02) * (rng.random((zones, 1)) < 0.7)

    # Temperature: free-floating response through the building's thermal mass, clamped by HVAC.
    tau_envelope_steps = per_zone(4.0, 12.0) * _STEPS_PER_HOUR
    tau_hvac_steps = per_zone(0.75, 1.5) * _STEPS_PER_HOUR
    gains_c = (
        per_zone(2.0, 5.0)
        + per_zone(3.0, 6.0) * occupancy / people
        + per_zone(1.5, 4.0) * window_factor / 0.012 * weather.daylight_lux / 50_000.0
    )
    free_c = np.stack(
        [lag(weather.temperature_c + gains_c[z], tau_envelope_steps[z, 0]) for z in range(zones)]
    )
    held_c = np.clip(free_c, heating_c, cooling_c)
    temperature_c = np.stack([lag(held_c[z], tau_hvac_steps[z, 0]) for z in range(zones)])
    ua_kw_k = area_m2 * per_zone(0.002, 0.006)
    heating_kw = ua_kw_k * np.clip(heating_c - free_c, 0.0, None)
    cooling_kw = ua_kw_k * np.clip(free_c - cooling_c, 0.0, None)

    # CO2: ventilation at the design air-change rate in occupied mode, infiltration otherwise.
    ach = np.where(occupied_mode, per_zone(*building.ventilation_ach), per_zone(0.3, 0.6))
    airflow_m3_h = ach * volume_m3
    outdoor_co2_ppm = per_zone(400.0, 440.0)
    co2_eq_ppm = outdoor_co2_ppm + 1e6 * _CO2_PER_PERSON_M3_H * occupancy / airflow_m3_h
    tau_air_steps = _STEPS_PER_HOUR / per_zone(*building.ventilation_ach)
    co2_ppm = np.stack([lag(co2_eq_ppm[z], tau_air_steps[z, 0]) for z in range(zones)])

    # Humidity: outdoor vapour pressure plus occupants' moisture, dried by the cooling coil.
    outdoor_hpa = weather.humidity_pct / 100.0 * _saturation_hpa(weather.temperature_c)
    added_hpa = (
        _MOISTURE_PER_PERSON_KG_H
        * occupancy
        / airflow_m3_h
        * _WATER_VAPOUR_J_KG_K
        * (temperature_c + 273.15)
        / 100.0
    )
    vapour_hpa = np.where(
        cooling_kw > 0.0,
        np.minimum(outdoor_hpa + added_hpa, _saturation_hpa(_COIL_C)),
        outdoor_hpa + added_hpa,
    )
    vapour_hpa = np.stack([lag(vapour_hpa[z], tau_air_steps[z, 0]) for z in range(zones)])
    humidity_pct = np.clip(100.0 * vapour_hpa / _saturation_hpa(temperature_c), 5.0, 95.0)

    # Light: daylight through windows plus electric light while the zone is occupied; the
    # occupancy sensor keeps lights on until nobody has been seen for half an hour.
    seen = np.lib.stride_tricks.sliding_window_view(
        np.pad(occupancy, ((0, 0), (_LIGHT_HOLD_STEPS - 1, 0))), _LIGHT_HOLD_STEPS, axis=-1
    ).max(axis=-1)
    electric_lux = np.where(seen > 0, building.lighting_lux, building.night_lux)
    light_lux = np.minimum(window_factor * weather.daylight_lux, 2_500.0) + electric_lux

    # Power: plug base, people, lighting at 10 W/m2 for full light, HVAC over COP, fans.
    power_kw = (
        area_m2 * per_zone(0.004, 0.012)
        + 0.12 * occupancy
        + area_m2 * 0.010 * electric_lux / building.lighting_lux
        + heating_kw / 3.0
        + cooling_kw / 3.5
        + occupied_mode * area_m2 * 0.003
    )
    power_kw = np.stack([lag(power_kw[z], tau_hvac_steps[z, 0] / 2.0) for z in range(zones)])

    # Sensors: per-zone calibration bias and per-reading noise, scaled by the site's noise level.
    miscount = rng.random(shape) < 0.05 * noise
    occupancy_read = np.maximum(occupancy + miscount * rng.choice([-1.0, 1.0], shape), 0.0)
    readings = np.stack(
        [
            temperature_c
            + rng.normal(0.0, 0.25 * noise, (zones, 1))
            + rng.normal(0.0, 0.08 * noise, shape),
            np.clip(
                humidity_pct
                + rng.normal(0.0, 1.5 * noise, (zones, 1))
                + rng.normal(0.0, 0.8 * noise, shape),
                0.0,
                100.0,
            ),
            co2_ppm
            + rng.normal(0.0, 25.0 * noise, (zones, 1))
            + rng.normal(0.0, 1.0, shape) * (12.0 * noise + 0.015 * co2_ppm),
            np.maximum(
                light_lux + rng.normal(0.0, 1.0, shape) * (2.0 * noise + 0.03 * light_lux), 0.5
            ),
            occupancy_read,
            np.maximum(
                power_kw + rng.normal(0.0, 1.0, shape) * (0.03 * noise + 0.02 * power_kw), 0.0
            ),
        ],
        axis=-1,
    )
    return [readings[z] for z in range(zones)]


def _schedule(knots: tuple[tuple[float, float], ...], hour: np.ndarray) -> np.ndarray:
    hours, shares = zip(*knots)
    return np.interp(hour, hours, shares)


def _in_hours(hours: tuple[float, float] | None, hour: np.ndarray) -> np.ndarray:
    if hours is None:
        return np.zeros_like(hour, dtype=bool)
    return (hour >= hours[0]) & (hour < hours[1])


def _saturation_hpa(temperature_c: np.ndarray | float) -> np.ndarray:
    """Saturation vapour pressure over water (Magnus formula, WMO coefficients)."""
    return 6.112 * np.exp(17.62 * np.asarray(temperature_c) / (243.12 + np.asarray(temperature_c)))
