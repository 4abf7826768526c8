"""Aggregation throughput: GB/s of updates each strategy consumes, against a numpy copy.

The robust strategies and FedAvg come from the strategies' own probe. Secure aggregation comes
from the privacy package's round benchmark: a whole protocol round in this process, of which
the unmasking (rebuilding every survivor's self-mask seed from Shamir shares and stripping the
masks) is what the aggregator alone spends, so it is the figure set beside the strategies.
"""

from __future__ import annotations

import numpy as np
from threadpoolctl import threadpool_limits

from smartfed.privacy.benchmark import plain_round_s, secure_round_s
from smartfed.strategies.throughput import COPY_KEY, measure_throughput

STRATEGIES = ("fedavg", "median", "trimmed_mean", "krum")


def measure_aggregation(
    sites: int, dim: int, repeats: int, secagg_sites: int, secagg_dim: int
) -> dict:
    """GB/s per strategy and of the copy; ``fedavg_vs_copy_bandwidth`` is their quotient."""
    # One BLAS thread: on a machine shared with other work, spinning OpenBLAS threads lose their
    # cores and make Krum's Gram product many times slower (see strategies.throughput).
    with threadpool_limits(limits=1):
        gb_per_s = measure_throughput(STRATEGIES, sites, dim, repeats)
    secagg = secure_aggregation(secagg_sites, secagg_dim, repeats)
    gb_per_s["secagg_unmask"] = secagg["unmask_gb_per_s"]
    return {
        "sites": sites,
        "dim": dim,
        "update_matrix_mb": sites * dim * 4 / 2**20,
        "gb_per_s": gb_per_s,
        "vs_copy": {
            name: value / gb_per_s[COPY_KEY] for name, value in gb_per_s.items() if name != COPY_KEY
        },
        "fedavg_vs_copy_bandwidth": gb_per_s["fedavg"] / gb_per_s[COPY_KEY],
        "secagg": secagg,
    }


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
