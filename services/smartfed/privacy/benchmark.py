"""Secure aggregation's cost per round against a plain round, for a number of sites.

Both sides do, in this process and without training, what a round does with the updates. The
plain round encodes every site's update with the wire codec, decodes and validates it, and
takes the example-weighted sum. The secure round runs the whole protocol: every site makes
its keys, shares its seeds with its neighbours and masks its quantized update; the aggregator
routes keys and shares, receives the masked vectors (wire-encoded like the plain ones), has
``dropout`` of the sites vanish after uploading and unmasks the sum. Sites run one after
another here, so the site phases add up what a deployment spreads over its sites in parallel;
``unmask_s`` is what the aggregator alone spends.

    python -m smartfed.privacy.benchmark --sites 12 100 --length 5000
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from smartfed.privacy.secagg import SecAggClient, SecAggConfig, SecAggRound, SecAggServer
from smartfed.wire import decode_update, encode_update

LIMIT_BYTES = 2**26


def plain_round_s(updates: dict[str, np.ndarray], weights: dict[str, float]) -> float:
    started = time.perf_counter()
    spec = {"delta": ((len(next(iter(updates.values()))),), "float32")}
    total = None
    for site, update in updates.items():
        payload = encode_update(
            {"delta": update}, {"federation": "bench", "round": 1, "site": site}
        )
        decoded = decode_update(payload, spec, LIMIT_BYTES, federation="bench", round=1)[0]["delta"]
        total = weights[site] * decoded if total is None else total + weights[site] * decoded
    return time.perf_counter() - started


def secure_round_s(
    updates: dict[str, np.ndarray], weights: dict[str, float], dropout: float
) -> dict[str, float]:
    length = len(next(iter(updates.values())))
    spec = {"masked": ((length,), "uint32")}
    setup = SecAggRound("bench", 1, list(updates), length, SecAggConfig())
    phases = {}

    started = time.perf_counter()
    clients = {site: SecAggClient(site, setup) for site in updates}
    server = SecAggServer(setup)
    forwarded = server.collect_adverts([client.advertise() for client in clients.values()])
    routed = server.route_shares(
        [s for site, c in clients.items() for s in c.share_keys(forwarded[site])]
    )
    phases["keys_s"] = time.perf_counter() - started

    started = time.perf_counter()
    for site, client in clients.items():
        masked = client.masked_input(updates[site] * np.float32(weights[site]), routed[site])
        payload = encode_update(
            {"masked": masked}, {"federation": "bench", "round": 1, "site": site}
        )
        server.receive_masked(site, decode_update(payload, spec, LIMIT_BYTES, round=1)[0]["masked"])
    phases["mask_s"] = time.perf_counter() - started

    started = time.perf_counter()
    survivors, dropped = server.unmask_request()
    answering = survivors[round(dropout * len(survivors)) :]
    revealed = [share for site in answering for share in clients[site].unmask(survivors, dropped)]
    phases["reveal_s"] = time.perf_counter() - started
    started = time.perf_counter()
    server.unmask(revealed)
    phases["unmask_s"] = time.perf_counter() - started
    phases["total_s"] = sum(phases.values())
    return phases


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sites", type=int, nargs="+", default=[12, 100])
    parser.add_argument("--length", type=int, default=5000, help="parameters per update")
    parser.add_argument("--dropout", type=float, default=0.3)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    for sites in args.sites:
        updates = {
            f"site-{i:03d}": rng.normal(0, 0.01, args.length).astype(np.float32)
            for i in range(sites)
        }
        weights = {site: 1.0 / sites for site in updates}
        plain = min(plain_round_s(updates, weights) for _ in range(args.repeats))
        secure = min(
            (secure_round_s(updates, weights, args.dropout) for _ in range(args.repeats)),
            key=lambda phases: phases["total_s"],
        )
        row = {
            "sites": sites,
            "length": args.length,
            "plain_s": plain,
            **secure,
            "ratio": secure["total_s"] / plain,
        }
        print(
            json.dumps(
                {
                    key: round(value, 4) if isinstance(value, float) else value
                    for key, value in row.items()
                }
            )
        )


if __name__ == "__main__":
    main()
