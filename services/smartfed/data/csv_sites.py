"""Your own readings: a directory with one CSV file per site.

Layout: ``PATH/<site>.csv`` or ``PATH/<organization>/<site>.csv``; the file name (without
``.csv``) is the site id and a sub-directory names its organization (files directly in PATH
are dealt to ``org-1``..``org-N`` in turn). Each file has a header with a ``timestamp`` column
(ISO 8601; without a UTC offset it is read as UTC), numeric sensor columns, and optionally a
``label`` column of 0/1. Every site must have the same sensor columns, in any order.

Rows must be in time order. The time step is the most common gap between readings; a gap of
more than twice that starts a new segment, so no window ever spans missing data. Labelled runs
become episodes of kind ``labelled``.

Every malformed file stops the load with a ``DataError`` naming the file, the 1-based line, what
is wrong and what to do.
"""

from __future__ import annotations

import csv
import itertools
import logging
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from smartfed.data.errors import DataError
from smartfed.data.series import Episode, SiteSeries
from smartfed.data.sites import organization_of

log = logging.getLogger(__name__)

TIMESTAMP = "timestamp"
LABEL = "label"
LABELLED = "labelled"


@dataclass
class _Table:
    path: Path
    columns: tuple[str, ...]
    times_s: np.ndarray
    values: np.ndarray
    labels: np.ndarray


def site_files(path: Path) -> list[Path]:
    """One CSV per site: in ``path`` itself, or one level down in organization folders."""
    return sorted(path.glob("*.csv")) + sorted(path.glob("*/*.csv"))


def csv_sites(path: Path, task: str, sites: int, organizations: int) -> list[SiteSeries]:
    files = site_files(path)
    if not files:
        raise DataError(
            f"{path}: no CSV files, expected one per site as {path}/SITE.csv or "
            f"{path}/ORGANIZATION/SITE.csv"
        )
    if sites > len(files):
        raise DataError(
            f"sites is {sites}, but {path} holds {len(files)} site files; ask for "
            f"{len(files)} sites or fewer (--sites {len(files)})"
        )
    if sites < len(files):
        log.info("using the first %d of %d site files in %s", sites, len(files), path)
    files = files[:sites]

    seen: dict[str, Path] = {}
    for file in files:
        if file.stem in seen:
            raise DataError(
                f"{file}: site id {file.stem!r} is also the name of {seen[file.stem]}; "
                "site ids come from file names and must be unique, so rename one of them"
            )
        seen[file.stem] = file

    tables = [_read_table(file) for file in files]
    reference = tables[0]
    for table in tables[1:]:
        if set(table.columns) != set(reference.columns):
            raise DataError(
                f"{table.path}: sensor columns {sorted(table.columns)} differ from "
                f"{sorted(reference.columns)} in {reference.path}; every site must have the "
                "same sensor columns"
            )

    result = []
    root_files = 0
    for table in tables:
        if table.path.parent == path:
            organization = organization_of(root_files, organizations)
            root_files += 1
        else:
            organization = table.path.parent.name
        order = [table.columns.index(c) for c in reference.columns]
        result.append(_site(table, reference.columns, order, organization, task))
    return result


def _site(
    table: _Table, columns: tuple[str, ...], order: list[int], organization: str, task: str
) -> SiteSeries:
    gaps_s = np.diff(table.times_s)
    step_s = int(np.median(gaps_s)) if len(gaps_s) else 1
    cuts = np.flatnonzero(gaps_s > 2 * step_s) + 1
    bounds = [0, *cuts.tolist(), len(table.times_s)]

    segments, labels, episodes = [], [], []
    for segment, (start, stop) in enumerate(itertools.pairwise(bounds)):
        segments.append(table.values[start:stop][:, order].astype(np.float32))
        labels.append(table.labels[start:stop])
        episodes.extend(_episodes(table.labels[start:stop], segment))
    return SiteSeries(
        site=table.path.stem,
        organization=organization,
        task=task,
        features=columns,
        segments=segments,
        labels=labels,
        episodes=episodes,
        profile={"simulated": False, "source": str(table.path), "segments": len(segments)},
        step_s=step_s,
    )


def _episodes(labels: np.ndarray, segment: int) -> list[Episode]:
    edges = np.diff(np.concatenate([[0], labels, [0]]).astype(np.int8))
    starts, stops = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    return [Episode(LABELLED, segment, int(a), int(b)) for a, b in zip(starts, stops)]


def _read_table(file: Path) -> _Table:
    try:
        with file.open(newline="", encoding="utf-8-sig") as handle:
            return _parse(file, csv.reader(handle))
    except UnicodeDecodeError as error:
        raise DataError(
            f"{file}: not UTF-8 text ({error.reason} at byte {error.start}); save it as UTF-8 CSV"
        ) from error


def _parse(file: Path, reader: csv.reader) -> _Table:  # type: ignore[valid-type]
    header = next(reader, None)
    if header is None:
        raise DataError(
            f"{file}: the file is empty, expected a header line with a '{TIMESTAMP}' column"
        )
    header = [name.strip() for name in header]
    duplicates = sorted({name for name in header if header.count(name) > 1})
    if duplicates:
        raise DataError(
            f"{file} line 1: column {duplicates[0]!r} appears twice; give every column its own name"
        )
    if TIMESTAMP not in header:
        raise DataError(
            f"{file} line 1: no '{TIMESTAMP}' column in header {header}; name the time column "
            f"'{TIMESTAMP}'"
        )
    time_at = header.index(TIMESTAMP)
    label_at = header.index(LABEL) if LABEL in header else None
    sensor_at = [i for i, name in enumerate(header) if i not in (time_at, label_at)]
    if not sensor_at:
        raise DataError(f"{file} line 1: no sensor columns besides '{TIMESTAMP}'; add at least one")

    times_s: list[float] = []
    values: list[list[float]] = []
    labels: list[int] = []
    for row in reader:
        if not row:
            continue
        line = reader.line_num
        where = f"{file} line {line}"
        if len(row) != len(header):
            raise DataError(
                f"{where}: {len(row)} fields, but the header has {len(header)}; fix or remove the row"
            )
        time_s = _timestamp(row[time_at], where)
        if times_s and time_s <= times_s[-1]:
            raise DataError(
                f"{where}: timestamp {row[time_at]!r} is not after the previous row's; sort the "
                "file by time and drop duplicate rows"
            )
        times_s.append(time_s)
        values.append([_number(row[i], header[i], where) for i in sensor_at])
        if label_at is not None:
            label = row[label_at].strip()
            if label not in ("0", "1"):
                raise DataError(
                    f"{where}: column '{LABEL}' is {label!r}, expected 0 or 1; fix or remove the row"
                )
            labels.append(int(label))
        else:
            labels.append(0)

    if not values:
        raise DataError(f"{file}: a header but no data rows; add readings or remove the file")
    return _Table(
        file,
        tuple(header[i] for i in sensor_at),
        np.array(times_s),
        np.array(values, dtype=np.float64),
        np.array(labels, dtype=np.int8),
    )


def _timestamp(text: str, where: str) -> float:
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise DataError(
            f"{where}: column '{TIMESTAMP}' is {text!r}, expected an ISO 8601 time such as "
            "'2024-03-01T08:05:00'; fix or remove the row"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def _number(text: str, column: str, where: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise DataError(
            f"{where}: column {column!r} is {text!r}, expected a number; fix or remove the row"
        ) from None
    if not math.isfinite(value):
        raise DataError(
            f"{where}: column {column!r} is {text!r}, expected a finite number; fix or remove the row"
        )
    return value
