"""Ditto personalisation at a site: a personal model beside the shared update, never instead of it."""

import numpy as np
import torch
from smartfed.data import load_sites
from smartfed.federation.client import EdgeClient, FitConfig, normalised_clients
from smartfed.models.autoencoder import ModelSpec, WindowAutoencoder, flat_weights
from smartfed.simulation.config import SimulationConfig


def site_client() -> tuple[EdgeClient, WindowAutoencoder, np.ndarray]:
    series = load_sites("sensor", "simulated", 1, 1, 0, scale=0.05)[0]
    spec = ModelSpec(n_features=len(series.features), window=12)
    client = normalised_clients([series], spec, seed=0)[0]
    torch.manual_seed(0)
    model = WindowAutoencoder(spec)
    return client, model, flat_weights(model)


def test_the_personal_step_leaves_the_shared_update_unchanged():
    plain_client, model, weights = site_client()
    plain = plain_client.fit(model, weights, FitConfig(round=1))

    ditto_client, model, _ = site_client()
    ditto = ditto_client.fit(model, weights, FitConfig(round=1, personal_lambda=1e-4))

    np.testing.assert_array_equal(ditto.delta, plain.delta)
    assert plain_client.personal_weights is None
    assert ditto_client.personal_weights is not None
    assert not np.array_equal(ditto_client.personal_weights, weights + ditto.delta)


def test_the_personal_model_carries_over_between_rounds():
    def distance_after(rounds: int) -> float:
        client, model, weights = site_client()
        for round_number in range(1, rounds + 1):
            client.fit(model, weights, FitConfig(round=round_number, personal_lambda=1e-6))
        return float(np.linalg.norm(client.personal_weights - weights))

    assert distance_after(3) > 1.5 * distance_after(1)


def test_lambda_pulls_the_personal_model_to_the_global_weights_of_the_round():
    client, model, first = site_client()
    client.fit(model, first, FitConfig(round=1, personal_lambda=10.0))
    # A later round brings a global model far from the first: a strong pull follows it there.
    later = first + np.float32(0.05)
    for round_number in range(2, 8):
        client.fit(model, later, FitConfig(round=round_number, personal_lambda=10.0))

    assert np.linalg.norm(client.personal_weights - later) < 0.4 * np.linalg.norm(client.personal_weights - first)


def test_each_task_defaults_to_the_personalisation_that_measured_best_and_a_choice_overrides_it():
    assert SimulationConfig(task="sensor").personalization == "ditto"
    assert SimulationConfig(task="network").personalization == "finetune"
    assert SimulationConfig(task="network", personalization="ditto").personalization == "ditto"
