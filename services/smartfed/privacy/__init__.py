"""Privacy of the round: secure aggregation of updates and client-level differential privacy."""

from smartfed.privacy.dp import (
    BudgetExhausted,
    DPConfig,
    PrivacyAccountant,
    central_noise,
    clip_update,
    noise_multiplier_for,
    poisson_sample,
    site_noise,
)
from smartfed.privacy.messages import (
    EncryptedShare,
    KeyAdvert,
    RevealedShare,
    SecureAggregationError,
)
from smartfed.privacy.quantize import Quantizer
from smartfed.privacy.secagg import (
    SecAggClient,
    SecAggConfig,
    SecAggResult,
    SecAggRound,
    SecAggServer,
    check_strategy_compatible,
    combine_organizations,
)

__all__ = [
    "BudgetExhausted",
    "DPConfig",
    "EncryptedShare",
    "KeyAdvert",
    "PrivacyAccountant",
    "Quantizer",
    "RevealedShare",
    "SecAggClient",
    "SecAggConfig",
    "SecAggResult",
    "SecAggRound",
    "SecAggServer",
    "SecureAggregationError",
    "central_noise",
    "check_strategy_compatible",
    "clip_update",
    "combine_organizations",
    "noise_multiplier_for",
    "poisson_sample",
    "site_noise",
]
