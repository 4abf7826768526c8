"""The model store interface: versioned global models with a manifest each."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Protocol


class StoreError(RuntimeError):
    """The store could not complete the operation; the message says what to check."""


class IntegrityError(StoreError):
    """A stored model's bytes do not match its manifest's hash or signature."""


@dataclass(frozen=True)
class ModelManifest:
    federation: str
    version: int
    round: int
    parent: int | None
    strategy: str
    sites: list[str]
    organizations: list[str]
    metrics: dict[str, float]
    epsilon: float | None
    object: str
    object_version: str | None
    sha256: str
    created_at: str
    code_version: str
    # The channel is store metadata (``promote`` moves it), so it is not covered by the signature.
    channel: str = "candidate"
    extra: dict[str, object] = field(default_factory=dict)
    # Ed25519 signature (base64) over every other field but ``channel``; see registry.signing.
    signature: str | None = None

    def to_json_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True)
class PublishRequest:
    """What a round knows when it publishes; the store adds version, keys, hash and time."""

    federation: str
    round: int
    strategy: str
    sites: list[str]
    organizations: list[str]
    metrics: dict[str, float]
    epsilon: float | None = None
    extra: dict[str, object] = field(default_factory=dict)


class ModelStore(Protocol):
    def publish(self, request: PublishRequest, model_bytes: bytes) -> ModelManifest:
        """Write the model and its manifest, then move ``latest`` to it."""

    def latest(self, federation: str) -> ModelManifest | None: ...

    def versions(self, federation: str) -> list[ModelManifest]: ...

    def load(self, federation: str, version: int | None = None) -> tuple[bytes, ModelManifest]:
        """The model bytes of ``version`` (default: latest), verified against the manifest."""
