"""Signal-shaping helpers shared by the simulators: first-order lags and slow random wander.

Both work on whole arrays at once (last axis is time), which is what keeps a 1,000-site
scenario cheap to generate: no Python loop ever runs over time steps.
"""

from __future__ import annotations

import numpy as np
from scipy.signal import lfilter


def lag(values: np.ndarray, tau_steps: float) -> np.ndarray:
    """First-order lag ``y[t] = a y[t-1] + (1-a) x[t]`` along the last axis, started at ``x[0]``.

    This is the response of a well-mixed volume (a room's air, a building's thermal mass) to
    its driving input, with time constant ``tau_steps`` in time steps.
    """
    a = float(np.exp(-1.0 / max(tau_steps, 1e-6)))
    initial = (a * values[..., :1]).astype(float)
    filtered, _ = lfilter([1.0 - a], [1.0, -a], values, axis=-1, zi=initial)
    return filtered


def wander(rng: np.random.Generator, shape: tuple[int, ...], knot_steps: int) -> np.ndarray:
    """Smooth zero-mean unit-scale noise: random knots every ``knot_steps``, linearly joined.

    Used for slow changes in occupancy, whose correlation time is hours rather than one step.
    """
    *lead, steps = shape
    knots = np.arange(0, steps + knot_steps, knot_steps)
    values = rng.standard_normal((*lead, len(knots)))
    flat = values.reshape(-1, len(knots))
    grid = np.arange(steps)
    out = np.stack([np.interp(grid, knots, row) for row in flat])
    return out.reshape(shape)
