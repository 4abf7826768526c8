"""The registry on a local directory: versions, pointers, signatures and their failures."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import threading

import pytest
from smartfed.registry import IntegrityError, PublishRequest, StoreError, open_store
from smartfed.registry.signing import (
    fingerprint,
    load_private_key,
    public_key_pem,
    write_private_key,
)

FEDERATION = "hvac"


@pytest.fixture(autouse=True)
def no_registry_environment(monkeypatch):
    """Tests set the SMARTFED_* variables they mean; none leak in from the shell."""
    for name in list(os.environ):
        if name.startswith("SMARTFED_"):
            monkeypatch.delenv(name)


@pytest.fixture
def root(tmp_path):
    return tmp_path / "models"


@pytest.fixture
def store(root):
    return open_store(str(root))


def request(round_number: int, **changes) -> PublishRequest:
    fields = {
        "federation": FEDERATION,
        "round": round_number,
        "strategy": "fedavg",
        "sites": ["site-01", "site-02"],
        "organizations": ["org-a"],
        "metrics": {"f1": 0.8, "loss": 0.1},
        "epsilon": 3.0,
    } | changes
    return PublishRequest(**fields)


def test_publish_numbers_versions_and_moves_latest_to_the_newest(store, root):
    first = store.publish(request(1), b"weights-1")
    second = store.publish(request(2), b"weights-2")

    assert (first.version, first.parent) == (1, None)
    assert (second.version, second.parent) == (2, 1)
    assert store.latest(FEDERATION) == second
    assert [m.version for m in store.versions(FEDERATION)] == [1, 2]
    assert store.load(FEDERATION) == (b"weights-2", second)
    assert store.load(FEDERATION, 1) == (b"weights-1", first)
    assert (root / FEDERATION / "v000002" / "model.safetensors").read_bytes() == b"weights-2"
    assert json.loads((root / FEDERATION / "latest.json").read_text())["version"] == 2


def test_the_manifest_records_the_round_and_the_hash_of_the_stored_bytes(store, root):
    manifest = store.publish(request(4, extra={"rollout": "canary"}), b"weights")

    stored = json.loads((root / FEDERATION / "v000001" / "manifest.json").read_text())
    assert stored == manifest.to_json_dict()
    assert manifest.sha256 == hashlib.sha256(b"weights").hexdigest()
    assert manifest.object == f"{FEDERATION}/v000001/model.safetensors"
    assert manifest.object_version is None
    assert (manifest.round, manifest.strategy, manifest.epsilon) == (4, "fedavg", 3.0)
    assert (manifest.sites, manifest.organizations) == (["site-01", "site-02"], ["org-a"])
    assert manifest.extra == {"rollout": "canary"}
    assert manifest.code_version.startswith("smartfed ")
    assert manifest.channel == "candidate"
    assert manifest.signature


def test_a_flipped_byte_in_a_stored_model_fails_the_load_with_a_clear_message(store, root):
    manifest = store.publish(request(1), b"weights-1")
    path = root / FEDERATION / "v000001" / "model.safetensors"
    damaged = bytearray(path.read_bytes())
    damaged[3] ^= 0x01
    path.write_bytes(bytes(damaged))

    with pytest.raises(IntegrityError) as failure:
        store.load(FEDERATION)

    assert str(failure.value) == (
        f"model 'hvac' version 1 failed verification: {path} has sha256 "
        f"{hashlib.sha256(damaged).hexdigest()}, but its signed manifest says {manifest.sha256}; "
        "the stored bytes were changed or damaged after publishing. Do not use them: roll back "
        f"with `smartfed models rollback --store {root} --federation hvac`, or publish a new "
        "version"
    )


def test_an_edited_manifest_fails_its_signature(store, root):
    store.publish(request(1), b"weights-1")
    path = root / FEDERATION / "v000001" / "manifest.json"
    edited = json.loads(path.read_text()) | {"metrics": {"f1": 0.99, "loss": 0.1}}
    path.write_text(json.dumps(edited))
    key = load_private_key(root / ".signing-key.pem")

    with pytest.raises(IntegrityError) as failure:
        store.load(FEDERATION)

    assert str(failure.value) == (
        f"model 'hvac' version 1 at {path}: the manifest's signature does not verify with "
        f"public key {fingerprint(key.public_key())}; the manifest was changed after signing "
        "or signed by another key. Do not use this model; load an earlier version or publish "
        "a new one"
    )


def test_a_signed_manifest_copied_into_another_version_is_refused(store, root):
    store.publish(request(1), b"weights-1")
    store.publish(request(2), b"weights-2")
    folder = root / FEDERATION
    shutil.copy(folder / "v000001" / "manifest.json", folder / "v000002" / "manifest.json")
    shutil.copy(folder / "v000001" / "model.safetensors", folder / "v000002" / "model.safetensors")

    with pytest.raises(IntegrityError) as failure:
        store.load(FEDERATION, 2)

    assert str(failure.value) == (
        f"manifest {folder / 'v000002' / 'manifest.json'} is signed for 'hvac' version 1 "
        "(hvac/v000001/model.safetensors), not for 'hvac' version 2; it was copied here. "
        "Load another version or publish a new one"
    )


def test_racing_publishers_each_get_their_own_version(root):
    publishers = [open_store(str(root)) for _ in range(4)]
    start = threading.Barrier(len(publishers))
    published = []

    def publish(index: int) -> None:
        start.wait()
        for r in range(5):
            payload = f"weights-{index}-{r}".encode()
            published.append((publishers[index].publish(request(r + 1), payload), payload))

    threads = [threading.Thread(target=publish, args=(i,)) for i in range(len(publishers))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    reader = open_store(str(root))
    assert sorted(m.version for m, _ in published) == list(range(1, 21))
    for manifest, payload in published:
        assert reader.load(FEDERATION, manifest.version)[0] == payload
    assert reader.latest(FEDERATION).version == 20


def test_without_a_configured_key_a_development_key_is_created_with_a_warning(store, root, caplog):
    with caplog.at_level(logging.WARNING, logger="smartfed.registry.signing"):
        store.publish(request(1), b"weights-1")
        store.publish(request(2), b"weights-2")

    warnings = [r.getMessage() for r in caplog.records]
    assert warnings == [
        (
            "no signing key configured (SMARTFED_SIGNING_KEY_FILE): created development key "
            f"{root / '.signing-key.pem'}; a deployment's aggregator must set "
            "SMARTFED_SIGNING_KEY_FILE"
        )
    ]
    assert oct((root / ".signing-key.pem").stat().st_mode & 0o777) == "0o600"
    public = (root / FEDERATION / "signing-key.pub").read_bytes()
    assert public.startswith(b"-----BEGIN PUBLIC KEY-----")


def test_a_publisher_with_another_key_is_refused(store, root, tmp_path, monkeypatch):
    store.publish(request(1), b"weights-1")
    first = load_private_key(root / ".signing-key.pem")
    other = write_private_key(tmp_path / "other.pem")
    monkeypatch.setenv("SMARTFED_SIGNING_KEY_FILE", str(tmp_path / "other.pem"))

    with pytest.raises(StoreError) as failure:
        open_store(str(root)).publish(request(2), b"weights-2")

    assert str(failure.value) == (
        f"federation 'hvac' in {root} is signed with public key "
        f"{fingerprint(first.public_key())}, but this publisher holds "
        f"{fingerprint(other.public_key())}; its versions would not verify. Use the "
        "federation's signing key (SMARTFED_SIGNING_KEY_FILE) or a new federation name"
    )
    assert store.latest(FEDERATION).version == 1


def test_an_edge_verifies_against_its_trusted_key_and_refuses_a_store_with_another(
    root, tmp_path, monkeypatch
):
    aggregator_key = write_private_key(tmp_path / "aggregator.pem")
    monkeypatch.setenv("SMARTFED_SIGNING_KEY_FILE", str(tmp_path / "aggregator.pem"))
    open_store(str(root)).publish(request(1), b"weights-1")
    monkeypatch.delenv("SMARTFED_SIGNING_KEY_FILE")

    edge = open_store(str(root), trusted_public_key=aggregator_key.public_key())
    assert edge.load(FEDERATION)[0] == b"weights-1"

    # Someone with write access to the store swaps in their own key (and would re-sign).
    intruder = write_private_key(tmp_path / "intruder.pem")
    (root / FEDERATION / "signing-key.pub").write_bytes(public_key_pem(intruder.public_key()))
    with pytest.raises(IntegrityError) as failure:
        edge.load(FEDERATION)

    assert str(failure.value) == (
        f"federation 'hvac' in {root} is signed with public key "
        f"{fingerprint(intruder.public_key())}, but this reader trusts "
        f"{fingerprint(aggregator_key.public_key())}; refusing its models. Check "
        "SMARTFED_TRUSTED_PUBLIC_KEY_FILE against the aggregator's key"
    )


def test_rollback_makes_the_previous_version_current_and_keeps_history(store):
    for r in (1, 2, 3):
        store.publish(request(r), f"weights-{r}".encode())

    assert store.rollback(FEDERATION).version == 2
    assert store.load(FEDERATION)[0] == b"weights-2"
    assert store.rollback(FEDERATION, 1).version == 1
    assert store.load(FEDERATION)[0] == b"weights-1"
    assert [m.version for m in store.versions(FEDERATION)] == [1, 2, 3]
    # The next round builds on what is current, under a new number.
    manifest = store.publish(request(4), b"weights-4")
    assert (manifest.version, manifest.parent) == (4, 1)


def test_rollback_refuses_a_damaged_target_and_leaves_latest_alone(store, root):
    store.publish(request(1), b"weights-1")
    store.publish(request(2), b"weights-2")
    (root / FEDERATION / "v000001" / "model.safetensors").write_bytes(b"weights-X")

    with pytest.raises(IntegrityError):
        store.rollback(FEDERATION)

    assert store.latest(FEDERATION).version == 2


def test_rollback_with_nothing_older_says_so(store, root):
    store.publish(request(1), b"weights-1")

    with pytest.raises(StoreError) as failure:
        store.rollback(FEDERATION)

    assert str(failure.value) == (
        "federation 'hvac' has no version older than 1 on channel 'candidate' to roll back "
        f"to; see `smartfed models list --store {root}`"
    )


def test_promote_moves_a_version_to_the_stable_channel(store):
    store.publish(request(1), b"weights-1")
    store.publish(request(2), b"weights-2")

    assert store.current(FEDERATION, "stable") is None
    promoted = store.promote(FEDERATION, 1)

    assert promoted.channel == "stable"
    assert store.load(FEDERATION, channel="stable")[0] == b"weights-1"
    assert store.load(FEDERATION)[0] == b"weights-2"
    assert [m.channel for m in store.versions(FEDERATION)] == ["stable", "candidate"]
    assert store.promote(FEDERATION).version == 2
    assert store.current(FEDERATION, "stable").version == 2


def test_a_publish_that_died_before_its_manifest_is_not_a_version(store, root):
    store.publish(request(1), b"weights-1")
    # What a publisher killed between its model object and its manifest leaves behind.
    orphan = root / FEDERATION / "v000002"
    orphan.mkdir()
    (orphan / "model.safetensors").write_bytes(b"half")

    assert [m.version for m in store.versions(FEDERATION)] == [1]
    assert store.latest(FEDERATION).version == 1
    assert store.publish(request(2), b"weights-2").version == 3


def test_metrics_that_json_cannot_hold_are_refused_before_anything_is_written(store, root):
    with pytest.raises(StoreError) as failure:
        store.publish(request(1, metrics={"f1": {1, 2}}), b"weights-1")

    assert str(failure.value) == (
        "the manifest of 'hvac' round 1 cannot be written as JSON (Object of type set is not "
        "JSON serializable); metrics and extra must hold only str, int, float, bool, None, "
        "lists and dicts"
    )
    assert not (root / FEDERATION / "v000001").exists()


def test_a_federation_name_that_is_not_a_plain_name_is_refused(store):
    with pytest.raises(StoreError) as failure:
        store.publish(request(1, federation="../etc"), b"weights")

    assert str(failure.value) == (
        "federation name '../etc' is not allowed: use 1-128 letters, digits, '-', '_' or '.', "
        "starting with a letter or digit (it becomes an object key)"
    )


def test_loading_before_the_first_publish_names_what_is_there(store, root):
    store.publish(request(1, federation="lighting"), b"weights")

    with pytest.raises(StoreError) as failure:
        store.load(FEDERATION)

    assert str(failure.value) == (
        f"no model published for federation 'hvac' in {root} (channel 'candidate' is empty); "
        "run a round first, or check --federation against the federations present: "
        "['lighting']"
    )
