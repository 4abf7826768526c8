"""Naming, organization assignment and random streams shared by every site-producing source.

Each site draws from its own generator, derived from the scenario seed and the site's index,
so site 3 of a 12-site scenario is the same as site 3 of a 1,000-site one.
"""

from __future__ import annotations

import numpy as np

# Separate streams per task: the sensor and network data of one site index are independent.
_TASK_STREAM = {"sensor": 0, "network": 1, "uci-appliances": 2}


def site_id(index: int) -> str:
    """``site-001`` for index 0; the number widens past 999 sites rather than wrapping."""
    return f"site-{index + 1:03d}"


def organization_of(index: int, organizations: int) -> str:
    """Round-robin assignment: ``org-1`` gets sites 0, N, 2N, ..."""
    return f"org-{index % organizations + 1}"


def site_rng(seed: int, index: int, stream: str) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, index, _TASK_STREAM[stream]]))
