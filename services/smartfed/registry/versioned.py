"""Versioned, signed global models over an object backend (S3 or a local directory).

Layout below the store root (the S3 prefix or the directory)::

    FEDERATION/signing-key.pub           public key every version of the federation verifies with
    FEDERATION/v000001/model.safetensors the model, written once
    FEDERATION/v000001/manifest.json     its signed manifest, written once, after the model
    FEDERATION/latest.json               pointer of the "candidate" channel: the current model
    FEDERATION/stable.json               pointer of the "stable" channel, moved by ``promote``

A publish claims the next version number by creating its model object only if absent, writes the
manifest, and only then moves ``latest.json`` with a compare-and-swap; a publish that dies midway
leaves at most an unreferenced version folder, never a pointer to a model that is not there.
When two aggregators race, each gets its own number, and the pointer ends at the higher one.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from dataclasses import dataclass, fields, replace
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from smartfed.registry import signing
from smartfed.registry.objects import (
    ObjectBackend,
    ObjectExists,
    PreconditionFailed,
    StoredObject,
)
from smartfed.registry.store import IntegrityError, ModelManifest, PublishRequest, StoreError

log = logging.getLogger(__name__)

CHANNELS = ("candidate", "stable")
POINTER_FILES = {"candidate": "latest.json", "stable": "stable.json"}
MODEL_FILE = "model.safetensors"
MANIFEST_FILE = "manifest.json"
PUBLIC_KEY_FILE = "signing-key.pub"
# Kubernetes-style names: they become object keys and folder names, so no "/" and no "..".
FEDERATION_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")
VERSION_FOLDER = re.compile(r"v(\d{6,})/")
MANIFEST_FIELDS = frozenset(f.name for f in fields(ModelManifest))


@dataclass(frozen=True)
class Pointer:
    version: int | None
    tag: str | None


def code_version() -> str:
    try:
        return "smartfed " + metadata.version("smartfed")
    except metadata.PackageNotFoundError:
        return "smartfed (not installed)"


class VersionedStore:
    """The registry: implements ``ModelStore`` plus the lifecycle (promote, rollback).

    ``signing_key_file`` signs publishes; without one, ``development_key_file`` (local stores
    only) is created and used. ``trusted_public_key`` is what loads verify against; without one,
    they use the federation's stored ``signing-key.pub``.
    """

    def __init__(
        self,
        backend: ObjectBackend,
        uri: str,
        *,
        signing_key_file: Path | None = None,
        development_key_file: Path | None = None,
        trusted_public_key: Ed25519PublicKey | None = None,
    ) -> None:
        self.backend = backend
        self.uri = uri
        self._signing_key_file = signing_key_file
        self._development_key_file = development_key_file
        self._trusted_public_key = trusted_public_key
        self._signing_key: Ed25519PrivateKey | None = None
        # Federations whose stored public key matched ours once; it is never replaced by us.
        self._public_key_checked: set[str] = set()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.uri!r})"

    # Reading.

    def federations(self) -> list[str]:
        return [name[:-1] for name in self.backend.children("") if name.endswith("/")]

    def latest(self, federation: str) -> ModelManifest | None:
        return self.current(federation, "candidate")

    def current(self, federation: str, channel: str) -> ModelManifest | None:
        """The verified manifest a channel points at, or None before the first publish."""
        pointer = self._pointer(federation, channel)
        if pointer.version is None:
            return None
        return self.manifest(federation, pointer.version)

    def versions(self, federation: str) -> list[ModelManifest]:
        """Every published version, oldest first, each manifest verified."""
        stable = self._pointer(federation, "stable").version
        numbers = self._version_numbers(federation)
        verifier = self.public_key(federation) if numbers else None
        found = []
        for number in numbers:
            stored = self.backend.read(self._key(federation, number, MANIFEST_FILE))
            if stored is None:
                continue  # a publish that died before its manifest: not a version
            found.append(self._verified(federation, number, stored, stable, verifier))
        return found

    def manifest(self, federation: str, version: int) -> ModelManifest:
        """The verified manifest of ``version``, its ``channel`` as the store's pointers say."""
        stored = self.backend.read(self._key(federation, version, MANIFEST_FILE))
        if stored is None:
            raise StoreError(
                f"federation {federation!r} has no version {version} in {self.uri}; "
                f"see `smartfed models list --store {self.uri} --federation {federation}`"
            )
        stable = self._pointer(federation, "stable").version
        return self._verified(federation, version, stored, stable, self.public_key(federation))

    def load(
        self, federation: str, version: int | None = None, *, channel: str = "candidate"
    ) -> tuple[bytes, ModelManifest]:
        """The bytes of ``version`` (default: the channel's current one), verified against the
        signed manifest: a bad signature or hash raises IntegrityError, never returns bytes."""
        if version is None:
            version = self._pointer(federation, channel).version
            if version is None:
                raise StoreError(
                    f"no model published for federation {federation!r} in {self.uri} "
                    f"(channel {channel!r} is empty); run a round first, or check --federation "
                    f"against the federations present: {self.federations() or 'none'}"
                )
        manifest = self.manifest(federation, version)
        object_key = self._key(federation, version, MODEL_FILE)
        where = self.backend.describe(object_key)
        data = self.backend.read_version(object_key, manifest.object_version)
        if data is None:
            raise StoreError(
                f"model {federation!r} version {version}: its object {where} "
                f"(object version {manifest.object_version}) is missing from the store; "
                "load another version or restore the object from backup"
            )
        digest = hashlib.sha256(data).hexdigest()
        if digest != manifest.sha256:
            raise IntegrityError(
                f"model {federation!r} version {version} failed verification: {where} has "
                f"sha256 {digest}, but its signed manifest says {manifest.sha256}; the stored "
                "bytes were changed or damaged after publishing. Do not use them: roll back "
                f"with `smartfed models rollback --store {self.uri} --federation {federation}`, "
                "or publish a new version"
            )
        return data, manifest

    # Writing.

    def publish(self, request: PublishRequest, model_bytes: bytes) -> ModelManifest:
        """Write the model and its signed manifest as a new version, then move ``latest``."""
        federation = request.federation
        self._check_federation(federation)
        if not model_bytes:
            raise StoreError(f"refusing to publish an empty model for federation {federation!r}")
        key = self._signer()
        self._ensure_public_key(federation, key.public_key())
        pointer = self._pointer(federation, "candidate")
        draft = ModelManifest(
            federation=federation,
            version=0,
            round=request.round,
            parent=pointer.version,
            strategy=request.strategy,
            sites=list(request.sites),
            organizations=list(request.organizations),
            metrics=dict(request.metrics),
            epsilon=request.epsilon,
            object="",
            object_version=None,
            sha256=hashlib.sha256(model_bytes).hexdigest(),
            created_at=datetime.now(UTC).isoformat(timespec="milliseconds"),
            code_version=code_version(),
            extra=dict(request.extra),
        )
        # Refuse what JSON cannot carry before anything is written.
        self._manifest_bytes(draft)

        # Claim a version number: the first free one whose model object we manage to create.
        number = max(self._version_numbers(federation), default=0) + 1
        while True:
            object_key = self._key(federation, number, MODEL_FILE)
            try:
                object_version = self.backend.create(object_key, model_bytes)
                break
            except ObjectExists:
                log.debug("version %d of %s taken by another publisher", number, federation)
                number += 1

        manifest = replace(
            draft,
            version=number,
            object=self.backend.full_key(object_key),
            object_version=object_version,
        )
        manifest = replace(manifest, signature=signing.sign_manifest(key, manifest))
        manifest_key = self._key(federation, number, MANIFEST_FILE)
        data = self._manifest_bytes(manifest)
        try:
            self.backend.create(manifest_key, data)
        except ObjectExists:
            # Only we write this number's manifest: it exists when a retried request landed twice.
            stored = self.backend.read(manifest_key)
            if stored is None or stored.data != data:
                raise StoreError(
                    f"manifest {self.backend.describe(manifest_key)} appeared while publishing "
                    "and is not ours; another writer ignores the registry protocol"
                ) from None

        self._advance_latest(federation, number, pointer)
        log.info(
            "published %s version %d (round %d, parent %s, sha256 %s) to %s",
            federation, number, request.round, pointer.version, manifest.sha256[:12], self.uri,
        )
        return manifest

    def promote(
        self, federation: str, version: int | None = None, channel: str = "stable"
    ) -> ModelManifest:
        """Point ``channel`` at ``version`` (default: the current candidate), after verifying it."""
        if version is None:
            version = self._pointer(federation, "candidate").version
            if version is None:
                raise StoreError(f"federation {federation!r} has no candidate to promote")
        self.load(federation, version)
        self._move_pointer(federation, channel, version, "promote")
        log.info("promoted %s version %d to channel %s in %s", federation, version, channel,
                 self.uri)
        return self.manifest(federation, version)

    def rollback(
        self, federation: str, version: int | None = None, channel: str = "candidate"
    ) -> ModelManifest:
        """Make an earlier version current on ``channel``; history stays untouched.

        Without ``version``, the newest version older than the current one. The target is
        verified first, so a rollback never lands on a damaged model.
        """
        current = self._pointer(federation, channel).version
        if version is None:
            earlier = [v.version for v in self.versions(federation)
                       if current is None or v.version < current]
            if not earlier:
                raise StoreError(
                    f"federation {federation!r} has no version older than {current} on channel "
                    f"{channel!r} to roll back to; see `smartfed models list --store {self.uri}`"
                )
            version = earlier[-1]
        self.load(federation, version)
        self._move_pointer(federation, channel, version, "rollback")
        log.info("rolled %s channel %s back from version %s to %d in %s", federation, channel,
                 current, version, self.uri)
        return self.manifest(federation, version)

    # Internals.

    def _key(self, federation: str, version: int, name: str) -> str:
        return f"{federation}/v{version:06d}/{name}"

    def _check_federation(self, federation: str) -> None:
        if not FEDERATION_NAME.fullmatch(federation) or ".." in federation:
            raise StoreError(
                f"federation name {federation!r} is not allowed: use 1-128 letters, digits, "
                "'-', '_' or '.', starting with a letter or digit (it becomes an object key)"
            )

    def _check_channel(self, channel: str) -> None:
        if channel not in CHANNELS:
            raise StoreError(f"unknown channel {channel!r}; channels are {', '.join(CHANNELS)}")

    def _version_numbers(self, federation: str) -> list[int]:
        self._check_federation(federation)
        numbers = []
        for name in self.backend.children(f"{federation}/"):
            if match := VERSION_FOLDER.fullmatch(name):
                numbers.append(int(match.group(1)))
        return sorted(numbers)

    def _pointer(self, federation: str, channel: str) -> Pointer:
        self._check_federation(federation)
        self._check_channel(channel)
        key = f"{federation}/{POINTER_FILES[channel]}"
        stored = self.backend.read(key)
        if stored is None:
            return Pointer(version=None, tag=None)
        try:
            version = json.loads(stored.data)["version"]
        except (ValueError, KeyError, TypeError):
            raise StoreError(
                f"pointer {self.backend.describe(key)} is not the registry's JSON "
                '{"version": N, ...}; restore it with `smartfed models rollback`'
            ) from None
        return Pointer(version=int(version), tag=stored.tag)

    def _pointer_bytes(self, version: int, reason: str) -> bytes:
        moved_at = datetime.now(UTC).isoformat(timespec="milliseconds")
        return json.dumps({"version": version, "reason": reason, "moved_at": moved_at}).encode()

    def _advance_latest(self, federation: str, number: int, pointer: Pointer) -> None:
        """Move ``latest`` to ``number`` unless a racing publisher already moved it higher."""
        key = f"{federation}/{POINTER_FILES['candidate']}"
        while True:
            try:
                self.backend.swap(key, self._pointer_bytes(number, "publish"), pointer.tag)
                return
            except PreconditionFailed:
                pointer = self._pointer(federation, "candidate")
                if pointer.version is not None and pointer.version >= number:
                    log.info(
                        "%s: a racing publisher moved latest to version %d first; version %d "
                        "stays in the history", federation, pointer.version, number,
                    )
                    return

    def _move_pointer(self, federation: str, channel: str, version: int, reason: str) -> None:
        pointer = self._pointer(federation, channel)
        key = f"{federation}/{POINTER_FILES[channel]}"
        try:
            self.backend.swap(key, self._pointer_bytes(version, reason), pointer.tag)
        except PreconditionFailed:
            raise StoreError(
                f"channel {channel!r} of {federation!r} moved while this {reason} ran (a "
                f"publish or another {reason}); nothing was changed. Check `smartfed models list "
                f"--store {self.uri} --federation {federation}` and run it again"
            ) from None

    def _manifest_bytes(self, manifest: ModelManifest) -> bytes:
        try:
            return json.dumps(manifest.to_json_dict(), indent=2, sort_keys=True).encode()
        except (TypeError, ValueError) as exc:
            raise StoreError(
                f"the manifest of {manifest.federation!r} round {manifest.round} cannot be "
                f"written as JSON ({exc}); metrics and extra must hold only str, int, float, "
                "bool, None, lists and dicts"
            ) from None

    def _verified(
        self,
        federation: str,
        version: int,
        stored: StoredObject,
        stable: int | None,
        verifier: Ed25519PublicKey,
    ) -> ModelManifest:
        """Parse a stored manifest and check its signature and that it belongs where it lies."""
        where = self.backend.describe(self._key(federation, version, MANIFEST_FILE))
        try:
            fields_found = json.loads(stored.data)
            if not isinstance(fields_found, dict):
                raise TypeError("expected a JSON object")
            unknown = set(fields_found) - MANIFEST_FIELDS
            if unknown:
                raise StoreError(
                    f"manifest {where} has fields this smartfed does not know: "
                    f"{', '.join(sorted(unknown))}; it was written by a newer version "
                    f"({fields_found.get('code_version')}): upgrade smartfed to load it"
                )
            manifest = ModelManifest(**fields_found)
        except (ValueError, TypeError) as exc:
            raise IntegrityError(
                f"manifest {where} is not a valid manifest ({exc}); it was damaged after "
                "publishing. Load another version or publish a new one"
            ) from None
        signing.verify_manifest(verifier, manifest, where)
        # A correctly signed manifest copied into another version's folder is a replay.
        expected = (
            federation, version, self.backend.full_key(self._key(federation, version, MODEL_FILE))
        )
        if (manifest.federation, manifest.version, manifest.object) != expected:
            raise IntegrityError(
                f"manifest {where} is signed for {manifest.federation!r} version "
                f"{manifest.version} ({manifest.object}), not for {federation!r} version "
                f"{version}; it was copied here. Load another version or publish a new one"
            )
        channel = "stable" if version == stable else "candidate"
        return replace(manifest, channel=channel)

    def public_key(self, federation: str) -> Ed25519PublicKey:
        """The key loads of ``federation`` verify against (trusted, else the stored one)."""
        key = f"{federation}/{PUBLIC_KEY_FILE}"
        stored = self.backend.read(key)
        stored_key = (
            None if stored is None
            else signing.parse_public_key(stored.data, self.backend.describe(key))
        )
        if self._trusted_public_key is not None:
            if stored_key is not None and not _same_key(stored_key, self._trusted_public_key):
                raise IntegrityError(
                    f"federation {federation!r} in {self.uri} is signed with public key "
                    f"{signing.fingerprint(stored_key)}, but this reader trusts "
                    f"{signing.fingerprint(self._trusted_public_key)}; refusing its models. "
                    "Check SMARTFED_TRUSTED_PUBLIC_KEY_FILE against the aggregator's key"
                )
            return self._trusted_public_key
        if stored_key is None:
            raise IntegrityError(
                f"federation {federation!r} in {self.uri} has no {PUBLIC_KEY_FILE}, so its "
                "models cannot be verified; pass the aggregator's public key "
                "(SMARTFED_TRUSTED_PUBLIC_KEY_FILE)"
            )
        return stored_key

    def _signer(self) -> Ed25519PrivateKey:
        if self._signing_key is None:
            if self._signing_key_file is not None:
                self._signing_key = signing.load_private_key(self._signing_key_file)
            elif self._development_key_file is not None:
                self._signing_key = signing.development_key(self._development_key_file)
            else:
                raise StoreError(
                    f"publishing to {self.uri} needs a signing key: set "
                    "SMARTFED_SIGNING_KEY_FILE to an Ed25519 PEM private key (create one with "
                    "`smartfed models keygen --out PATH`)"
                )
        return self._signing_key

    def _ensure_public_key(self, federation: str, public: Ed25519PublicKey) -> None:
        """Store the publisher's public key on first publish; refuse a publisher with another."""
        if federation in self._public_key_checked:
            return
        key = f"{federation}/{PUBLIC_KEY_FILE}"
        try:
            self.backend.create(key, signing.public_key_pem(public))
            log.info("%s: stored public key %s at %s", federation, signing.fingerprint(public),
                     self.backend.describe(key))
            self._public_key_checked.add(federation)
            return
        except ObjectExists:
            pass
        stored = self.backend.read(key)
        stored_key = signing.parse_public_key(
            stored.data if stored else b"", self.backend.describe(key)
        )
        if not _same_key(stored_key, public):
            raise StoreError(
                f"federation {federation!r} in {self.uri} is signed with public key "
                f"{signing.fingerprint(stored_key)}, but this publisher holds "
                f"{signing.fingerprint(public)}; its versions would not verify. Use the "
                "federation's signing key (SMARTFED_SIGNING_KEY_FILE) or a new federation name"
            )
        self._public_key_checked.add(federation)


def _same_key(a: Ed25519PublicKey, b: Ed25519PublicKey) -> bool:
    return signing.public_key_pem(a) == signing.public_key_pem(b)
