"""Aggregation throughput: GB/s of updates each strategy consumes, against a numpy copy.

The robust strategies and FedAvg come from the strategies' own probe. FedAvg and the copy run
on a matrix half again as large as the last-level cache, so that both stream from memory: a
matrix that fits in cache can measure the cache instead (this machine reports 480 MB of L3; on
40 MB FedAvg came out at 2.5 to 3 times the copy, on 720 MB at about 1). The robust strategies
are bound by the CPU, not by memory, and run on the smaller matrix. Secure aggregation comes
from the privacy package's round benchmark: a whole protocol round in this process, of which
the unmasking (rebuilding every survivor's self-mask seed from Shamir shares and stripping the
masks) is what the aggregator alone spends, so it is the figure set beside the strategies.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from smartfed.privacy.benchmark import plain_round_s, secure_round_s
from smartfed.strategies.throughput import COPY_KEY, measure_throughput

STRATEGIES = ("fedavg", "median", "trimmed_mean", "krum")
ROBUST = ("median", "trimmed_mean", "krum")
# Where the machine reports no cache sizes, a matrix of this size is assumed to exceed them.
_FLOOR_BYTES = 256 * 2**20
_CACHES = Path("/sys/devices/system/cpu/cpu0/cache")


def measure_aggregation(
    sites: int,
    dim: int,
    repeats: int,
    secagg_sites: int,
    secagg_dim: int,
    streaming_mb: float | None = None,
) -> dict:
    """GB/s per strategy and of the copy; ``fedavg_vs_copy_bandwidth`` is their quotient.

    ``streaming_mb`` sizes the matrix of FedAvg and the copy; by default 1.5 times the cache.
    """
    # One BLAS thread: on a machine shared with other work, spinning OpenBLAS threads lose their
    # cores and make Krum's Gram product many times slower (see strategies.throughput).
    streaming_bytes = (
        streaming_mb * 2**20
        if streaming_mb is not None
        else max(1.5 * last_level_cache_bytes(), _FLOOR_BYTES)
    )
    streaming_dim = math.ceil(streaming_bytes / (sites * 4))
    with threadpool_limits(limits=1):
        gb_per_s = measure_throughput(["fedavg"], sites, streaming_dim, repeats)
        robust = measure_throughput(ROBUST, sites, dim, repeats)
    gb_per_s.update({name: robust[name] for name in ROBUST})
    secagg = secure_aggregation(secagg_sites, secagg_dim, repeats)
    gb_per_s["secagg_unmask"] = secagg["unmask_gb_per_s"]
    return {
        "sites": sites,
        "dim": dim,
        "update_matrix_mb": sites * dim * 4 / 2**20,
        "streaming_matrix_mb": sites * streaming_dim * 4 / 2**20,
        "cache_resident_copy_gb_per_s": robust[COPY_KEY],
        "gb_per_s": gb_per_s,
        "vs_copy": {
            name: value / gb_per_s[COPY_KEY] for name, value in gb_per_s.items() if name != COPY_KEY
        },
        "fedavg_vs_copy_bandwidth": gb_per_s["fedavg"] / gb_per_s[COPY_KEY],
        "secagg": secagg,
    }


def last_level_cache_bytes() -> int:
    """Size of the largest CPU cache Linux reports, or 0 where it reports none."""
    sizes = {}
    for index in _CACHES.glob("index*"):
        try:
            level = int((index / "level").read_text())
            text = (index / "size").read_text().strip()
        except (OSError, ValueError):
            continue  # no such attribute on this kernel or CPU
        units = {"K": 2**10, "M": 2**20, "G": 2**30}
        sizes[level] = int(text[:-1]) * units[text[-1]] if text[-1] in units else int(text)
    return sizes[max(sizes)] if sizes else 0


def secure_aggregation(sites: int, dim: int, repeats: int) -> dict[str, float]:
    """Unmasking throughput and the secure round's cost against a plain one, best of ``repeats``."""
    rng = np.random.default_rng(0)
    updates = {
        f"site-{i + 1:03d}": rng.normal(0.0, 0.01, dim).astype(np.float32) for i in range(sites)
    }
    weights = {site: 1.0 / sites for site in updates}
    plain_s = min(plain_round_s(updates, weights) for _ in range(repeats))
    secure = min(
        (secure_round_s(updates, weights, dropout=0.0) for _ in range(repeats)),
        key=lambda p: p["unmask_s"],
    )
    return {
        "sites": sites,
        "dim": dim,
        # Float32 update bytes whose sum one unmasking yields per second.
        "unmask_gb_per_s": sites * dim * 4 / secure["unmask_s"] / 1e9,
        "unmask_s": secure["unmask_s"],
        "secure_round_s": secure["total_s"],
        "plain_round_s": plain_s,
        "secure_vs_plain_round": secure["total_s"] / plain_s,
    }
