"""``smartfed bench``: the figures the README quotes, each against a limit measured in the same run.

Only ``register`` lives here, and it imports nothing heavy: the benchmarks import torch and Ray
when they run, and Ray workers import modules of this package, which must stay quick to load.
"""

from smartfed.bench.commands import register

__all__ = ["register"]
