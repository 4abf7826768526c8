"""The local directory backend: the embedded default of ``smartfed simulate``.

It gives the same guarantees as S3 with POSIX primitives: ``create`` links a fully written
temporary file into place (``link`` fails if the name exists), and ``swap`` replaces a pointer
with ``os.replace`` while holding an ``flock`` on the store's lock file, so two publishers on
one machine (threads or processes) never interleave a pointer move.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from smartfed.registry.objects import ObjectExists, PreconditionFailed, StoredObject

LOCK_FILE = ".registry.lock"


class LocalObjects:
    """Objects as files below ``root``; keys are "/"-separated paths relative to it."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def describe(self, key: str) -> str:
        return str(self._path(key))

    def full_key(self, key: str) -> str:
        return key

    def read(self, key: str) -> StoredObject | None:
        try:
            data = self._path(key).read_bytes()
        except FileNotFoundError:
            return None
        return StoredObject(data=data, tag=hashlib.sha256(data).hexdigest())

    def read_version(self, key: str, object_version: str | None) -> bytes | None:
        # A directory keeps one version per name; versions live under distinct names instead.
        stored = self.read(key)
        return None if stored is None else stored.data

    def create(self, key: str, data: bytes) -> str | None:
        path = self._path(key)
        with self._written(path, data) as temporary:
            try:
                os.link(temporary, path)
            except FileExistsError:
                raise ObjectExists(key) from None
        return None

    def swap(self, key: str, data: bytes, expected_tag: str | None) -> None:
        path = self._path(key)
        with self._locked():
            current = self.read(key)
            if (current.tag if current else None) != expected_tag:
                raise PreconditionFailed(key)
            with self._written(path, data) as temporary:
                os.replace(temporary, path)

    def children(self, prefix: str) -> list[str]:
        try:
            entries = list(os.scandir(self._path(prefix)))
        except FileNotFoundError:
            return []
        return sorted(
            entry.name + ("/" if entry.is_dir() else "")
            for entry in entries
            if not entry.name.startswith(".")
        )

    def _path(self, key: str) -> Path:
        return self.root / key if key else self.root

    @contextlib.contextmanager
    def _written(self, path: Path, data: bytes) -> Iterator[str]:
        """A temporary file beside ``path`` holding ``data`` on disk; removed afterwards."""
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            yield temporary
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.root.mkdir(parents=True, exist_ok=True)
        # Each call opens its own file description, so the flock also excludes other threads.
        with open(self.root / LOCK_FILE, "a+b") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield
