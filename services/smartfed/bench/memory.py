"""Peak memory of this process and everything it started (Ray's raylet, GCS and workers).

Memory is counted as PSS (proportional set size): a page shared by several processes (torch's
libraries mapped into every Ray worker, the object store) is split between them, so the sum
over processes counts it once. Where PSS cannot be read (no /proc smaps), RSS stands in and
the total overstates shared pages; ``measure`` says which one it used.
"""

from __future__ import annotations

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
    """The largest memory of the process tree seen at the moments ``sample`` is called.

    With Ray's processes up one reading costs about 35 ms of kernel time (every page table is
    walked), so the benchmarks sample between rounds, outside the timed part, instead of from a
    thread that would slow down the very rounds it watches. A spike within a round is missed;
    the updates in flight are a few MB against the GBs the processes hold.
    """

    def __init__(self) -> None:
        self.peak_mb = 0.0
        self.measure = "pss"

    def sample(self) -> None:
        total_mb, measure = tree_memory_mb()
        self.peak_mb = max(self.peak_mb, total_mb)
        if measure == "rss":
            self.measure = "rss"
