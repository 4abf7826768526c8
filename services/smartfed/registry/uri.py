"""``--store`` URIs: a directory path, or ``s3://BUCKET/PREFIX``."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from smartfed.registry import signing
from smartfed.registry.local import LocalObjects
from smartfed.registry.settings import RegistrySettings
from smartfed.registry.store import StoreError
from smartfed.registry.versioned import VersionedStore

# Created on a local store's first publish when no SMARTFED_SIGNING_KEY_FILE is set.
DEVELOPMENT_KEY_FILE = ".signing-key.pem"


def open_store(
    uri: str,
    *,
    trusted_public_key: Ed25519PublicKey | bytes | Path | None = None,
    settings: RegistrySettings | None = None,
) -> VersionedStore:
    """The model store named by ``uri``: a PATH (or file://PATH) or s3://BUCKET/PREFIX.

    ``trusted_public_key`` (a key, its PEM bytes, or a PEM file) is what loads verify against;
    it defaults to SMARTFED_TRUSTED_PUBLIC_KEY_FILE, then to the key stored with the models.
    """
    settings = settings or RegistrySettings()
    trusted = _trusted_key(trusted_public_key, settings)
    parts = urlsplit(uri)
    if parts.scheme == "s3":
        from smartfed.registry.s3 import open_s3_store

        return open_s3_store(uri, parts.netloc, parts.path.strip("/"), settings, trusted)
    if parts.scheme in ("", "file"):
        root = Path(parts.path if parts.scheme == "file" else uri).expanduser().resolve()
        if root.exists() and not root.is_dir():
            raise StoreError(f"--store {uri}: {root} is a file; a local store is a directory")
        return VersionedStore(
            LocalObjects(root),
            str(root),
            signing_key_file=settings.signing_key_file,
            development_key_file=root / DEVELOPMENT_KEY_FILE,
            trusted_public_key=trusted,
        )
    raise StoreError(
        f"--store {uri}: unknown scheme {parts.scheme!r}; use a directory path or "
        "s3://BUCKET/PREFIX"
    )


def _trusted_key(
    given: Ed25519PublicKey | bytes | Path | None, settings: RegistrySettings
) -> Ed25519PublicKey | None:
    if isinstance(given, Ed25519PublicKey):
        return given
    if isinstance(given, bytes):
        return signing.parse_public_key(given, "trusted_public_key")
    path = given if given is not None else settings.trusted_public_key_file
    return None if path is None else signing.load_public_key(Path(path))
