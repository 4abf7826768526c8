"""``smartfed models ...``: inspect and move model versions in a store.

    smartfed models list     --store URI [--federation NAME]
    smartfed models show     [VERSION] --store URI [--federation NAME]
    smartfed models diff     A B --store URI [--federation NAME]
    smartfed models promote  [VERSION] --store URI [--channel stable]
    smartfed models rollback [VERSION] --store URI [--channel candidate]
    smartfed models keygen   --out PATH

``rollback`` and ``promote`` only move a channel's pointer; no version is ever deleted, so every
move can be undone by another. ``promote`` is the hook a rollout policy calls once a candidate
has proven itself on a few sites.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table
from safetensors import SafetensorError
from safetensors.numpy import load as load_tensors

from smartfed.exit_codes import ExitCode
from smartfed.registry import signing
from smartfed.registry.store import ModelManifest, StoreError
from smartfed.registry.uri import open_store
from smartfed.registry.versioned import CHANNELS, VersionedStore

# Manifest fields that differ between any two versions and say nothing in a diff.
DIFF_SKIPPED = frozenset(
    {"version", "signature", "object", "object_version", "sha256", "created_at"}
)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``smartfed models`` and its commands to the ``smartfed`` parser."""
    store_options = argparse.ArgumentParser(add_help=False)
    store_options.add_argument(
        "--store", required=True, help="model store: a folder or s3://BUCKET/PREFIX"
    )
    store_options.add_argument(
        "--federation", default=None, help="federation name (default: the store's only one)"
    )
    store_options.add_argument(
        "--trusted-public-key", type=Path, default=None,
        help="verify against this PEM public key instead of the store's signing-key.pub",
    )

    models = subparsers.add_parser(
        "models", help="list, inspect, promote and roll back model versions"
    )
    commands = models.add_subparsers(dest="models_command", required=True)

    p = commands.add_parser("list", parents=[store_options], help="every version, oldest first")
    p.add_argument("--json", action="store_true", help="print the manifests as JSON")
    p.set_defaults(handler=run_list)

    p = commands.add_parser(
        "show", parents=[store_options], help="one version's manifest, verified"
    )
    p.add_argument("version", type=int, nargs="?", help="default: the channel's current version")
    p.add_argument("--channel", choices=CHANNELS, default="candidate")
    p.set_defaults(handler=run_show)

    p = commands.add_parser(
        "diff", parents=[store_options], help="what changed between two versions"
    )
    p.add_argument("old", type=int)
    p.add_argument("new", type=int)
    p.set_defaults(handler=run_diff)

    p = commands.add_parser("promote", parents=[store_options], help="point a channel at a version")
    p.add_argument("version", type=int, nargs="?", help="default: the current candidate")
    p.add_argument("--channel", choices=CHANNELS, default="stable")
    p.set_defaults(handler=run_promote)

    p = commands.add_parser(
        "rollback", parents=[store_options], help="make an earlier version current again"
    )
    p.add_argument("version", type=int, nargs="?", help="default: the one before the current")
    p.add_argument("--channel", choices=CHANNELS, default="candidate")
    p.set_defaults(handler=run_rollback)

    p = commands.add_parser("keygen", help="create an Ed25519 signing key for an aggregator")
    p.add_argument(
        "--out", type=Path, required=True, help="private key file; PATH.pub gets the public key"
    )
    p.set_defaults(handler=run_keygen)


def run_list(args: argparse.Namespace, console: Console) -> ExitCode:
    return _guarded(console, lambda: _list(args))


def run_show(args: argparse.Namespace, console: Console) -> ExitCode:
    return _guarded(console, lambda: _show(args))


def run_diff(args: argparse.Namespace, console: Console) -> ExitCode:
    return _guarded(console, lambda: _diff(args))


def run_promote(args: argparse.Namespace, console: Console) -> ExitCode:
    def promote() -> None:
        store, federation = _open(args)
        manifest = store.promote(federation, args.version, args.channel)
        print(f"{federation}: channel {args.channel} is now version {manifest.version} "
              f"(round {manifest.round})")

    return _guarded(console, promote)


def run_rollback(args: argparse.Namespace, console: Console) -> ExitCode:
    def rollback() -> None:
        store, federation = _open(args)
        manifest = store.rollback(federation, args.version, args.channel)
        print(f"{federation}: channel {args.channel} rolled back to version {manifest.version} "
              f"(round {manifest.round}); later versions are kept")

    return _guarded(console, rollback)


