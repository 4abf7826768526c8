"""How sure a difference in mean F1 between two settings is: a paired bootstrap over sites.

With a dozen sites, each scored on a handful of test episodes, one site's F1 moves by tenths
when its threshold shifts a little, and the mean over sites inherits that. So the report gives
each baseline's difference to the federated setting with a 95% interval from resampling sites,
paired (a site's two F1s always travel together), and a reader can tell a gain from the noise.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import bootstrap

_RESAMPLES = 2_000
_CONFIDENCE = 0.95
# Fewer sites than this give an interval that says nothing; the difference is still reported.
_MIN_SITES = 3


def f1_difference(federated: dict[str, float], baseline: dict[str, float], seed: int = 0) -> dict:
    """Mean over sites of federated minus baseline F1, with its 95% interval (None if undefined)."""
    if set(federated) != set(baseline):
        raise ValueError(
            f"settings scored different sites: {sorted(set(federated) ^ set(baseline))} are in only one"
        )
    differences = np.array([federated[site] - baseline[site] for site in sorted(federated)])
    interval = _interval(differences, seed) if len(differences) >= _MIN_SITES else None
    return {"difference": float(differences.mean()), "ci95": interval, "sites": len(differences)}


def _interval(differences: np.ndarray, seed: int) -> list[float]:
    # Identical differences at every site leave nothing to resample: the interval is that value.
    if np.ptp(differences) == 0:
        return [float(differences[0])] * 2
    ci = bootstrap(
        (differences,),
        np.mean,
        n_resamples=_RESAMPLES,
        confidence_level=_CONFIDENCE,
        method="percentile",
        rng=np.random.default_rng(seed),
    ).confidence_interval
    return [float(ci.low), float(ci.high)]
