"""The registry against a real S3 server (SeaweedFS on 127.0.0.1): versions, races, tampering,
and the server going away in the middle of a publish."""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load as load_tensors
from safetensors.numpy import save as save_tensors
from smartfed import cli
from smartfed.registry import IntegrityError, PublishRequest, StoreError, open_store
from smartfed.registry.signing import fingerprint, load_private_key, write_private_key

pytestmark = pytest.mark.s3

BUCKET = "models"
FEDERATION = "hvac"


@pytest.fixture
def s3_env(seaweed_s3, monkeypatch, tmp_path):
    """Registry settings for the test server, and a signing key for this test's publishers."""
    for name, value in seaweed_s3.environment().items():
        monkeypatch.setenv(name, value)
    key_file = tmp_path / "signing-key.pem"
    write_private_key(key_file)
    monkeypatch.setenv("SMARTFED_SIGNING_KEY_FILE", str(key_file))
    monkeypatch.setenv("SMARTFED_S3_RETRY_DEADLINE_S", "60")
    return seaweed_s3


@pytest.fixture
def store_uri(s3_env) -> str:
    """A prefix of its own per test, in one shared bucket."""
    return f"s3://{BUCKET}/{uuid.uuid4().hex[:10]}"


def model_bytes(seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    return save_tensors({
        "encoder.weight": rng.standard_normal((16, 8)).astype(np.float32),
        "encoder.bias": rng.standard_normal(16).astype(np.float32),
    })


def request(round_number: int) -> PublishRequest:
    return PublishRequest(
        federation=FEDERATION,
        round=round_number,
        strategy="fedavg",
        sites=["site-01", "site-02"],
        organizations=["org-a"],
        metrics={"f1": 0.5 + round_number / 100, "loss": 1.0 / round_number},
        epsilon=2.5,
    )


def test_bucket_is_created_with_versioning_and_each_publish_is_a_new_object_version(
    seaweed_s3, store_uri
):
    store = open_store(store_uri)
    client = seaweed_s3.client()
    assert client.get_bucket_versioning(BUCKET).status == "Enabled"

    published = [store.publish(request(r), model_bytes(r)) for r in (1, 2, 3)]

    assert [m.version for m in published] == [1, 2, 3]
    assert [m.parent for m in published] == [None, 1, 2]
    assert len({m.object_version for m in published}) == 3
    for manifest in published:
        assert manifest.object_version is not None
        stored = client.get_object(BUCKET, manifest.object, version_id=manifest.object_version)
        assert hashlib.sha256(stored.read()).hexdigest() == manifest.sha256
        stored.close()
        stored.release_conn()
        manifest_object = client.get_object(BUCKET, manifest.object.replace(
            "model.safetensors", "manifest.json"
        ))
        assert json.loads(manifest_object.read()) == manifest.to_json_dict()
        manifest_object.close()
        manifest_object.release_conn()
    prefix = store_uri.removeprefix(f"s3://{BUCKET}/")
    pointer_moves = client.list_objects(
        BUCKET, prefix=f"{prefix}/{FEDERATION}/latest.json", include_version=True
    )
    assert len(list(pointer_moves)) == 3
    assert store.latest(FEDERATION).version == 3


def test_rollback_then_load_returns_the_earlier_weights_bit_for_bit(store_uri, capsys):
    store = open_store(store_uri)
    first = model_bytes(1)
    store.publish(request(1), first)
    store.publish(request(2), model_bytes(2))

    code = cli.main(["models", "rollback", "--store", store_uri, "--federation", FEDERATION])

    assert code == 0
    assert capsys.readouterr().out == (
        f"{FEDERATION}: channel candidate rolled back to version 1 (round 1); "
        "later versions are kept\n"
    )
    loaded, manifest = open_store(store_uri).load(FEDERATION)
    assert loaded == first
    assert manifest.version == 1
    for name, tensor in load_tensors(first).items():
        np.testing.assert_array_equal(load_tensors(loaded)[name], tensor)
    assert [m.version for m in store.versions(FEDERATION)] == [1, 2]


def test_two_racing_publishers_lose_no_version(store_uri):
    # Two aggregators, each with its own connection, publishing as fast as they can.
    publishers = [open_store(store_uri), open_store(store_uri)]
    rounds_each = 6
    start = threading.Barrier(len(publishers))
    published: dict[int, list] = {0: [], 1: []}

    def publish_all(index: int) -> None:
        start.wait()
        for r in range(1, rounds_each + 1):
            payload = model_bytes(1000 * index + r)
            published[index].append((store.publish(request(r), payload), payload))

    threads = []
    for index, store in enumerate(publishers):
        threads.append(threading.Thread(target=publish_all, args=(index,)))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    reader = open_store(store_uri)
    all_published = published[0] + published[1]
    assert len(all_published) == 2 * rounds_each
    assert sorted(m.version for m, _ in all_published) == list(range(1, 2 * rounds_each + 1))
    for manifest, payload in all_published:
        assert reader.load(FEDERATION, manifest.version)[0] == payload
    assert [m.version for m in reader.versions(FEDERATION)] == list(range(1, 2 * rounds_each + 1))
    assert reader.latest(FEDERATION).version == 2 * rounds_each


def test_a_bucket_without_versioning_gets_it_enabled(seaweed_s3, s3_env):
    bucket = f"plain-{uuid.uuid4().hex[:8]}"
    client = seaweed_s3.client()
    client.make_bucket(bucket)
    assert client.get_bucket_versioning(bucket).status is None  # never configured

    open_store(f"s3://{bucket}/models")

    assert client.get_bucket_versioning(bucket).status == "Enabled"


def test_an_overwritten_model_object_is_not_served(seaweed_s3, store_uri):
    store = open_store(store_uri)
    original = model_bytes(1)
    manifest = store.publish(request(1), original)
    flipped = bytearray(original)
    flipped[-1] ^= 0x01

    # Whoever can write to the bucket replaces the object: a new S3 version of the same key.
    client = seaweed_s3.client()
    client.put_object(BUCKET, manifest.object, io.BytesIO(bytes(flipped)), len(flipped))

    # The manifest pins the published object version, so the load still gets the signed bytes.
    assert open_store(store_uri).load(FEDERATION)[0] == original


def test_a_manifest_repointed_at_tampered_bytes_fails_to_load_with_a_clear_message(
    seaweed_s3, store_uri
):
    store = open_store(store_uri)
    original = model_bytes(1)
    manifest = store.publish(request(1), original)
    flipped = bytearray(original)
    flipped[100] ^= 0x01
    client = seaweed_s3.client()
    tampered = client.put_object(BUCKET, manifest.object, io.BytesIO(bytes(flipped)), len(flipped))
    forged = manifest.to_json_dict() | {
        "object_version": tampered.version_id,
        "sha256": hashlib.sha256(flipped).hexdigest(),
    }
    manifest_key = manifest.object.replace("model.safetensors", "manifest.json")
    data = json.dumps(forged).encode()
    client.put_object(BUCKET, manifest_key, io.BytesIO(data), len(data))

    with pytest.raises(IntegrityError) as failure:
        open_store(store_uri).load(FEDERATION)

    key = load_private_key(Path(os.environ["SMARTFED_SIGNING_KEY_FILE"]))
    assert str(failure.value) == (
        f"model 'hvac' version 1 at s3://{BUCKET}/{manifest_key}: the manifest's signature does "
        f"not verify with public key {fingerprint(key.public_key())}; the manifest was changed "
        "after signing or signed by another key. Do not use this model; load an earlier version "
        "or publish a new one"
    )


def test_a_publish_rides_out_a_server_restart_and_reports_the_retries(
    seaweed_s3, store_uri, caplog
):
    store = open_store(store_uri)
    store.publish(request(1), model_bytes(1))

    seaweed_s3.kill()
    with (
        caplog.at_level(logging.WARNING, logger="smartfed.registry.s3"),
        ThreadPoolExecutor(max_workers=1) as publisher,
    ):
        publishing = publisher.submit(store.publish, request(2), model_bytes(2))
        time.sleep(2.0)
        seaweed_s3.start()
        manifest = publishing.result(timeout=90)

    assert manifest.version == 2
    retries = [r.getMessage() for r in caplog.records if "retrying in" in r.getMessage()]
    assert retries
    assert retries[0].startswith(f"S3 GET {store_uri}/{FEDERATION}/latest.json failed (")
    assert open_store(store_uri).load(FEDERATION)[0] == model_bytes(2)
    assert [m.version for m in store.versions(FEDERATION)] == [1, 2]


def test_a_publish_cut_off_midway_leaves_latest_on_the_previous_version(
    seaweed_s3, store_uri, monkeypatch
):
    monkeypatch.setenv("SMARTFED_S3_RETRY_DEADLINE_S", "3")
    store = open_store(store_uri)
    store.publish(request(1), model_bytes(1))

    # The server dies right after the model object is written, before its manifest.
    real_create = store.backend.create

    def create_then_crash(key: str, data: bytes):
        version = real_create(key, data)
        if key.endswith("model.safetensors"):
            seaweed_s3.kill()
        return version

    monkeypatch.setattr(store.backend, "create", create_then_crash)
    try:
        with pytest.raises(StoreError) as failure:
            store.publish(request(2), model_bytes(2))
    finally:
        seaweed_s3.start()

    message = str(failure.value)
    assert message.startswith(
        f"S3 PUT {store_uri}/{FEDERATION}/v000002/manifest.json still failing after "
    )
    assert message.endswith(
        f"check that the endpoint {seaweed_s3.endpoint} is up, or raise "
        "SMARTFED_S3_RETRY_DEADLINE_S (now 3)"
    )
    reader = open_store(store_uri)
    assert reader.latest(FEDERATION).version == 1
    assert reader.load(FEDERATION)[0] == model_bytes(1)
    assert [m.version for m in reader.versions(FEDERATION)] == [1]
    # The next round skips the half-written number instead of reusing it.
    manifest = reader.publish(request(2), model_bytes(2))
    assert (manifest.version, manifest.parent) == (3, 1)
    assert reader.load(FEDERATION)[0] == model_bytes(2)


def test_publishing_to_s3_without_a_signing_key_is_refused(store_uri, monkeypatch):
    monkeypatch.delenv("SMARTFED_SIGNING_KEY_FILE")
    store = open_store(store_uri)

    with pytest.raises(StoreError) as failure:
        store.publish(request(1), model_bytes(1))

    assert str(failure.value) == (
        f"publishing to {store_uri} needs a signing key: set SMARTFED_SIGNING_KEY_FILE to an "
        "Ed25519 PEM private key (create one with `smartfed models keygen --out PATH`)"
    )
    assert store.federations() == []
