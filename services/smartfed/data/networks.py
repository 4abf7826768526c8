"""Simulated building networks for the network task: per-device flow features, labelled attacks.

No package ships a labelled intrusion dataset of building IoT traffic, so this one is simulated
and every site's ``profile`` says so (``"simulated": True``).

A site is a device inventory (cameras, IP phones, thermostats, lighting controllers, badge
readers, workstations), each device one segment with a row per 1-minute window of its flows.
Traffic is generated per window, not per flow: each device type has a rate of background flows
that follows the business day (or not: a camera streams around the clock, a thermostat polls
its cloud every few minutes), bytes per flow with a heavy tail, a pool of destination hosts and
ports, and typical failure, SYN-only and external shares. Cameras add a constant video stream,
phones add RTP streams while a call lasts.

Attacks are added on top of the normal traffic of the device they involve, as episodes:

================= =========================================================== =========
kind              what the device's windows show                              minutes
================= =========================================================== =========
port_scan         hundreds of short failed SYNs to many ports of a few hosts, 3-20
                  or one port of many hosts
syn_flood         thousands of SYN-only flows per minute to one external host  2-10
brute_force       tens of short logins per minute to one SSH/Telnet port      10-45
exfiltration      tens to hundreds of MB per minute out to one external host  5-40
c2_beaconing      small flows every 5-30 s, machine-regular (low inter-arrival 30-120
                  CV), to one external host, a fifth of them unanswered
lateral_movement  admin ports (SMB, RPC, RDP, WinRM, SSH) of many internal    5-30
                  hosts, many refused
================= =========================================================== =========

Features, per device and minute (``NETWORK_FEATURES``); counts and byte totals are heavy-tailed
(a SYN flood is 10,000 times a thermostat's traffic) and are stored as ``log1p`` of the value:

- ``flows``, ``bytes_out``, ``bytes_in``, ``packets``: log1p of the window's totals;
- ``mean_duration_s``: mean flow duration in seconds (0 for an empty window);
- ``distinct_dst_ports``, ``distinct_dst_hosts``: log1p of the distinct counts;
- ``failed_conn_ratio``, ``syn_ratio``, ``external_ratio``: shares of the window's flows that
  were refused or timed out, that never got past SYN, that went outside the site (0 if empty);
- ``mean_interarrival_s``: mean gap between flow starts, the window length (60 s) when it
  holds fewer than two flows;
- ``interarrival_cv``: coefficient of variation of those gaps (0 with fewer than three flows):
  about 1 for random traffic, near 0 for machine-timed traffic.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from smartfed.data.placement import place_episodes
from smartfed.data.series import Episode, SiteSeries
from smartfed.data.sites import organization_of, site_id, site_rng
from smartfed.data.weather import hours_and_days

NETWORK_FEATURES: tuple[str, ...] = (
    "flows",
    "bytes_out",
    "bytes_in",
    "packets",
    "mean_duration_s",
    "distinct_dst_ports",
    "distinct_dst_hosts",
    "failed_conn_ratio",
    "syn_ratio",
    "external_ratio",
    "mean_interarrival_s",
    "interarrival_cv",
)
STEP_S = 60

ATTACK_KINDS: tuple[str, ...] = (
    "port_scan",
    "syn_flood",
    "brute_force",
    "exfiltration",
    "c2_beaconing",
    "lateral_movement",
)
_ATTACK_MINUTES: dict[str, tuple[int, int]] = {
    "port_scan": (3, 20),
    "syn_flood": (2, 10),
    "brute_force": (10, 45),
    "exfiltration": (5, 40),
    "c2_beaconing": (30, 120),
    "lateral_movement": (5, 30),
}

# Same pattern as the buildings: four sites in every twelve are small.
_SMALL_SITE_SLOTS = frozenset({1, 4, 6, 11})


@dataclass(frozen=True)
class DeviceType:
    """Normal traffic of one kind of device, per 1-minute window.

    ``activity`` is "office" (follows the working day), "arrivals" (peaks when people badge in
    and out) or "flat"; ``poll_s`` is the period of machine-timed flows (a thermostat's cloud
    check-in), ``stream_bytes_min`` a constant stream upstream (a camera's video).
    """

    name: str
    idle_flows_min: float
    busy_flows_min: float
    activity: str
    bytes_out_per_flow: float
    bytes_in_per_flow: float
    bytes_sigma: float
    duration_s: float
    host_pool: int
    port_pool: int
    failed_share: float
    external_share: float
    interarrival_cv: float
    poll_s: float | None = None
    stream_bytes_min: float = 0.0


DEVICE_TYPES: tuple[DeviceType, ...] = (
    DeviceType(
        "camera",
        0.3,
        0.6,
        "office",
        800,
        1_500,
        0.5,
        2.0,
        2,
        2,
        0.01,
        0.05,
        1.0,
        stream_bytes_min=15e6,
    ),
    DeviceType(
        "ip_phone", 0.2, 1.0, "office", 600, 900, 0.4, 1.0, 3, 2, 0.01, 0.1, 0.8, poll_s=60.0
    ),
    DeviceType(
        "thermostat", 0.05, 0.1, "flat", 1_500, 3_000, 0.3, 0.8, 2, 1, 0.02, 0.9, 0.3, poll_s=300.0
    ),
    DeviceType(
        "lighting_controller", 0.5, 2.5, "office", 200, 150, 0.3, 0.1, 4, 1, 0.005, 0.0, 1.0
    ),
    DeviceType(
        "badge_reader", 0.1, 3.0, "arrivals", 400, 600, 0.3, 0.3, 1, 1, 0.01, 0.0, 1.2, poll_s=60.0
    ),
    DeviceType("workstation", 1.5, 35.0, "office", 4_000, 60_000, 1.8, 6.0, 40, 3, 0.02, 0.7, 1.6),
)

_CALL_BYTES_MIN = 80_000 / 8 * 60


@dataclass
class _Traffic:
    """Raw per-window totals; several sources add up to one window before features are taken."""

    flows: np.ndarray
    bytes_out: np.ndarray
    bytes_in: np.ndarray
    packets: np.ndarray
    duration_s: np.ndarray
    ports: np.ndarray
    hosts: np.ndarray
    failed: np.ndarray
    syn: np.ndarray
    external: np.ndarray
    cv: np.ndarray

    def add(self, other: _Traffic, rows: slice) -> None:
        """Add ``other`` into ``rows``; the inter-arrival CV mixes weighted by flows."""
        mine = self.flows[rows]
        total = mine + other.flows
        weight = np.where(total > 0, other.flows / np.maximum(total, 1e-9), 0.0)
        self.cv[rows] = (1.0 - weight) * self.cv[rows] + weight * other.cv
        for name in (
            "flows",
            "bytes_out",
            "bytes_in",
            "packets",
            "duration_s",
            "ports",
            "hosts",
            "failed",
            "syn",
            "external",
        ):
            getattr(self, name)[rows] += getattr(other, name)

    def features(self, rng: np.random.Generator) -> np.ndarray:
        flows = self.flows
        some = flows > 0
        share = np.where(some, 1.0 / np.maximum(flows, 1.0), 0.0)
        interarrival_s = np.where(
            flows >= 2,
            STEP_S / np.maximum(flows, 1.0) * rng.lognormal(0.0, 0.1, len(flows)),
            STEP_S,
        )
        cv = np.where(flows >= 3, self.cv * rng.lognormal(0.0, 0.15, len(flows)), 0.0)
        return np.stack(
            [
                np.log1p(flows),
                np.log1p(self.bytes_out),
                np.log1p(self.bytes_in),
                np.log1p(self.packets),
                self.duration_s * share,
                np.log1p(self.ports),
                np.log1p(self.hosts),
                np.minimum(self.failed * share, 1.0),
                np.minimum(self.syn * share, 1.0),
                np.minimum(self.external * share, 1.0),
                interarrival_s,
                cv,
            ],
            axis=1,
        )


def network_site(seed: int, index: int, organizations: int, scale: float) -> SiteSeries:
    """Site ``index`` of a simulated-network scenario: its devices' windows plus attacks."""
    rng = site_rng(seed, index, "network")
    small = index % 12 in _SMALL_SITE_SLOTS
    devices = int(rng.integers(4, 9) if small else rng.integers(10, 21))
    hours = rng.uniform(4.0, 10.0) if small else rng.uniform(24.0, 36.0)
    steps = max(60, int(hours * 60 * scale))
    mix = rng.dirichlet(np.ones(len(DEVICE_TYPES)))
    inventory = [DEVICE_TYPES[i] for i in rng.choice(len(DEVICE_TYPES), size=devices, p=mix)]
    start_day = float(rng.integers(0, 7))
    start_hour = float(rng.integers(0, 24))
    rate = float(rng.uniform(0.01, 0.06))

    hour, day = hours_and_days(start_day + start_hour / 24.0, steps, STEP_S)
    weekend = np.floor(day) % 7 >= 5
    traffic = [_normal_traffic(rng, device, hour, weekend) for device in inventory]

    labels = [np.zeros(steps, dtype=np.int8) for _ in inventory]
    episodes: list[Episode] = []
    for slot in place_episodes(rng, _ATTACK_MINUTES, [steps] * devices, rate):
        rows = slice(slot.start, slot.stop)
        traffic[slot.segment].add(_attack_traffic(rng, slot.kind, slot.stop - slot.start), rows)
        labels[slot.segment][rows] = 1
        episodes.append(Episode(slot.kind, slot.segment, slot.start, slot.stop))

    return SiteSeries(
        site=site_id(index),
        organization=organization_of(index, organizations),
        task="network",
        features=NETWORK_FEATURES,
        segments=[t.features(rng).astype(np.float32) for t in traffic],
        labels=labels,
        episodes=episodes,
        profile={
            "simulated": True,
            "devices": {t.name: sum(d is t for d in inventory) for t in DEVICE_TYPES},
            "hours": round(steps / 60.0, 2),
            "attack_rate_target": round(rate, 4),
        },
        step_s=STEP_S,
    )


def _activity(kind: str, hour: np.ndarray, weekend: np.ndarray) -> np.ndarray:
    if kind == "flat":
        return np.ones_like(hour)
    if kind == "arrivals":
        peaks = sum(np.exp(-0.5 * ((hour - h) / 0.5) ** 2) for h in (8.5, 12.5, 17.25))
        return np.where(weekend, 0.05, np.minimum(peaks, 1.0))
    working = np.interp(hour, [0, 7, 9, 12, 13, 17, 19, 24], [0, 0.05, 1, 1, 0.7, 1, 0.1, 0])
    return np.where(weekend, 0.05 * working, working)


def _normal_traffic(
    rng: np.random.Generator, device: DeviceType, hour: np.ndarray, weekend: np.ndarray
) -> _Traffic:
    steps = len(hour)
    busy = device.busy_flows_min * rng.lognormal(0.0, 0.3)
    rate = device.idle_flows_min + (busy - device.idle_flows_min) * _activity(
        device.activity, hour, weekend
    )
    flows = rng.poisson(rate).astype(float)
    if device.poll_s is not None:
        ticks = (np.arange(steps + 1) * STEP_S + rng.uniform(0, device.poll_s)) // device.poll_s
        flows += np.diff(ticks)

    def volume(per_flow: float) -> np.ndarray:
        sigma = device.bytes_sigma / np.sqrt(np.maximum(flows, 1.0))
        return flows * per_flow * rng.lognormal(-0.5 * sigma**2, sigma)

    bytes_out = volume(device.bytes_out_per_flow)
    bytes_in = volume(device.bytes_in_per_flow)
    packets = flows * 4.0 + (bytes_out + bytes_in) / rng.uniform(600.0, 1_200.0)
    duration_s = flows * device.duration_s * rng.lognormal(0.0, 0.3, steps)
    hosts = _distinct(rng, flows, device.host_pool)
    ports = _distinct(rng, flows, device.port_pool)
    failed = rng.binomial(flows.astype(np.int64), device.failed_share).astype(float)
    syn = rng.binomial(failed.astype(np.int64), 0.8).astype(float)
    external = rng.binomial(flows.astype(np.int64), device.external_share).astype(float)
    traffic = _Traffic(
        flows,
        bytes_out,
        bytes_in,
        packets,
        duration_s,
        ports,
        hosts,
        failed,
        syn,
        external,
        np.full(steps, device.interarrival_cv),
    )

    streams = np.zeros(steps)
    if device.stream_bytes_min:
        streams += 1.0
    if device.name == "ip_phone":
        streams += _calls(rng, _activity("office", hour, weekend))
    if streams.any():
        on = streams > 0
        stream_out = (device.stream_bytes_min * on + streams * _CALL_BYTES_MIN) * rng.lognormal(
            0.0, 0.1, steps
        )
        stream_in = 0.01 * stream_out + streams * _CALL_BYTES_MIN * rng.lognormal(0.0, 0.1, steps)
        traffic.add(
            _Traffic(
                streams,
                stream_out,
                stream_in,
                (stream_out + stream_in) / 1_000.0,
                streams * 60.0,
                on * 1.0,
                on * 1.0,
                np.zeros(steps),
                np.zeros(steps),
                np.zeros(steps),
                np.full(steps, device.interarrival_cv),
            ),
            slice(None),
        )
    return traffic


def _calls(rng: np.random.Generator, activity: np.ndarray) -> np.ndarray:
    """Concurrent calls per minute: Poisson call starts during work, 1-10 minutes each."""
    steps = len(activity)
    starts = np.flatnonzero(rng.random(steps) < 0.02 * activity)
    ends = np.minimum(starts + rng.integers(1, 11, len(starts)), steps)
    change = np.zeros(steps + 1)
    np.add.at(change, starts, 1.0)
    np.add.at(change, ends, -1.0)
    return np.cumsum(change[:-1])


def _distinct(rng: np.random.Generator, flows: np.ndarray, pool: int) -> np.ndarray:
    """Distinct destinations among ``flows`` flows drawn from a pool of ``pool`` (at least one)."""
    seen = rng.binomial(pool, 1.0 - np.exp(-flows / pool)).astype(float)
    return np.where(flows > 0, np.clip(seen, 1.0, flows), 0.0)


def _attack_traffic(rng: np.random.Generator, kind: str, rows: int) -> _Traffic:
    noise = rng.lognormal(0.0, 0.2, rows)
    ones = np.ones(rows)
    match kind:
        case "port_scan":
            flows = rng.uniform(100.0, 1_500.0) * noise
            vertical = rng.random() < 0.5
            ports = np.minimum(flows * 0.9, 65_535.0) if vertical else rng.integers(1, 4) * ones
            hosts = rng.integers(1, 4) * ones if vertical else flows * 0.8
            return _shaped(flows, 60, 40, 2, 0.05, ports, hosts, 0.9, 0.95, 0.0, 0.3)
        case "syn_flood":
            flows = rng.uniform(3_000.0, 30_000.0) * noise
            return _shaped(flows, 60, 0, 1, 0.0, ones, ones, 1.0, 1.0, 1.0, 0.1)
        case "brute_force":
            flows = rng.uniform(20.0, 200.0) * noise
            return _shaped(
                flows, 1_500, 2_500, 20, 2.0, ones, ones, 0.05, 0.05, float(rng.random() < 0.5), 0.3
            )
        case "exfiltration":
            flows = rng.uniform(1.0, 5.0) * ones
            megabytes = rng.uniform(20.0, 200.0) * noise
            traffic = _shaped(flows, 0, 0, 0, 60.0 / flows[0], ones, ones, 0.0, 0.0, 1.0, 0.2)
            traffic.bytes_out = megabytes * 1e6
            traffic.bytes_in = traffic.bytes_out * 0.02
            traffic.packets = traffic.bytes_out / 1_400.0
            return traffic
        case "c2_beaconing":
            period_s = rng.uniform(5.0, 30.0)
            flows = np.round(STEP_S / period_s * rng.lognormal(0.0, 0.05, rows))
            return _shaped(flows, 300, 500, 8, 0.5, ones, ones, 0.2, 0.2, 1.0, 0.05)
        case "lateral_movement":
            flows = rng.uniform(20.0, 150.0) * noise
            hosts = np.minimum(flows, rng.uniform(10.0, 60.0))
            ports = rng.integers(3, 7) * ones
            return _shaped(
                flows, 2_000, 1_500, 12, 0.8, ports, hosts, rng.uniform(0.4, 0.7), 0.5, 0.0, 0.5
            )
    raise ValueError(f"unknown attack kind {kind!r}; known kinds: {', '.join(ATTACK_KINDS)}")


def _shaped(
    flows: np.ndarray,
    bytes_out_per_flow: float,
    bytes_in_per_flow: float,
    packets_per_flow: float,
    duration_s: float,
    ports: np.ndarray,
    hosts: np.ndarray,
    failed_share: float,
    syn_share: float,
    external_share: float,
    cv: float,
) -> _Traffic:
    flows = np.round(flows)
    return _Traffic(
        flows,
        flows * bytes_out_per_flow,
        flows * bytes_in_per_flow,
        flows * packets_per_flow,
        flows * duration_s,
        np.round(ports),
        np.round(hosts),
        flows * failed_share,
        flows * syn_share,
        flows * external_share,
        np.full(len(flows), cv),
    )