def run_keygen(args: argparse.Namespace, console: Console) -> ExitCode:
    def keygen() -> None:
        key = signing.write_private_key(args.out)
        public = args.out.with_name(args.out.name + ".pub")
        public.write_bytes(signing.public_key_pem(key.public_key()))
        print(f"private key {args.out} (for SMARTFED_SIGNING_KEY_FILE, keep it secret)")
        print(f"public key {public} (for SMARTFED_TRUSTED_PUBLIC_KEY_FILE on edges), "
              f"{signing.fingerprint(key.public_key())}")

    return _guarded(console, keygen)


def _guarded(console: Console, command) -> ExitCode:
    """Run ``command``; a store failure becomes its message and the store's exit code."""
    try:
        command()
    except StoreError as error:
        console.print(f"[red]error:[/] {error}", markup=True, highlight=False)
        return ExitCode.STORE_FAILED
    return ExitCode.OK


def _open(args: argparse.Namespace) -> tuple[VersionedStore, str]:
    store = open_store(args.store, trusted_public_key=args.trusted_public_key)
    if args.federation is not None:
        return store, args.federation
    federations = store.federations()
    if len(federations) == 1:
        return store, federations[0]
    if not federations:
        raise StoreError(f"{args.store} holds no federation yet; publish a model first")
    raise StoreError(
        f"{args.store} holds several federations ({', '.join(federations)}); "
        "choose one with --federation NAME"
    )


def _list(args: argparse.Namespace) -> None:
    store, federation = _open(args)
    versions = store.versions(federation)
    if args.json:
        print(json.dumps([m.to_json_dict() for m in versions], indent=2))
        return
    latest = store.latest(federation)
    table = Table(title=f"{federation} in {store.uri}")
    for column in ("version", "round", "parent", "channel", "created", "strategy", "sites",
                   "metrics", "sha256"):
        table.add_column(column)
    for m in versions:
        channel = m.channel + (" (latest)" if latest and m.version == latest.version else "")
        table.add_row(
            str(m.version), str(m.round), str(m.parent), channel, m.created_at[:19],
            m.strategy, str(len(m.sites)), _metrics(m.metrics), m.sha256[:12],
        )
    Console(width=160).print(table)


def _show(args: argparse.Namespace) -> None:
    store, federation = _open(args)
    _, manifest = store.load(federation, args.version, channel=args.channel)
    print(json.dumps(manifest.to_json_dict(), indent=2))
    key = signing.fingerprint(store.public_key(federation))
    print(f"verified: sha256 of the model matches, manifest signed by {key}")


def _diff(args: argparse.Namespace) -> None:
    store, federation = _open(args)
    old_bytes, old = store.load(federation, args.old)
    new_bytes, new = store.load(federation, args.new)
    for line in manifest_changes(old, new):
        print(line)
    for line in weight_changes(old_bytes, new_bytes):
        print(line)


def manifest_changes(old: ModelManifest, new: ModelManifest) -> list[str]:
    """One line per manifest field that differs, sites and organizations as added/removed."""
    a, b = old.to_json_dict(), new.to_json_dict()
    lines = [f"version {old.version} -> {new.version}"]
    for name in a:
        if name in DIFF_SKIPPED or a[name] == b[name]:
            continue
        if name in ("sites", "organizations"):
            added = sorted(set(b[name]) - set(a[name]))
            removed = sorted(set(a[name]) - set(b[name]))
            lines.append(f"{name}: +{added} -{removed}")
        elif name == "metrics":
            for metric in sorted(set(a[name]) | set(b[name])):
                before, after = a[name].get(metric), b[name].get(metric)
                if before != after:
                    lines.append(f"metrics.{metric}: {before} -> {after}")
        else:
            lines.append(f"{name}: {a[name]} -> {b[name]}")
    return lines


def weight_changes(old_bytes: bytes, new_bytes: bytes) -> list[str]:
    """Per tensor: the L2 norm and the largest absolute value of the change."""
    if old_bytes == new_bytes:
        return ["weights: identical"]
    try:
        old, new = load_tensors(old_bytes), load_tensors(new_bytes)
    except SafetensorError as error:
        return [f"weights: differ, but are not both safetensors ({error})"]
    lines = []
    for name in sorted(set(old) | set(new)):
        if name not in old or name not in new:
            lines.append(f"weights {name}: only in the {'new' if name in new else 'old'} version")
        elif old[name].shape != new[name].shape:
            lines.append(f"weights {name}: shape {old[name].shape} -> {new[name].shape}")
        else:
            delta = new[name].astype(np.float64) - old[name].astype(np.float64)
            lines.append(
                f"weights {name}: L2 change {np.linalg.norm(delta):.6g}, "
                f"max |change| {np.abs(delta).max(initial=0.0):.6g}"
            )
    return lines


def _metrics(metrics: dict[str, float]) -> str:
    return " ".join(
        f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in sorted(metrics.items())
    )
