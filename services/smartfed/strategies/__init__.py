"""Aggregation strategies, one module each, and the registry the federation picks them from.

``make_strategy("fedadam", eta=0.01)`` is how a Federation's ``strategy`` field and its options
become an object; ``STRATEGIES`` lists every name it accepts.
"""

from __future__ import annotations

import inspect
from types import MappingProxyType
from typing import Any

from smartfed.strategies.base import Strategy, StrategyError, SumStrategy
from smartfed.strategies.fedadagrad import FedAdagrad
from smartfed.strategies.fedadam import FedAdam
from smartfed.strategies.fedavg import FedAvg
from smartfed.strategies.fedprox import FedProx
from smartfed.strategies.fedyogi import FedYogi
from smartfed.strategies.krum import Krum, MultiKrum
from smartfed.strategies.median import Median
from smartfed.strategies.trimmed_mean import TrimmedMean

__all__ = [
    "STRATEGIES",
    "FedAdagrad",
    "FedAdam",
    "FedAvg",
    "FedProx",
    "FedYogi",
    "Krum",
    "Median",
    "MultiKrum",
    "Strategy",
    "StrategyError",
    "SumStrategy",
    "TrimmedMean",
    "make_strategy",
]

STRATEGIES: MappingProxyType[str, type[Strategy]] = MappingProxyType(
    {
        cls.name: cls
        for cls in (
            FedAvg,
            FedProx,
            FedAdam,
            FedYogi,
            FedAdagrad,
            Median,
            TrimmedMean,
            Krum,
            MultiKrum,
        )
    }
)


def make_strategy(name: str, **options: Any) -> Strategy:
    """A new strategy by its registry name, configured by keyword options."""
    try:
        cls = STRATEGIES[name]
    except KeyError:
        raise ValueError(
            f"unknown strategy {name!r}; valid strategies are: {', '.join(STRATEGIES)}"
        ) from None

    accepted = list(inspect.signature(cls).parameters)
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise ValueError(
            f"strategy {name!r} has no option {', '.join(map(repr, unknown))}; "
            f"its options are: {', '.join(accepted) or 'none'}"
        )
    return cls(**options)
