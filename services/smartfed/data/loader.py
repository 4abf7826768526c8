"""``load_sites``: the one entry point that turns a task and a data source into sites."""

from __future__ import annotations

import logging
from collections.abc import Collection
from pathlib import Path

from smartfed.data.buildings import building_site
from smartfed.data.csv_sites import csv_sites, site_files
from smartfed.data.errors import DataError
from smartfed.data.networks import network_site
from smartfed.data.series import SiteSeries
from smartfed.data.sites import site_id
from smartfed.data.uci import ROOMS, uci_sites

log = logging.getLogger(__name__)

TASKS = ("sensor", "network")
SIMULATED = "simulated"
UCI_APPLIANCES = "uci-appliances"


def load_sites(
    task: str,
    data: str,
    sites: int,
    organizations: int,
    seed: int,
    *,
    scale: float = 1.0,
    only: Collection[str] | None = None,
) -> list[SiteSeries]:
    """The sites of one scenario, in site order.

    ``data`` is ``"simulated"``, ``"uci-appliances"`` (sensor task only) or a directory of
    CSV files. ``scale`` shortens every simulated site's duration by the same factor (a site
    keeps at least half a day of sensor data or an hour of network data), which is the cheap
    path for scale benchmarks with hundreds of sites; it does not apply to real data.
    ``only`` keeps just the named sites, as a worker hosting some of them needs; simulated
    sites outside it are never generated, and each site is the same as in the full scenario.
    """
    _check_scenario(task, sites, organizations, seed, scale)
    if data == SIMULATED:
        make_site = building_site if task == "sensor" else network_site
        indices = [i for i in range(sites) if only is None or site_id(i) in only]
        result = [make_site(seed, i, organizations, scale) for i in indices]
    elif data == UCI_APPLIANCES:
        if task != "sensor":
            raise DataError(
                f"data {UCI_APPLIANCES!r} holds building sensor readings, not network flows; "
                f"use it with task 'sensor', or use data {SIMULATED!r} for task {task!r}"
            )
        result = uci_sites(sites, organizations, seed)
    elif Path(data).is_dir():
        result = csv_sites(Path(data), task, sites, organizations)
    else:
        raise DataError(
            f"data {data!r} is neither {SIMULATED!r}, {UCI_APPLIANCES!r} nor an existing "
            "directory; pass one of the two names or the path of a directory of per-site CSV files"
        )
    if only is not None:
        result = [s for s in result if s.site in only]

    log.info(
        "loaded %d %s sites from %s: %d rows, %d episodes",
        len(result),
        task,
        data,
        sum(s.rows for s in result),
        sum(len(s.episodes) for s in result),
    )
    return result


def available_sites(data: str) -> int | None:
    """How many sites a real data source holds; None for simulated data, which has any number."""
    if data == SIMULATED:
        return None
    if data == UCI_APPLIANCES:
        return len(ROOMS)
    return len(site_files(Path(data))) if Path(data).is_dir() else None


def _check_scenario(task: str, sites: int, organizations: int, seed: int, scale: float) -> None:
    if task not in TASKS:
        raise DataError(f"task {task!r} is not one of {', '.join(TASKS)}; pick one of them")
    if sites < 1:
        raise DataError(f"sites is {sites}, expected at least 1; ask for one site or more")
    if not 1 <= organizations <= sites:
        raise DataError(
            f"organizations is {organizations} for {sites} sites, expected 1 to {sites}: "
            "every organization needs at least one site"
        )
    if seed < 0:
        raise DataError(f"seed is {seed}, expected a non-negative integer")
    if not 0.0 < scale <= 1.0:
        raise DataError(f"scale is {scale}, expected more than 0 and at most 1")
