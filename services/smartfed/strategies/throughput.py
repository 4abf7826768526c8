"""How fast each strategy aggregates, next to how fast numpy copies the same bytes.

The averaging strategies read every update once, so memory bandwidth bounds them; the numpy copy
of the (sites, dim) float32 matrix, measured in the same call on the same data, is the yardstick
(the robust ones select or compare values and are bound by the CPU instead).
Throughput is the bytes of updates consumed per second (1 GB = 1e9 bytes), best of ``repeats``
runs after one warm-up run, so that a noisy neighbour on a shared machine slows the figure as
little as possible. A copy reads and writes every byte while an aggregation mostly reads, so a
bandwidth-bound strategy can exceed the copy figure.

On a machine whose cores are busy with other work, run it with ``OPENBLAS_NUM_THREADS=1`` (Ray
limits its workers to their CPU share through ``OMP_NUM_THREADS`` in the same way): OpenBLAS's
spinning worker threads then lose their cores, which made Krum's Gram product 20 to 40 times
slower on a shared 2-core machine, while one thread already saturates memory for the averages.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from functools import partial

import numpy as np

from smartfed.strategies import make_strategy

log = logging.getLogger(__name__)

COPY_KEY = "numpy_copy"


def measure_throughput(
    strategy_names: Sequence[str], sites: int, dim: int, repeats: int = 3, seed: int = 0
) -> dict[str, float]:
    """GB/s per strategy name, plus ``numpy_copy``: the copy bandwidth of the same matrix."""
    if sites < 1 or dim < 1 or repeats < 1:
        raise ValueError(f"sites={sites}, dim={dim}, repeats={repeats}; each must be >= 1")
    rng = np.random.default_rng(seed)
    deltas = rng.standard_normal((sites, dim), dtype=np.float32)
    deltas *= np.float32(0.01)
    weights = rng.integers(1, 1_000, size=sites).astype(np.float32)
    current = np.zeros(dim, dtype=np.float32)

    copy_target = np.empty_like(deltas)
    results = {COPY_KEY: _gb_per_s(deltas.nbytes, repeats, partial(np.copyto, copy_target, deltas))}
    del copy_target  # a second matrix of the updates' size: freed before the strategies run
    for name in strategy_names:
        strategy = make_strategy(name)
        results[name] = _gb_per_s(
            deltas.nbytes, repeats, partial(strategy.aggregate, current, deltas, weights)
        )
        log.info(
            "%s: %.2f GB/s (%.2f of numpy copy) over %s sites x %s weights",
            name,
            results[name],
            results[name] / results[COPY_KEY],
            sites,
            dim,
        )
    return results


def _gb_per_s(nbytes: int, repeats: int, run: Callable[[], object]) -> float:
    # One untimed run first: it faults in the copy target's pages and creates the FedOpt state,
    # one-off costs that a federation pays once, not every round.
    run()
    best_s = min(_elapsed_s(run) for _ in range(repeats))
    return nbytes / best_s / 1e9


def _elapsed_s(run: Callable[[], object]) -> float:
    started = time.perf_counter()
    run()
    return time.perf_counter() - started
