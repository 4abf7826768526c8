"""The few object operations the versioned store needs, so that S3 and a local directory can
give the same guarantees: create-if-absent and compare-and-swap are all it takes to let two
aggregators publish at once without losing a version.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


class ObjectExists(Exception):
    """``create`` found the key taken: another writer got there first."""


class PreconditionFailed(Exception):
    """``swap`` found the object changed since it was read."""


@dataclass(frozen=True)
class StoredObject:
    data: bytes
    # Opaque tag of this content, for ``swap``: the ETag on S3, a content hash locally.
    tag: str


class ObjectBackend(Protocol):
    def describe(self, key: str) -> str:
        """Where ``key`` lives, in the words of the user's ``--store`` (for messages)."""

    def full_key(self, key: str) -> str:
        """The key as the storage itself names it (with the S3 prefix): a manifest's ``object``."""

    def read(self, key: str) -> StoredObject | None:
        """The current content of ``key``, or None when there is none."""

    def read_version(self, key: str, object_version: str | None) -> bytes | None:
        """The bytes of one version of ``key`` (the current one when None), or None."""

    def create(self, key: str, data: bytes) -> str | None:
        """Write ``key`` only if absent (else ObjectExists); returns the object version, if any."""

    def swap(self, key: str, data: bytes, expected_tag: str | None) -> None:
        """Replace ``key`` if its tag is still ``expected_tag`` (None: if it is still absent),
        else raise PreconditionFailed."""

    def children(self, prefix: str) -> list[str]:
        """Names directly below ``prefix`` (a key ending in "/"), files and folders alike."""
