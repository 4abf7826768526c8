"""Privacy in the embedded simulation: what crosses from sites to the aggregator, at what cost."""

from __future__ import annotations

import json

import numpy as np
import pytest
from smartfed.cli import main
from smartfed.data import load_sites
from smartfed.federation.ray_runner import WorkerPool
from smartfed.models.autoencoder import ModelSpec, WindowAutoencoder, flat_weights
from smartfed.privacy.federated import RoundPrivacy
from smartfed.simulation.config import SimulationConfig
from smartfed.simulation.run import run_simulation
from smartfed.wire import decode_update

FIT_FIELDS = {"site", "organization", "round", "delta", "num_examples", "loss", "seconds"}


def small(tmp_path, name: str, **overrides) -> SimulationConfig:
    options = {
        "task": "sensor",
        "sites": 4,
        "organizations": 2,
        "rounds": 2,
        "output": tmp_path / name,
        "workers": 2,
        "baselines": False,
    }
    return SimulationConfig(**{**options, **overrides})


@pytest.fixture
def wiretap(monkeypatch):
    """Everything a site hands the aggregator: fit results and secure aggregation answers."""
    seen: dict[str, list] = {"fit": [], "exchange": []}
    decode, call = RoundPrivacy.decode, WorkerPool.call

    def recording_decode(self, result):
        seen["fit"].append(dict(result))
        return decode(self, result)

    def recording_call(self, stage, requests):
        answers = call(self, stage, requests)
        seen["exchange"].extend(answers.values())
        return answers

    monkeypatch.setattr(RoundPrivacy, "decode", recording_decode)
    monkeypatch.setattr(WorkerPool, "call", recording_call)
    return seen


def reading_fingerprints(config: SimulationConfig) -> tuple[set[bytes], int]:
    """16-byte pieces of every site's raw readings (float64 and float32), and the model size."""
    pieces = set()
    sites = load_sites(config.task, config.data, config.sites, config.organizations, config.seed)
    for series in sites:
        for segment in series.segments:
            for dtype in (np.float64, np.float32):
                raw = np.ascontiguousarray(segment[:50], dtype=dtype).tobytes()
                pieces.update(raw[i : i + 16] for i in range(0, len(raw) - 16, 16))
    model = WindowAutoencoder(ModelSpec(n_features=len(sites[0].features), window=config.window))
    return pieces, flat_weights(model).size


@pytest.mark.parametrize("secure", [False, True], ids=["plain", "secure-aggregation"])
def test_every_payload_a_site_sends_is_an_encoded_update_never_readings(
    ray_cluster, tmp_path, wiretap, secure
):
    config = small(tmp_path, "audit", secure_aggregation=secure)

    run_simulation(config)

    assert len(wiretap["fit"]) == config.rounds * config.sites
    name, dtype = ("masked", "uint32") if secure else ("delta", "float32")
    fingerprints, length = reading_fingerprints(config)
    for result in wiretap["fit"]:
        assert set(result) == FIT_FIELDS
        assert isinstance(result["delta"], bytes)
        assert all(isinstance(result[key], (int, float, str)) for key in FIT_FIELDS - {"delta"})
        tensors, header = decode_update(result["delta"], {name: ((length,), dtype)}, 2**26)
        assert set(tensors) == {name} and header.site == result["site"]
    crossing = [r["delta"] for r in wiretap["fit"]] + wiretap["exchange"]
    assert not any(piece in payload for payload in crossing for piece in fingerprints)
    assert bool(wiretap["exchange"]) == secure


def test_secure_aggregation_with_30_percent_dropout_matches_the_plain_run(ray_cluster, tmp_path):
    # Scored with the fine-tuned global model: Ditto's personal models would hide what secure
    # aggregation does to the shared one.
    shared = {"sites": 10, "organizations": 2, "personalization": "finetune"}
    plain = run_simulation(small(tmp_path, "plain", **shared))
    secure = run_simulation(small(tmp_path, "secure", secure_aggregation=True, dropout=0.3, **shared))

    assert secure["status"] == "completed"
    assert secure["privacy"]["secure_aggregation"] is True
    assert all(h["sites_reported"] == 10 and h["bytes_protocol"] > 0 for h in secure["history"])
    assert abs(secure["federated"]["f1"] - plain["federated"]["f1"]) <= 0.01


def test_dp_run_reports_epsilon_within_its_budget(ray_cluster, tmp_path):
    report = run_simulation(small(tmp_path, "dp", dp_epsilon=8.0, dp_delta=1e-5))

    on_disk = json.loads((tmp_path / "dp" / "report.json").read_text())
    assert 0 < on_disk["epsilon"] <= 8.0
    assert on_disk["privacy"]["dp"]["noise_multiplier"] > 0
    assert [h["epsilon"] for h in report["history"]] == sorted(
        h["epsilon"] for h in report["history"]
    )
    markdown = (tmp_path / "dp" / "report.md").read_text()
    assert "client-level DP with central noise: ε = " in markdown


def test_federation_stops_with_budget_exhausted_instead_of_overspending(ray_cluster, tmp_path):
    config = small(tmp_path, "budget", rounds=6, dp_epsilon=1.0, dp_noise_multiplier=1.0)

    report = run_simulation(config)

    assert report["stopped"]["reason"] == "BudgetExhausted"
    assert report["epsilon"] <= 1.0
    assert len(report["history"]) == report["stopped"]["round"] - 1 < 6


def test_int8_cuts_the_bytes_per_round_to_at_most_027_of_float32(ray_cluster, tmp_path):
    fp32 = run_simulation(small(tmp_path, "fp32"))
    int8 = run_simulation(small(tmp_path, "int8", compression="int8"))

    assert int8["bytes_per_round"] <= 0.27 * fp32["bytes_per_round"]


def test_cli_refuses_secure_aggregation_with_a_robust_strategy(capsys):
    code = main(["simulate", "--strategy", "median", "--secure-aggregation"])

    assert code == 3
    err = " ".join(capsys.readouterr().err.split())
    assert (
        "strategy 'median' cannot run with secure aggregation: it needs each site's update (to "
        "rank, "
        "trim or compare them), and secure aggregation reveals only their sum; choose a sum-based "
        "strategy (FedAvg, FedProx or the FedOpt family) or drop --secure-aggregation"
    ) in err


def test_cli_refuses_dropout_without_secure_aggregation(capsys):
    code = main(["simulate", "--dropout", "0.3"])

    assert code == 3
    err = " ".join(capsys.readouterr().err.split())
    assert (
        "--dropout simulates sites vanishing after their masked upload, which only secure "
        "aggregation has; add --secure-aggregation"
    ) in err
