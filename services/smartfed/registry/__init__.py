"""The model registry: versioned, signed global models in S3 (MinIO, SeaweedFS, AWS) or a
local directory, opened by URI with ``open_store`` (``--store PATH`` or
``--store s3://BUCKET/PREFIX``). S3 is configured by ``SMARTFED_S3_ENDPOINT`` (host:port),
``SMARTFED_S3_ACCESS_KEY``, ``SMARTFED_S3_SECRET_KEY``, ``SMARTFED_S3_SECURE`` and
``SMARTFED_S3_REGION`` (see ``RegistrySettings``); the bucket must allow versioning and
conditional writes. The layout and the publish protocol are described in ``versioned.py``.

Keys. The aggregator, the only publisher, signs each manifest (which carries the model's
sha256) with an Ed25519 private key read from ``SMARTFED_SIGNING_KEY_FILE`` (PEM, PKCS#8; make
one with ``smartfed models keygen --out PATH``). In a deployment that file is a Kubernetes
Secret mounted into the aggregator only. A local store without that setting creates a
development key at ``ROOT/.signing-key.pem`` and warns; an S3 store refuses to publish without it.

The first publish of a federation stores the public key beside its models as
``FEDERATION/signing-key.pub``; later publishes with another key are refused. Readers verify
every load against a public key: edges are given the aggregator's public key explicitly
(``trusted_public_key=`` or ``SMARTFED_TRUSTED_PUBLIC_KEY_FILE``, distributed with the edge
chart's values at enrollment), so whoever can write to the bucket still cannot make them accept a
model; a stored key that differs from the trusted one is refused. Readers without a trusted key
(the simulation, ``smartfed models``) use the stored one.
"""

from smartfed.registry.settings import RegistrySettings
from smartfed.registry.store import (
    IntegrityError,
    ModelManifest,
    ModelStore,
    PublishRequest,
    StoreError,
)
from smartfed.registry.uri import open_store
from smartfed.registry.versioned import CHANNELS, VersionedStore

__all__ = [
    "CHANNELS",
    "IntegrityError",
    "ModelManifest",
    "ModelStore",
    "PublishRequest",
    "RegistrySettings",
    "StoreError",
    "VersionedStore",
    "open_store",
]
