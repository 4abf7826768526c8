"""``smartfed simulate --store s3://...`` end to end against the SeaweedFS test server."""

from __future__ import annotations

import hashlib
import json
import logging
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from minio.error import S3Error
from smartfed import cli
from smartfed.registry import open_store
from smartfed.registry.signing import write_private_key
from smartfed.simulation.config import SimulationConfig
from smartfed.simulation.run import run_simulation

pytestmark = pytest.mark.s3

BUCKET = "models"


@pytest.fixture
def s3_env(seaweed_s3, monkeypatch, tmp_path):
    for name, value in seaweed_s3.environment().items():
        monkeypatch.setenv(name, value)
    key_file = tmp_path / "aggregator.pem"
    write_private_key(key_file)
    monkeypatch.setenv("SMARTFED_SIGNING_KEY_FILE", str(key_file))
    return seaweed_s3


def small_options(tmp_path, store_uri: str, rounds: int) -> list[str]:
    return [
        "--store", store_uri, "--sites", "4", "--organizations", "2", "--rounds", str(rounds),
        "--workers", "2", "--no-baselines", "--output", str(tmp_path / "run"),
    ]


def read_object(client, key: str, version_id: str | None = None) -> bytes:
    response = client.get_object(BUCKET, key, version_id=version_id)
    try:
        return response.read()
    finally:
        response.close()
        response.release_conn()


def test_simulate_publishes_one_object_version_per_round_and_rollback_restores_bit_for_bit(
    ray_cluster, s3_env, tmp_path
):
    store_uri = f"s3://{BUCKET}/sim-{uuid.uuid4().hex[:8]}"
    client = s3_env.client()

    assert cli.main(["simulate", *small_options(tmp_path, store_uri, rounds=3)]) == 0

    store = open_store(store_uri)
    (federation,) = store.federations()
    versions = store.versions(federation)
    assert [(m.version, m.round) for m in versions] == [(1, 1), (2, 2), (3, 3)]
    assert len({m.object_version for m in versions}) == 3
    published = {}
    for manifest in versions:
        data = read_object(client, manifest.object, manifest.object_version)
        assert hashlib.sha256(data).hexdigest() == manifest.sha256
        published[manifest.version] = data
    prefix = store_uri.removeprefix(f"s3://{BUCKET}/")
    pointer_moves = client.list_objects(
        BUCKET, prefix=f"{prefix}/{federation}/latest.json", include_version=True
    )
    assert len(list(pointer_moves)) == 3

    assert cli.main(["models", "rollback", "--store", store_uri]) == 0

    loaded, manifest = open_store(store_uri).load(federation)
    assert manifest.version == 2
    assert loaded == published[2]
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    assert [h["round"] for h in report["history"]] == [1, 2, 3]


def test_simulate_rides_out_the_store_going_down_between_rounds(
    ray_cluster, s3_env, tmp_path, caplog
):
    store_uri = f"s3://{BUCKET}/sim-{uuid.uuid4().hex[:8]}"
    prefix = store_uri.removeprefix(f"s3://{BUCKET}/")
    config = SimulationConfig(
        task="sensor", sites=4, organizations=2, rounds=6, workers=2, baselines=False,
        output=tmp_path / "run", store=store_uri,
    )
    client = s3_env.client()
    with (
        caplog.at_level(logging.WARNING, logger="smartfed.registry.s3"),
        ThreadPoolExecutor(max_workers=1) as runner,
    ):
        simulation = runner.submit(run_simulation, config)
        # Take the store away as soon as round 1 is published, for long enough that the next
        # publish finds it gone.
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not simulation.done():
            try:
                read_object(client, f"{prefix}/{config.federation}/latest.json")
                break
            except S3Error:
                time.sleep(0.05)
        s3_env.kill()
        time.sleep(4.0)
        s3_env.start()
        report = simulation.result(timeout=300)

    assert [h["round"] for h in report["history"]] == [1, 2, 3, 4, 5, 6]
    retries = [r.getMessage() for r in caplog.records if "retrying in" in r.getMessage()]
    assert retries, "the publish after the kill should have been retried"
    store = open_store(store_uri)
    versions = store.versions(config.federation)
    assert [m.round for m in versions] == [1, 2, 3, 4, 5, 6]
    for manifest in versions:
        data = read_object(client, manifest.object, manifest.object_version)
        assert hashlib.sha256(data).hexdigest() == manifest.sha256
    assert store.latest(config.federation).version == 6
