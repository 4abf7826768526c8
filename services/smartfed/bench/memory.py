"""Peak memory of this process and everything it started (Ray's raylet, GCS and workers).

Memory is counted as PSS (proportional set size): a page shared by several processes (torch's
libraries mapped into every Ray worker, the object store) is split between them, so the sum
over processes counts it once. Where PSS cannot be read (no /proc smaps), RSS stands in and
the total overstates shared pages; ``measure`` says which one it used.
"""

from __future__ import annotations

import threading
from types import TracebackType

import psutil

_MB = 2**20


def tree_memory_mb() -> tuple[float, str]:
    """Summed memory of this process and all its descendants, and the measure used."""
    root = psutil.Process()
    total, measure = 0.0, "pss"
    for process in [root, *root.children(recursive=True)]:
        try:
            info = process.memory_full_info()
        except (psutil.NoSuchProcess, psutil.ZombieProcess):
            continue  # a Ray worker that ended between the listing and the read
        except psutil.AccessDenied:
            info, measure = process.memory_info(), "rss"
        pss = getattr(info, "pss", None)
        if pss is None:
            measure = "rss"
        total += (pss if pss is not None else info.rss) / _MB
    return total, measure


class PeakMemory:
    """Samples the process tree's memory in a thread while the block runs; ``peak_mb`` after.

    A short spike between two samples is missed; 0.2 s catches every round of the benchmarks,
    which last longer than that.
    """

    def __init__(self, interval_s: float = 0.2) -> None:
        self.interval_s = interval_s
        self.peak_mb = 0.0
        self.measure = "pss"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample_until_stopped, daemon=True)

    def __enter__(self) -> PeakMemory:
        self._sample()
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()

    def _sample_until_stopped(self) -> None:
        while not self._stop.wait(self.interval_s):
            self._sample()

    def _sample(self) -> None:
        total_mb, measure = tree_memory_mb()
        self.peak_mb = max(self.peak_mb, total_mb)
        if measure == "rss":
            self.measure = "rss"
