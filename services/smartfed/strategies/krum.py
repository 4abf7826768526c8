"""Krum and Multi-Krum: keep the updates that sit closest to their neighbours.

Peva Blanchard, El Mahdi El Mhamdi, Rachid Guerraoui, Julien Stainer, "Machine Learning with
Adversaries: Byzantine Tolerant Gradient Descent", NeurIPS 2017.

With n updates of which at most f are byzantine, the score of update i is the sum of its squared
distances to its n - f - 2 nearest other updates; the rule needs n > 2f + 2. Krum steps by the
update with the lowest score; Multi-Krum by the plain mean of the m lowest-scored ones (m = n - f
by default, as in the paper), which trades a little robustness for much less variance. The
mean is unweighted, as in the paper: weighting by example counts would let a byzantine site that
slipped into the selection claim a huge count.

When f is not given, it is the largest f the round allows (n > 2f + 2), i.e. as many byzantine
sites as Krum can tolerate.
"""

from __future__ import annotations

import logging

import numpy as np

from smartfed.strategies.base import Strategy, StrategyError, check_updates

log = logging.getLogger(__name__)

# Elements per block of the Gram accumulation, 1 MiB of float32 over all sites: the centred
# block stays in cache, and each float32 block product sums few enough terms for the float64
# accumulation across blocks to keep the precision.
_BLOCK_ELEMENTS = 1 << 18


class Krum(Strategy):
    name = "krum"

    def __init__(self, *, f: int | None = None) -> None:
        if f is not None and (isinstance(f, bool) or not isinstance(f, int) or f < 0):
            raise ValueError(f"f is {f!r}; the number of byzantine sites must be an integer >= 0")
        self.f = f

    def aggregate(self, current: np.ndarray, deltas: np.ndarray, weights: np.ndarray) -> np.ndarray:
        check_updates(current, deltas, weights, minimum=1, strategy=self.name)
        chosen = self.select(deltas)
        if chosen.size == 1:
            return current + deltas[chosen[0]]

        # The mean of the selected rows as one float32 matrix-vector product (see SumStrategy):
        # it streams the updates once instead of copying the selected rows out first.
        selection = np.zeros(deltas.shape[0], dtype=np.float32)
        selection[chosen] = np.float32(1 / chosen.size)
        return current + selection @ deltas

    def select(self, deltas: np.ndarray) -> np.ndarray:
        """Indices of the updates this round keeps, lowest score first."""
        sites = deltas.shape[0]
        f = self._byzantine(sites)
        count = self._selected(sites, f)
        scores = krum_scores(deltas, f)
        chosen = np.argsort(scores, kind="stable")[:count]
        log.debug("%s kept updates %s of %s (f=%s)", self.name, chosen.tolist(), sites, f)
        return chosen

    def _byzantine(self, sites: int) -> int:
        if self.f is None:
            if sites < 3:
                raise StrategyError(
                    f"{sites} updates; {self.name} needs at least 3 (n > 2f + 2 with f = 0): "
                    "wait for more sites or use fedavg"
                )
            return (sites - 3) // 2
        if sites <= 2 * self.f + 2:
            raise StrategyError(
                f"{sites} updates; {self.name} with f={self.f} needs more than 2f + 2 = "
                f"{2 * self.f + 2}: lower f or wait for more sites"
            )
        return self.f

    def _selected(self, sites: int, f: int) -> int:
        return 1


class MultiKrum(Krum):
    name = "multi_krum"

    def __init__(self, *, f: int | None = None, m: int | None = None) -> None:
        super().__init__(f=f)
        if m is not None and (isinstance(m, bool) or not isinstance(m, int) or m < 1):
            raise ValueError(f"m is {m!r}; the number of selected updates must be an integer >= 1")
        self.m = m

    def _selected(self, sites: int, f: int) -> int:
        if self.m is None:
            return sites - f
        if self.m > sites:
            raise StrategyError(
                f"{sites} updates; {self.name} with m={self.m} selects more than it receives: "
                "lower m or wait for more sites"
            )
        return self.m


def krum_scores(deltas: np.ndarray, f: int) -> np.ndarray:
    """Each update's sum of squared distances to its n - f - 2 nearest other updates."""
    sites = deltas.shape[0]
    distances = pairwise_sq_distances(deltas)
    np.fill_diagonal(distances, np.inf)
    nearest = sites - f - 2
    closest = np.partition(distances, nearest - 1, axis=1)[:, :nearest]
    return closest.sum(axis=1)


def pairwise_sq_distances(deltas: np.ndarray) -> np.ndarray:
    """(K, K) squared Euclidean distances in float64, from one pass over the updates.

    ||a - b||^2 = ||a||^2 + ||b||^2 - 2 a.b turns K^2 / 2 vector differences into one Gram
    matrix product (BLAS). The identity cancels catastrophically when the updates are close
    compared to their norms, which is the usual case, so each block of columns is first centred
    on its own mean (distances do not change under a translation) and the float32 block
    products are summed in float64.
    """
    sites, dim = deltas.shape
    gram = np.zeros((sites, sites), dtype=np.float64)
    block = max(1, _BLOCK_ELEMENTS // sites)
    for start in range(0, dim, block):
        columns = deltas[:, start : min(start + block, dim)]
        centred = columns - columns.mean(axis=0, dtype=np.float32)
        gram += centred @ centred.T
    norms = np.diag(gram)
    distances = norms[:, None] + norms[None, :] - 2 * gram
    np.maximum(distances, 0, out=distances)
    return distances
