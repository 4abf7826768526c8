"""Opening a store: URIs, S3 settings, keys, and the registry's public surface."""

from __future__ import annotations

import os

import pytest
import smartfed.registry
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from pydantic import ValidationError
from smartfed.registry import RegistrySettings, StoreError, open_store
from smartfed.registry.signing import load_private_key, write_private_key


@pytest.fixture(autouse=True)
def no_registry_environment(monkeypatch):
    """Tests set the SMARTFED_* variables they mean; none leak in from the shell."""
    for name in list(os.environ):
        if name.startswith("SMARTFED_"):
            monkeypatch.delenv(name)


def test_the_public_surface_is_pinned():
    assert smartfed.registry.__all__ == [
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


def test_a_placeholder_secret_is_refused_outside_development(monkeypatch):
    monkeypatch.setenv("SMARTFED_S3_SECRET_KEY", "changeme")

    with pytest.raises(ValidationError) as failure:
        RegistrySettings()

    assert failure.value.errors()[0]["msg"] == (
        "Value error, SMARTFED_S3_SECRET_KEY is the placeholder 'changeme', which is refused "
        "outside development (SMARTFED_ENV='production'); set the real credential, or "
        "SMARTFED_ENV=development on a throwaway store"
    )


def test_a_placeholder_secret_is_accepted_in_development(monkeypatch):
    monkeypatch.setenv("SMARTFED_S3_SECRET_KEY", "minioadmin")
    monkeypatch.setenv("SMARTFED_ENV", "development")

    assert RegistrySettings().s3_secret_key == "minioadmin"


def test_an_s3_store_without_settings_names_the_missing_variables():
    with pytest.raises(StoreError) as failure:
        open_store("s3://models/sim")

    assert str(failure.value) == (
        "--store s3://models/sim needs SMARTFED_S3_ENDPOINT, SMARTFED_S3_ACCESS_KEY, "
        "SMARTFED_S3_SECRET_KEY set in the environment"
    )


def test_an_endpoint_with_a_scheme_is_refused(monkeypatch):
    monkeypatch.setenv("SMARTFED_S3_ENDPOINT", "http://127.0.0.1:8333")
    monkeypatch.setenv("SMARTFED_S3_ACCESS_KEY", "access")
    monkeypatch.setenv("SMARTFED_S3_SECRET_KEY", "a-real-secret")

    with pytest.raises(StoreError) as failure:
        open_store("s3://models/sim")

    assert str(failure.value) == (
        "SMARTFED_S3_ENDPOINT='http://127.0.0.1:8333' must be host:port without a scheme or "
        "path (for example 127.0.0.1:8333); TLS is chosen by SMARTFED_S3_SECURE"
    )


def test_an_unknown_scheme_is_refused():
    with pytest.raises(StoreError) as failure:
        open_store("gs://models/sim")

    assert str(failure.value) == (
        "--store gs://models/sim: unknown scheme 'gs'; use a directory path or s3://BUCKET/PREFIX"
    )


def test_file_uris_and_plain_paths_open_the_same_directory(tmp_path):
    assert open_store(f"file://{tmp_path}").uri == open_store(str(tmp_path)).uri == str(tmp_path)


def test_a_signing_key_that_is_not_ed25519_is_refused(tmp_path, monkeypatch):
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path = tmp_path / "rsa.pem"
    path.write_bytes(rsa_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ))

    with pytest.raises(StoreError) as failure:
        load_private_key(path)

    assert str(failure.value) == (
        f"signing key {path} is a RSAPrivateKey, but models are signed with Ed25519; create "
        "one with `smartfed models keygen --out PATH`"
    )


def test_a_missing_signing_key_file_says_how_to_make_one(tmp_path, monkeypatch):
    monkeypatch.setenv("SMARTFED_SIGNING_KEY_FILE", str(tmp_path / "absent.pem"))
    store = open_store(str(tmp_path / "models"))

    with pytest.raises(StoreError) as failure:
        store.publish(smartfed.registry.PublishRequest("hvac", 1, "fedavg", [], [], {}), b"w")

    assert str(failure.value) == (
        f"cannot read signing key {tmp_path / 'absent.pem'} (SMARTFED_SIGNING_KEY_FILE): No such "
        "file or directory; create one with `smartfed models keygen --out PATH`"
    )


def test_an_existing_key_is_never_overwritten(tmp_path):
    path = tmp_path / "key.pem"
    write_private_key(path)
    before = path.read_bytes()

    with pytest.raises(StoreError) as failure:
        write_private_key(path)

    assert str(failure.value) == (
        f"signing key {path} already exists; refusing to overwrite it, since models signed with "
        "it would no longer verify. Choose another path"
    )
    assert path.read_bytes() == before
