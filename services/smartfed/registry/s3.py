"""The S3 backend, through the ``minio`` SDK: MinIO, SeaweedFS, AWS or any S3 with versioning
and conditional writes.

Every write is a conditional PUT: ``If-None-Match: *`` creates only if absent, ``If-Match: ETAG``
replaces only what was read. minio 7.2's public ``put_object`` turns unknown headers into user
metadata (``x-amz-meta-if-match``), so writes go through its ``_put_object``, which sends
headers as given; the pin on minio in pyproject.toml keeps that method where it is. A server
that ignores the conditions would let racing publishers overwrite each other, so opening a store
checks that the server refuses a second create of the same key.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from typing import TypeVar

import certifi
import urllib3
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from minio import Minio
from minio.error import MinioException, S3Error, ServerError
from minio.versioningconfig import ENABLED, VersioningConfig

from smartfed.registry.objects import ObjectExists, PreconditionFailed, StoredObject
from smartfed.registry.settings import RegistrySettings
from smartfed.registry.store import StoreError
from smartfed.registry.versioned import VersionedStore

log = logging.getLogger(__name__)

T = TypeVar("T")

PROBE_KEY = ".conditional-write-probe"
# Error codes a retry can cure: the server is overloaded, restarting, or saw a concurrent write.
TRANSIENT_CODES = frozenset(
    {"InternalError", "ServiceUnavailable", "SlowDown", "RequestTimeout", "OperationAborted",
     "ConditionalRequestConflict"}
)
CONFLICT_CODES = frozenset({"PreconditionFailed"})
MISSING_CODES = frozenset({"NoSuchKey", "NoSuchVersion"})
CREDENTIAL_CODES = frozenset({"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch"})
# A dead endpoint should fail fast, so the retry loop (not a socket) decides how long to wait.
CONNECT_TIMEOUT_S = 5.0
READ_TIMEOUT_S = 30.0
MAX_BACKOFF_S = 8.0


class S3Objects:
    """Objects under ``prefix`` in ``bucket``; every call retried on transient failures."""

    def __init__(
        self,
        client: Minio,
        endpoint: str,
        bucket: str,
        prefix: str,
        *,
        retry_deadline_s: float,
        first_backoff_s: float,
    ) -> None:
        self.client = client
        self.endpoint = endpoint
        self.bucket = bucket
        self.prefix = prefix
        self.retry_deadline_s = retry_deadline_s
        self.first_backoff_s = first_backoff_s

    def describe(self, key: str) -> str:
        return f"s3://{self.bucket}/{self._full(key)}"

    def full_key(self, key: str) -> str:
        return self._full(key)

    def read(self, key: str) -> StoredObject | None:
        def get() -> StoredObject | None:
            try:
                response = self.client.get_object(self.bucket, self._full(key))
            except S3Error as exc:
                if exc.code in MISSING_CODES:
                    return None
                raise
            try:
                data = response.read()
                return StoredObject(data=data, tag=response.headers.get("etag", "").strip('"'))
            finally:
                response.close()
                response.release_conn()

        return self.retrying("GET", key, get)

    def read_version(self, key: str, object_version: str | None) -> bytes | None:
        def get() -> bytes | None:
            try:
                response = self.client.get_object(
                    self.bucket, self._full(key), version_id=object_version
                )
            except S3Error as exc:
                if exc.code in MISSING_CODES:
                    return None
                raise
            try:
                return response.read()
            finally:
                response.close()
                response.release_conn()

        return self.retrying("GET", key, get)

    def create(self, key: str, data: bytes) -> str | None:
        try:
            return self._put(key, data, {"If-None-Match": "*"})
        except PreconditionFailed:
            raise ObjectExists(key) from None

    def swap(self, key: str, data: bytes, expected_tag: str | None) -> None:
        condition = (
            {"If-None-Match": "*"} if expected_tag is None else {"If-Match": f'"{expected_tag}"'}
        )
        self._put(key, data, condition)

    def children(self, prefix: str) -> list[str]:
        full = self._full(prefix)

        def listing() -> list[str]:
            objects = self.client.list_objects(self.bucket, prefix=full, recursive=False)
            return [o.object_name[len(full):] for o in objects if o.object_name]

        names = self.retrying("LIST", prefix, listing)
        return sorted(name for name in names if name and not name.startswith("."))

    def check_conditional_writes(self) -> None:
        """Refuse a server that would let a second create of one key succeed."""
        try:
            self.create(PROBE_KEY, b"conditional writes are required by the smartfed registry\n")
            self.create(PROBE_KEY, b"second create: must be refused\n")
        except ObjectExists:
            return
        raise StoreError(
            f"the S3 server at {self.endpoint} accepted two creates of "
            f"{self.describe(PROBE_KEY)} with If-None-Match: *, so it ignores conditional "
            "writes; racing publishers could overwrite each other's models. Use a server that "
            "supports them (MinIO, SeaweedFS, AWS S3)"
        )

    def _full(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def _put(self, key: str, data: bytes, condition: dict[str, str]) -> str | None:
        content_type = "application/json" if key.endswith(".json") else "application/octet-stream"
        headers = {"Content-Type": content_type, **condition}

        def put() -> str | None:
            try:
                result = self.client._put_object(self.bucket, self._full(key), data, headers)
            except S3Error as exc:
                if exc.code in CONFLICT_CODES:
                    raise PreconditionFailed(key) from None
                raise
            return result.version_id

        return self.retrying("PUT", key, put)

    def retrying(self, operation: str, key: str, call: Callable[[], T]) -> T:
        """Run ``call``, retrying transient failures with exponential backoff until the deadline."""
        started = time.monotonic()
        backoff_s = self.first_backoff_s
        attempt = 1
        while True:
            try:
                return call()
            except S3Error as exc:
                if exc.code not in TRANSIENT_CODES:
                    raise StoreError(self._refusal(operation, key, exc)) from None
                failure = f"{exc.code}: {exc.message}"
            except ServerError as exc:
                failure = f"HTTP {exc.status_code}"
            except (urllib3.exceptions.HTTPError, ConnectionError) as exc:
                failure = f"{type(exc).__name__}: {exc}"
            except MinioException as exc:
                raise StoreError(f"S3 {operation} {self.describe(key)} failed: {exc}") from None

            elapsed_s = time.monotonic() - started
            if elapsed_s + backoff_s > self.retry_deadline_s:
                raise StoreError(
                    f"S3 {operation} {self.describe(key)} still failing after {attempt} "
                    f"attempt{'s' if attempt > 1 else ''} over {elapsed_s:.1f} s ({failure}); "
                    "check that the endpoint "
                    f"{self.endpoint} is up, or raise SMARTFED_S3_RETRY_DEADLINE_S "
                    f"(now {self.retry_deadline_s:g})"
                )
            log.warning(
                "S3 %s %s failed (%s): retrying in %.2f s (attempt %d)",
                operation, self.describe(key), failure, backoff_s, attempt + 1,
            )
            time.sleep(backoff_s)
            backoff_s = min(backoff_s * 2, MAX_BACKOFF_S)
            attempt += 1

    def _refusal(self, operation: str, key: str, exc: S3Error) -> str:
        where = self.describe(key)
        if exc.code in CREDENTIAL_CODES:
            return (
                f"S3 {operation} {where} refused: {exc.code} ({exc.message}); check "
                "SMARTFED_S3_ACCESS_KEY and SMARTFED_S3_SECRET_KEY, and that this identity may "
                f"read and write bucket {self.bucket!r}"
            )
        if exc.code == "NoSuchBucket":
            return f"S3 {operation} {where}: bucket {self.bucket!r} does not exist ({exc.message})"
        return f"S3 {operation} {where} failed: {exc.code} ({exc.message})"


def open_s3_store(
    uri: str,
    bucket: str,
    prefix: str,
    settings: RegistrySettings,
    trusted_public_key: Ed25519PublicKey | None,
) -> VersionedStore:
    """Connect, make sure ``bucket`` exists with versioning on, and check conditional writes."""
    missing = [
        f"SMARTFED_{name.upper()}"
        for name in ("s3_endpoint", "s3_access_key", "s3_secret_key")
        if not getattr(settings, name)
    ]
    if missing:
        raise StoreError(f"--store {uri} needs {', '.join(missing)} set in the environment")
    if not bucket:
        raise StoreError(f"--store {uri} names no bucket; use s3://BUCKET/PREFIX")
    endpoint = settings.s3_endpoint
    if "://" in endpoint or "/" in endpoint:
        raise StoreError(
            f"SMARTFED_S3_ENDPOINT={endpoint!r} must be host:port without a scheme or path "
            "(for example 127.0.0.1:8333); TLS is chosen by SMARTFED_S3_SECURE"
        )
    http_client = urllib3.PoolManager(
        timeout=urllib3.Timeout(connect=CONNECT_TIMEOUT_S, read=READ_TIMEOUT_S),
        retries=False,
        maxsize=10,
        cert_reqs="CERT_REQUIRED",
        ca_certs=os.environ.get("SSL_CERT_FILE") or certifi.where(),
    )
    client = Minio(
        endpoint,
        access_key=settings.s3_access_key,
        secret_key=settings.s3_secret_key,
        secure=settings.s3_secure,
        region=settings.s3_region,
        http_client=http_client,
    )
    objects = S3Objects(
        client,
        endpoint,
        bucket,
        prefix,
        retry_deadline_s=settings.s3_retry_deadline_s,
        first_backoff_s=settings.s3_retry_first_backoff_s,
    )
    _ensure_versioned_bucket(objects)
    objects.check_conditional_writes()
    return VersionedStore(
        objects,
        uri,
        signing_key_file=settings.signing_key_file,
        trusted_public_key=trusted_public_key,
    )


def _ensure_versioned_bucket(objects: S3Objects) -> None:
    client, bucket = objects.client, objects.bucket

    def create_if_missing() -> None:
        if client.bucket_exists(bucket):
            return
        try:
            client.make_bucket(bucket)
            log.info("created bucket %s", bucket)
        except S3Error as exc:
            if exc.code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                raise

    objects.retrying("CREATE BUCKET", "", create_if_missing)
    status = objects.retrying("GET VERSIONING", "", lambda: client.get_bucket_versioning(bucket))
    if status.status == ENABLED:
        return
    try:
        objects.retrying(
            "SET VERSIONING",
            "",
            lambda: client.set_bucket_versioning(bucket, VersioningConfig(ENABLED)),
        )
    except StoreError as exc:
        raise StoreError(
            f"bucket {bucket!r} has versioning {status.status!r} and it could not be enabled "
            f"({exc}); the registry requires versioning. Enable it on the bucket, or use another"
        ) from None
    status = objects.retrying("GET VERSIONING", "", lambda: client.get_bucket_versioning(bucket))
    if status.status != ENABLED:
        raise StoreError(
            f"bucket {bucket!r} reports versioning {status.status!r} after enabling it; the "
            "registry requires versioning. Enable it on the bucket, or use another"
        )
    log.info("enabled versioning on bucket %s", bucket)
