"""Which sites exchange masks and hold each other's shares (Bell et al., 2020, SecAgg+).

The original protocol (Bonawitz et al., 2017) pairs every site with every other, so its cost
grows with the square of the sites. SecAgg+ connects each site only to ``degree`` neighbours
on a random regular graph; a site's masks and shares stay inside its neighbourhood, and the
cost per site grows with the degree instead. Here the graph is a circulant (Harary-style)
graph over a random ordering of the sites: position ``p`` is joined to positions ``p ± 1 ..
p ± degree/2``. The ordering is drawn from a seed both sides derive from the round, so the
aggregator and every site agree on the graph without sending it.
"""

from __future__ import annotations

import hashlib

import numpy as np


def neighbourhoods(
    sites: tuple[str, ...], degree: int, context: bytes
) -> dict[str, tuple[str, ...]]:
    """Each site's neighbours, in a fixed order; ``degree`` is rounded up to even below n - 1."""
    n = len(sites)
    if degree >= n - 1:
        return {site: tuple(other for other in sites if other != site) for site in sites}
    seed = int.from_bytes(hashlib.sha256(b"neighbourhood|" + context).digest()[:8], "little")
    order = [sites[i] for i in np.random.default_rng(seed).permutation(n)]
    half = (degree + 1) // 2
    graph: dict[str, tuple[str, ...]] = {}
    for position, site in enumerate(order):
        linked = {order[(position + offset) % n] for offset in range(-half, half + 1) if offset}
        graph[site] = tuple(other for other in sites if other in linked)
    return graph
