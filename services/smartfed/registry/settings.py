"""Registry settings, read from ``SMARTFED_*`` environment variables when a store is opened."""

from __future__ import annotations

from pathlib import Path

from pydantic import model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Values that ship in examples and quick starts; a real deployment never keeps them.
PLACEHOLDER_SECRETS = frozenset(
    {"changeme", "change-me", "changeit", "minioadmin", "password", "secret", "admin", "example"}
)


class RegistrySettings(BaseSettings):
    """Where the S3 store lives, and which keys sign and verify models.

    Created by ``open_store`` at call time, never at import time, so tests and the CLI can set
    the environment first.
    """

    model_config = SettingsConfigDict(env_prefix="SMARTFED_", extra="ignore")

    # "development" allows placeholder secrets; anything else is treated as a deployment.
    env: str = "production"

    # host:port of the S3 endpoint (MinIO, SeaweedFS, AWS), without a scheme.
    s3_endpoint: str | None = None
    s3_access_key: str | None = None
    s3_secret_key: str | None = None
    # TLS to the endpoint; the default is on because credentials travel in every request.
    s3_secure: bool = True
    # Only AWS needs it; MinIO and SeaweedFS accept any region.
    s3_region: str | None = None
    # Transient S3 failures (connection refused, 5xx, SlowDown) are retried with exponential
    # backoff until this much time has passed since the first attempt of one operation: long
    # enough to ride out a store restart, short enough that a round deadline still means something.
    s3_retry_deadline_s: float = 60.0
    s3_retry_first_backoff_s: float = 0.25

    # PEM Ed25519 private key of the publisher (the aggregator). See registry/__init__.py.
    signing_key_file: Path | None = None
    # PEM Ed25519 public key that loads must verify against (edges). See registry/__init__.py.
    trusted_public_key_file: Path | None = None

    @model_validator(mode="after")
    def _refuse_placeholder_secrets(self) -> RegistrySettings:
        if self.env == "development":
            return self
        for name in ("s3_access_key", "s3_secret_key"):
            value = getattr(self, name)
            if value is not None and value.lower() in PLACEHOLDER_SECRETS:
                raise ValueError(
                    f"SMARTFED_{name.upper()} is the placeholder {value!r}, which is refused "
                    f"outside development (SMARTFED_ENV={self.env!r}); set the real credential, "
                    "or SMARTFED_ENV=development on a throwaway store"
                )
        return self
