"""The settings of one simulation run, validated once, before anything starts."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import BaseModel, Field, field_validator, model_validator

TASKS = ("sensor", "network")

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
    # global model brings what all buildings have in common, one epoch adds the building's own.
    personalize_epochs: int = Field(1, ge=0)
    workers: int = Field(default_factory=lambda: max(1, min(os.cpu_count() or 1, 8)), ge=1)
    baselines: bool = True

    @field_validator("task")
    @classmethod
    def _known_task(cls, value: str) -> str:
        if value not in TASKS:
            raise ValueError(f"unknown task '{value}'; choose one of: {', '.join(TASKS)}")
        return value

    @field_validator("strategy")
    @classmethod
    def _known_strategy(cls, value: str) -> str:
        from smartfed.strategies import STRATEGIES

        if value not in STRATEGIES:
            raise ValueError(f"unknown strategy '{value}'; choose one of: {', '.join(sorted(STRATEGIES))}")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> "SimulationConfig":
        if self.organizations > self.sites:
            raise ValueError(
                f"{self.organizations} organizations for {self.sites} sites: every organization needs at "
                "least one site; lower --organizations or raise --sites"
            )
        if self.min_sites > self.sites:
            raise ValueError(f"--min-sites {self.min_sites} is more than the {self.sites} sites; lower it")
        return self

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
