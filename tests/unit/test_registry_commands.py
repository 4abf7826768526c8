"""``smartfed models ...`` on a local store, through the real command line entry point."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from safetensors.numpy import save as save_tensors
from smartfed import cli
from smartfed.registry import PublishRequest, open_store
from smartfed.registry.signing import fingerprint, load_private_key, load_public_key


@pytest.fixture(autouse=True)
def no_registry_environment(monkeypatch):
    """Tests set the SMARTFED_* variables they mean; none leak in from the shell."""
    for name in list(os.environ):
        if name.startswith("SMARTFED_"):
            monkeypatch.delenv(name)


@pytest.fixture
def root(tmp_path):
    """A store with three versions of federation "hvac"; round r's weights are all r."""
    root = tmp_path / "models"
    store = open_store(str(root))
    for r in (1, 2, 3):
        store.publish(
            PublishRequest(
                federation="hvac",
                round=r,
                strategy="fedavg",
                sites=[f"site-{i:02d}" for i in range(r + 1)],
                organizations=["org-a"],
                metrics={"f1": r / 4},
            ),
            save_tensors({"w": np.full((2, 3), r, dtype=np.float32)}),
        )
    return root


def models(*args: str) -> int:
    return cli.main(["models", *args])


def test_list_prints_every_version_as_json(root, capsys):
    assert models("list", "--store", str(root), "--json") == 0

    listed = json.loads(capsys.readouterr().out)
    assert [(m["version"], m["round"], m["parent"]) for m in listed] == [
        (1, 1, None), (2, 2, 1), (3, 3, 2)
    ]


def test_list_prints_a_table_marking_latest(root, capsys):
    assert models("list", "--store", str(root)) == 0

    out = capsys.readouterr().out
    assert "candidate (latest)" in out
    assert out.count("fedavg") == 3


def test_show_prints_the_manifest_and_how_it_verified(root, capsys):
    assert models("show", "2", "--store", str(root)) == 0

    out = capsys.readouterr().out.splitlines()
    key = load_private_key(root / ".signing-key.pem")
    assert out[-1] == (
        f"verified: sha256 of the model matches, manifest signed by {fingerprint(key.public_key())}"
    )
    assert json.loads("\n".join(out[:-1]))["version"] == 2


def test_diff_names_changed_fields_and_the_weight_change(root, capsys):
    assert models("diff", "1", "3", "--store", str(root), "--federation", "hvac") == 0

    assert capsys.readouterr().out.splitlines() == [
        "version 1 -> 3",
        "round: 1 -> 3",
        "parent: None -> 2",
        "sites: +['site-02', 'site-03'] -[]",
        "metrics.f1: 0.25 -> 0.75",
        f"weights w: L2 change {np.sqrt(6 * 4):.6g}, max |change| 2",
    ]


def test_promote_then_rollback_move_channels_without_losing_versions(root, capsys):
    assert models("promote", "2", "--store", str(root)) == 0
    assert models("rollback", "--store", str(root)) == 0

    assert capsys.readouterr().out.splitlines() == [
        "hvac: channel stable is now version 2 (round 2)",
        "hvac: channel candidate rolled back to version 2 (round 2); later versions are kept",
    ]
    store = open_store(str(root))
    assert store.latest("hvac").version == 2
    assert store.current("hvac", "stable").version == 2
    assert [m.version for m in store.versions("hvac")] == [1, 2, 3]


def test_several_federations_need_federation_named(root, capsys):
    open_store(str(root)).publish(
        PublishRequest("lighting", 1, "fedavg", [], [], {}), b"weights"
    )

    assert models("list", "--store", str(root)) == cli.ExitCode.STORE_FAILED

    err = " ".join(capsys.readouterr().err.split())
    assert (
        f"error: {root} holds several federations (hvac, lighting); choose one with "
        "--federation NAME"
    ) in err


def test_keygen_writes_a_private_key_and_its_public_half(tmp_path, capsys):
    out = tmp_path / "aggregator.pem"

    assert models("keygen", "--out", str(out)) == 0

    public = load_public_key(tmp_path / "aggregator.pem.pub")
    assert fingerprint(load_private_key(out).public_key()) == fingerprint(public)
    assert oct(out.stat().st_mode & 0o777) == "0o600"
    assert capsys.readouterr().out.splitlines() == [
        f"private key {out} (for SMARTFED_SIGNING_KEY_FILE, keep it secret)",
        (
            f"public key {out}.pub (for SMARTFED_TRUSTED_PUBLIC_KEY_FILE on edges), "
            f"{fingerprint(public)}"
        ),
    ]
