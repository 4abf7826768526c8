import numpy as np
import torch
from smartfed.models.autoencoder import ModelSpec, WindowAutoencoder
from smartfed.models.scoring import SiteScorer, channel_errors


def trained_model(x: np.ndarray) -> WindowAutoencoder:
    torch.manual_seed(0)
    model = WindowAutoencoder(ModelSpec(n_features=x.shape[2], window=x.shape[1]))
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    data = torch.from_numpy(x)
    for _ in range(300):
        loss = model.reconstruction_error(data).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model


def normal_windows(rng: np.random.Generator, count: int, window: int = 6, n_features: int = 4) -> np.ndarray:
    phase = rng.uniform(0, 2 * np.pi, (count, 1, 1))
    t = np.arange(window).reshape(1, window, 1)
    return (np.sin(t / 3 + phase) + 0.05 * rng.normal(size=(count, window, n_features))).astype(np.float32)


def test_channel_errors_have_one_column_per_feature():
    x = normal_windows(np.random.default_rng(0), 32)
    assert channel_errors(trained_model(x), x).shape == (32, 4)


def test_a_fault_on_one_channel_scores_above_every_normal_window():
    rng = np.random.default_rng(1)
    train, val = normal_windows(rng, 512), normal_windows(rng, 128)
    val_labels = np.zeros(128, np.int8)
    faulty = val[:8].copy()
    faulty[:, :, 2] = faulty[:, :1, 2]  # channel 2 stuck at its first reading
    val = np.concatenate([val, faulty])
    val_labels = np.concatenate([val_labels, np.ones(8, np.int8)])

    model = trained_model(train)
    scorer, calibrated_on = SiteScorer.calibrate(model, train, val, val_labels)
    scores = scorer.scores(model, val)
    np.testing.assert_array_equal(calibrated_on, scores)

    assert scores[val_labels == 1].min() > scores[val_labels == 0].max()
    assert scores[val_labels == 0].max() < scorer.threshold <= scores[val_labels == 1].min()
    assert scorer.channel_scale.shape == (4,) and (scorer.channel_scale > 0).all()
