"""The settings of one simulation run, validated once, before anything starts."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel, Field, field_validator, model_validator

if TYPE_CHECKING:
    from smartfed.privacy.federated import PrivacySettings

TASKS = ("sensor", "network")
PERSONALIZATIONS = ("finetune", "ditto")
# What each task's sites gain most from (see personalization below): a building's telemetry is
# best told by a model of its own, pulled towards the shared one; flow windows by the shared
# model itself, fine-tuned.
DEFAULT_PERSONALIZATION = {"sensor": "ditto", "network": "finetune"}

# Window length per task: one hour of 5-minute sensor readings; four 1-minute flow windows.
WINDOW_ROWS = {"sensor": 12, "network": 4}


class SimulationConfig(BaseModel):
    model_config = {"extra": "forbid", "frozen": True}

    task: str = "sensor"
    data: str = "simulated"
    sites: int = Field(12, ge=1, le=100_000)
    organizations: int = Field(3, ge=1)
    rounds: int = Field(20, ge=1)
    strategy: str = "fedavg"
    seed: int = 0
    output: Path = Path("runs/default")
    store: str | None = None
    sample_fraction: float = Field(1.0, gt=0.0, le=1.0)
    min_sites: int = Field(2, ge=1)
    local_epochs: int = Field(1, ge=1)
    # Generous enough that no healthy site misses it on a loaded 2-core machine; stragglers
    # are the sites that stall, not the ones that are merely slow.
    round_deadline_s: float = Field(120.0, gt=0.0)
    batch_size: int = Field(128, ge=1)
    learning_rate: float = Field(2e-3, gt=0.0)
    straggler_fraction: float = Field(0.0, ge=0.0, lt=1.0)
    straggler_delay_s: float = Field(0.0, ge=0.0)
    # Local fine-tuning of a shared model before a site scores with it (personalisation): the
    # global model brings what all buildings have in common, a few epochs add the building's own
    # (measured on the default sensor scenario: 1 epoch lowered mean F1, 5 raised it by ~0.1).
    personalize_epochs: int = Field(3, ge=0)
    # "finetune": the fine-tuning above, after the last round. "ditto": each site trains a
    # personal model every round it is sampled, pulled towards the global weights with strength
    # ditto_lambda (on the sum of squared weight differences; ~12k weights here), and scores
    # with it. Unset, it follows the task (DEFAULT_PERSONALIZATION). Measured on the default
    # scenarios: ditto lifts sensor F1 from 0.40 to 0.53 and lowers network F1 from 0.34 to
    # 0.26; a lambda of 1e-3 or more drags the personal models towards the global one's lower
    # sensor F1.
    personalization: str
    ditto_lambda: float = Field(1e-4, gt=0.0)
    workers: int = Field(default_factory=lambda: max(1, min(os.cpu_count() or 1, 8)), ge=1)
    baselines: bool = True
    # Privacy of every round; smartfed.privacy.federated.PrivacySettings says what each does.
    secure_aggregation: bool = False
    dropout: float = Field(0.0, ge=0.0, lt=1.0)
    dp_epsilon: float | None = Field(None, gt=0.0)
    dp_delta: float = Field(1e-5, gt=0.0, lt=1.0)
    dp_clip_norm: float = Field(1.0, gt=0.0)
    dp_placement: str | None = None
    # None: the smallest multiplier that keeps ε within --dp-epsilon over --rounds.
    dp_noise_multiplier: float | None = Field(None, gt=0.0)
    compression: str = "none"

    @field_validator("task")
    @classmethod
    def _known_task(cls, value: str) -> str:
        return _one_of("task", value, TASKS)

    @model_validator(mode="before")
    @classmethod
    def _personalization_of_the_task(cls, values: dict) -> dict:
        if isinstance(values, dict) and values.get("personalization") is None:
            task = values.get("task", "sensor")
            values = {**values, "personalization": DEFAULT_PERSONALIZATION.get(task, "finetune")}
        return values

    @field_validator("personalization")
    @classmethod
    def _known_personalization(cls, value: str) -> str:
        return _one_of("personalization", value, PERSONALIZATIONS)

    @field_validator("strategy")
    @classmethod
    def _known_strategy(cls, value: str) -> str:
        from smartfed.strategies import STRATEGIES

        return _one_of("strategy", value, sorted(STRATEGIES))

    @model_validator(mode="after")
    def _consistent(self) -> SimulationConfig:
        if self.organizations > self.sites:
            raise ValueError(
                f"{self.organizations} organizations for {self.sites} sites: every organization needs at "
                "least one site; lower --organizations or raise --sites"
            )
        if self.min_sites > self.sites:
            raise ValueError(f"--min-sites {self.min_sites} is more than the {self.sites} sites; lower it")
        self._privacy_consistent()
        return self

    def _privacy_consistent(self) -> None:
        from smartfed.privacy import SecureAggregationError, check_strategy_compatible
        from smartfed.strategies import make_strategy

        # Building the privacy settings validates them (budget, placement, dropout range).
        _ = self.privacy
        if self.secure_aggregation:
            try:
                check_strategy_compatible(make_strategy(self.strategy))
            except SecureAggregationError as error:
                raise ValueError(str(error)) from None

    @property
    def privacy(self) -> PrivacySettings:
        from smartfed.privacy.federated import PrivacySettings

        return PrivacySettings(
            federation=self.federation,
            compression=self.compression,
            secure_aggregation=self.secure_aggregation,
            dropout=self.dropout,
            dp_epsilon=self.dp_epsilon,
            dp_delta=self.dp_delta,
            dp_clip_norm=self.dp_clip_norm,
            dp_placement=self.dp_placement,
            dp_noise_multiplier=self.dp_noise_multiplier,
        )

    @property
    def sample_rate(self) -> float:
        """The share of sites a round asks: the DP accountant's sampling rate."""
        return max(self.min_sites, math.ceil(self.sample_fraction * self.sites)) / self.sites

    @property
    def window(self) -> int:
        return WINDOW_ROWS[self.task]

    @property
    def data_kind(self) -> str:
        return self.data if self.data in ("simulated", "uci-appliances") else "csv"

    @property
    def store_uri(self) -> str:
        return self.store or str(self.output / "models")

    @property
    def federation(self) -> str:
        return f"sim-{self.task}"


def _one_of(setting: str, value: str, choices: tuple[str, ...] | list[str]) -> str:
    if value not in choices:
        raise ValueError(f"unknown {setting} '{value}'; choose one of: {', '.join(choices)}")
    return value
