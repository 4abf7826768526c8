"""Ed25519 signatures over model manifests.

The manifest carries the model's sha256, so one signature over the manifest covers the weights
too. What is signed is the manifest's canonical JSON (sorted keys, no whitespace) without the
``signature`` and ``channel`` fields: the channel is moved later by ``promote``, by someone who
need not hold the private key.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import tempfile
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from smartfed.registry.store import IntegrityError, ModelManifest, StoreError

log = logging.getLogger(__name__)

UNSIGNED_FIELDS = ("signature", "channel")


def signed_payload(manifest: ModelManifest) -> bytes:
    fields = {k: v for k, v in manifest.to_json_dict().items() if k not in UNSIGNED_FIELDS}
    return json.dumps(fields, sort_keys=True, separators=(",", ":")).encode()


def sign_manifest(key: Ed25519PrivateKey, manifest: ModelManifest) -> str:
    return base64.b64encode(key.sign(signed_payload(manifest))).decode()


def verify_manifest(key: Ed25519PublicKey, manifest: ModelManifest, where: str) -> None:
    """Raise IntegrityError unless ``manifest`` carries a valid signature by ``key``."""
    name = f"model {manifest.federation!r} version {manifest.version} at {where}"
    if not manifest.signature:
        raise IntegrityError(
            f"{name} has no signature; every published model must be signed by the aggregator. "
            "Publish it again with SMARTFED_SIGNING_KEY_FILE set, or load a signed version"
        )
    try:
        key.verify(base64.b64decode(manifest.signature, validate=True), signed_payload(manifest))
    except (InvalidSignature, ValueError):
        raise IntegrityError(
            f"{name}: the manifest's signature does not verify with public key "
            f"{fingerprint(key)}; the manifest was changed after signing or signed by another "
            "key. Do not use this model; load an earlier version or publish a new one"
        ) from None


def fingerprint(key: Ed25519PublicKey) -> str:
    """A short, stable name for a public key, for error messages and ``models show``."""
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return "ed25519:" + hashlib.sha256(raw).hexdigest()[:16]


def public_key_pem(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def parse_public_key(pem: bytes, source: str) -> Ed25519PublicKey:
    try:
        key = serialization.load_pem_public_key(pem)
    except ValueError as exc:
        raise StoreError(
            f"public key {source} is not a PEM public key ({exc}); expected the "
            "'-----BEGIN PUBLIC KEY-----' file written by `smartfed models keygen`"
        ) from None
    if not isinstance(key, Ed25519PublicKey):
        raise StoreError(
            f"public key {source} is a {type(key).__name__}, but models are signed with Ed25519; "
            "use the signing-key.pub of the federation"
        )
    return key


def load_public_key(path: Path) -> Ed25519PublicKey:
    try:
        pem = path.read_bytes()
    except OSError as exc:
        raise StoreError(f"cannot read public key {path}: {exc.strerror}") from None
    return parse_public_key(pem, str(path))


def load_private_key(path: Path) -> Ed25519PrivateKey:
    try:
        pem = path.read_bytes()
    except OSError as exc:
        raise StoreError(
            f"cannot read signing key {path} (SMARTFED_SIGNING_KEY_FILE): {exc.strerror}; "
            "create one with `smartfed models keygen --out PATH`"
        ) from None
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as exc:
        raise StoreError(
            f"signing key {path} is not an unencrypted PEM private key ({exc}); "
            "create one with `smartfed models keygen --out PATH`"
        ) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise StoreError(
            f"signing key {path} is a {type(key).__name__}, but models are signed with Ed25519; "
            "create one with `smartfed models keygen --out PATH`"
        )
    return key


def write_private_key(path: Path) -> Ed25519PrivateKey:
    """Create a new key at ``path``, readable by its owner only; refuse to overwrite one.

    The key is written to a temporary file and linked into place, so a concurrent reader never
    sees a half-written key, and of two racing writers exactly one wins.
    """
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(pem)
        os.link(temporary, path)
    except FileExistsError:
        raise StoreError(
            f"signing key {path} already exists; refusing to overwrite it, since models signed "
            "with it would no longer verify. Choose another path"
        ) from None
    finally:
        os.unlink(temporary)
    return key


def development_key(path: Path) -> Ed25519PrivateKey:
    """The key a local store signs with when no SMARTFED_SIGNING_KEY_FILE is configured."""
    if path.exists():
        return load_private_key(path)
    try:
        key = write_private_key(path)
    except StoreError:
        # Another publisher created it between our check and our write.
        return load_private_key(path)
    log.warning(
        "no signing key configured (SMARTFED_SIGNING_KEY_FILE): created development key %s; "
        "a deployment's aggregator must set SMARTFED_SIGNING_KEY_FILE",
        path,
    )
    return key
